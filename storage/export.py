"""Streaming exports with stable field names (documented in the README)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, tzinfo
from typing import Any

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.orm import Session

from core.model import Customer, Role, User
from core.permissions import EVERYTHING, MASK, Viewer
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


# ---------------------------------------------------------------- exports as one user sees them
# (export name, field) → the restricted field it carries: masked for users the rules do not allow
_RESTRICTED = {("deals", "amount"): "amount", ("deals", "payment_terms"): "payment_terms",
               ("followups", "amount"): "amount"}
_PHONE_FIELDS = {("contacts", "phone"), ("contacts", "phone_normalized")}
SCOPED = ("customers", "contacts", "deals", "followups")


def _scope_filter(user: User) -> Any:
    """The SQL twin of core.permissions.can_see_customer (a test checks they agree)."""
    c = CustomerRow
    if user.has(*EVERYTHING):
        return true()
    pool = and_(c.owner_id.is_(None), or_(c.team.is_(None), c.team == user.team) if user.team else c.team.is_(None))
    visible = or_(c.owner_id == user.id, pool)
    if user.has(Role.MANAGER) and user.team:
        visible = or_(visible, c.team == user.team)
    return visible


def _scoped_query(what: str, user: User) -> Any:
    row_cls, _ = EXPORTS[what]
    if what == "customers":
        return select(row_cls, CustomerRow.owner_id, CustomerRow.team).where(_scope_filter(user))
    return (select(row_cls, CustomerRow.owner_id, CustomerRow.team)
            .join(CustomerRow, CustomerRow.id == row_cls.customer_id).where(_scope_filter(user)))


def count_scoped(session: Session, what: str, user: User) -> int:
    row_cls, _ = EXPORTS[what]
    q = _scoped_query(what, user).with_only_columns(func.count(row_cls.id))
    return int(session.scalar(q) or 0)


def iter_scoped(session: Session, what: str, tz: tzinfo, viewer: Viewer, *,
                batch: int = 1000) -> Iterator[dict[str, Any]]:
    """The export as `viewer.user` may see it: their scope only, restricted fields masked."""
    if what not in SCOPED:
        raise ValueError(f"{what} cannot be exported per user")
    row_cls, fields = EXPORTS[what]
    masked_names = {name for name, _ in fields
                    if (what, name) in _RESTRICTED and not viewer.sees(_RESTRICTED[(what, name)])}
    base = _scoped_query(what, viewer.user)
    last_id = 0
    while True:
        rows = session.execute(base.where(row_cls.id > last_id).order_by(row_cls.id).limit(batch)).all()
        if not rows:
            return
        for row, owner_id, team in rows:
            out = {name: plain(getattr(row, attr), tz) for name, attr in fields}
            for name in masked_names:
                if out[name] not in (None, ""):
                    out[name] = MASK
            if what == "contacts" and out.get("phone"):
                probe = Customer(id=row.customer_id, name="", name_key="", owner_id=owner_id, team=team)
                if viewer.masks_phone(probe):
                    out["phone"] = viewer.phone(probe, out["phone"])
                    out["phone_normalized"] = viewer.phone(probe, out["phone_normalized"])
            yield out
        last_id = rows[-1][0].id
        session.expunge_all()
