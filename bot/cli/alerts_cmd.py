"""`crmbot alerts [--open] [--user U]`: the reminders and escalations that went out, newest first."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import fail, guarded, services_from
from core.reminders import RULE_NAMES_ZH, STATE_NAMES_ZH
from storage.reminder_queries import SqlReminderQueries

HEADER = ("编号", "发出时间", "规则", "级别", "对象", "接收人", "状态", "处理人", "处理时间", "动作")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("alerts", help="查看提醒与升级记录（导出请用 crmbot export --what alerts）")
    p.add_argument("--open", dest="open_only", action="store_true", help="只看还没人处理的")
    p.add_argument("--user", metavar="USERID", help="只看发给这个用户、或由他/她处理的")
    p.add_argument("--limit", type=int, default=200, help="最多显示多少条（默认 200）")
    p.add_argument("--database", metavar="URL", help="数据库地址（默认取配置）")
    p.set_defaults(func=guarded(run))


def run(args: argparse.Namespace) -> int:
    if args.limit < 1:
        return fail("--limit 必须是正整数")
    services = services_from(args)
    if args.user:
        with services.uow_factory() as uow:
            if uow.users.get(args.user) is None:
                return fail(f"没有用户「{args.user}」。可以用 crmbot users list 查看。")
    print_alerts(services, open_only=args.open_only, user=args.user, limit=args.limit)
    return 0


def print_alerts(services: Any, *, open_only: bool, user: str | None, limit: int) -> int:
    with services.uow_factory() as uow:
        q = SqlReminderQueries(uow.session)
        alerts = q.list_alerts(open_only=open_only, user=user, limit=limit)
        names = {u.id: u.name for u in uow.users.list(include_offboarded=True)}
        deals = q.deal_customers([a.subject_id for a in alerts if a.subject_type == "deal"])
        customers = q.customer_names([a.subject_id for a in alerts if a.subject_type == "customer"])
    if not alerts:
        print("没有符合条件的提醒。")
        return 0
    tz = services.tz
    print("\t".join(HEADER))
    for a in alerts:
        subject = (
            deals.get(a.subject_id, f"商机 #{a.subject_id}")
            if a.subject_type == "deal"
            else customers.get(a.subject_id, f"客户 #{a.subject_id}")
            if a.subject_type == "customer"
            else "—"
        )
        print(
            "\t".join(
                (
                    str(a.id),
                    a.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                    RULE_NAMES_ZH.get(a.rule, a.rule),
                    str(a.level),
                    subject,
                    names.get(a.recipient_id, a.recipient_id),
                    STATE_NAMES_ZH.get(a.state, a.state),
                    names.get(a.acted_by, a.acted_by) if a.acted_by else "—",
                    a.acted_at.astimezone(tz).strftime("%m-%d %H:%M") if a.acted_at else "—",
                    a.action or "—",
                )
            )
        )
    print(f"共 {len(alerts)} 条" + ("（已达 --limit 上限）" if len(alerts) == limit else ""))
    return len(alerts)
