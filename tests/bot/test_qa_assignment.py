"""QA: assignment commands with the arguments in another order or without the @ / 至 the usage shows."""

from __future__ import annotations

from bot.services import Services
from tests.transcript import replies, run

LEAD = """
    !now 2026-03-10 10:00
    @zhaoqiang: /新客户 远大医药 陈总 13900001111
"""


def test_reassign_with_the_person_first_or_without_the_at_sign(services: Services) -> None:
    out = run(
        services,
        LEAD
        + """
        @zhaoqiang: /转派 @王五 远大医药 客户在王五片区
        @zhaoqiang: /转派 远大医药 张三
    """,
    )
    answers = replies(out, "zhaoqiang")
    assert "已把客户「远大医药」转派给王五" in answers[1]
    assert "已把客户「远大医药」转派给张三" in answers[2]


def test_leave_without_the_word_until_or_the_at_sign(services: Services) -> None:
    out = run(
        services,
        LEAD
        + """
        @zhaoqiang: /休假 lisi 3月20日
        @zhaoqiang: /休假 3月25日 @王五
    """,
    )
    answers = replies(out, "zhaoqiang")
    assert "李四休假至 2026-03-20" in answers[1]
    assert "王五休假至 2026-03-25" in answers[2]
