"""`crmbot dedupe IN.csv --out groups.csv`: group a customer sheet into contacts and companies.

The sheet is read twice as a stream (once to build match keys, once to copy rows to the output), so
memory holds the keys, not the rows. Every input row is written, in input order, with its groups and
the reason of its strongest link. Labelled truth columns (true_contact/true_company) are never read
as input: they are copied through like any other extra column.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

from bot.sheets import MAX_CELL, SheetError
from bot.sheets import contact_columns as _columns
from bot.sheets import csv_rows as _rows
from bot.sheets import detect_encoding as _detect_encoding
from core.dedup.batch import BatchResult, Link, group_records
from core.dedup.check import DedupThresholds
from core.dedup.normalize import NormalizedRecord

OUTPUT_COLUMNS = (
    "contact_group",
    "company_group",
    "contact_score",
    "contact_reason",
    "company_score",
    "company_reason",
)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "dedupe",
        help="找出客户表中的重复联系人与重复公司",
        description="读取客户表（CSV），为每一行标注所属的联系人组与公司组，并写出理由。",
    )
    parser.add_argument("input", help="输入 CSV 文件（UTF-8、带 BOM 的 UTF-8 或 GBK）")
    parser.add_argument("--out", required=True, help="输出 CSV 文件路径")
    parser.add_argument("--auto", type=float, default=None, help="自动合并阈值（0-100，默认取配置或 90）")
    parser.set_defaults(func=run)


def _cell(cells: list[str], idx: int | None) -> str:
    if idx is None or idx >= len(cells):
        return ""
    return cells[idx][:MAX_CELL]


def read_records(path: Path, encoding: str) -> tuple[list[str], dict[str, int], list[NormalizedRecord]]:
    from bot.textconv import make_normalizer

    normalizer = make_normalizer()
    records: list[NormalizedRecord] = []
    with path.open(encoding=encoding, newline="") as fh:
        rows = _rows(fh)
        first = next(rows, None)
        if first is None:
            raise SheetError(f"文件 {path.name} 是空的：没有表头，也没有数据行。")
        header = first[1]
        roles = _columns(header)
        for line, cells in rows:
            row_id = _cell(cells, roles.get("row_id")).strip() or str(line)
            records.append(
                normalizer.record(
                    row_id,
                    name=_cell(cells, roles.get("name")),
                    company=_cell(cells, roles.get("company")),
                    phone=_cell(cells, roles.get("phone")),
                    email=_cell(cells, roles.get("email")),
                )
            )
    if not records:
        raise SheetError(f"文件 {path.name} 只有表头，没有数据行。")
    return header, roles, records


def _fmt(link: Link | None) -> tuple[str, str]:
    if link is None:
        return "", ""
    return f"{link.score:.0f}", link.reason


def write_groups(
    src: Path,
    encoding: str,
    out: Path,
    header: list[str],
    roles: dict[str, int],
    records: list[NormalizedRecord],
    result: BatchResult,
) -> None:
    ids = [r.record_id for r in records]
    out_header = list(header) if "row_id" in roles else ["row_id", *header]
    out_header += [c for c in OUTPUT_COLUMNS if c not in out_header]
    with src.open(encoding=encoding, newline="") as fh, out.open("w", encoding="utf-8", newline="") as dst:
        writer = csv.writer(dst)
        writer.writerow(out_header)
        rows = _rows(fh)
        next(rows)
        width = len(header)
        for i, (_, cells) in enumerate(rows):
            cells = (cells + [""] * width)[:width] if len(cells) != width else cells
            contact_score, contact_reason = _fmt(result.contact_link[i])
            company_score, company_reason = _fmt(result.company_link[i])
            lead = [] if "row_id" in roles else [ids[i]]
            writer.writerow(
                [
                    *lead,
                    *cells,
                    f"ct-{ids[result.contact_group[i]]}",
                    f"co-{ids[result.company_group[i]]}",
                    contact_score,
                    contact_reason,
                    company_score,
                    company_reason,
                ]
            )


def _auto_threshold(args: argparse.Namespace) -> float:
    if args.auto is not None:
        return float(DedupThresholds(auto=args.auto, ask=min(args.auto, DedupThresholds().ask)).auto)
    from bot.settings import ConfigError, load_settings

    try:  # crmbot.toml [dedup] auto, when a config file is present
        return float(load_settings(getattr(args, "config", None)).dedup.auto)
    except ConfigError:
        return DedupThresholds().auto


def run(args: argparse.Namespace) -> int:
    src, out = Path(args.input), Path(args.out)
    started = time.perf_counter()
    try:
        if not src.is_file():
            raise SheetError(f"找不到输入文件：{src}")
        if src.stat().st_size == 0:
            raise SheetError(f"文件 {src.name} 是空的：没有表头，也没有数据行。")
        encoding = _detect_encoding(src)
        header, roles, records = read_records(src, encoding)
        result = group_records(records, auto=_auto_threshold(args))
        write_groups(src, encoding, out, header, roles, records, result)
    except SheetError as exc:
        print(f"去重失败：{exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"去重失败：无法读写文件（{exc.strerror or exc}）。", file=sys.stderr)
        return 2
    contacts = result.contact_groups()
    companies = result.company_groups()
    dup_contacts = sum(1 for rows in contacts.values() if len(rows) > 1)
    dup_companies = sum(1 for rows in companies.values() if len(rows) > 1)
    print(
        f"共 {len(records)} 行：{len(contacts)} 位联系人（{dup_contacts} 位有重复记录），"
        f"{len(companies)} 家公司（{dup_companies} 家有重复记录）。"
        f"结果已写入 {out}，用时 {time.perf_counter() - started:.1f} 秒。"
    )
    return 0
