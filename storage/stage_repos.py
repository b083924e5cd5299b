"""Repositories for stage approvals, evidence files and the assignment workload queries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from core.assignment import RepLoad
from core.model import Customer, CustomerStatus, Deal, DealStatus, User
from core.stages import Approval, EvidenceFile
from storage.models import ApprovalRow, CustomerRow, DealRow, EvidenceFileRow, UserRow
from storage.repositories import SqlCustomerRepository, deal_from_row, user_from_row


def _approval(r: ApprovalRow) -> Approval:
    return Approval(
        r.id,
        r.kind,
        r.deal_id,
        r.requested_by,
        r.approver_id,
        dict(r.payload or {}),
        r.reason,
        r.state,
        r.decided_by,
        r.decided_at,
        r.created_at,
    )


class SqlApprovalRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, approval: Approval) -> Approval:
        row = ApprovalRow(
            kind=approval.kind,
            deal_id=approval.deal_id,
            requested_by=approval.requested_by,
            approver_id=approval.approver_id,
            payload=approval.payload,
            reason=approval.reason,
            state=approval.state,
            created_at=approval.created_at,
        )
        self.s.add(row)
        self.s.flush()
        approval.id = row.id
        return approval

    def get(self, approval_id: int, *, lock: bool = False) -> Approval | None:
        q = select(ApprovalRow).where(ApprovalRow.id == approval_id)
        if lock and self.s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()  # two presses on two replicas: the second waits, then sees "decided"
        row = self.s.scalars(q).first()
        return _approval(row) if row else None

    def update(self, approval: Approval) -> None:
        self.s.execute(
            update(ApprovalRow)
            .where(ApprovalRow.id == approval.id)
            .values(state=approval.state, decided_by=approval.decided_by, decided_at=approval.decided_at)
        )

    def pending_for_deal(self, deal_id: int) -> list[Approval]:
        rows = self.s.scalars(
            select(ApprovalRow)
            .where(ApprovalRow.deal_id == deal_id, ApprovalRow.state == "pending")
            .order_by(ApprovalRow.id)
        )
        return [_approval(r) for r in rows]


class SqlEvidenceRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, evidence: EvidenceFile) -> EvidenceFile:
        row = EvidenceFileRow(
            deal_id=evidence.deal_id,
            customer_id=evidence.customer_id,
            kind=evidence.kind,
            sha256=evidence.sha256,
            filename=evidence.filename,
            content_type=evidence.content_type,
            size=evidence.size,
            stored_path=evidence.stored_path,
            uploaded_by=evidence.uploaded_by,
            created_at=evidence.created_at,
        )
        self.s.add(row)
        self.s.flush()
        evidence.id = row.id
        return evidence

    def for_deal(self, deal_id: int) -> list[EvidenceFile]:
        rows = self.s.scalars(
            select(EvidenceFileRow).where(EvidenceFileRow.deal_id == deal_id).order_by(EvidenceFileRow.id)
        )
        return [
            EvidenceFile(
                r.id,
                r.deal_id,
                r.customer_id,
                r.kind,
                r.sha256,
                r.filename,
                r.size,
                r.stored_path,
                r.uploaded_by,
                r.created_at,
                r.content_type,
            )
            for r in rows
        ]


class SqlWorkloadRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def lock_reps(self, user_ids: Sequence[str]) -> list[User]:
        """Lock the reps' rows until commit and return them as they are now.

        PostgreSQL: SELECT … FOR UPDATE in id order (a fixed order, so two batches cannot deadlock).
        SQLite has no row locks: a no-op UPDATE takes the database write lock now, before the loads are
        counted, so a concurrent writer waits here instead of counting stale loads.
        """
        ids = sorted(set(user_ids))
        if not ids:
            return []
        # populate_existing: read committed — see what the transaction we waited for wrote
        q = (
            select(UserRow)
            .where(UserRow.id.in_(ids))
            .order_by(UserRow.id)
            .execution_options(populate_existing=True)
        )
        if self.s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()
        else:
            self.s.execute(
                update(UserRow)
                .where(UserRow.id.in_(ids))
                .values(capacity=UserRow.capacity)
                .execution_options(synchronize_session=False)
            )
        rows = self.s.scalars(q).all()
        return [user_from_row(r) for r in rows]

    def loads(self, user_ids: Sequence[str], since: datetime) -> dict[str, RepLoad]:
        ids = sorted(set(user_ids))
        if not ids:
            return {}
        c = CustomerRow
        new = func.sum(
            case((and_(c.lead_state == "new", c.status == CustomerStatus.ACTIVE.value), 1), else_=0)
        )
        # leads handed to the rep today; customers they found themselves do not use up their turn
        handed = and_(c.assigned_at >= since, or_(c.created_by.is_(None), c.created_by != c.owner_id))
        today = func.sum(case((handed, 1), else_=0))
        rows = self.s.execute(
            select(c.owner_id, new, today, func.max(c.assigned_at))
            .where(c.owner_id.in_(ids))
            .group_by(c.owner_id)
        ).all()
        return {
            owner: RepLoad(int(new_count or 0), int(today_count or 0), last)
            for owner, new_count, today_count, last in rows
        }

    def open_deals(self, customer_ids: Sequence[int]) -> dict[int, list[Deal]]:
        out: dict[int, list[Deal]] = {}
        if not customer_ids:
            return out
        q = (
            select(DealRow)
            .where(
                DealRow.customer_id.in_(sorted(set(customer_ids))), DealRow.status == DealStatus.OPEN.value
            )
            .order_by(DealRow.id)
        )
        for row in self.s.scalars(q):
            out.setdefault(row.customer_id, []).append(deal_from_row(row))
        return out

    def set_owners(self, customers: Sequence[Customer], now: datetime) -> None:
        if not customers:
            return
        self.s.flush()  # pending ORM changes first, then the bulk UPDATE by primary key
        self.s.execute(
            update(CustomerRow),
            [
                {
                    "id": c.id,
                    "owner_id": c.owner_id,
                    "team": c.team,
                    "assigned_at": c.assigned_at,
                    "updated_at": now,
                }
                for c in customers
            ],
        )
        self._expire(CustomerRow, [c.id for c in customers])

    def set_deal_owners(self, changes: Sequence[tuple[int, str | None]], now: datetime) -> None:
        if changes:
            self.s.flush()
            self.s.execute(update(DealRow), [{"id": i, "owner_id": o, "updated_at": now} for i, o in changes])
            self._expire(DealRow, [i for i, _ in changes])

    def _expire(self, model: type, ids: Sequence[int | None]) -> None:
        """A bulk UPDATE bypasses loaded objects: expire them so later reads in this transaction are fresh."""
        for i in ids:
            obj = self.s.identity_map.get(identity_key(model, i))
            if obj is not None:
                self.s.expire(obj)

    def pool(self, team: str | None, *, limit: int = 20) -> list[Customer]:
        q = (
            select(CustomerRow.id)
            .where(CustomerRow.owner_id.is_(None), CustomerRow.status == CustomerStatus.ACTIVE.value)
            .order_by(CustomerRow.created_at, CustomerRow.id)
            .limit(limit)
        )
        if team is not None:
            q = q.where(or_(CustomerRow.team == team, CustomerRow.team.is_(None)))
        ids = list(self.s.scalars(q))
        return SqlCustomerRepository(self.s)._many(ids)
