"""Bad input never crashes and never invents fields."""

from __future__ import annotations

import random
import time
from datetime import UTC

import pytest

from bot.nlp.parser import Parser
from bot.nlp.types import CallLog

from .conftest import at

NOW = at("2026-03-10 10:00")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "😀😀👍🎉",
        "🙏🏻🙏🏻🙏🏻 ！！！",
        "\x00\x01\x02\x03\xff\xfe",
        "\ufffd\ufffd\ufffd\ufffd",
        "????",
        "...",
        "a" * 50,
    ],
)
def test_junk_gives_an_empty_extraction(parser: Parser, text: str) -> None:
    r = parser.parse_text(text, NOW)
    assert r.is_empty()
    assert r.confidence == {}


def test_binary_looking_text(parser: Parser) -> None:
    rng = random.Random(7)
    blob = bytes(rng.randrange(256) for _ in range(2000)).decode("latin-1")
    start = time.perf_counter()
    r = parser.parse_text(blob, NOW)
    assert time.perf_counter() - start < 0.5
    assert r.is_empty()


def test_ten_thousand_characters_return_quickly(parser: Parser) -> None:
    text = "拜访了恒康医疗的张伟，预算50万，下周三演示。" * 500  # ~11,000 characters
    start = time.perf_counter()
    r = parser.parse_text(text, NOW)
    assert time.perf_counter() - start < 0.5
    assert r.is_empty()


def test_naive_now_is_read_as_shanghai_time(parser: Parser) -> None:
    from datetime import datetime

    r = parser.parse_text("明天再打", datetime(2026, 3, 10, 23, 30))
    assert str(r.next_followup) == "2026-03-11"


def test_utc_now_is_converted_before_resolving_dates(parser: Parser) -> None:
    from datetime import datetime

    # 2026-03-10 17:00 UTC is already 3月11日 01:00 in Shanghai
    r = parser.parse_text("明天再打", datetime(2026, 3, 10, 17, 0, tzinfo=UTC))
    assert str(r.next_followup) == "2026-03-12"


def test_unknown_phone_formats_are_not_stored(parser: Parser) -> None:
    r = parser.parse_text("客户电话 12345-678，分机 8001", NOW)
    assert r.phone is None


def test_call_with_bad_phone_and_empty_transcript(parser: Parser) -> None:
    call = CallLog(call_id="X", customer_phone="unknown", started_at=NOW, duration_s=0, transcript="")
    r = parser.parse_call(call)
    assert r.phone is None
    assert r.method == "phone"
    assert r.effective is False
    assert r.contact_name is None


def test_huge_transcript_is_cut_not_crashed(parser: Parser) -> None:
    call = CallLog(
        call_id="Y",
        customer_phone="13800000000",
        started_at=NOW,
        duration_s=3600,
        transcript="客户：价格还要再谈 销售：好的 " * 3000,
    )
    start = time.perf_counter()
    r = parser.parse_call(call)
    assert time.perf_counter() - start < 2
    assert r.effective is True
