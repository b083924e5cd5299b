"""`crmbot import FILE.xlsx|FILE.csv [--dry-run] [--as USERID] [--yes]` and the review CSV round trip.

    crmbot import customers.xlsx --dry-run        # check and summarize, write nothing
    crmbot import customers.xlsx                  # the same summary, then asks before writing
    crmbot import --review-export review.csv      # pending "是否关联到 X？" items, one line each
    crmbot import --review-apply review.csv       # apply the decision column (link / new / ignore)

The logic is in bot/importer.py; this module parses arguments, asks for confirmation and prints.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import fail, guarded, services_from
from bot.importer import (
    CHUNK_ROWS,
    ImportFailed,
    NoProgress,
    Progress,
    apply_reviews,
    execute,
    export_reviews,
    format_plan,
    format_report,
    plan_import,
    resolve_actor,
)
from bot.sheets import SheetError, file_sha256
from core.errors import DomainError

log = logging.getLogger(__name__)
PROGRESS_MIN_BYTES = 256 * 1024  # smaller files finish before a bar would be worth drawing


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "import",
        help="从 Excel/CSV 导入客户（校验、查重、分批写入）",
        description="导入客户表：逐行校验，文件内和与已有客户查重，确认后分批写入；疑似重复的记录交给主管审核。",
    )
    p.add_argument("file", nargs="?", help="客户表：.xlsx，或 .csv（UTF-8、带 BOM 的 UTF-8、GBK）")
    p.add_argument("--dry-run", action="store_true", help="只检查并显示汇总，不写入任何数据")
    p.add_argument("--as", dest="actor", metavar="USERID", help="以哪个用户的身份导入（默认：第一个管理员）")
    p.add_argument("--yes", "-y", action="store_true", help="不再询问，直接写入")
    p.add_argument("--review-export", metavar="CSV", help="把待审核的疑似重复导出为 CSV（填写 decision 列）")
    p.add_argument("--review-apply", metavar="CSV", help="按 CSV 的 decision 列（link/new/ignore）处理待审核")
    p.add_argument("--errors", metavar="CSV", help="无效行清单的路径（默认：输入文件旁的 NAME.invalid.csv）")
    p.add_argument(
        "--batch-size", type=int, default=CHUNK_ROWS, help=f"每个事务写入的行数（默认 {CHUNK_ROWS}）"
    )
    p.add_argument("--database", metavar="URL", help="数据库地址（默认取配置）")
    p.set_defaults(func=guarded(run))


class RichProgress:
    """A progress bar on the terminal (rich), one task per phase."""

    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        )
        self._task: Any = None

    def start(self, label: str, total: int | None) -> None:
        if self._task is None:
            self._progress.start()
        self._task = self._progress.add_task(label, total=total)

    def advance(self, n: int = 1) -> None:
        if self._task is not None:
            self._progress.advance(self._task, n)

    def stop(self) -> None:
        if self._task is not None:
            done = self._progress.tasks[-1].completed
            self._progress.update(self._task, total=done, completed=done)
            self._progress.stop()
            self._task = None


def _progress_for(path: Path) -> Progress:
    if sys.stdout.isatty() and path.is_file() and path.stat().st_size >= PROGRESS_MIN_BYTES:
        return RichProgress()
    return NoProgress()


def _confirm(question: str) -> bool:
    try:
        answer = input(question)
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes", "是", "确认")


def run(args: argparse.Namespace) -> int:
    modes = [m for m in (args.file, args.review_export, args.review_apply) if m]
    if len(modes) != 1:
        return fail(
            "请指定要导入的文件（crmbot import 客户.xlsx），或者 --review-export / --review-apply 之一。", 2
        )
    if args.batch_size < 1:
        return fail("--batch-size 至少为 1。", 2)
    services = services_from(args)
    try:
        if args.file:
            return _import(services, args)
        actor = resolve_actor(services, args.actor)
        if args.review_export:
            out = Path(args.review_export)
            count = export_reviews(services, actor, out)
            print(
                f"已导出 {count} 条待审核记录到 {out}：在 decision 列填写 link（关联）、new（新建）或 ignore（忽略），"
                f"然后运行 crmbot import --review-apply {out}"
            )
            return 0
        report = apply_reviews(services, actor, Path(args.review_apply))
        print(report.text())
        return 0 if not report.problems else 1
    except ImportFailed as err:
        return fail(str(err))
    except SheetError as err:
        print(f"导入失败：{err}", file=sys.stderr)
        return 2
    except DomainError as err:
        return fail(err.user_text())
    except OSError as err:
        print(f"导入失败：无法读写文件（{err.strerror or err}）。", file=sys.stderr)
        return 2
    finally:
        services.uow_factory.engine.dispose()


def _import(services: Any, args: argparse.Namespace) -> int:
    path = Path(args.file)
    # who writes is settled before the long read, so a wrong --as fails at once; a dry run needs nobody
    actor = resolve_actor(services, args.actor) if not args.dry_run else None
    progress = _progress_for(path)
    errors = Path(args.errors) if args.errors else None
    with plan_import(services, path, progress=progress, errors_path=errors) as plan:
        print(format_plan(plan))
        if args.dry_run:
            print("（试运行：没有写入任何数据。去掉 --dry-run 即可导入。）")
            return 0
        if plan.valid == 0:
            print("没有可以导入的行：请修正上面列出的问题后重试。", file=sys.stderr)
            return 2
        if not args.yes and not _confirm(f"确认导入以上 {plan.valid:,} 行吗？（输入 y 确认）："):
            print("已取消，没有写入任何数据。")
            return 1
        try:
            assert actor is not None  # resolved above for every run that writes
            report = execute(services, plan, actor, chunk_rows=args.batch_size, progress=progress)
        except (Exception, KeyboardInterrupt) as exc:
            progress.stop()
            if not isinstance(exc, KeyboardInterrupt | DomainError):
                log.exception("import interrupted")
            print(_interrupted(services, path, exc), file=sys.stderr)
            return 130 if isinstance(exc, KeyboardInterrupt) else 1
        print(format_report(report))
    return 0


def _interrupted(services: Any, path: Path, exc: BaseException) -> str:
    why = "被中断" if isinstance(exc, KeyboardInterrupt) else f"出错（{exc}）"
    through = 0
    try:
        with services.uow_factory() as uow:
            running = [b for b in uow.import_batches.by_sha256(file_sha256(path)) if b.state == "running"]
            through = int(running[-1].summary.get("done_through", 0)) if running else 0
    except Exception:  # the database itself may be why we stopped
        log.debug("cannot read the import checkpoint", exc_info=True)
    done = f"已完整写入到第 {through} 行（按批提交，没有半批数据）" if through else "没有写入任何一批数据"
    return f"导入{why}：{done}。重新运行同一命令会从中断处继续，已写入的行不会重复。"
