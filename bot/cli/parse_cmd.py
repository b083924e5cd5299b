"""`crmbot parse`: run the free-text parser over a JSONL file of messages or call logs, or score it.

    crmbot parse --jsonl IN.jsonl [--out OUT.jsonl] [--holidays]
    crmbot parse --score CORPUS.jsonl [--show-errors] [--holidays]

Input lines are chat messages {"id", "now", "text"} or call logs {"id", "call_id", "rep",
"customer_phone", "started_at", "duration_s", "transcript"}; an "expect" key is ignored (and used
by --score). Malformed lines are reported on stderr with their line number; the rest is processed.

节后 ("after the holiday") resolves only with --holidays (the corpus labels it as a vague time);
the chat always parses with the configured working-day calendar.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

import pydantic


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser(
        "parse",
        help="解析跟进记录文本/通话记录（JSONL），或对标注语料打分",
        description="把销售的跟进消息或通话记录解析成结构化字段（每行一个 JSON）。",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--jsonl", metavar="IN.jsonl", help="输入文件：每行一条消息或通话记录")
    mode.add_argument("--score", metavar="CORPUS.jsonl", help="标注语料（每行带 expect），输出各字段 P/R/F1")
    parser.add_argument("--out", metavar="OUT.jsonl", help="输出文件（默认输出到标准输出）")
    parser.add_argument("--show-errors", action="store_true", help="打分时列出每个不一致的字段")
    parser.add_argument("--holidays", action="store_true", help="用法定节假日日历解析“节后”等说法")
    parser.set_defaults(func=run)


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _read_lines(path: str) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", errors="strict") as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        _err(f"错误：找不到输入文件 {path}，请检查路径。")
    except IsADirectoryError:
        _err(f"错误：{path} 是一个目录，请指定 JSONL 文件。")
    except PermissionError:
        _err(f"错误：没有权限读取 {path}。")
    except UnicodeDecodeError:
        _err(f"错误：{path} 不是 UTF-8 编码的文本文件。")
    except OSError as exc:
        _err(f"错误：无法读取 {path}（{exc.strerror or exc}）。")
    return None


def _records(lines: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            _err(f"第 {number} 行：不是合法的 JSON（{exc.msg}），已跳过。")
            continue
        if not isinstance(obj, dict):
            _err(f"第 {number} 行：应为 JSON 对象，已跳过。")
            continue
        yield number, obj


def _parse_one(parser: Any, number: int, obj: dict[str, Any]) -> dict[str, Any] | None:
    from bot.nlp.types import CallLog

    item_id = obj.get("id")
    if item_id is None or isinstance(item_id, (dict, list)):
        _err(f"第 {number} 行：缺少 id，已跳过。")
        return None
    if "transcript" in obj or "call_id" in obj:
        fields = {k: v for k, v in obj.items() if k != "expect"}
        fields["id"] = str(item_id)
        try:
            call = CallLog.model_validate(fields)
        except pydantic.ValidationError as exc:
            problems = "；".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            _err(f"第 {number} 行：通话记录字段有误（{problems}），已跳过。")
            return None
        extraction = parser.parse_call(call)
    else:
        text, now_raw = obj.get("text"), obj.get("now")
        if not isinstance(text, str):
            _err(f"第 {number} 行：缺少 text 字段，已跳过。")
            return None
        if not isinstance(now_raw, str):
            _err(f"第 {number} 行：缺少 now 字段（消息发送时间），已跳过。")
            return None
        try:
            now = datetime.fromisoformat(now_raw)
        except ValueError:
            _err(f"第 {number} 行：now 不是合法的时间（{now_raw!r}），已跳过。")
            return None
        extraction = parser.parse_text(text, now)
    return {"id": item_id, **extraction.to_output()}


def _build_parser(args: argparse.Namespace) -> Any:
    from bot.nlp.parser import Parser

    calendar = None
    if args.holidays:
        from bot.workcal import build_work_calendar

        calendar = build_work_calendar()
    return Parser(calendar=calendar)


def run(args: argparse.Namespace) -> int:
    path = args.score or args.jsonl
    lines = _read_lines(path)
    if lines is None:
        return 2
    parser = _build_parser(args)
    results: dict[str, dict[str, Any]] = {}
    corpus: list[dict[str, Any]] = []
    out: IO[str] = sys.stdout
    if args.out and not args.score:
        try:
            out = open(args.out, "w", encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as exc:
            _err(f"错误：无法写入输出文件 {args.out}（{exc.strerror or exc}）。")
            return 2
    processed = 0
    try:
        for number, obj in _records(lines):
            row = _parse_one(parser, number, obj)
            if row is None:
                continue
            processed += 1
            if args.score:
                corpus.append(obj)
                results[str(row["id"])] = row
            else:
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    finally:
        if out is not sys.stdout:
            out.close()
    if args.score:
        from bot.nlp.scoring import score

        for item in corpus:
            item["id"] = str(item["id"])
        report = score(corpus, results)
        if args.show_errors:
            for line in report.errors:
                print(line)
        for line in report.lines():
            print(line)
    if processed == 0:
        _err("没有可处理的记录。")
        return 1
    return 0
