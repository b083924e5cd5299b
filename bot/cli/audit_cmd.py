"""`crmbot audit [--user U] [--subject S] [--since D]`: the append-only audit log."""

from __future__ import annotations

import argparse
import json
from datetime import datetime

from bot.cli.common import fail, guarded, services_from


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("audit", help="查看审计日志")
    p.add_argument("--user", help="操作人 userid")
    p.add_argument("--subject", help="对象，如 customer:12 或 12")
    p.add_argument("--since", help="起始日期 YYYY-MM-DD")
    p.add_argument("--limit", type=int, default=200)
    p.add_argument("--database", metavar="URL", help="数据库地址（默认取配置）")
    p.set_defaults(func=guarded(run))


def run(args: argparse.Namespace) -> int:
    services = services_from(args)
    since = None
    if args.since:
        try:
            since = datetime.strptime(args.since, "%Y-%m-%d").replace(tzinfo=services.tz)
        except ValueError:
            return fail(f"日期格式应为 YYYY-MM-DD：{args.since}")
    subject_type, subject_id = None, None
    if args.subject:
        subject_type, _, subject_id = args.subject.rpartition(":")
        subject_type = subject_type or None
    with services.uow_factory() as uow:
        if args.user and uow.users.get(args.user) is None:
            return fail(f"没有用户「{args.user}」（--user 写 userid，例如 zhangsan）。")
        if subject_id and not subject_id.isdigit() and subject_type in (None, "customer"):
            # a customer's name instead of its id
            found = uow.customers.by_name(subject_id.strip())
            if not found:
                return fail(f"没有找到客户「{subject_id}」。--subject 写 customer:12、12 或客户全称。")
            if len(found) > 1:
                ids = "、".join(f"customer:{c.id}" for c in found)
                return fail(f"有 {len(found)} 个客户叫「{subject_id}」，请用编号：{ids}")
            subject_type, subject_id = "customer", str(found[0].id)
        entries = uow.history.audit(subject_type=subject_type, subject_id=subject_id, actor_id=args.user,
                                    since=since, limit=args.limit)
    for e in entries:
        when = e.at.astimezone(services.tz).strftime("%Y-%m-%d %H:%M:%S")
        change = json.dumps({"before": e.before, "after": e.after}, ensure_ascii=False) if e.before or e.after else ""
        print(f"{when}\t{e.actor_id}\t{e.action}\t{e.subject_type}:{e.subject_id}\t{change}")
    print(f"共 {len(entries)} 条。")
    return 0
