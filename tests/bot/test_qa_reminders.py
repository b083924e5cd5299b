"""QA: the reminder card's 已跟进 note moves the plan forward, so the rep is not reminded of a past date."""

from __future__ import annotations

from bot.services import Services
from tests.transcript import replies, run

DUE = """
    !now 2026-03-09 10:00
    @zhangsan: /新客户 恒康医疗 张伟 13812345678
    @zhangsan: /跟进 恒康医疗 电话 推进 演示 2026-03-11
    !advance 2d
    @zhangsan > 已跟进
"""


def test_a_done_note_that_names_the_next_date_sets_it(services: Services) -> None:
    out = run(services, DUE + "@zhangsan: 电话沟通，客户下周二看演示")
    assert "下次跟进 2026-03-17" in replies(out, "zhangsan")[-1]
    out = run(services, "@zhangsan: /客户 恒康")
    assert "下次跟进 2026-03-17" in replies(out, "zhangsan")[0]


def test_a_done_note_without_a_date_asks_for_the_next_one(services: Services) -> None:
    out = run(
        services,
        DUE
        + """
        @zhangsan: 电话沟通了，客户还在比较
        @zhangsan: 下周一
    """,
    )
    answers = replies(out, "zhangsan")
    assert "下次什么时候跟进" in answers[-2]
    assert "2026-03-16" in answers[-1]
    out = run(services, "@zhangsan: /客户 恒康")
    assert "下次跟进 2026-03-16" in replies(out, "zhangsan")[0]
