"""Sensitive reads and the audit trail: what a viewer revealed is audited; `/审计 客户` reads the log.

The audit log is append-only: this module only adds entries and reads them. There is no update or
delete path anywhere in the code, and the database rejects both (triggers in the migration).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core import audit
from core.model import AuditEntry, Customer, User
from core.permissions import Viewer, mask_phone, require
from core.ports import UnitOfWork
from core.usecases.customers import resolve_customer


def record_reads(uow: UnitOfWork, viewer: Viewer, now: datetime, *, via: str) -> int:
    """One audit entry per subject whose restricted fields the viewer showed unmasked; clears the list."""
    by_subject: dict[tuple[str, str], list[str]] = {}
    for subject_type, subject_id, name in viewer.revealed:
        names = by_subject.setdefault((subject_type, subject_id), [])
        if name not in names:
            names.append(name)
    for (subject_type, subject_id), names in by_subject.items():
        audit.record(
            uow,
            actor_id=viewer.user.id,
            action="read.sensitive",
            subject_type=subject_type,
            subject_id=subject_id,
            now=now,
            after={"fields": names, "via": via},
        )
    viewer.revealed.clear()
    return len(by_subject)


def record_export(
    uow: UnitOfWork,
    actor_id: str,
    what: str,
    rows: int,
    now: datetime,
    *,
    target: str,
    masked: bool,
    scope: str,
) -> None:
    audit.record(
        uow,
        actor_id=actor_id,
        action="read.export",
        subject_type="export",
        subject_id=what,
        now=now,
        after={"rows": rows, "file": target, "masked": masked, "scope": scope},
    )


@dataclass
class AuditTrail:
    customer: Customer
    entries: list[AuditEntry]


def audit_trail(uow: UnitOfWork, actor: User, keyword: str, viewer: Viewer, *, limit: int = 15) -> AuditTrail:
    """Recent entries about a customer and its deals, for managers and above, within their scope.

    Before/after values of restricted fields are masked for those who may not see them.
    """
    require(actor, "audit.view")
    customer = resolve_customer(uow, actor, keyword)
    entries = list(uow.history.audit(subject_type="customer", subject_id=str(customer.id), limit=limit))
    for deal in uow.deals.for_customer(customer.id or 0):
        entries += uow.history.audit(subject_type="deal", subject_id=str(deal.id), limit=limit)
    entries.sort(key=lambda e: (e.at, e.id or 0), reverse=True)
    hide_phone = viewer.masks_phone(customer)
    shown = []
    for e in entries[:limit]:
        shown.append(
            AuditEntry(
                e.id,
                e.at,
                e.actor_id,
                e.action,
                e.subject_type,
                e.subject_id,
                _redact(viewer, e.before, hide_phone),
                _redact(viewer, e.after, hide_phone),
            )
        )
    return AuditTrail(customer, shown)


def _redact(viewer: Viewer, data: dict[str, Any], hide_phone: bool) -> dict[str, Any]:
    out = viewer.redact(data)
    if hide_phone:
        out = {k: (mask_phone(str(v)) if k == "phone" and v else v) for k, v in out.items()}
    # a frozen-field edit records {"field": "amount", "old": …, "new": …}
    if out.get("field") in ("amount", "payment_terms") and not viewer.sees(str(out["field"])):
        out = {k: ("***" if k in ("old", "new") else v) for k, v in out.items()}
    return out
