"""Reading customer sheets as a stream: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030) and Excel .xlsx.

Shared by `crmbot dedupe` and `crmbot import`. Rows are yielded one at a time with the row number the
user sees in their editor (the CSV line, the Excel row), so memory does not grow with the file.

Excel is read with openpyxl in read-only mode. Two things it does not hand over in that mode are
recovered from a byte scan of the sheet's XML: whether any cell holds a formula (then a second
read-only pass tells formula cells apart, and a formula without a saved result is reported) and the
merged ranges (copied down within the range and reported, since only the top-left cell has a value).
"""

from __future__ import annotations

import csv
import hashlib
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any, TextIO

# Column roles, by header as people write it (compared trimmed and lower-cased).
HEADER_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("name", "contact", "contact_name", "姓名", "联系人", "联系人姓名", "客户姓名"),
    "company": (
        "company",
        "company_name",
        "customer",
        "公司",
        "公司名称",
        "客户名称",
        "客户",
        "单位",
        "单位名称",
        "企业名称",
    ),
    "phone": (
        "phone",
        "mobile",
        "tel",
        "telephone",
        "电话",
        "手机",
        "手机号",
        "手机号码",
        "联系电话",
        "电话号码",
    ),
    "email": ("email", "e-mail", "mail", "邮箱", "电子邮箱", "电子邮件", "邮件"),
}
ENCODINGS = ("utf-8-sig", "gb18030")  # gb18030 reads every GBK file
MAX_CELL = 1000  # characters of a cell used for matching; the output keeps the cell whole
EXCEL_ERRORS = frozenset(
    {"#NULL!", "#DIV/0!", "#VALUE!", "#REF!", "#NAME?", "#NUM!", "#N/A", "#GETTING_DATA"}
)


class SheetError(Exception):
    """A problem with the input the user must fix; the message is shown as is."""


# ---------------------------------------------------------------- headers


def clean_header(text: str) -> str:
    return text.strip().lstrip("\ufeff").lower()


def map_columns(header: list[str], aliases: dict[str, tuple[str, ...]]) -> dict[str, list[int]]:
    """Role → every column index whose header is one of the role's words, in sheet order."""
    cleaned = [clean_header(h) for h in header]
    roles: dict[str, list[int]] = {}
    for role, words in aliases.items():
        found = [idx for idx, h in enumerate(cleaned) if h in words]
        if found:
            roles[role] = found
    return roles


def contact_columns(header: list[str]) -> dict[str, int]:
    """The dedupe view: role → first column; raises SheetError when no known column is there."""
    roles = {role: cols[0] for role, cols in map_columns(header, HEADER_ALIASES).items()}
    cleaned = [clean_header(h) for h in header]
    if "row_id" in cleaned:
        roles["row_id"] = cleaned.index("row_id")
    if not ({"name", "company", "phone", "email"} & roles.keys()):
        shown = "、".join(h for h in header[:8] if h.strip()) or "（空）"
        raise SheetError(
            "第 1 行不是可识别的表头：需要至少一列 姓名/联系人、公司/客户名称、电话/手机、邮箱"
            f"（或 name、company、phone、email）。读到的表头：{shown}"
        )
    return roles


# ---------------------------------------------------------------- CSV


def detect_encoding(path: Path) -> str:
    for encoding in ENCODINGS:
        try:
            with path.open(encoding=encoding, newline="") as fh:
                while fh.read(1 << 16):  # small reads: the peak memory stays flat
                    pass
            return encoding
        except UnicodeDecodeError:
            continue
    raise SheetError(f"无法识别文件 {path.name} 的编码：请另存为 UTF-8 或 GBK 编码的 CSV 后重试。")


def csv_rows(fh: TextIO) -> Iterator[tuple[int, list[str]]]:
    """(line number where the row starts, cells), skipping blank lines.

    Strict: an unclosed quote would otherwise swallow every following line into one cell, silently.
    """
    reader = csv.reader(fh, strict=True)
    last = 0
    try:
        for cells in reader:
            start, last = last + 1, reader.line_num
            if any(c.strip() for c in cells):
                yield start, cells
    except csv.Error as exc:
        if "end of data" in str(exc):
            raise SheetError(
                f"第 {last + 1} 行的引号没有闭合（一直到文件末尾）：请检查这一行的双引号。"
            ) from exc
        raise SheetError(f"第 {reader.line_num} 行无法解析（{exc}）：请检查引号或分隔符。") from exc


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------- one interface for both formats


@dataclass(slots=True)
class SheetRow:
    row_no: int  # as the user's editor shows it
    cells: list[str]
    problems: tuple[str, ...] = ()  # cells that could not be read (a formula without a saved result…)


@dataclass
class Sheet:
    """An opened sheet: `rows()` streams it (may be called again); `notes` are things the user should
    know that do not make a row invalid (merged cells, cached formula results, other worksheets)."""

    path: Path
    kind: str  # "csv" | "xlsx"
    notes: list[str] = field(default_factory=list)
    stream_notes: list[str] = field(default_factory=list)  # found while reading, refreshed by rows()
    encoding: str = ""
    title: str = ""  # the worksheet read, for xlsx
    estimated_rows: int | None = None

    @property
    def all_notes(self) -> list[str]:
        return self.notes + self.stream_notes

    def rows(self) -> Iterator[SheetRow]:
        self.stream_notes = []
        if self.kind == "csv":
            with self.path.open(encoding=self.encoding, newline="") as fh:
                for line, cells in csv_rows(fh):
                    yield SheetRow(line, cells)
        else:
            yield from _XlsxStream(self).rows()


def open_sheet(path: Path) -> Sheet:
    """Check the file and open it; raises SheetError with a message the user can act on."""
    if not path.is_file():
        raise SheetError(f"找不到输入文件：{path}")
    if path.stat().st_size == 0:
        raise SheetError(f"文件 {path.name} 是空的：没有表头，也没有数据行。")
    suffix = path.suffix.lower()
    if suffix in (".xls", ".et", ".numbers"):
        raise SheetError(f"暂不支持 {suffix} 格式：请在 Excel/WPS 中另存为 .xlsx 或 CSV（UTF-8）后再导入。")
    if suffix in (".xlsx", ".xlsm") or _looks_like_zip(path):
        return _open_xlsx(path)
    return Sheet(path, "csv", encoding=detect_encoding(path), estimated_rows=_estimate_csv_rows(path))


def _estimate_csv_rows(path: Path) -> int:
    """Lines in the file, estimated from its first 64 KB (for a progress bar, nothing else)."""
    size = path.stat().st_size
    with path.open("rb") as fh:
        sample = fh.read(1 << 16)
    return max(1, round(size / max(len(sample), 1) * max(sample.count(b"\n"), 1)))


def _looks_like_zip(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"PK\x03\x04"


# ---------------------------------------------------------------- xlsx


_FORMULA = re.compile(rb"<(?:\w+:)?f[\s>/]")
_MERGE = re.compile(rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=\"([A-Z]+[0-9]+(?::[A-Z]+[0-9]+)?)\"")


@dataclass(frozen=True, slots=True)
class MergedRange:
    ref: str
    min_col: int  # 0-based
    min_row: int
    max_col: int
    max_row: int


def _open_workbook(path: Path, data_only: bool) -> Any:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return load_workbook(path, read_only=True, data_only=data_only)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise SheetError(
            f"文件 {path.name} 不是有效的 Excel 文件（.xlsx），或文件已损坏：请用 Excel/WPS 打开后另存为 .xlsx 或 CSV。"
        ) from exc


def _scan_sheet_xml(ws: Any) -> tuple[bool, list[MergedRange]]:
    """Whether the sheet has formulas, and its merged ranges: a streamed byte scan of its XML."""
    from openpyxl.utils import range_boundaries

    has_formula = False
    refs: dict[str, None] = {}
    tail = b""
    with ws._get_source() as src:  # the worksheet's XML inside the zip (openpyxl read-only internals)
        while chunk := src.read(1 << 20):
            data = tail + chunk
            if not has_formula and _FORMULA.search(data):
                has_formula = True
            for m in _MERGE.finditer(data):
                refs[m.group(1).decode()] = None
            tail = data[-300:]
    merged = []
    for ref in refs:
        min_col, min_row, max_col, max_row = range_boundaries(ref if ":" in ref else f"{ref}:{ref}")
        merged.append(MergedRange(ref, min_col - 1, min_row, max_col - 1, max_row))
    return has_formula, merged


def _open_xlsx(path: Path) -> Sheet:
    wb = _open_workbook(path, data_only=True)
    try:
        if not wb.worksheets:
            raise SheetError(f"文件 {path.name} 里没有工作表。")
        ws = wb.worksheets[0]
        sheet = Sheet(path, "xlsx", title=ws.title, estimated_rows=ws.max_row)
        others = [w.title for w in wb.worksheets[1:]]
        if others:
            sheet.notes.append(
                f"工作簿有 {len(wb.worksheets)} 个工作表，只读取了第一个「{ws.title}」"
                f"（未读取：{'、'.join(others[:5])}{'…' if len(others) > 5 else ''}）。"
            )
    finally:
        wb.close()
    return sheet


def cell_text(value: Any) -> str:
    """An Excel value as the text the user sees: 13812345678.0 → "13812345678", dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def _column_letter(idx: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(idx + 1)


class _XlsxStream:
    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet

    def rows(self) -> Iterator[SheetRow]:
        sheet = self.sheet
        wb = _open_workbook(sheet.path, data_only=True)
        fwb = None
        try:
            ws = wb.worksheets[0]
            has_formula, merged = _scan_sheet_xml(ws)
            # some writers leave a wrong <dimension>: without a reset, read-only mode would cut rows off
            ws.reset_dimensions()
            values = ws.iter_rows(min_row=1, min_col=1, values_only=True)
            formulas: Iterator[tuple[Any, ...]] | None = None
            if has_formula:
                fwb = _open_workbook(sheet.path, data_only=False)
                fws = fwb.worksheets[0]
                fws.reset_dimensions()
                formulas = fws.iter_rows(min_row=1, min_col=1)
            starts: dict[int, list[MergedRange]] = {}
            for rng in merged:
                starts.setdefault(rng.min_row, []).append(rng)
                sheet.stream_notes.append(_merge_note(rng))
            open_ranges: list[tuple[MergedRange, list[str]]] = []  # ranges being copied down
            formula_used = 0
            for row_no, vals in enumerate(values, start=1):
                fcells = next(formulas, ()) if formulas is not None else ()
                cells = [cell_text(v) for v in vals]
                problems: list[str] = []
                for idx, cell in enumerate(fcells):
                    if getattr(cell, "data_type", None) != "f":
                        continue
                    where = f"{_column_letter(idx)}{row_no}"
                    if vals[idx] is None:
                        problems.append(
                            f"{where} 是公式（{str(cell.value)[:40]}），文件里没有保存计算结果："
                            "请在 Excel/WPS 中打开并保存后重试，或把公式复制为数值"
                        )
                    else:
                        formula_used += 1
                for idx, cell in enumerate(cells):
                    if cell in EXCEL_ERRORS:
                        problems.append(f"{_column_letter(idx)}{row_no} 是错误值 {cell}")
                # merged ranges: the top-left value is copied down the range
                for rng in starts.get(row_no, ()):
                    open_ranges.append(
                        (
                            rng,
                            [cells[c] if c < len(cells) else "" for c in range(rng.min_col, rng.max_col + 1)],
                        )
                    )
                if open_ranges:
                    for rng, top in open_ranges:
                        if rng.min_row < row_no <= rng.max_row:
                            if len(cells) <= rng.max_col:
                                cells += [""] * (rng.max_col + 1 - len(cells))
                            for offset, value in enumerate(top):
                                if not cells[rng.min_col + offset]:
                                    cells[rng.min_col + offset] = value
                    open_ranges = [(r, t) for r, t in open_ranges if r.max_row > row_no]
                if any(c.strip() for c in cells) or problems:
                    yield SheetRow(row_no, cells, tuple(problems))
            if formula_used:
                sheet.stream_notes.append(f"有 {formula_used} 个公式单元格，已使用文件中保存的计算结果。")
        finally:
            wb.close()
            if fwb is not None:
                fwb.close()


def _merge_note(rng: MergedRange) -> str:
    col = _column_letter(rng.min_col)
    if rng.max_row > rng.min_row:
        filled = f"{rng.min_row + 1}–{rng.max_row}" if rng.max_row > rng.min_row + 1 else str(rng.max_row)
        return (
            f"{rng.ref}（第 {rng.min_row}–{rng.max_row} 行 {col} 列）是合并单元格："
            f"已把第 {rng.min_row} 行的值填入第 {filled} 行。"
        )
    return f"{rng.ref}（第 {rng.min_row} 行）是横向合并单元格：只读取了 {col}{rng.min_row} 的值。"
