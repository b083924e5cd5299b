"""`crmbot export --what … --format jsonl|csv [--out FILE]`."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from contextlib import nullcontext
from typing import Any

from bot.cli.common import fail, guarded, services_from
from core.usecases.visibility import record_export
from storage.export import EXPORTS, SCOPED, field_names, iter_export, iter_scoped


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export", help="导出数据（字段见 README）")
    p.add_argument("--what", required=True, choices=sorted(EXPORTS))
    p.add_argument("--format", default="jsonl", choices=["jsonl", "csv"])
    p.add_argument("--out", metavar="FILE", help="输出文件（默认标准输出）")
    p.add_argument("--as", dest="as_user", metavar="USERID",
                   help="按这个用户的权限导出：只含其可见范围，受限字段显示为 ***（不加则为运维的完整导出）")
    p.add_argument("--database", metavar="URL", help="数据库地址（默认取配置）")
    p.set_defaults(func=guarded(run))


def _cell(value: Any) -> Any:
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list | dict) else value


def run(args: argparse.Namespace) -> int:
    services = services_from(args)
    try:
        target = open(args.out, "w", encoding="utf-8", newline="") if args.out else nullcontext(sys.stdout)  # noqa: SIM115
    except OSError as err:
        return fail(f"无法写入 {args.out}：{err}")
    count = 0
    viewer = None
    if args.as_user:
        if args.what not in SCOPED:
            return fail(f"--as 只支持 {', '.join(SCOPED)}")
        with services.uow_factory() as uow:
            user = uow.users.get(args.as_user)
        if user is None:
            return fail(f"没有用户「{args.as_user}」")
        from bot.visibility import viewer_for

        viewer = viewer_for(services, user)
    with target as out, services.uow_factory() as uow:
        rows = (iter_scoped(uow.session, args.what, services.tz, viewer) if viewer
                else iter_export(uow.session, args.what, services.tz))
        if args.format == "csv":
            writer = csv.DictWriter(out, fieldnames=field_names(args.what))
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _cell(v) for k, v in row.items()})
                count += 1
        else:
            for row in rows:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                count += 1
    with services.uow_factory() as uow:  # every export is a sensitive read: audited
        record_export(uow, args.as_user or "cli", args.what, count, services.clock.now(),
                      target=args.out or "-", masked=viewer is not None, scope="as_user" if viewer else "operator")
        uow.commit()
    if args.out:
        print(f"已导出 {count} 行到 {args.out}", file=sys.stderr)
    return 0
