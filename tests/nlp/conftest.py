from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.nlp.parser import Parser

TZ = ZoneInfo("Asia/Shanghai")


def at(iso: str) -> datetime:
    """A timezone-aware `now` in Asia/Shanghai from 'YYYY-MM-DD HH:MM'."""
    return datetime.fromisoformat(iso).replace(tzinfo=TZ)


@pytest.fixture(scope="session")
def parser() -> Parser:
    return Parser()
