"""Append-only audit entries, written by every use case that changes or reveals data."""

from __future__ import annotations

import copy
from dataclasses import asdict, is_dataclass
from dataclasses import fields as dataclass_fields
from datetime import date, datetime
from enum import Enum
from typing import Any

from core.model import AuditEntry
from core.ports import UnitOfWork

# values asdict() would deep-copy to an equal object that _plain() then maps the same way
_ATOMIC = (str, int, float, bool, type(None), Enum, datetime, date)
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def snapshot(obj: Any, fields: tuple[str, ...] | None = None) -> dict[str, Any]:
    """A JSON-friendly view of an entity's fields for the audit before/after."""
    if is_dataclass(obj) and not isinstance(obj, type):
        # only the fields asked for: asdict() would deep-copy the whole entity first (a hot-path cost)
        names = _FIELD_NAMES.get(type(obj))
        if names is None:
            names = _FIELD_NAMES[type(obj)] = tuple(f.name for f in dataclass_fields(obj))
        return {n: _plain(_detached(getattr(obj, n))) for n in names
                if n != "contacts" and (fields is None or n in fields)}
    data = dict(obj)
    data.pop("contacts", None)
    if fields is not None:
        data = {k: v for k, v in data.items() if k in fields}
    return {k: _plain(v) for k, v in data.items()}


def _detached(value: Any) -> Any:
    """What asdict() makes of one field's value: nested dataclasses as dicts, containers copied."""
    if isinstance(value, _ATOMIC):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[_detached(v) for v in value])
    if isinstance(value, list | tuple):
        return type(value)(_detached(v) for v in value)
    if isinstance(value, dict):
        return type(value)((_detached(k), _detached(v)) for k, v in value.items())
    return copy.deepcopy(value)


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
