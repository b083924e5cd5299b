"""`crmbot calls import FILE.jsonl`: call logs from the phone system become phone follow-ups."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

from bot.cli.common import fail, guarded, services_from
from core.errors import InvalidInput


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("calls", help="导入电话系统的通话记录")
    p.add_argument("action", choices=["import"])
    p.add_argument("file", help="JSONL：每行 {call_id, rep, customer_phone, started_at, duration_s, transcript}")
    p.add_argument("--database", metavar="URL", help="数据库地址（默认取配置）")
    p.set_defaults(func=guarded(run))


def run(args: argparse.Namespace) -> int:
    from bot.calls import ingest

    path = Path(args.file)
    if not path.exists():
        return fail(f"找不到文件：{path}")
    services = services_from(args)
    counts: Counter[str] = Counter()
    with path.open(encoding="utf-8-sig", errors="replace") as lines:
        for line_no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                result = ingest(services, json.loads(line))
            except json.JSONDecodeError as err:
                counts["error"] += 1
                print(f"第 {line_no} 行：不是有效的 JSON（{err.msg}）", file=sys.stderr)
                continue
            except InvalidInput as err:
                counts["error"] += 1
                print(f"第 {line_no} 行：{err.message}", file=sys.stderr)
                continue
            counts[result.status] += 1
            if result.message:
                print(f"第 {line_no} 行：{result.message}", file=sys.stderr)
    print(f"已记录 {counts['recorded']} 通，重复 {counts['duplicate']} 通，新号码待确认 {counts['unknown_number']} 通，"
          f"无效 {counts['invalid']} 通，格式错误 {counts['error']} 行。")
    return 0 if counts["error"] == 0 else 1
