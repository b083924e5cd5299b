"""`crmbot init [--demo]`: create the database, and with --demo a demo org to try things with."""

from __future__ import annotations

import argparse

from bot.cli.common import guarded, services_from
from core.usecases.users import DEMO_ORG, upsert_users


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("init", help="初始化数据库（--demo 同时创建演示组织）")
    p.add_argument("--demo", action="store_true", help="创建演示组织：1 总监、1 财务、1 人事、2 主管、6 销售")
    p.add_argument("--database", metavar="URL", help="数据库地址（默认取配置）")
    p.set_defaults(func=guarded(run))


def run(args: argparse.Namespace) -> int:
    services = services_from(args)
    print(f"数据库已就绪：{services.uow_factory.engine.url.render_as_string(hide_password=True)}")
    if args.demo:
        with services.uow_factory() as uow:
            created, updated = upsert_users(uow, "system", DEMO_ORG, services.clock.now())
            uow.commit()
        print(f"演示组织：新建 {created} 人，更新 {updated} 人。")
        for u in DEMO_ORG:
            print(f"  {u.id:<10} {u.name:<4} {'/'.join(u.roles):<9} {u.team or ''}")
        print("试试：crmbot chat --as zhangsan")
    return 0
