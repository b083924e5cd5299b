"""`crmbot db upgrade|current`: schema migrations (they also run automatically on every start)."""

from __future__ import annotations

import argparse

from bot.cli.common import guarded, settings_from
from storage.db import create_db_engine, current_revision, upgrade


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("db", help="数据库迁移")
    p.add_argument("action", choices=["upgrade", "current"], help="upgrade：升级到最新结构；current：显示当前版本")
    p.add_argument("--database", metavar="URL", help="数据库地址（默认取配置）")
    p.set_defaults(func=guarded(run))


def run(args: argparse.Namespace) -> int:
    settings = settings_from(args, **({"database_url": args.database} if args.database else {}))
    engine = create_db_engine(settings.database_url)
    if args.action == "upgrade":
        upgrade(engine)
    print(f"数据库 {engine.url.render_as_string(hide_password=True)} 当前版本：{current_revision(engine)}")
    return 0
