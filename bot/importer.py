"""`crmbot import`: read a customer sheet, check every row, find duplicates, then write in batches.

Two passes, so memory holds match keys and not rows:
1. plan — stream the sheet (bot.sheets), map columns by header, validate each row (core.imports),
   spool the valid rows to a temporary file, group the file's own duplicates
   (core.dedup.batch.group_records) and check each group's first row against the database (the
   real-time check). Nothing is written; this is all `--dry-run` does.
2. execute — read the spool back and write it through `core.usecases.imports.import_rows` (so every
   row passes `create_customer`), one transaction per batch of rows. The batch ledger
   (`import_batches`, keyed by the file's sha256) records the last row committed: an interrupted
   import leaves whole batches only, and running it again continues after that row.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import tempfile
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any, Protocol

from bot.services import Services
from bot.sheets import (
    HEADER_ALIASES,
    MAX_CELL,
    Sheet,
    SheetError,
    SheetRow,
    clean_header,
    detect_encoding,
    file_sha256,
    map_columns,
    open_sheet,
)
from core.dedup.batch import group_records
from core.dedup.check import DedupThresholds
from core.dedup.normalize import NormalizedRecord
from core.errors import DomainError
from core.imports import ImportBatch, ImportRow, ReviewItem, parse_decision, prepare_row, validate_row
from core.model import Role, User
from core.usecases.customers import NewCustomer
from core.usecases.imports import (
    ImportMemory,
    PlannedRow,
    RowOutcome,
    decide_review,
    import_rows,
    list_pending_reviews,
    require_importer,
)
from core.validation import normalize_phone

# Header words of the import, beyond those `crmbot dedupe` knows.
IMPORT_ALIASES: dict[str, tuple[str, ...]] = {
    **HEADER_ALIASES,
    "region": (
        "region",
        "area",
        "province",
        "city",
        "地区",
        "区域",
        "所在地区",
        "省份",
        "城市",
        "所在城市",
        "省市",
    ),
    "product": ("product", "products", "product_line", "产品", "意向产品", "产品线"),
    "lead_source": ("source", "lead_source", "来源", "线索来源", "客户来源", "渠道"),
    "title": ("title", "position", "职位", "职务", "岗位"),
}
FIELD_ROLES = ("company", "name", "phone", "email", "region", "product")  # roles with a place in the CRM
ROLE_ZH = {
    "company": "公司",
    "name": "联系人",
    "phone": "电话",
    "email": "邮箱",
    "region": "地区",
    "product": "产品",
    "lead_source": "来源",
    "title": "职位",
}
HEADER_SEARCH_ROWS = 10  # a title line or two above the header is common in exported sheets
SHOWN_PROBLEMS = 20  # on the console; beyond that the full list goes to a CSV file
KEPT_PROBLEMS = 1000  # in memory, for the summary; the CSV file has them all
CHUNK_ROWS = 500


class ImportFailed(Exception):
    """The import cannot start (no admin, unknown user…); the message is shown as is."""


class Progress(Protocol):
    def start(self, label: str, total: int | None) -> None: ...
    def advance(self, n: int = 1) -> None: ...
    def stop(self) -> None: ...


class NoProgress:
    def start(self, label: str, total: int | None) -> None:
        return None

    def advance(self, n: int = 1) -> None:
        return None

    def stop(self) -> None:
        return None


@dataclass
class Problem:
    row_no: int
    reasons: list[str]

    def text(self) -> str:
        return f"第 {self.row_no} 行：{'；'.join(self.reasons)}"


# ---------------------------------------------------------------- plan (pass 1)


@dataclass
class Plan:
    sheet: Sheet
    sha256: str
    header_row: int = 0
    header: list[str] = field(default_factory=list)
    roles: dict[str, list[int]] = field(default_factory=dict)
    data_rows: int = 0
    valid: int = 0
    invalid: int = 0
    problems: list[Problem] = field(default_factory=list)  # the first KEPT_PROBLEMS
    errors_file: Path | None = None
    notes: list[str] = field(default_factory=list)
    leaders: array = field(default_factory=lambda: array("q"))  # per valid row: its group's first row
    groups: int = 0
    rows_by_kind: Counter[str] = field(default_factory=Counter)  # new / linked / review (by group leader)
    groups_by_kind: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)  # review groups, to show
    earlier: list[ImportBatch] = field(default_factory=list)
    spool: Path | None = None
    seconds: float = 0.0

    @property
    def file_duplicates(self) -> int:
        return self.valid - self.groups

    def close(self) -> None:
        if self.spool is not None:
            self.spool.unlink(missing_ok=True)
            self.spool = None

    def __enter__(self) -> Plan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def spooled(self) -> Iterator[PlannedRow]:
        assert self.spool is not None
        with self.spool.open(encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                yield PlannedRow(ImportRow.from_data(json.loads(line)), self.leaders[i])


class _ErrorSink:
    """Keeps the first problems in memory; writes all of them, with the row's cells, to a CSV once
    there are more than fit on the screen."""

    def __init__(self, plan: Plan, path: Path | None) -> None:
        self.plan, self.path = plan, path
        self.buffer: list[tuple[Problem, list[str]]] = []
        self.fh: IO[str] | None = None
        self.writer: Any = None

    def add(self, problem: Problem, cells: list[str]) -> None:
        plan = self.plan
        plan.invalid += 1
        if len(plan.problems) < KEPT_PROBLEMS:
            plan.problems.append(problem)
        if self.writer is None:
            if self.path is None:
                return  # no list file: the first problems are in memory, the count is exact
            self.buffer.append((problem, cells))
            if len(self.buffer) > SHOWN_PROBLEMS:
                self._open()
        else:
            self._write(problem, cells)

    def _open(self) -> None:
        assert self.path is not None
        try:
            self.fh = self.path.open("w", encoding="utf-8-sig", newline="")
        except OSError as exc:  # a read-only folder must not stop the check itself
            self.plan.notes.append(
                f"无法写入无效行清单 {self.path}（{exc.strerror or exc}）：可用 --errors 指定其他路径。"
            )
            self.path = None
            self.buffer.clear()
            return
        self.writer = csv.writer(self.fh)
        self.writer.writerow(["行号", "原因", *self.plan.header])
        for problem, cells in self.buffer:
            self._write(problem, cells)
        self.buffer.clear()
        self.plan.errors_file = self.path

    def _write(self, problem: Problem, cells: list[str]) -> None:
        self.writer.writerow(
            [problem.row_no, "；".join(problem.reasons), *(spreadsheet_safe(c) for c in cells)]
        )

    def close(self) -> None:
        if self.fh is not None:
            self.fh.close()


def spreadsheet_safe(value: str) -> str:
    """Text written to a CSV that people open in Excel/WPS: a leading = or @ would run as a formula."""
    if value[:1] in ("=", "@") or (value[:1] in ("+", "-") and not value[1:2].isdigit()):
        return "'" + value
    return value


def default_errors_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.invalid.csv")


def _find_header(rows: Iterator[SheetRow], plan: Plan, name: str) -> None:
    skipped: list[SheetRow] = []
    first_roles: dict[str, list[int]] | None = None
    for sr in rows:
        roles = map_columns(sr.cells, IMPORT_ALIASES)
        if "company" in roles:
            plan.header_row, plan.header, plan.roles = sr.row_no, [c.strip() for c in sr.cells], roles
            for s in skipped:
                shown = " ".join(c.strip() for c in s.cells if c.strip())[:30]
                plan.notes.append(f"第 {s.row_no} 行不是表头，已跳过：「{shown}」。")
            return
        if first_roles is None:
            first_roles = roles
            first_cells = sr.cells
        skipped.append(sr)
        if len(skipped) >= HEADER_SEARCH_ROWS:
            break
    if not skipped:
        raise SheetError(f"文件 {name} 是空的：没有表头，也没有数据行。")
    shown = "、".join(c.strip() for c in first_cells[:8] if c.strip()) or "（空）"
    if first_roles:
        raise SheetError(
            f"表头里没有公司名称列：每个客户都需要公司名称（表头可写 公司、公司名称、客户名称、单位 或 company）。"
            f"读到的表头（第 {skipped[0].row_no} 行）：{shown}"
        )
    raise SheetError(
        f"前 {len(skipped)} 行里没有找到表头：需要一行列名，至少包含 公司/客户名称，通常还有 联系人、电话、邮箱。"
        f"读到的第 {skipped[0].row_no} 行：{shown}"
    )


def _row_of(sr: SheetRow, plan: Plan) -> tuple[ImportRow, dict[str, int]]:
    """Cells → roles; a second column of the same role fills a gap, else goes to the note."""
    cells, header = sr.cells, plan.header

    def name(idx: int) -> str:
        return header[idx] if idx < len(header) and header[idx] else f"第{idx + 1}列"

    def keep(idx: int, value: str) -> None:
        key = name(idx)
        if key in row.note:  # two columns with one header: both are kept
            key = f"{key}（第{idx + 1}列）"
        row.note[key] = value

    row = ImportRow(sr.row_no)
    used: set[int] = set()
    for role in FIELD_ROLES:
        for idx in plan.roles.get(role, ()):
            used.add(idx)
            value = cells[idx].strip() if idx < len(cells) else ""
            if not value:
                continue
            if not getattr(row, role):
                setattr(row, role, value)
            else:
                keep(idx, value)
    for idx, value in enumerate(cells):
        if idx not in used and value.strip():
            keep(idx, value.strip())
    long_cells = {name(idx): len(value) for idx, value in enumerate(cells) if len(value) > MAX_CELL}
    return row, long_cells


def plan_import(
    services: Services, path: Path, *, progress: Progress | None = None, errors_path: Path | None = None
) -> Plan:
    """Pass 1. Raises SheetError for a file that cannot be imported at all (nothing is written)."""
    from bot.textconv import make_normalizer

    progress = progress or NoProgress()
    started = time.perf_counter()
    sheet = open_sheet(path)
    plan = Plan(sheet, file_sha256(path))
    normalizer = make_normalizer()
    records: list[NormalizedRecord] = []
    row_nos = array("q")
    fd, spool_name = tempfile.mkstemp(prefix="crmbot-import-", suffix=".jsonl")
    plan.spool = Path(spool_name)
    errors = _ErrorSink(plan, errors_path or default_errors_path(path))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as spool:
            progress.start("读取并校验", sheet.estimated_rows)
            rows = sheet.rows()
            _find_header(rows, plan, path.name)
            progress.advance(plan.header_row)
            for sr in rows:
                progress.advance()
                plan.data_rows += 1
                row, long_cells = _row_of(sr, plan)
                reasons = [*sr.problems, *validate_row(row, long_cells)]
                if reasons:
                    errors.add(Problem(sr.row_no, reasons), sr.cells)
                    continue
                row = prepare_row(row)
                spool.write(json.dumps(row.to_data(), ensure_ascii=False) + "\n")
                records.append(
                    normalizer.record(str(row.row_no), row.name, row.company, row.phone, row.email)
                )
                row_nos.append(row.row_no)
            progress.stop()
    except BaseException:
        plan.close()
        raise
    finally:
        errors.close()
    plan.notes += sheet.all_notes
    plan.valid = len(records)
    if plan.data_rows == 0:
        plan.close()
        raise SheetError(f"文件 {path.name} 只有表头，没有数据行。")
    thresholds = _thresholds(services)
    result = group_records(records, auto=thresholds.auto)
    sizes = Counter(result.company_group)
    plan.leaders = array("q", (row_nos[g] for g in result.company_group))
    plan.groups = len(sizes)
    _check_against_database(services, plan, records, result.company_group, sizes, progress)
    with services.uow_factory() as uow:
        plan.earlier = uow.import_batches.by_sha256(plan.sha256)
    plan.seconds = time.perf_counter() - started
    return plan


def _thresholds(services: Services) -> DedupThresholds:
    thresholds = getattr(services.dedup, "thresholds", None)
    return thresholds if isinstance(thresholds, DedupThresholds) else DedupThresholds()


def _check_against_database(
    services: Services,
    plan: Plan,
    records: list[NormalizedRecord],
    groups: list[int],
    sizes: Counter[int],
    progress: Progress,
) -> None:
    """The real-time check for each group's first row, read-only: what writing would do."""
    with services.uow_factory() as uow:
        if uow.customers.count() == 0:  # nothing to match: every group is a new customer
            plan.groups_by_kind["new"] = len(sizes)
            plan.rows_by_kind["new"] = plan.valid
            return
        progress.start("与已有客户查重", len(sizes))
        for i, group in enumerate(groups):
            if group != i:
                continue
            rec = records[i]
            data = NewCustomer(
                company=rec.company.typed,
                contact_name=rec.name.typed or None,
                phone=rec.phone_typed or None,
                email=rec.email_typed or None,
                source="import",
            )
            decision = services.dedup.decide(
                uow, data, normalize_phone(rec.phone_typed) if rec.phone_typed else None
            )
            kind = {"link": "linked", "ask": "review"}.get(decision.kind, "new")
            plan.groups_by_kind[kind] += 1
            plan.rows_by_kind[kind] += sizes[i]
            if kind == "review" and len(plan.examples) < 10 and decision.customer is not None:
                why = "，".join(decision.evidence) or "相似"
                plan.examples.append(
                    f"第 {rec.record_id} 行「{rec.company.typed}」→ 已有客户「{decision.customer.name}」"
                    f"（相似度 {decision.score:.0f}%：{why}）"
                )
            progress.advance()
        progress.stop()


def format_plan(plan: Plan) -> str:
    sheet = plan.sheet
    where = f"（工作表「{sheet.title}」）" if sheet.kind == "xlsx" else f"（{_encoding_zh(sheet.encoding)}）"
    mapped = "，".join(
        f"{ROLE_ZH[r]}←{'/'.join(plan.header[i] for i in cols)}"
        for r, cols in plan.roles.items()
        if r in FIELD_ROLES
    )
    kept = [
        h
        for i, h in enumerate(plan.header)
        if h and not any(i in c for r, c in plan.roles.items() if r in FIELD_ROLES)
    ]
    lines = [
        f"读取 {sheet.path.name}{where}：共 {plan.data_rows:,} 行数据（表头在第 {plan.header_row} 行）。",
        f"列对应：{mapped}" + (f"；其他列记入备注：{'、'.join(kept[:10])}" if kept else ""),
    ]
    new_groups, new_rows = plan.groups_by_kind["new"], plan.rows_by_kind["new"]
    lines.append(
        f"  新建客户：{new_groups:,} 家"
        + (
            f"（{new_rows:,} 行，其中 {new_rows - new_groups:,} 行是文件内重复，将并入同一客户）"
            if new_rows > new_groups
            else ""
        )
    )
    lines.append(f"  关联已有客户：{plan.rows_by_kind['linked']:,} 行")
    lines.append(
        f"  需要审核：{plan.rows_by_kind['review']:,} 行（{plan.groups_by_kind['review']:,} 组疑似已有客户，"
        "由主管确认）"
    )
    lines.append(f"  无效（不导入）：{plan.invalid:,} 行")
    if plan.examples:
        lines.append("需要审核的例子：")
        lines += [f"  {e}" for e in plan.examples[:5]]
    if plan.problems:
        lines.append("无效的行：")
        lines += [f"  {p.text()}" for p in plan.problems[:SHOWN_PROBLEMS]]
        if plan.invalid > SHOWN_PROBLEMS:
            where = f"，完整清单见 {plan.errors_file}" if plan.errors_file else ""
            lines.append(f"  …另有 {plan.invalid - SHOWN_PROBLEMS:,} 行无效{where}")
    if plan.notes:
        lines.append("提示：")
        lines += [f"  {n}" for n in plan.notes[:20]]
        if len(plan.notes) > 20:
            lines.append(f"  …另有 {len(plan.notes) - 20} 条提示")
    done = [b for b in plan.earlier if b.state == "done"]
    if done:
        b = done[-1]
        lines.append(
            f"这个文件之前已导入过（批次 #{b.id}，{b.created_by}）：重复检查会把已导入的行关联到原客户，不会重复新建。"
        )
    running = [b for b in plan.earlier if b.state == "running"]
    if running:
        b = running[-1]
        through = int(b.summary.get("done_through", 0))
        lines.append(
            f"这个文件上次导入未完成（批次 #{b.id}，已完整写入到第 {through} 行）：将从第 {through} 行之后继续。"
        )
    return "\n".join(lines)


def _encoding_zh(encoding: str) -> str:
    return {"utf-8-sig": "UTF-8 编码", "gb18030": "GBK/GB18030 编码"}.get(encoding, encoding)


# ---------------------------------------------------------------- execute (pass 2)


@dataclass
class ImportReport:
    batch: ImportBatch
    resumed_after: int = 0  # the last row an interrupted run had committed
    seen_before: bool = False
    written: int = 0  # rows written by this run
    failed: list[Problem] = field(default_factory=list)
    seconds: float = 0.0
    names: dict[str, str] = field(default_factory=dict)  # user id → name, for the summary

    @property
    def summary(self) -> dict[str, Any]:
        return self.batch.summary


def resolve_actor(services: Services, user_id: str | None) -> User:
    with services.uow_factory() as uow:
        if user_id:
            user = uow.users.get(user_id)
            if user is None:
                found = uow.users.find_by_name(user_id)
                user = found[0] if len(found) == 1 else None
            if user is None:
                raise ImportFailed(f"没有找到用户「{user_id}」：请用 crmbot users list 查看账号。")
            return user
        admins = [u for u in uow.users.list() if u.has(Role.ADMIN)]
    if not admins:
        raise ImportFailed(
            "数据库里还没有管理员账号：请先用 crmbot users import 导入用户，或用 --as 用户ID 指定操作人。"
        )
    return admins[0]


def _lead_assigner(services: Services) -> Any:
    try:
        from bot.handlers.assignment import lead_assigner
    except ImportError:
        return None
    return lead_assigner(services)


def execute(
    services: Services,
    plan: Plan,
    actor: User,
    *,
    chunk_rows: int = CHUNK_ROWS,
    progress: Progress | None = None,
) -> ImportReport:
    """Pass 2: write the spooled rows in transactions of `chunk_rows` rows."""
    progress = progress or NoProgress()
    started = time.perf_counter()
    now = services.clock.now()
    with services.uow_factory() as uow:
        require_importer(actor)
        earlier = uow.import_batches.by_sha256(plan.sha256)
        running = [b for b in earlier if b.state == "running"]
        seen_before = any(b.state == "done" for b in earlier)
        if running:
            batch = running[-1]
        else:
            batch = uow.import_batches.add(
                ImportBatch(
                    None,
                    plan.sheet.path.name,
                    plan.sha256,
                    actor.id,
                    now,
                    "running",
                    {"rows": plan.data_rows, "invalid": plan.invalid, "done_through": 0},
                )
            )
        uow.commit()
    report = ImportReport(batch, int(batch.summary.get("done_through", 0)), seen_before)
    memory = _memory_of(services, batch) if report.resumed_after else ImportMemory()
    assigner = _lead_assigner(services)
    chunk: list[PlannedRow] = []
    progress.start("写入", plan.valid)
    if report.resumed_after:
        progress.advance(sum(1 for p in plan.spooled() if p.row.row_no <= report.resumed_after))

    def flush() -> None:
        if chunk:
            written, failed = _write_chunk(services, actor, batch, chunk, memory, assigner, seen_before)
            report.written += written
            report.failed += failed
            progress.advance(len(chunk))
            chunk.clear()

    for planned in plan.spooled():
        if planned.row.row_no <= report.resumed_after:
            continue
        chunk.append(planned)
        if len(chunk) >= chunk_rows:
            flush()
    flush()
    progress.stop()
    report.names = _finish(services, batch)
    report.seconds = time.perf_counter() - started
    return report


def _memory_of(services: Services, batch: ImportBatch) -> ImportMemory:
    """An interrupted import resumed: which customers its committed rows created or linked to, from
    the audit entries those rows left, so the rest of the file joins them as it would have."""
    memory = ImportMemory()
    with services.uow_factory() as uow:
        entries = uow.history.audit(subject_type="customer", since=batch.created_at, limit=10_000_000)
    for entry in reversed(entries):  # oldest first: a group's first row comes before its copies
        after = entry.after or {}
        if entry.action != "customer.import" or after.get("batch") != batch.id:
            continue
        row, customer_id = int(after.get("row", 0)), int(entry.subject_id)
        if after.get("created"):
            memory.created.add(row)
            memory.created_ids.add(customer_id)
        memory.customer_of.setdefault(row, customer_id)
    return memory


def _tally(summary: dict[str, Any], outcomes: list[RowOutcome], failed: list[Problem]) -> dict[str, Any]:
    kinds = Counter(o.kind for o in outcomes)
    for kind in ("created", "joined", "linked"):
        summary[kind] = int(summary.get(kind, 0)) + kinds[kind]
    summary["review_rows"] = int(summary.get("review_rows", 0)) + kinds["review"]
    summary["review_items"] = int(summary.get("review_items", 0)) + sum(1 for o in outcomes if o.opened)
    summary["failed"] = int(summary.get("failed", 0)) + len(failed)
    reps: dict[str, int] = dict(summary.get("reps", {}))
    pool: dict[str, int] = dict(summary.get("pool", {}))
    for o in outcomes:
        if o.assignment is None:
            continue
        if o.assignment.rep is not None:
            reps[o.assignment.rep.id] = reps.get(o.assignment.rep.id, 0) + 1
        else:
            who = o.assignment.manager.id if o.assignment.manager else ""
            pool[who] = pool.get(who, 0) + 1
    summary["reps"], summary["pool"] = reps, pool
    return summary


def _write_chunk(
    services: Services,
    actor: User,
    batch: ImportBatch,
    chunk: list[PlannedRow],
    memory: ImportMemory,
    assigner: Any,
    seen_before: bool,
) -> tuple[int, list[Problem]]:
    """One transaction: the chunk's rows and the batch checkpoint, or nothing."""
    snapshot = _copy_memory(memory)
    now = services.clock.now()
    with services.uow_factory() as uow:
        try:
            outcomes = import_rows(
                uow,
                actor,
                batch,
                chunk,
                now,
                dedup=services.dedup,
                pipeline=services.pipeline,
                assigner=assigner,
                memory=memory,
                seen_before=seen_before,
            )
        except DomainError:
            uow.rollback()
            _restore_memory(memory, snapshot)
        else:
            batch.summary = _checkpoint(uow, batch, outcomes, [], chunk)
            uow.commit()
            return len(outcomes), []
    return _write_rows_one_by_one(services, actor, batch, chunk, memory, assigner, seen_before)


def _write_rows_one_by_one(
    services: Services,
    actor: User,
    batch: ImportBatch,
    chunk: list[PlannedRow],
    memory: ImportMemory,
    assigner: Any,
    seen_before: bool,
) -> tuple[int, list[Problem]]:
    """A rule refused a row of the chunk: write the others, each behind a savepoint, and report that one."""
    outcomes: list[RowOutcome] = []
    failed: list[Problem] = []
    now = services.clock.now()
    with services.uow_factory() as uow:
        for planned in chunk:
            snapshot = _copy_memory(memory)
            savepoint = uow.session.begin_nested()
            try:
                outcomes += import_rows(
                    uow,
                    actor,
                    batch,
                    [planned],
                    now,
                    dedup=services.dedup,
                    pipeline=services.pipeline,
                    assigner=assigner,
                    memory=memory,
                    seen_before=seen_before,
                )
                savepoint.commit()
            except DomainError as err:
                savepoint.rollback()
                uow.session.info.pop("contacts_by_customer", None)  # may hold a contact of the undone row
                _restore_memory(memory, snapshot)
                failed.append(Problem(planned.row.row_no, [f"未导入：{err.message}"]))
        batch.summary = _checkpoint(uow, batch, outcomes, failed, chunk)
        uow.commit()
    return len(outcomes), failed


def _checkpoint(
    uow: Any, batch: ImportBatch, outcomes: list[RowOutcome], failed: list[Problem], chunk: list[PlannedRow]
) -> dict[str, Any]:
    """The batch's running totals and the last row written, in the chunk's own transaction."""
    stored = uow.import_batches.get(batch.id)
    stored.summary = _tally(dict(stored.summary), outcomes, failed)
    stored.summary["done_through"] = chunk[-1].row.row_no
    uow.import_batches.update(stored)
    return stored.summary


def _copy_memory(memory: ImportMemory) -> ImportMemory:
    return ImportMemory(**{f.name: copy.copy(getattr(memory, f.name)) for f in fields(ImportMemory)})


def _restore_memory(memory: ImportMemory, snapshot: ImportMemory) -> None:
    """In place: the rows' duplicate check holds these very sets."""
    for f in fields(ImportMemory):
        current = getattr(memory, f.name)
        current.clear()
        current.update(getattr(snapshot, f.name))


def _finish(services: Services, batch: ImportBatch) -> dict[str, str]:
    """Mark the batch done and tell people: each rep their new leads, managers the pool and the reviews."""
    from bot.notify import Notifier

    now = services.clock.now()
    with services.uow_factory() as uow:
        stored = uow.import_batches.get(batch.id or 0)
        assert stored is not None
        stored.state = "done"
        uow.import_batches.update(stored)
        batch.state, batch.summary = stored.state, stored.summary
        summary = stored.summary
        notifier = Notifier(services, uow, now)
        name = batch.filename
        for rep_id, count in sorted(summary.get("reps", {}).items()):
            rep = uow.users.get(rep_id)
            if rep is not None:
                notifier.notify(
                    rep, f"您有 {count} 条导入的新线索（来自「{name}」），请尽快联系，联系后记录一次跟进。"
                )
        users = uow.users.list()
        directors = [u for u in users if u.has(Role.DIRECTOR)]
        for manager_id, count in sorted(summary.get("pool", {}).items()):
            recipients = [u for u in users if u.id == manager_id] or directors
            for manager in recipients:
                notifier.notify(
                    manager,
                    f"导入「{name}」的 {count} 条线索暂时无人可接，已进入公海："
                    "请发送 /公海 查看，并用 /转派 分配。",
                )
        new_items = int(summary.get("review_items", 0))
        if new_items:
            managers = [u for u in users if u.has(Role.MANAGER)] or directors
            for manager in managers:
                notifier.notify(
                    manager,
                    f"导入「{name}」有 {new_items} 组记录疑似已有客户，需要确认：请发送 /待审核 逐条处理。",
                )
        uow.commit()
    return {u.id: u.name for u in users}


def format_report(report: ImportReport) -> str:
    s = report.summary
    b = report.batch
    lines = [
        f"导入完成（批次 #{b.id}）：新建客户 {s.get('created', 0):,} 家"
        + (f"（另有 {s.get('joined', 0):,} 行是文件内重复，已并入）" if s.get("joined") else "")
        + f"，关联已有客户 {s.get('linked', 0):,} 行，待审核 {s.get('review_items', 0):,} 组"
        f"（{s.get('review_rows', 0):,} 行），无效 {s.get('invalid', 0):,} 行（已跳过）。"
    ]
    if report.resumed_after:
        lines.append(f"本次从第 {report.resumed_after} 行之后继续了上次中断的导入。")
    if report.seen_before:
        lines.append("这个文件之前已导入过：已导入的行都关联到了原客户，没有重复新建。")
    if report.failed:
        lines.append(f"有 {len(report.failed)} 行被规则拒绝，未导入：")
        lines += [f"  {p.text()}" for p in report.failed[:SHOWN_PROBLEMS]]
    reps, pool = s.get("reps", {}), s.get("pool", {})
    if reps or pool:
        parts = [f"{report.names.get(rid, rid)} {n} 条" for rid, n in sorted(reps.items())]
        if pool:
            parts.append(f"公海 {sum(pool.values())} 条")
        lines.append("线索分配：" + "，".join(parts) + "。")
    if s.get("review_items"):
        lines.append(
            "待审核的记录：主管在聊天中发送 /待审核 处理，或用 crmbot import --review-export review.csv 导出后批量处理。"
        )
    if report.written and report.seconds:
        lines.append(f"用时 {report.seconds:.1f} 秒（{report.written / report.seconds:,.0f} 行/秒）。")
    return "\n".join(lines)


# ---------------------------------------------------------------- review from a CSV

EXPORT_COLUMNS = (
    "review_id",
    "file",
    "row",
    "rows_in_group",
    "company",
    "name",
    "phone",
    "email",
    "candidate_id",
    "candidate",
    "score",
    "evidence",
    "decision",
)


def export_reviews(services: Services, actor: User, out: Path) -> int:
    written = 0
    with services.uow_factory() as uow, out.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(EXPORT_COLUMNS)
        after = 0
        while True:
            items, _ = list_pending_reviews(uow, actor, limit=500, after_id=after)
            if not items:
                break
            for item in items:
                writer.writerow(_export_row(uow, item))
                written += 1
            after = items[-1].id or 0
    return written


def _export_row(uow: Any, item: ReviewItem) -> list[str]:
    rows = item.rows
    first = rows[0] if rows else ImportRow(item.row_no)
    candidate = uow.customers.get(item.candidate_customer_id) if item.candidate_customer_id else None
    text = [str(item.data.get("file", "")), first.company, first.name, first.phone, first.email]
    file, company, name, phone, email = (spreadsheet_safe(t) for t in text)
    return [
        str(item.id),
        file,
        str(item.row_no),
        str(len(rows)),
        company,
        name,
        phone,
        email,
        str(item.candidate_customer_id or ""),
        spreadsheet_safe(candidate.name) if candidate else "",
        f"{item.score:.0f}",
        "，".join(item.evidence),
        "",
    ]


@dataclass
class ApplyReport:
    applied: Counter[str] = field(default_factory=Counter)
    skipped: int = 0  # no decision written
    problems: list[Problem] = field(default_factory=list)

    def text(self) -> str:
        done = self.applied
        lines = [
            f"已处理 {sum(done.values())} 条：关联 {done['link']} 条，新建 {done['new']} 条，忽略 {done['ignore']} 条；"
            f"未填写 decision 的 {self.skipped} 条保持待审核。"
        ]
        if self.problems:
            lines.append(f"有 {len(self.problems)} 行未处理：")
            lines += [f"  {p.text()}" for p in self.problems[:50]]
        return "\n".join(lines)


def apply_reviews(services: Services, actor: User, path: Path) -> ApplyReport:
    """Each decided line in its own transaction: one stale line does not hold back the others."""
    if not path.is_file():
        raise SheetError(f"找不到文件：{path}")
    encoding = detect_encoding(path)
    report = ApplyReport()
    assigner = _lead_assigner(services)
    with path.open(encoding=encoding, newline="") as fh:
        reader = csv.reader(fh)
        header = [clean_header(h) for h in next(reader, [])]
        id_col = _column(header, ("review_id", "编号", "审核编号", "id"))
        decision_col = _column(header, ("decision", "处理", "决定", "处理方式"))
        if id_col is None or decision_col is None:
            raise SheetError(
                "第 1 行需要 review_id 和 decision 两列（用 crmbot import --review-export 导出的文件即可）。"
            )
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            raw = cells[decision_col].strip() if decision_col < len(cells) else ""
            if not raw:
                report.skipped += 1
                continue
            decision = parse_decision(raw)
            item_text = cells[id_col].strip() if id_col < len(cells) else ""
            if decision is None:
                report.problems.append(
                    Problem(line, [f"无法识别的 decision「{raw}」：请填 link、new 或 ignore"])
                )
                continue
            if not item_text.isdigit():
                report.problems.append(Problem(line, [f"review_id「{item_text}」不是编号"]))
                continue
            try:
                _apply_one(services, actor, int(item_text), decision, assigner)
            except DomainError as err:
                report.problems.append(Problem(line, [err.message]))
                continue
            report.applied[decision] += 1
    return report


def _apply_one(services: Services, actor: User, item_id: int, decision: Any, assigner: Any) -> None:
    from bot.notify import Notifier

    now = services.clock.now()
    with services.uow_factory() as uow:
        outcome = decide_review(
            uow,
            actor,
            item_id,
            decision,
            now,
            dedup=services.dedup,
            pipeline=services.pipeline,
            assigner=assigner,
        )
        announce = _announcer()
        if announce is not None:
            notifier = Notifier(services, uow, now)
            for assignment in outcome.assignments:
                announce(services, uow, assignment, now, notifier=notifier)
        uow.commit()


def _announcer() -> Any:
    try:
        from bot.handlers.assignment import announce_assignment
    except ImportError:
        return None
    return announce_assignment


def _column(header: list[str], names: tuple[str, ...]) -> int | None:
    for idx, h in enumerate(header):
        if h in names:
            return idx
    return None
