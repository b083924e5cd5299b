"""Import use cases: write the rows of a sheet through `create_customer`, and decide review items.

Every imported row goes through `create_customer`, so the real-time duplicate check, the 线索 deal
and the round robin apply to imports exactly as to chat. Rows of one company group (the file's own
duplicates, found by core.dedup.batch) follow the group's first row: they join the customer it
created or linked to, or its review item. Like every use case, nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from core import audit
from core.errors import Conflict, InvalidInput, NotFound
from core.imports import REVIEW_STATES, ImportBatch, ImportRow, ReviewDecision, ReviewItem
from core.model import Contact, Customer, CustomerStatus, Role, User
from core.permissions import require_role
from core.pipeline import Pipeline
from core.ports import ImportUnitOfWork, StageUnitOfWork, UnitOfWork
from core.usecases.assignment import AssignOutcome, LeadAssigner
from core.usecases.customers import (
    CreateCustomerResult,
    DuplicateCheck,
    DuplicateDecision,
    NewCustomer,
    create_customer,
)

IMPORT_ROLES = (Role.MANAGER, Role.DIRECTOR, Role.ADMIN)
STATE_ZH = {"pending": "待审核", "linked": "已关联", "created": "已新建", "ignored": "已忽略"}

RowKind = Literal["created", "joined", "linked", "review"]


@dataclass(frozen=True)
class PlannedRow:
    row: ImportRow
    leader: int  # row number of the first row of its company group in the file


@dataclass
class ImportMemory:
    """What earlier rows of this import decided, per company group (keyed by the group's first row)."""

    customer_of: dict[int, int] = field(default_factory=dict)
    created: set[int] = field(default_factory=set)  # groups whose customer this import created
    review_of: dict[int, int] = field(default_factory=dict)
    reused_reviews: set[int] = field(default_factory=set)  # items an earlier import of the file made
    created_ids: set[int] = field(default_factory=set)  # customers this import created


@dataclass
class RowOutcome:
    row_no: int
    kind: RowKind
    customer_id: int | None = None
    review_id: int | None = None
    assignment: AssignOutcome | None = None
    opened: bool = False  # this row opened a new review item


class BatchAssigner(LeadAssigner):
    """The configured round robin, run once per written batch: `create_customer` hands each new lead
    to `assign`, which only collects it; `flush` assigns them all with `assign_many` (one lock, one
    load query) in the same transaction, in file order — the result a lead-by-lead run would give."""

    def __init__(self, real: LeadAssigner | None) -> None:
        real = real or LeadAssigner()
        super().__init__(real.config, real.tz)
        self.real = real
        self.pending: list[tuple[Customer, str | None]] = []

    def assign(
        self,
        uow: StageUnitOfWork,
        actor_id: str,
        customer: Customer,
        now: datetime,
        *,
        product: str | None = None,
    ) -> AssignOutcome:
        self.pending.append((customer, product))
        return AssignOutcome(customer, None, None, None)  # replaced by flush()

    def flush(self, uow: StageUnitOfWork, actor_id: str, now: datetime) -> dict[int, AssignOutcome]:
        if not self.pending:
            return {}
        customers, products = [c for c, _ in self.pending], [p for _, p in self.pending]
        self.pending = []
        outcomes = self.real.assign_many(uow, actor_id, customers, now, products=products)
        return {o.customer.id or 0: o for o in outcomes}


class ExistingOnly:
    """The duplicate check against the customers that were there before this import.

    The file's own duplicates were settled by core.dedup.batch, which sees the whole sheet (cities,
    industries, who appears under which spelling) and keeps apart what it cannot tell apart. A customer
    this import created for another group of rows is therefore not a candidate again: checked one row
    at a time against them, 8,000 generated rows gave 355 "是否关联" questions (325 about different
    firms) and linked 128 rows to the wrong firm. When the best match is such a customer, the best one
    that existed before is asked about, if any; otherwise the row is new, as the grouping said.
    """

    def __init__(self, real: DuplicateCheck, created: set[int]) -> None:
        self.real, self.created = real, created

    def name_key(self, company: str) -> str:
        return self.real.name_key(company)

    def register(self, uow: UnitOfWork, customer: Customer, contact: Contact | None) -> None:
        self.real.register(uow, customer, contact)

    def decide(self, uow: UnitOfWork, record: NewCustomer, phone_norm: str | None) -> DuplicateDecision:
        decision = self.real.decide(uow, record, phone_norm)
        if decision.kind == "new" or decision.customer is None or decision.customer.id not in self.created:
            return decision
        before = [c for c in decision.candidates if c[0].id not in self.created]
        if not before:
            return DuplicateDecision("new")
        customer, score, evidence = max(before, key=lambda c: c[1])
        return DuplicateDecision("ask", customer, score, list(evidence), before)


def require_importer(actor: User) -> None:
    require_role(actor, *IMPORT_ROLES, action="导入客户或处理导入待审核")


def new_customer(row: ImportRow) -> NewCustomer:
    return NewCustomer(
        company=row.company,
        contact_name=row.name or None,
        phone=row.phone or None,
        email=row.email or None,
        region=row.region or None,
        source="import",
        product=row.product or None,
    )


def live_customer(uow: UnitOfWork, customer_id: int | None) -> Customer | None:
    """The customer, or the one it was merged into; None when it is gone or marked invalid."""
    customer = uow.customers.get(customer_id) if customer_id else None
    hops = 0
    while (
        customer is not None
        and customer.status == CustomerStatus.MERGED
        and customer.merged_into
        and hops < 10
    ):
        customer, hops = uow.customers.get(customer.merged_into), hops + 1
    return customer if customer is not None and customer.status == CustomerStatus.ACTIVE else None


def import_rows(
    uow: ImportUnitOfWork,
    actor: User,
    batch: ImportBatch,
    rows: Sequence[PlannedRow],
    now: datetime,
    *,
    dedup: DuplicateCheck,
    pipeline: Pipeline,
    assigner: LeadAssigner | None,
    memory: ImportMemory,
    seen_before: bool = False,
) -> list[RowOutcome]:
    """Write rows (valid, in file order) of one batch; the caller commits them as one transaction."""
    require_importer(actor)
    batch_assigner = BatchAssigner(assigner)
    dedup = ExistingOnly(dedup, memory.created_ids)
    # customers already in hand in this transaction: the file's duplicates come in runs, and a customer
    # cannot be merged or marked invalid under us while the transaction holds it
    live: dict[int, Customer | None] = {}
    outcomes: list[RowOutcome] = []
    for planned in rows:
        row, leader = planned.row, planned.leader
        if leader != row.row_no and leader not in memory.review_of and leader not in memory.customer_of:
            # a resumed import: the group's first row was written by the interrupted run
            earlier = uow.reviews.for_file_row(batch.sha256, leader)
            if earlier is not None and earlier.batch_id == batch.id:
                memory.review_of[leader] = earlier.id or 0
        if leader in memory.review_of:
            outcomes.append(_join_review(uow, memory, planned))
            continue
        target = None
        if leader in memory.customer_of:
            customer_id = memory.customer_of[leader]
            if customer_id not in live:
                live[customer_id] = live_customer(uow, customer_id)
            target = live[customer_id]
        if target is not None:
            result = create_customer(
                uow,
                actor,
                new_customer(row),
                now,
                dedup=dedup,
                pipeline=pipeline,
                link_to=target,
                assigner=batch_assigner,
            )
            kind: RowKind = "joined" if leader in memory.created else "linked"
        else:
            result = create_customer(
                uow, actor, new_customer(row), now, dedup=dedup, pipeline=pipeline, assigner=batch_assigner
            )
            if result.decision.kind == "ask":
                outcomes.append(_open_review(uow, batch, memory, planned, result))
                continue
            kind = "created" if result.created else "linked"
            memory.customer_of[leader] = result.customer.id or 0
            live[result.customer.id or 0] = result.customer
            if result.created:
                memory.created.add(leader)
                memory.created_ids.add(result.customer.id or 0)
        _note(uow, actor, batch.id, batch.filename, row, result, now, seen_before)
        outcomes.append(RowOutcome(row.row_no, kind, result.customer.id))
    assigned = batch_assigner.flush(uow, actor.id, now)
    for outcome in outcomes:
        if outcome.kind == "created":
            outcome.assignment = assigned.get(outcome.customer_id or 0)
    return outcomes


def _open_review(
    uow: ImportUnitOfWork,
    batch: ImportBatch,
    memory: ImportMemory,
    planned: PlannedRow,
    result: CreateCustomerResult,
) -> RowOutcome:
    row = planned.row
    earlier = uow.reviews.for_file_row(batch.sha256, planned.leader)
    if earlier is not None:
        memory.review_of[planned.leader] = earlier.id or 0
        if earlier.batch_id == batch.id:  # a resumed import: the interrupted run opened it
            return _join_review(uow, memory, planned)
        # the same file was imported before: its item stands, decided or not
        memory.reused_reviews.add(planned.leader)
        return RowOutcome(row.row_no, "review", review_id=earlier.id)
    decision = result.decision
    item = uow.reviews.add(
        ReviewItem(
            id=None,
            batch_id=batch.id,
            row_no=planned.leader,
            data={"file": batch.filename, "rows": [row.to_data()]},
            candidate_customer_id=decision.customer.id if decision.customer else None,
            score=round(decision.score, 1),
            evidence=list(decision.evidence),
        )
    )
    memory.review_of[planned.leader] = item.id or 0
    return RowOutcome(row.row_no, "review", review_id=item.id, opened=True)


def _join_review(uow: ImportUnitOfWork, memory: ImportMemory, planned: PlannedRow) -> RowOutcome:
    review_id = memory.review_of[planned.leader]
    if planned.leader not in memory.reused_reviews:
        item = uow.reviews.get(review_id)
        rows = item.data.get("rows", []) if item is not None else []
        if (
            item is not None
            and item.state == "pending"
            and all(r.get("row") != planned.row.row_no for r in rows)
        ):
            item.data = {**item.data, "rows": [*item.data.get("rows", []), planned.row.to_data()]}
            uow.reviews.update(item)
    return RowOutcome(planned.row.row_no, "review", review_id=review_id)


def _note(
    uow: UnitOfWork,
    actor: User,
    batch_id: int | None,
    filename: str,
    row: ImportRow,
    result: CreateCustomerResult,
    now: datetime,
    seen_before: bool = False,
) -> None:
    """Where the row came from and the columns without a place in the CRM, kept in the audit log."""
    new_contact = result.contact is not None and result.contact.created_at == now
    if seen_before and not result.created and not new_contact:
        return  # the same file again: nothing changed, nothing to record
    audit.record(
        uow,
        actor_id=actor.id,
        action="customer.import",
        subject_type="customer",
        subject_id=result.customer.id or 0,
        now=now,
        after={
            "batch": batch_id,
            "file": filename,
            "row": row.row_no,
            "created": result.created,
            "note": row.note,
        },
    )


# ---------------------------------------------------------------- review


@dataclass
class ReviewOutcome:
    item: ReviewItem
    decision: ReviewDecision
    customer: Customer | None
    assignments: list[AssignOutcome] = field(default_factory=list)


def list_pending_reviews(
    uow: ImportUnitOfWork, actor: User, *, limit: int = 5, after_id: int = 0
) -> tuple[list[ReviewItem], int]:
    """The oldest pending items and how many are pending in all."""
    require_importer(actor)
    return uow.reviews.pending(limit=limit, after_id=after_id), uow.reviews.count_pending()


def decide_review(
    uow: ImportUnitOfWork,
    actor: User,
    item_id: int,
    decision: ReviewDecision,
    now: datetime,
    *,
    dedup: DuplicateCheck,
    pipeline: Pipeline,
    assigner: LeadAssigner | None = None,
) -> ReviewOutcome:
    """link: the rows join the candidate customer; new: they become one new customer; ignore: nothing."""
    require_importer(actor)
    if decision not in REVIEW_STATES:
        raise InvalidInput(f"无法识别的处理方式「{decision}」：请用 关联(link)、新建(new) 或 忽略(ignore)。")
    item = uow.reviews.get(item_id, lock=True)
    if item is None:
        raise NotFound(f"没有找到待审核记录 #{item_id}。")
    if item.state != "pending":
        who = uow.users.get(item.decided_by) if item.decided_by else None
        by = f"，处理人：{who.name if who else item.decided_by}" if item.decided_by else ""
        raise Conflict(f"待审核记录 #{item_id} 已处理过了（{STATE_ZH.get(item.state, item.state)}{by}）。")
    rows = item.rows
    filename = str(item.data.get("file", ""))
    customer: Customer | None = None
    assignments: list[AssignOutcome] = []
    if decision == "link":
        customer = live_customer(uow, item.candidate_customer_id)
        if customer is None:
            raise Conflict("要关联的已有客户已不存在或已标记无效：请选择「新建」或「忽略」。")
        for row in rows:
            result = create_customer(
                uow,
                actor,
                new_customer(row),
                now,
                dedup=dedup,
                pipeline=pipeline,
                link_to=customer,
                assigner=assigner,
            )
            _note(uow, actor, item.batch_id, filename, row, result, now)
    elif decision == "new":
        for row in rows:
            result = create_customer(
                uow,
                actor,
                new_customer(row),
                now,
                dedup=dedup,
                pipeline=pipeline,
                force_new=customer is None,
                link_to=customer,
                assigner=assigner,
            )
            _note(uow, actor, item.batch_id, filename, row, result, now)
            customer = result.customer
            if result.assignment is not None:
                assignments.append(result.assignment)
    item.state = REVIEW_STATES[decision]
    item.decided_by, item.decided_at = actor.id, now
    uow.reviews.update(item)
    audit.record(
        uow,
        actor_id=actor.id,
        action="import.review",
        subject_type="review_item",
        subject_id=item.id or 0,
        now=now,
        after={
            "decision": decision,
            "customer": customer.id if customer else None,
            "rows": [r.row_no for r in rows],
        },
    )
    return ReviewOutcome(item, decision, customer, assignments)
