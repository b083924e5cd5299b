"""Assignment in chat: the pool card and claims, leave, reassignment."""

from __future__ import annotations

from sqlalchemy import select

from bot.channels.console import drain_console
from bot.handlers.assignment import announce_assignment, lead_assigner
from bot.services import Services
from core.usecases.customers import NewCustomer, create_customer
from storage.models import AssignmentRow, CustomerRow, DealRow
from tests.transcript import replies, run


def owners(services: Services) -> dict[str, str | None]:
    with services.uow_factory() as uow:
        return {c.name: c.owner_id for c in uow.session.scalars(select(CustomerRow))}


def import_lead(services: Services, company: str, region: str = "华东") -> list[str]:
    """What an import or the call-log API does: create through the rules, then announce."""
    now = services.clock.now()
    with services.uow_factory() as uow:
        admin = uow.users.get("admin")
        assert admin is not None
        result = create_customer(
            uow,
            admin,
            NewCustomer(company, region=region, source="import"),
            now,
            dedup=services.dedup,
            pipeline=services.pipeline,
            assigner=lead_assigner(services),
        )
        announce_assignment(services, uow, result.assignment, now)
        uow.commit()
    lines: list[str] = []
    drain_console(services, lines.append)
    return lines


def test_imported_leads_rotate_and_the_rep_is_told(services: Services) -> None:
    said = [import_lead(services, name) for name in ("恒康医疗", "瑞安科技", "博远贸易", "新华书店")]
    assert owners(services) == {
        "恒康医疗": "lisi",
        "瑞安科技": "wangwu",
        "博远贸易": "zhangsan",
        "新华书店": "lisi",
    }
    assert said[0][0].startswith("→ lisi: 您有一条新线索：恒康医疗")
    south = import_lead(services, "岭南制药", region="华南")
    assert south[0].startswith("→ sunqi: ")  # 华南一组, by id: sunqi < zhaoliu < zhouba
    with services.uow_factory() as uow:
        deals = {d.customer_id: d.owner_id for d in uow.session.scalars(select(DealRow))}
        customers = {c.id: c.owner_id for c in uow.session.scalars(select(CustomerRow))}
    assert deals == customers


def test_nobody_available_sends_a_pool_card_and_a_rep_claims(services: Services) -> None:
    run(
        services,
        """
        !now 2026-03-10 09:00
        @zhaoqiang: /休假 @张三 至 3月20日
        @chenjing: /休假 @李四 至 3月20日
        @zhaoqiang: /休假 @王五 至 2026-03-11
    """,
    )
    card = "\n".join(import_lead(services, "恒康医疗"))
    assert "→ zhaoqiang: 【新线索进入公海，请分配】" in card
    assert "张三：休假至 03-20" in card and "王五：休假至 03-11" in card
    assert owners(services) == {"恒康医疗": None}
    out = run(
        services,
        """
        @wangwu: /领取 恒康医疗
        @zhaoqiang: /销假 @王五
        @zhouba: /领取 恒康医疗
        @wangwu: /公海
        @wangwu > 领取 恒康医疗
        @lisi: /领取 恒康医疗
    """,
    )
    assert "休假期间不能领取" in replies(out, "wangwu")[0]
    assert "没有找到客户「恒康医疗」" in replies(out, "zhouba")[0]  # another team's pool is not visible
    assert "公海待分配客户（1）" in replies(out, "wangwu")[1]
    assert "已领取客户「恒康医疗」" in replies(out, "wangwu")[2]
    assert "没有找到客户「恒康医疗」" in replies(out, "lisi")[0]  # claimed: no longer in the pool
    assert owners(services) == {"恒康医疗": "wangwu"}


def test_manager_assigns_from_the_pool_card(services: Services) -> None:
    services.settings.assignment.update({"enabled": False})  # every lead waits in the pool
    services.extras.pop("assigner", None)
    import_lead(services, "恒康医疗")
    out = run(
        services,
        """
        @zhaoqiang > 转派给张三
        @zhaoqiang > 转派给李四
    """,
    )
    manager = replies(out, "zhaoqiang")
    assert "已转派给张三" in manager[0] and "已把客户「恒康医疗」转派给张三" in manager[1]
    assert "已处理" in manager[2]
    assert "赵强把客户「恒康医疗」转派给了您" in replies(out, "zhangsan")[0]
    assert owners(services) == {"恒康医疗": "zhangsan"}


def test_reassign_and_its_history(services: Services) -> None:
    out = run(
        services,
        """
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        @zhangsan: /转派 恒康医疗 @李四
        @zhaoqiang: /转派 恒康医疗 @周八
        @zhaoqiang: /转派 恒康医疗 @不存在
        @zhaoqiang: /转派 恒康医疗 @李四 客户在李四的片区
        @qianmin: /转派 恒康医疗 @周八
    """,
    )
    assert "只有本组主管" in replies(out, "zhangsan")[1]
    manager = replies(out, "zhaoqiang")
    assert "不在您的团队" in manager[0] and "没有找到同事「不存在」" in manager[1]
    assert "已把客户「恒康医疗」转派给李四" in manager[2]
    assert "赵强已把客户「恒康医疗」转给李四负责" in replies(out, "zhangsan")[2]
    assert "客户在李四的片区" in replies(out, "lisi")[0]
    assert "没有找到" in replies(out, "qianmin")[0]  # another team's manager cannot even see it
    assert owners(services) == {"恒康医疗": "lisi"}
    with services.uow_factory() as uow:
        history = [
            (a.subject_type, a.from_user, a.to_user, a.actor_id, a.reason)
            for a in uow.session.scalars(select(AssignmentRow).order_by(AssignmentRow.id))
        ]
    assert history[-2:] == [
        ("customer", "zhangsan", "lisi", "zhaoqiang", "主管转派：客户在李四的片区"),
        ("deal", "zhangsan", "lisi", "zhaoqiang", "主管转派：客户在李四的片区"),
    ]


def test_leave_commands_check_who_asks(services: Services) -> None:
    out = run(
        services,
        """
        !now 2026-03-10 09:00
        @lisi: /休假 @张三 至 3月20日
        @qianmin: /休假 @张三 至 3月20日
        @zhaoqiang: /休假 @张三
        @zhaoqiang: /休假 @张三 至 3月1日
        @zhaoqiang: /休假 @张三 至 3月20日
    """,
    )
    assert "只有该销售的主管或人事" in replies(out, "lisi")[0]
    assert "只有该销售的主管或人事" in replies(out, "qianmin")[0]
    manager = replies(out, "zhaoqiang")
    assert "例如：/休假 @张三 至 3月20日" in manager[0]
    assert "休假至 2027-03-01" in manager[1]  # a month-day already past means next year's
    assert "已登记：张三休假至 2026-03-20" in manager[2]
