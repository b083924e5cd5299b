"""`crmbot outbox --failed` lists messages that could not be delivered; `--retry` resends them."""

from __future__ import annotations

import argparse

from bot.cli.common import guarded, services_from


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("outbox", help="查看或重发发送失败的消息")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--failed", action="store_true", help="列出发送失败的消息")
    what.add_argument("--retry", action="store_true", help="把发送失败的消息重新放回队列（服务运行时会自动发送）")
    p.add_argument("--database", metavar="URL", help="数据库地址（默认取配置）")
    p.set_defaults(func=guarded(run))


def run(args: argparse.Namespace) -> int:
    services = services_from(args)
    with services.uow_factory() as uow:
        if args.retry:
            count = uow.outbox.retry_failed(services.clock.now())
            uow.commit()
            print(f"已将 {count} 条失败的消息放回发送队列。")
            return 0
        rows = uow.outbox.failed()
        for row in rows:
            when = row.created_at.astimezone(services.tz).strftime("%Y-%m-%d %H:%M")
            summary = row.body.get("text") or row.body.get("card", {}).get("title", "")
            print(f"#{row.id}\t{when}\t{row.channel}\t{row.user_id}\t{row.kind}\t尝试 {row.attempts} 次\t"
                  f"{str(summary)[:40]}\t错误：{(row.last_error or '')[:80]}")
        print(f"共 {len(rows)} 条发送失败的消息。" + ("用 crmbot outbox --retry 重发。" if rows else ""))
    return 0
