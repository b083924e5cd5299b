"""Customer import: the row rules, the import batch and the review item (a possible duplicate).

Pure: a row of a sheet, already split into roles by the reader, is checked here; every problem is
returned as a Chinese reason so that the user sees each bad row with its number, never a silent drop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from core.validation import MAX_NAME_LEN, fold_width, normalize_phone

MAX_CELL_CHARS = 2000  # a longer cell is a paste accident (a whole document in one cell), not data
MAX_EMAIL_LEN = 200
MAX_REGION_LEN = 64
MAX_PRODUCT_LEN = 200
_PHONE_PARTS = re.compile(r"[,，;；/、|]+|\s{2,}")

ReviewDecision = Literal["link", "new", "ignore"]
REVIEW_STATES: dict[str, str] = {"link": "linked", "new": "created", "ignore": "ignored"}
DECISION_WORDS: dict[str, ReviewDecision] = {
    "link": "link",
    "关联": "link",
    "new": "new",
    "新建": "new",
    "ignore": "ignore",
    "忽略": "ignore",
}


@dataclass
class ImportRow:
    """One data row of a sheet, by role, as typed (trimmed), with the columns we have no role for."""

    row_no: int
    company: str = ""
    name: str = ""
    phone: str = ""
    email: str = ""
    region: str = ""
    product: str = ""
    note: dict[str, str] = field(default_factory=dict)  # header → value of the other columns

    def to_data(self) -> dict[str, Any]:
        return {
            "row": self.row_no,
            "company": self.company,
            "name": self.name,
            "phone": self.phone,
            "email": self.email,
            "region": self.region,
            "product": self.product,
            "note": self.note,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> ImportRow:
        return cls(
            int(data.get("row") or 0),
            str(data.get("company") or ""),
            str(data.get("name") or ""),
            str(data.get("phone") or ""),
            str(data.get("email") or ""),
            str(data.get("region") or ""),
            str(data.get("product") or ""),
            {str(k): str(v) for k, v in (data.get("note") or {}).items()},
        )

    @property
    def label(self) -> str:
        person = f"（{self.name}）" if self.name else ""
        return f"{self.company}{person}"


def split_phones(raw: str) -> tuple[str | None, list[str], list[str]]:
    """A phone cell → (first valid number as typed, other valid numbers, parts that are not numbers)."""
    text = raw.strip()
    if not text:
        return None, [], []
    if normalize_phone(text):
        return text, [], []
    parts = [p.strip() for p in _PHONE_PARTS.split(text) if p.strip()]
    good = [p for p in parts if normalize_phone(p)]
    bad = [p for p in parts if not normalize_phone(p)]
    return (good[0] if good else None), good[1:], bad


def validate_row(row: ImportRow, cell_lengths: dict[str, int] | None = None) -> list[str]:
    """Reasons why the row cannot be imported (empty when it can). `cell_lengths` are the lengths of
    every cell by header, to catch an oversized cell in any column."""
    reasons: list[str] = []
    for header, length in (cell_lengths or {}).items():
        if length > MAX_CELL_CHARS:
            reasons.append(f"「{header}」列有 {length:,} 个字符，超过上限 {MAX_CELL_CHARS:,}（可能是误粘贴）")
    company = " ".join(fold_width(row.company).split())
    if not company:
        reasons.append("缺少公司名称")
    elif len(company) > MAX_NAME_LEN:
        reasons.append(f"公司名称太长（{len(company)} 个字，最多 {MAX_NAME_LEN} 个）")
    if len(row.name) > MAX_NAME_LEN:
        reasons.append(f"联系人姓名太长（{len(row.name)} 个字，最多 {MAX_NAME_LEN} 个）")
    if row.phone:
        first, _, bad = split_phones(row.phone)
        if first is None or bad:
            shown = row.phone if len(row.phone) <= 40 else row.phone[:40] + "…"
            reasons.append(f"电话「{shown}」无效：手机号应为 11 位，座机需带区号（如 0571-87236610）")
    if row.email:
        email = row.email.strip()
        if "@" not in email or " " in email or len(email) > MAX_EMAIL_LEN:
            shown = email if len(email) <= 40 else email[:40] + "…"
            reasons.append(f"邮箱「{shown}」无效")
    if len(row.region) > MAX_REGION_LEN:
        reasons.append(f"地区太长（{len(row.region)} 个字，最多 {MAX_REGION_LEN} 个）")
    if len(row.product) > MAX_PRODUCT_LEN:
        reasons.append(f"产品太长（{len(row.product)} 个字，最多 {MAX_PRODUCT_LEN} 个）")
    return reasons


def prepare_row(row: ImportRow) -> ImportRow:
    """A valid row as it goes into the CRM: a cell with several phones keeps the first, the others go to
    the note (nothing the user typed is lost)."""
    if row.phone:
        first, others, _ = split_phones(row.phone)
        if others:
            note = dict(row.note)
            note["其他电话"] = "、".join(others)
            return ImportRow(
                row.row_no,
                row.company.strip(),
                row.name.strip(),
                first or "",
                row.email.strip(),
                row.region.strip(),
                row.product.strip(),
                note,
            )
    return ImportRow(
        row.row_no,
        row.company.strip(),
        row.name.strip(),
        row.phone.strip(),
        row.email.strip(),
        row.region.strip(),
        row.product.strip(),
        row.note,
    )


def parse_decision(text: str) -> ReviewDecision | None:
    return DECISION_WORDS.get(text.strip().lower())


@dataclass
class ImportBatch:
    id: int | None
    filename: str
    sha256: str
    created_by: str
    created_at: datetime
    state: str = "running"  # running | done
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass
class ReviewItem:
    """A group of rows that may be an existing customer (score between ask and auto): a manager decides.
    `data` = {"file": name, "rows": [ImportRow.to_data(), ...]} — the first row is the group's first."""

    id: int | None
    batch_id: int | None
    row_no: int
    data: dict[str, Any]
    candidate_customer_id: int | None
    score: float
    evidence: list[str]
    state: str = "pending"  # pending | linked | created | ignored
    decided_by: str | None = None
    decided_at: datetime | None = None

    @property
    def rows(self) -> list[ImportRow]:
        return [ImportRow.from_data(d) for d in self.data.get("rows", [])]
