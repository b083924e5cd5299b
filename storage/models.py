"""SQLAlchemy 2.x typed models. Times are stored in UTC (timezone-aware columns)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC; SQLite has no time zones, so normalise on the way in and out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; crmbot stores aware datetimes only")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# SQLite needs INTEGER PRIMARY KEY for rowid aliasing; PostgreSQL gets BIGINT identity.
IdType = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    roles: Mapped[list[Any]] = mapped_column(JSON, default=list)
    team: Mapped[str | None] = mapped_column(String(64), index=True)
    manager_id: Mapped[str | None] = mapped_column(String(64))
    regions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    products: Mapped[list[Any]] = mapped_column(JSON, default=list)
    capacity: Mapped[int] = mapped_column(Integer, default=15)
    status: Mapped[str] = mapped_column(String(16), default="active")
    leave_until: Mapped[date | None] = mapped_column(Date)
    wecom_userid: Mapped[str | None] = mapped_column(String(64), unique=True)
    dingtalk_staffid: Mapped[str | None] = mapped_column(String(64), unique=True)


class CustomerRow(Base):
    __tablename__ = "customers"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    name_key: Mapped[str] = mapped_column(String(200), index=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    team: Mapped[str | None] = mapped_column(String(64), index=True)
    region: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="active")
    invalid_reason: Mapped[str | None] = mapped_column(Text)
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    source: Mapped[str] = mapped_column(String(32), default="chat")
    created_by: Mapped[str | None] = mapped_column(String(64))
    assigned_at: Mapped[datetime | None]
    lead_state: Mapped[str] = mapped_column(String(16), default="new")  # new | contacted | dormant (待激活)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (Index("ix_customers_lead", "lead_state", "assigned_at"),)


class ContactRow(Base):
    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    title: Mapped[str | None] = mapped_column(String(50))
    phone: Mapped[str | None] = mapped_column(String(50))
    phone_norm: Mapped[str | None] = mapped_column(String(20), index=True)
    email: Mapped[str | None] = mapped_column(String(200), index=True)
    # the WeCom external contact id (客户联系), needed to hand the contact over on offboarding
    external_userid: Mapped[str | None] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]


class DealRow(Base):
    __tablename__ = "deals"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    owner_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="open")
    amount: Mapped[float | None] = mapped_column(Float)
    products: Mapped[str | None] = mapped_column(String(200))
    payment_terms: Mapped[str | None] = mapped_column(Text)
    pain_points: Mapped[list[Any]] = mapped_column(JSON, default=list)
    competitor: Mapped[str | None] = mapped_column(String(200))
    lost_reason: Mapped[str | None] = mapped_column(Text)
    stage_entered_at: Mapped[datetime | None]
    last_followup_at: Mapped[datetime | None]
    next_followup_on: Mapped[date | None] = mapped_column(Date)
    close_date: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (
        Index("ix_deals_open_next", "status", "next_followup_on"),
        Index("ix_deals_open_stage", "status", "stage", "stage_entered_at"),
    )


class FollowUpRow(Base):
    __tablename__ = "followups"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    occurred_at: Mapped[datetime]
    method: Mapped[str | None] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    conclusion: Mapped[str | None] = mapped_column(String(16))
    next_action: Mapped[str | None] = mapped_column(String(32))
    next_followup_on: Mapped[date | None] = mapped_column(Date)
    stage_hint: Mapped[str | None] = mapped_column(String(32))
    amount: Mapped[float | None] = mapped_column(Float)
    pain_points: Mapped[list[Any]] = mapped_column(JSON, default=list)
    raw_text: Mapped[str] = mapped_column(Text, default="")
    extracted: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    call_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    effective: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | voided (the rep cancelled it)
    created_at: Mapped[datetime]


class StageChangeRow(Base):
    __tablename__ = "stage_changes"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(32))
    to_stage: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text, default="")


class AssignmentRow(Base):
    __tablename__ = "assignments"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    from_user: Mapped[str | None] = mapped_column(String(64))
    to_user: Mapped[str | None] = mapped_column(String(64), index=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]
    __table_args__ = (Index("ix_assignments_subject", "subject_type", "subject_id"),)


class MergeLinkRow(Base):
    __tablename__ = "merge_links"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    winner_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    loser_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    actor_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text, default="")
    moved: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    undone_at: Mapped[datetime | None]
    undone_by: Mapped[str | None] = mapped_column(String(64))


class AuditRow(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(index=True)
    actor_id: Mapped[str] = mapped_column(String(64), index=True)
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (Index("ix_audit_subject", "subject_type", "subject_id"),)


class AlertRow(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(32))
    subject_type: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[int] = mapped_column(Integer)
    window: Mapped[str] = mapped_column(String(64))
    recipient_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(16), default="open")
    acted_by: Mapped[str | None] = mapped_column(String(64))
    acted_at: Mapped[datetime | None]
    action: Mapped[str | None] = mapped_column(String(64))
    card_id: Mapped[str | None] = mapped_column(String(64))
    __table_args__ = (
        UniqueConstraint("rule", "subject_type", "subject_id", "level", "window", name="uq_alert_ledger"),
        Index("ix_alerts_subject", "subject_type", "subject_id", "state"),
    )


class InboxRow(Base):
    """Every platform event once: a redelivery hits the unique key and is dropped."""

    __tablename__ = "inbox"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    message_id: Mapped[str] = mapped_column(String(200))
    sender: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # message | action
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    received_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | working | done | failed | refused
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)
    # a worker process that claimed the row (bot/inbox_worker.py) and until when; past it, another may
    worker: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    __table_args__ = (
        UniqueConstraint("channel", "message_id", name="uq_inbox_message"),
        Index("ix_inbox_status", "status"),
    )


class OutboxRow(Base):
    """Replies and notifications, written in the same transaction as the change they report."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    recipient: Mapped[str] = mapped_column(String(64))  # the platform id
    kind: Mapped[str] = mapped_column(String(16))  # text | card | card_update
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    card_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_outbox_due", "status", "next_attempt_at"),)


class CardRow(Base):
    """A card we sent: its buttons work once, and the platform reference lets us update it."""

    __tablename__ = "cards"
    seq: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)  # send order
    id: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    user_id: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    ref: Mapped[str | None] = mapped_column(String(200), index=True)
    response_code: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    handled_by: Mapped[str | None] = mapped_column(String(64))
    handled_at: Mapped[datetime | None]
    handled_action: Mapped[str | None] = mapped_column(String(200))


class DialogRow(Base):
    """An open dialog step per user: survives restarts, expires politely."""

    __tablename__ = "dialogs"
    user_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    channel: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class EvidenceFileRow(Base):
    """A file attached as stage evidence (requirements, quote, contract scan), stored by content hash."""

    __tablename__ = "evidence_files"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    deal_id: Mapped[int | None] = mapped_column(ForeignKey("deals.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # requirements | quote | contract | other
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100), default="application/octet-stream")
    size: Mapped[int] = mapped_column(BigInteger)
    stored_path: Mapped[str] = mapped_column(String(500))
    uploaded_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]


class ApprovalRow(Base):
    """A change waiting for a manager: a stage regression or an edit of a frozen field."""

    __tablename__ = "approvals"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))  # stage_regression | frozen_field
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id"), index=True)
    requested_by: Mapped[str] = mapped_column(String(64))
    approver_id: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reason: Mapped[str] = mapped_column(Text, default="")
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | approved | rejected | cancelled
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    __table_args__ = (Index("ix_approvals_state", "state", "approver_id"),)


class JobRow(Base):
    """A long-running tracked job (offboarding handover): survives restarts, never repeats a step."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | running | done | failed | cancelled
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    progress: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_jobs_state", "state"),)


class JobItemRow(Base):
    """One unit of a job (a customer to hand over); unique per job, so a re-run never moves it twice."""

    __tablename__ = "job_items"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | done | failed | waiting
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("job_id", "subject_type", "subject_id", name="uq_job_item"),
                      Index("ix_job_items_state", "job_id", "state"))


class CallLogRow(Base):
    """A call from the phone system, kept as received; idempotent by call_id."""

    __tablename__ = "call_logs"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    call_id: Mapped[str] = mapped_column(String(128), unique=True)
    rep_id: Mapped[str | None] = mapped_column(String(64), index=True)
    customer_phone: Mapped[str] = mapped_column(String(50))
    phone_norm: Mapped[str | None] = mapped_column(String(20), index=True)
    started_at: Mapped[datetime]
    duration_s: Mapped[int] = mapped_column(Integer)
    transcript: Mapped[str] = mapped_column(Text, default="")
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    followup_id: Mapped[int | None] = mapped_column(ForeignKey("followups.id"))
    status: Mapped[str] = mapped_column(String(16), default="new")  # recorded | unknown_number | invalid
    created_at: Mapped[datetime]


class ImportBatchRow(Base):
    """One `crmbot import` of a sheet: its summary, and the rows that need a human decision."""

    __tablename__ = "import_batches"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default="done")
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ReviewItemRow(Base):
    """A possible duplicate found on import (score between ask and auto): a manager decides."""

    __tablename__ = "review_items"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("import_batches.id"), index=True)
    row_no: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    candidate_customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | linked | created | ignored
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None]
    __table_args__ = (Index("ix_review_items_state", "state"),)


class DedupKeyRow(Base):
    """Blocking keys of customers and contacts (core/dedup/keys.py): the real-time check's index."""

    __tablename__ = "dedup_keys"
    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(200), index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    __table_args__ = (UniqueConstraint("key", "customer_id", "contact_id", name="uq_dedup_key"),)
