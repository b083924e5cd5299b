"""Append-only audit entries, written by every use case that changes or reveals data."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from core.model import AuditEntry
from core.ports import UnitOfWork


def snapshot(obj: Any, fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A JSON-friendly view of an entity's fields for the audit before/after."""
    data = asdict(obj) if is_dataclass(obj) and not isinstance(obj, type) else dict(obj)
    data.pop("contacts", None)
    if fields is not None:
        data = {k: v for k, v in data.items() if k in fields}
    return {k: _plain(v) for k, v in data.items()}


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, frozenset | set | tuple):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def record(
    uow: UnitOfWork,
    *,
    actor_id: str,
    action: str,
    subject_type: str,
    subject_id: int | str,
    now: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    return uow.history.add_audit(
        AuditEntry(
            id=None,
            at=now,
            actor_id=actor_id,
            action=action,
            subject_type=subject_type,
            subject_id=str(subject_id),
            before=before or {},
            after=after or {},
        )
    )
