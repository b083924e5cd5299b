"""Repositories for tracked jobs (jobs, job_items) and the bulk queries of an offboarding handover."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy import insert as insert_into
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.model import Alert, Assignment, AuditEntry, Customer, CustomerStatus, Deal, DealStatus
from core.offboarding import UNFINISHED, CustomerBrief, Job, JobItem
from core.stages import Approval
from storage.models import (
    AlertRow,
    ApprovalRow,
    AssignmentRow,
    AuditRow,
    ContactRow,
    CustomerRow,
    DealRow,
    JobItemRow,
    JobRow,
)
from storage.repositories import alert_from_row, deal_from_row
from storage.stage_repos import _approval

_CHUNK = 500  # ids per IN (…) list: SQLite allows 32,766 parameters, stay far below


def _chunks(ids: Sequence[Any], size: int = _CHUNK) -> list[list[Any]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def _job(r: JobRow) -> Job:
    return Job(
        r.id,
        r.kind,
        r.state,
        dict(r.params or {}),
        dict(r.progress or {}),
        r.created_by,
        r.created_at,
        r.updated_at,
        r.finished_at,
    )


def _item(r: JobItemRow) -> JobItem:
    return JobItem(r.id, r.job_id, r.subject_type, r.subject_id, r.state, dict(r.result or {}), r.updated_at)


class SqlJobRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, job: Job) -> Job:
        row = JobRow(
            kind=job.kind,
            state=job.state,
            params=job.params,
            progress=job.progress,
            created_by=job.created_by,
            created_at=job.created_at,
            updated_at=job.updated_at,
        )
        self.s.add(row)
        self.s.flush()
        job.id = row.id
        return job

    def get(self, job_id: int, *, lock: bool = False) -> Job | None:
        q = select(JobRow).where(JobRow.id == job_id).execution_options(populate_existing=True)
        if lock:
            if self.s.get_bind().dialect.name == "postgresql":
                q = q.with_for_update()
            else:
                # SQLite: a no-op write takes the database write lock before anything is read, so a second
                # runner waits here and then reads what the first one committed
                self.s.execute(
                    update(JobRow)
                    .where(JobRow.id == job_id)
                    .values(kind=JobRow.kind)
                    .execution_options(synchronize_session=False)
                )
        row = self.s.scalars(q).first()
        return _job(row) if row else None

    def update(self, job: Job) -> None:
        self.s.execute(
            update(JobRow)
            .where(JobRow.id == job.id)
            .values(
                state=job.state,
                progress=dict(job.progress),
                updated_at=job.updated_at,
                finished_at=job.finished_at,
            )
            .execution_options(synchronize_session=False)
        )

    def unfinished(self, kind: str | None = None) -> list[Job]:
        q = select(JobRow).where(JobRow.state.in_(UNFINISHED)).order_by(JobRow.id)
        if kind:
            q = q.where(JobRow.kind == kind)
        return [_job(r) for r in self.s.scalars(q.execution_options(populate_existing=True))]

    def recent(self, limit: int = 20) -> list[Job]:
        q = select(JobRow).order_by(JobRow.id.desc()).limit(limit).execution_options(populate_existing=True)
        return [_job(r) for r in self.s.scalars(q)]

    def add_items(self, items: Sequence[JobItem]) -> int:
        """Insert-or-ignore on (job, subject): planning twice never makes a second item."""
        if not items:
            return 0
        insert = pg_insert if self.s.get_bind().dialect.name == "postgresql" else sqlite_insert
        rows = [
            {
                "job_id": i.job_id,
                "subject_type": i.subject_type,
                "subject_id": i.subject_id,
                "state": i.state,
                "result": i.result,
                "updated_at": i.updated_at,
            }
            for i in items
        ]
        stmt = insert(JobItemRow.__table__).on_conflict_do_nothing(
            index_elements=["job_id", "subject_type", "subject_id"]
        )
        added = 0
        conn = self.s.connection()
        for chunk in _chunks(rows, 5000):  # executemany: one prepared statement, no giant VALUES to compile
            added += conn.execute(stmt, chunk).rowcount or 0
        return added

    def items(
        self,
        job_id: int,
        subject_type: str,
        *,
        states: Sequence[str] = (),
        limit: int = 1000,
        after_id: int = 0,
    ) -> list[JobItem]:
        q = (
            select(JobItemRow)
            .where(
                JobItemRow.job_id == job_id, JobItemRow.subject_type == subject_type, JobItemRow.id > after_id
            )
            .order_by(JobItemRow.id)
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        if states:
            q = q.where(JobItemRow.state.in_(list(states)))
        return [_item(r) for r in self.s.scalars(q)]

    def update_items(self, items: Sequence[JobItem]) -> None:
        if items:
            t = JobItemRow.__table__
            self.s.connection().execute(
                update(t)
                .where(t.c.id == bindparam("b_id"))
                .values(
                    state=bindparam("b_state"), result=bindparam("b_result"), updated_at=bindparam("b_at")
                ),
                [
                    {"b_id": i.id, "b_state": i.state, "b_result": i.result, "b_at": i.updated_at}
                    for i in items
                ],
            )

    def count_items(self, job_id: int) -> dict[tuple[str, str], int]:
        rows = self.s.execute(
            select(JobItemRow.subject_type, JobItemRow.state, func.count())
            .where(JobItemRow.job_id == job_id)
            .group_by(JobItemRow.subject_type, JobItemRow.state)
        ).all()
        return {(t, s): int(n) for t, s, n in rows}


class SqlHandoverRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def owned_customers(self, user_id: str) -> list[CustomerBrief]:
        rows = self.s.execute(
            select(CustomerRow.id, CustomerRow.name, CustomerRow.team, CustomerRow.lead_state)
            .where(CustomerRow.owner_id == user_id, CustomerRow.status != CustomerStatus.MERGED.value)
            .order_by(CustomerRow.id)
        ).all()
        return [CustomerBrief(i, n, t, s) for i, n, t, s in rows]

    def customers(self, ids: Sequence[int]) -> list[Customer]:
        out: list[Customer] = []
        cols = (
            CustomerRow.id,
            CustomerRow.name,
            CustomerRow.name_key,
            CustomerRow.owner_id,
            CustomerRow.team,
            CustomerRow.region,
            CustomerRow.status,
            CustomerRow.lead_state,
            CustomerRow.assigned_at,
        )
        for chunk in _chunks(ids):
            for r in self.s.execute(select(*cols).where(CustomerRow.id.in_(chunk)).order_by(CustomerRow.id)):
                out.append(
                    Customer(
                        id=r.id,
                        name=r.name,
                        name_key=r.name_key,
                        owner_id=r.owner_id,
                        team=r.team,
                        region=r.region,
                        status=CustomerStatus(r.status),
                        lead_state=r.lead_state,
                        assigned_at=r.assigned_at,
                    )
                )
        return out

    def open_deals_owned(self, user_id: str) -> list[Deal]:
        q = (
            select(DealRow)
            .where(DealRow.owner_id == user_id, DealRow.status == DealStatus.OPEN.value)
            .order_by(DealRow.id)
        )
        return [deal_from_row(r) for r in self.s.scalars(q)]

    def count_open_alerts(self, recipient_id: str) -> int:
        return int(
            self.s.scalar(
                select(func.count())
                .select_from(AlertRow)
                .where(AlertRow.recipient_id == recipient_id, AlertRow.state == "open")
            )
            or 0
        )

    def open_alerts_of_customers(
        self, recipient_id: str, customer_ids: Sequence[int]
    ) -> list[tuple[int, int]]:
        out: list[tuple[int, int]] = []
        for chunk in _chunks(customer_ids):
            out += [
                (a, c)
                for a, c in self.s.execute(
                    select(AlertRow.id, AlertRow.subject_id).where(
                        AlertRow.recipient_id == recipient_id,
                        AlertRow.state == "open",
                        AlertRow.subject_type == "customer",
                        AlertRow.subject_id.in_(chunk),
                    )
                )
            ]
            out += [
                (a, c)
                for a, c in self.s.execute(
                    select(AlertRow.id, DealRow.customer_id)
                    .join(DealRow, and_(AlertRow.subject_type == "deal", AlertRow.subject_id == DealRow.id))
                    .where(
                        AlertRow.recipient_id == recipient_id,
                        AlertRow.state == "open",
                        DealRow.customer_id.in_(chunk),
                    )
                )
            ]
        return sorted(out)

    def open_alerts(self, recipient_id: str, *, limit: int) -> list[Alert]:
        q = (
            select(AlertRow)
            .where(AlertRow.recipient_id == recipient_id, AlertRow.state == "open")
            .order_by(AlertRow.id)
            .limit(limit)
        )
        return [alert_from_row(r) for r in self.s.scalars(q)]

    def set_alert_recipients(self, changes: Sequence[tuple[int, str]]) -> None:
        if changes:
            self.s.flush()
            t = AlertRow.__table__
            self.s.connection().execute(
                update(t).where(t.c.id == bindparam("b_id")).values(recipient_id=bindparam("b_to")),
                [{"b_id": i, "b_to": r} for i, r in changes],
            )

    def add_assignments(self, rows: Sequence[Assignment]) -> None:
        """Append-only, in bulk (executemany): a handover writes tens of thousands of them."""
        if rows:
            self.s.connection().execute(
                insert_into(AssignmentRow.__table__),
                [
                    {
                        "subject_type": a.subject_type,
                        "subject_id": a.subject_id,
                        "from_user": a.from_user,
                        "to_user": a.to_user,
                        "actor_id": a.actor_id,
                        "reason": a.reason,
                        "at": a.at,
                    }
                    for a in rows
                ],
            )

    def add_audit_entries(self, entries: Sequence[AuditEntry]) -> None:
        """Append-only, in bulk (executemany)."""
        if entries:
            self.s.connection().execute(
                insert_into(AuditRow.__table__),
                [
                    {
                        "at": e.at,
                        "actor_id": e.actor_id,
                        "action": e.action,
                        "subject_type": e.subject_type,
                        "subject_id": e.subject_id,
                        "before": e.before,
                        "after": e.after,
                    }
                    for e in entries
                ],
            )

    def pending_approvals(self, approver_id: str) -> list[Approval]:
        q = (
            select(ApprovalRow)
            .where(ApprovalRow.approver_id == approver_id, ApprovalRow.state == "pending")
            .order_by(ApprovalRow.id)
        )
        return [_approval(r) for r in self.s.scalars(q)]

    def set_approver(self, approval_id: int, approver_id: str) -> None:
        self.s.execute(
            update(ApprovalRow)
            .where(ApprovalRow.id == approval_id, ApprovalRow.state == "pending")
            .values(approver_id=approver_id)
            .execution_options(synchronize_session=False)
        )

    def external_contacts(self, customer_ids: Sequence[int]) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        for chunk in _chunks(customer_ids):
            out += [
                (c, e)
                for c, e in self.s.execute(
                    select(ContactRow.customer_id, ContactRow.external_userid)
                    .where(
                        ContactRow.customer_id.in_(chunk),
                        ContactRow.external_userid.is_not(None),
                        ContactRow.external_userid != "",
                    )
                    .order_by(ContactRow.id)
                )
            ]
        return out

    def count_external_contacts(self, owner_id: str) -> int:
        return int(
            self.s.scalar(
                select(func.count(func.distinct(ContactRow.external_userid)))
                .join(CustomerRow, CustomerRow.id == ContactRow.customer_id)
                .where(
                    CustomerRow.owner_id == owner_id,
                    CustomerRow.status != CustomerStatus.MERGED.value,
                    ContactRow.external_userid.is_not(None),
                    ContactRow.external_userid != "",
                )
            )
            or 0
        )
