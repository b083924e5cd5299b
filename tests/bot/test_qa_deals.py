"""QA: a customer with two open deals (after /新商机 or a merge): follow-ups ask which deal, then record."""

from __future__ import annotations

from sqlalchemy import select

from bot.services import Services
from storage.models import FollowUpRow
from tests.transcript import replies, run

TWO_DEALS = """
    !now 2026-03-10 10:00
    @zhangsan: /新客户 恒康医疗 张伟 13812345678
    @zhangsan: /新商机 恒康医疗 二期耗材
"""


def recorded(services: Services) -> list[tuple[int | None, str | None]]:
    with services.uow_factory() as uow:
        rows = uow.session.execute(
            select(FollowUpRow.deal_id, FollowUpRow.method).order_by(FollowUpRow.id)
        ).all()
    return [(deal_id, method) for deal_id, method in rows]


def test_free_text_followup_asks_which_deal_and_records_on_the_choice(services: Services) -> None:
    out = run(
        services,
        TWO_DEALS
        + """
        @zhangsan: 电话联系了恒康医疗的张伟，明天再打
        @zhangsan > 2
    """,
    )
    answers = replies(out, "zhangsan")
    assert "请选择一个" in answers[2] and "线索" in answers[2] and "lead" not in answers[2]
    assert "【跟进已记录】" in answers[3]
    assert recorded(services) == [(2, "phone")]


def test_followup_command_asks_which_deal_and_accepts_a_typed_number(services: Services) -> None:
    out = run(
        services,
        TWO_DEALS
        + """
        @zhangsan: /跟进 恒康医疗 拜访 推进 演示 明天
        @zhangsan: 1
    """,
    )
    answers = replies(out, "zhangsan")
    assert "请选择一个" in answers[2]
    assert "【跟进已记录】" in answers[3] and "下次跟进：2026-03-11" in answers[3]
    assert recorded(services) == [(1, "visit")]


def test_commands_on_a_merged_or_invalid_customer_say_so_instead_of_suggesting_a_new_one(
    services: Services,
) -> None:
    out = run(
        services,
        """
        !now 2026-03-10 10:00
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /新客户 仁济康复 李经理 13912345678
        @zhangsan: /新客户 华美口腔 王总 13712345678
        @zhaoqiang: /合并 恒康医疗 仁济康复 重复录入
        @zhangsan: /无效 华美口腔 空号
        @zhangsan: /推进 仁济康复 初步接触
        @zhangsan: /跟进 华美口腔 电话
    """,
    )
    merged, invalid = replies(out, "zhangsan")[-2:]
    assert "已合并到「恒康医疗」" in merged and "/新客户" not in merged
    assert "已标记为无效" in invalid and "空号" in invalid and "/新客户" not in invalid
