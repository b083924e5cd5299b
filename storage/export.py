"""Streaming exports with stable field names (documented in the README)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from storage.models import (
    AlertRow,
    AssignmentRow,
    AuditRow,
    ContactRow,
    CustomerRow,
    DealRow,
    FollowUpRow,
    StageChangeRow,
)

# export name -> (row class, [(field name, attribute)])
EXPORTS: dict[str, tuple[type, list[tuple[str, str]]]] = {
    "customers": (CustomerRow, [
        ("id", "id"), ("name", "name"), ("name_normalized", "name_key"), ("owner_userid", "owner_id"),
        ("team", "team"), ("region", "region"), ("status", "status"), ("invalid_reason", "invalid_reason"),
        ("merged_into", "merged_into"), ("source", "source"), ("created_by", "created_by"),
        ("created_at", "created_at"), ("updated_at", "updated_at")]),
    "contacts": (ContactRow, [
        ("id", "id"), ("customer_id", "customer_id"), ("name", "name"), ("title", "title"), ("phone", "phone"),
        ("phone_normalized", "phone_norm"), ("email", "email"), ("created_at", "created_at")]),
    "deals": (DealRow, [
        ("id", "id"), ("customer_id", "customer_id"), ("owner_userid", "owner_id"), ("title", "title"),
        ("stage", "stage"), ("status", "status"), ("amount", "amount"), ("products", "products"),
        ("payment_terms", "payment_terms"), ("pain_points", "pain_points"), ("competitor", "competitor"),
        ("lost_reason", "lost_reason"), ("stage_entered_at", "stage_entered_at"),
        ("last_followup_at", "last_followup_at"), ("next_followup_on", "next_followup_on"),
        ("created_at", "created_at"), ("updated_at", "updated_at")]),
    "followups": (FollowUpRow, [
        ("id", "id"), ("customer_id", "customer_id"), ("deal_id", "deal_id"), ("contact_id", "contact_id"),
        ("userid", "user_id"), ("occurred_at", "occurred_at"), ("method", "method"), ("conclusion", "conclusion"),
        ("next_action", "next_action"), ("next_followup_on", "next_followup_on"), ("stage", "stage_hint"),
        ("amount", "amount"), ("pain_points", "pain_points"), ("effective", "effective"), ("source", "source"),
        ("call_id", "call_id"), ("status", "status"), ("raw_text", "raw_text"),
        ("created_at", "created_at")]),
    "stage_changes": (StageChangeRow, [
        ("id", "id"), ("deal_id", "deal_id"), ("from_stage", "from_stage"), ("to_stage", "to_stage"),
        ("kind", "kind"), ("actor_userid", "actor_id"), ("at", "at"), ("reason", "reason")]),
    "assignments": (AssignmentRow, [
        ("id", "id"), ("subject_type", "subject_type"), ("subject_id", "subject_id"), ("from_userid", "from_user"),
        ("to_userid", "to_user"), ("actor_userid", "actor_id"), ("reason", "reason"), ("at", "at")]),
    "alerts": (AlertRow, [
        ("id", "id"), ("rule", "rule"), ("subject_type", "subject_type"), ("subject_id", "subject_id"),
        ("level", "level"), ("window", "window"), ("recipient_userid", "recipient_id"), ("state", "state"),
        ("action", "action"), ("acted_by", "acted_by"), ("acted_at", "acted_at"), ("due_at", "due_at"),
        ("created_at", "created_at")]),
    "audit": (AuditRow, [
        ("id", "id"), ("at", "at"), ("actor_userid", "actor_id"), ("action", "action"),
        ("subject_type", "subject_type"), ("subject_id", "subject_id"), ("before", "before"), ("after", "after")]),
}


def field_names(what: str) -> list[str]:
    return [name for name, _ in EXPORTS[what][1]]


def plain(value: Any, tz: tzinfo) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def iter_export(session: Session, what: str, tz: tzinfo, *, batch: int = 1000) -> Iterator[dict[str, Any]]:
    row_cls, fields = EXPORTS[what]
    last_id = 0
    while True:  # keyset pagination: bounded memory on large tables
        rows = session.scalars(select(row_cls).where(row_cls.id > last_id).order_by(row_cls.id).limit(batch)).all()
        if not rows:
            return
        for row in rows:
            yield {name: plain(getattr(row, attr), tz) for name, attr in fields}
        last_id = rows[-1].id
        session.expunge_all()
