"""Everyday phrasings reps use for the next step, beyond the development corpus."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.nlp.parser import Parser

NOW = datetime(2026, 3, 13, 15, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture(scope="module")
def parser() -> Parser:
    return Parser()


@pytest.mark.parametrize(
    ("text", "action"),
    [
        ("后天发资料", "send_material"),
        ("见了孙工，下周一寄产品手册", "send_material"),
        ("3月20号回电", "call"),
        ("周五致电确认", "call"),
        ("资料已经发了", None),
    ],
)
def test_plain_next_steps(parser: Parser, text: str, action: str | None) -> None:
    assert parser.parse_text(text, NOW).next_action == action
