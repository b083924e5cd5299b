"""Reminders and escalations as transcripts: `!advance` moves the clock and runs the scans; cards
are pressed like a user would, and wrongly, twice, late, or with forged ids."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.channels.console import drain_console, press
from bot.reminders.scans import run_scans
from bot.services import Services
from bot.types import CardAction
from core.model import Alert, Customer, Deal, UserStatus
from storage.models import AlertRow, CustomerRow, DealRow, FollowUpRow
from storage.repositories import alert_from_row, deal_from_row
from tests.transcript import replies, run

TZ = ZoneInfo("Asia/Shanghai")

START = """
    !now 2026-03-09 10:00
    @zhangsan: /新客户 恒康医疗 张伟 13812345678
    @zhangsan: /跟进 恒康医疗 电话 推进 演示 2026-03-11
"""


def alerts(services: Services, **where: object) -> list[Alert]:
    with services.uow_factory() as uow:
        q = select(AlertRow).where(AlertRow.card_id.is_not(None)).order_by(AlertRow.id)
        for key, value in where.items():
            q = q.where(getattr(AlertRow, key) == value)
        return [alert_from_row(r) for r in uow.session.scalars(q)]


def deal(services: Services) -> Deal:
    with services.uow_factory() as uow:
        return deal_from_row(uow.session.scalars(select(DealRow)).one())


def customer(services: Services) -> Customer:
    with services.uow_factory() as uow:
        return uow.customers.get(uow.session.scalars(select(CustomerRow.id)).one())  # type: ignore[return-value]


def count(services: Services, row: type) -> int:
    with services.uow_factory() as uow:
        return int(uow.session.scalar(select(func.count()).select_from(row)))


def forge(services: Services, user: str, action_id: str, card_ref: str | None = None) -> str:
    """A button press that did not come from the latest card: another user's card, or made up."""
    press(
        services,
        CardAction(
            channel="console",
            event_id=f"console-{uuid.uuid4().hex}",
            sender_platform_id=user,
            action_id=action_id,
            card_ref=card_ref,
            received_at=services.clock.now(),
        ),
    )
    out: list[str] = []
    drain_console(services, out.append)
    return "\n".join(out)


def test_a_whole_escalation_due_overdue_manager_reassign(services: Services) -> None:
    out = run(
        services,
        START
        + """
        !advance 2d
        !advance 1d
        !advance 4d
        @zhaoqiang > 转派
        @zhaoqiang > 王五
        @zhangsan > 已跟进
        !advance 5d
    """,
    )
    rep = replies(out, "zhangsan")
    assert "【今天该跟进：恒康医疗】" in rep[2] and "计划跟进：2026-03-11" in rep[2]
    assert "【跟进已逾期：恒康医疗】" in rep[3] and "已逾期 1 个工作日" in rep[3]
    manager = replies(out, "zhaoqiang")
    escalation = next(m for m in manager if "【逾期未跟进：张三 · 恒康医疗】" in m)
    assert "已逾期 3 个工作日" in escalation and "[1] 转派" in escalation
    assert any("（卡片已更新）【逾期未跟进" in m and "赵强 已转派给 王五" in m for m in manager)
    assert any("（卡片已更新）【今天该跟进" in m and "已由 赵强 处理" in m for m in rep)
    assert "这张卡片已处理（赵强 03-16" in rep[-1] or any("这张卡片已处理（赵强" in m for m in rep)
    assert any("【新分配给您的客户：恒康医疗】" in m for m in replies(out, "wangwu"))
    # levels 1, 2 to the rep and 3 to the manager, each once; the old ladder stopped with the action
    sent = alerts(services, rule="followup", window="2026-03-11")
    assert [(a.level, a.recipient_id, a.state) for a in sent] == [
        (1, "zhangsan", "superseded"),
        (2, "zhangsan", "superseded"),
        (3, "zhaoqiang", "reassigned"),
    ]
    d = deal(services)
    assert d.owner_id == "wangwu" and d.next_followup_on == date(2026, 3, 17)
    # the new owner is reminded on the new date (and the ladder goes on for them)
    new = alerts(services, rule="followup", window="2026-03-17")
    assert new and new[0].recipient_id == "wangwu" and new[0].level == 1


def test_done_asks_for_a_note_records_a_followup_and_stops_the_ladder(services: Services) -> None:
    out = run(
        services,
        START
        + """
        !advance 2d
        @zhangsan > 已跟进
        @zhangsan: 电话沟通，客户下周二看演示
        !advance 6d
    """,
    )
    rep = replies(out, "zhangsan")
    assert "请用一句话说明这次跟进的情况" in rep[3]
    assert "（卡片已更新）【今天该跟进：恒康医疗】" in out and "✅ 张三 已跟进" in out
    assert any("已记录跟进：恒康医疗" in m for m in rep)
    assert count(services, FollowUpRow) == 2
    (only,) = alerts(services, rule="followup", window="2026-03-11")
    assert only.state == "done" and only.acted_by == "zhangsan"
    assert not any("逾期" in m for m in rep + replies(out, "zhaoqiang"))
    # the note named the next date (下周二): the plan moved there, and that day's reminder is a new one
    assert deal(services).next_followup_on == date(2026, 3, 17)


def test_double_click_and_a_stale_card_answer_already_handled(services: Services) -> None:
    out = run(
        services,
        START
        + """
        !advance 3d
        @zhangsan > 延期3天
        @zhangsan > 延期3天
    """,
    )
    rep = replies(out, "zhangsan")
    assert "⏰ 张三 已延期 3 天，下次跟进 03-15" in rep[-2]
    assert "这张卡片已处理（张三 03-12 10:00）" in rep[-1]
    assert deal(services).next_followup_on == date(2026, 3, 15)
    level1 = alerts(services, rule="followup", level=1)[0]
    # the level-1 card was outdated by the action on the level-2 card: pressing it is refused too
    with services.uow_factory() as uow:
        card = uow.cards.get(level1.card_id)
        first_button = card.body["buttons"][1]["action_id"]  # type: ignore[union-attr]
    answer = forge(services, "zhangsan", first_button, card_ref=level1.card_id)
    assert "这张卡片已处理（张三" in answer
    # without the card reference the alert itself still refuses: "已处理（张三 10:00）"
    assert "已处理（张三 10:00）" in forge(services, "zhangsan", first_button)
    assert deal(services).next_followup_on == date(2026, 3, 15)


def test_wrong_presser_forged_and_malformed_ids_change_nothing(services: Services) -> None:
    run(services, START + "!advance 2d")
    (alert,) = alerts(services)
    snooze = f"alert:snooze:{alert.id}:3d"
    assert "不是发给您的" in forge(services, "lisi", snooze, card_ref=alert.card_id)
    assert "不是发给您的" in forge(services, "zhaoliu", snooze)
    assert "找不到这条提醒" in forge(services, "zhangsan", "alert:snooze:99999:3d")
    assert "参数不正确" in forge(services, "zhangsan", "alert:snooze:abc:3d")
    assert "延期天数只能是 1/3/7 天" in forge(services, "zhangsan", f"alert:snooze:{alert.id}:30d")
    assert "参数不正确" in forge(services, "zhangsan", f"alert:snooze:{alert.id}")
    assert "无效或已过期" in forge(services, "zhangsan", "alert:snooze:1:3d:'; drop table alerts")
    assert "不属于这张卡片" in forge(
        services, "zhangsan", f"alert:snooze:{alert.id}:7d:x", card_ref=alert.card_id
    )
    assert "只有该团队的主管" in forge(services, "zhangsan", f"alert:reassign:{alert.id}")
    assert "只有该团队的主管" in forge(services, "zhangsan", f"alert:assign:{alert.id}:lisi")
    (after,) = alerts(services)
    assert after.state == "open" and deal(services).next_followup_on == date(2026, 3, 11)
    with services.uow_factory() as uow:
        assert uow.cards.get(alert.card_id).handled_at is None  # type: ignore[union-attr]


def test_snooze_beyond_the_close_date_is_refused(services: Services) -> None:
    run(services, START)
    with services.uow_factory() as uow:
        row = uow.session.scalars(select(DealRow)).one()
        row.close_date = date(2026, 3, 13)
        uow.commit()
    out = run(
        services,
        """
        !advance 2d
        @zhangsan > 延期7天
        @zhangsan > 延期1天
    """,
    )
    rep = replies(out, "zhangsan")
    assert "不能延期到 2026-03-18" in rep[-2] and "预计成交日期是 2026-03-13" in rep[-2]
    assert "已延期 1 天，下次跟进 03-12" in rep[-1]
    assert deal(services).next_followup_on == date(2026, 3, 12)


def test_reassign_refuses_an_offboarded_or_absent_rep(services: Services) -> None:
    with services.uow_factory() as uow:
        wangwu = uow.users.get("wangwu")
        wangwu.status = UserStatus.OFFBOARDED  # type: ignore[union-attr]
        uow.users.save(wangwu)  # type: ignore[arg-type]
        lisi = uow.users.get("lisi")
        lisi.status, lisi.leave_until = UserStatus.ON_LEAVE, date(2026, 3, 30)  # type: ignore[union-attr]
        uow.users.save(lisi)  # type: ignore[arg-type]
        uow.commit()
    out = run(
        services,
        START
        + """
        !advance 7d
        @zhaoqiang > 转派
        @zhaoqiang: 李四
    """,
    )
    manager = replies(out, "zhaoqiang")
    pick = next(m for m in manager if "转派给谁" in m)
    assert "王五" not in pick and "李四" not in pick  # neither is offered
    assert "李四 正在休假（至 03-30）" in manager[-1]
    (escalation,) = alerts(services, level=3)
    assert "已离职" in forge(services, "zhaoqiang", f"alert:assign:{escalation.id}:wangwu")
    assert deal(services).owner_id == "zhangsan"
    assert alerts(services, level=3)[0].state == "open"


def test_mark_invalid_from_the_card_needs_a_reason_and_keeps_the_data(services: Services) -> None:
    out = run(
        services,
        START
        + """
        !advance 2d
        @zhangsan > 标记无效
        @zhangsan: 重复录入
        !advance 5d
    """,
    )
    rep = replies(out, "zhangsan")
    assert "请说明把「恒康医疗」标记为无效的原因" in rep[3]
    assert any("已将客户「恒康医疗」标记为无效（原因：重复录入）" in m for m in rep)
    c = customer(services)
    assert c.status == "invalid" and c.invalid_reason == "重复录入"
    assert [a.state for a in alerts(services, rule="followup")] == ["invalid"]


def test_untouched_lead_goes_to_the_manager_and_the_dormant_pool(services: Services) -> None:
    out = run(
        services,
        """
        !now 2026-03-09 10:00
        @zhangsan: /新客户 恒康医疗 张伟 13812345678
        !advance 10d
    """,
    )
    card = next(m for m in replies(out, "zhaoqiang") if "新线索 72 小时未跟进" in m)
    assert "张三 于 03-09 10:00 接手" in card and "[1] 转派" in card
    (alert,) = alerts(services, rule="untouched")
    assert alert.due_at == datetime(2026, 3, 19, 10, 0, tzinfo=TZ)
    assert customer(services).lead_state == "dormant"
    out = run(services, "@zhaoqiang > 转派\n@zhaoqiang > 李四")
    c = customer(services)
    assert c.owner_id == "lisi" and c.lead_state == "new"


def test_unassigned_lead_goes_to_the_team_manager_who_assigns_it(services: Services) -> None:
    with services.uow_factory() as uow:
        now = services.clock.now()  # Tuesday 2026-03-10 09:00
        uow.session.add(
            CustomerRow(
                name="瑞金医院",
                name_key="瑞金医院",
                owner_id=None,
                team="华东一组",
                status="active",
                source="import",
                lead_state="new",
                created_at=now,
                updated_at=now,
            )
        )
        uow.commit()
    out = run(services, "!advance 1h")
    assert not replies(out, "zhaoqiang")
    out = run(services, "!advance 1h\n@zhaoqiang > 分配\n@zhaoqiang > 张三")
    manager = replies(out, "zhaoqiang")
    assert "【线索未分配：瑞金医院】" in manager[0] and "[1] 分配" in manager[0]
    assert any("赵强 已分配给 张三" in m for m in manager)
    assert customer(services).owner_id == "zhangsan"


def test_stage_stall_rep_then_manager_with_a_diagnostic_then_director(services: Services) -> None:
    run(services, START)
    with services.uow_factory() as uow:
        row = uow.session.scalars(select(DealRow)).one()
        row.stage, row.stage_entered_at, row.next_followup_on = "quote", services.clock.now(), None
        uow.commit()
    out = run(services, "!advance 5d\n!advance 3d\n!advance 5d")
    rep = next(m for m in replies(out, "zhangsan") if "商机停滞" in m)
    assert "报价" in rep and "停留：4 个工作日（上限 3）" in rep
    manager = next(m for m in replies(out, "zhaoqiang") if "商机停滞（请主管关注）" in m)
    assert "最近跟进：03-09 /跟进 恒康医疗 电话 推进 演示" in manager and "停留：6 个工作日" in manager
    assert "缺少的证据" in manager
    director = next(m for m in replies(out, "wangzong") if "商机停滞（请总监关注）" in m)
    assert "停留：9 个工作日" in director
    assert [(a.level, a.recipient_id) for a in alerts(services, rule="stall")] == [
        (1, "zhangsan"),
        (2, "zhaoqiang"),
        (3, "wangzong"),
    ]


def test_quiet_hours_and_a_restart_catch_up_once(services: Services) -> None:
    run(services, START)
    clock = services.clock
    clock.set(datetime(2026, 3, 16, 22, 0, tzinfo=TZ))  # the bot was down for a week; now it is night
    assert run_scans(services) == {}
    assert alerts(services) == []
    clock.set(datetime(2026, 3, 17, 9, 0, tzinfo=TZ))
    run_scans(services)
    run_scans(services)
    (alert,) = alerts(services, rule="followup")  # only the top level of the missed ladder, once
    assert (alert.level, alert.recipient_id) == (3, "zhaoqiang")
    out: list[str] = []
    drain_console(services, out.append)
    assert sum("逾期未跟进" in line for line in out) == 1


def test_the_digest_at_six_lists_who_acted_and_what_is_open(services: Services) -> None:
    out = run(
        services,
        START
        + """
        !advance 2d
        @zhangsan > 延期1天
        !advance 8h
    """,
    )
    digest = next(m for m in replies(out, "zhaoqiang") if "今日提醒汇总（03-11）" in m)
    assert "今日提醒：1 条" in digest and "已处理：1 条（张三 1）" in digest and "仍待处理：0 条" in digest
    assert sum("今日提醒汇总" in m for m in replies(out, "zhaoqiang")) == 1
    assert len(alerts(services, rule="digest")) == 1


def test_alerts_cli_lists_open_alerts_and_filters_by_user(services: Services, capsys: object) -> None:
    from bot.cli.alerts_cmd import print_alerts

    run(services, START + "!advance 7d")
    assert print_alerts(services, open_only=True, user="zhaoqiang", limit=50) == 1
    lines = capsys.readouterr().out.splitlines()  # type: ignore[attr-defined]
    assert lines[0].startswith("编号\t发出时间\t规则") and len(lines) == 3
    assert "\t跟进提醒\t3\t恒康医疗\t赵强\t待处理\t" in lines[1]
    assert print_alerts(services, open_only=False, user="zhangsan", limit=50) == 2
