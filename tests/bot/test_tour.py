"""The README's tour transcript runs as shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.services import Services
from tests.transcript import replies, run

pytest.importorskip("bot.nlp.parser")
TOUR = Path(__file__).resolve().parents[2] / "docs" / "tour.txt"


def test_the_tour(services: Services) -> None:
    out = run(services, TOUR.read_text(encoding="utf-8"))
    answers = replies(out, "zhangsan")
    assert "跟进已记录" in answers[0] and "恒康医疗（新建）" in answers[0]
    assert "已确认" in answers[1]
    assert "2026-03-16" in answers[4]
    assert "13812345678" in answers[5]
    assert "是否关联到「恒康医疗」" in answers[6] and "已关联到已有客户" in answers[7]
    assert "没有找到" in replies(out, "zhaoliu")[0]
