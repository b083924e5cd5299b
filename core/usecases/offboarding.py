"""Offboarding use cases: the preview, the confirmation, and the steps of the handover job.

`start` makes the leaver offboarded at once (the router refuses their messages from the next one on)
and records a job. The job then runs in steps, each in its own transaction (bot/jobs.py drives them):
plan → move (customers with their open deals and open alerts, a batch per transaction) → rest
(alerts not tied to a moved customer, pending approvals to the leaver's manager) → report → and, with
WeCom, the external contacts through 离职继承. Each step only touches what is still pending, and a
moved item is marked done in the same transaction as the move, so a killed job resumed later moves
nothing twice and misses nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core import audit
from core.assignment import AssignmentConfig, team_manager
from core.errors import NotFound
from core.model import Assignment, AuditEntry, Deal, Role, User, UserStatus
from core.offboarding import (
    ITEM_DONE,
    ITEM_FAILED,
    ITEM_PENDING,
    ITEM_WAITING,
    JOB_KIND,
    PENDING,
    PHASE_MOVE,
    PHASE_PLAN,
    PHASE_REPORT,
    PHASE_REST,
    REASON,
    CustomerBrief,
    Job,
    JobItem,
    candidates,
    check_request,
    check_successor,
    plan,
    shares,
)
from core.permissions import Viewer
from core.ports import OffboardingUnitOfWork
from core.usecases.assignment import hand_over

# WeCom 离职继承 result statuses (resigned/transfer_result)
WECOM_DONE, WECOM_WAITING, WECOM_REFUSED, WECOM_OVER_LIMIT = 1, 2, 3, 4
WECOM_OUTCOME_ZH = {
    "done": "已迁移",
    "waiting": "等待客户确认",
    "refused": "客户拒绝",
    "over_limit": "接替成员客户数已达上限",
    "failed": "提交失败",
    "no_takeover": "接手人没有企业微信账号",
}


def manager_of(uow: OffboardingUnitOfWork, leaver: User, config: AssignmentConfig) -> User | None:
    """Who inherits the leaver's approvals and hears about the handover: their manager, else the team's
    manager, else a director."""
    users = uow.users.list()
    if leaver.manager_id:
        found = next((u for u in users if u.id == leaver.manager_id), None)
        if found is not None and found.status == UserStatus.ACTIVE:
            return found
    manager = team_manager(leaver.team, [u for u in users if u.id != leaver.id], config)
    if manager is not None and manager.id != leaver.id:
        return manager
    return next((u for u in users if u.has(Role.DIRECTOR) and u.id != leaver.id), None)


# ---------------------------------------------------------------------------- preview
@dataclass
class StageLine:
    stage: str
    deals: int
    amount: float | str | None  # the sum, MASK for those who may not see amounts, None when no amounts


@dataclass
class Preview:
    leaver: User
    successor: User | None
    manager: User | None
    customers: int
    shares: list[tuple[User | None, int]]  # (new owner or None = team pool, customers)
    stages: list[StageLine]
    alerts: int
    approvals: int
    external_contacts: int
    reason: str = ""


def preview(
    uow: OffboardingUnitOfWork,
    actor: User,
    leaver: User | None,
    successor: User | None,
    now: datetime,
    *,
    today: date,
    config: AssignmentConfig,
    viewer: Viewer,
    reason: str = "",
) -> Preview:
    """What would move and to whom; refuses bad requests before anything is shown. Changes nothing."""
    leaver = check_request(actor, leaver, successor, today)
    customers = uow.handover.owned_customers(leaver.id)
    targets = _plan(uow, leaver, successor, customers, now, today, config, lock=False)
    users = {u.id: u for u in uow.users.list(include_offboarded=True)}
    share_list = sorted(shares(targets).items(), key=lambda kv: (kv[0] is None, -kv[1], kv[0] or ""))
    deals = uow.handover.open_deals_owned(leaver.id)
    stages: dict[str, list[Deal]] = {}
    for deal in deals:
        stages.setdefault(deal.stage, []).append(deal)
    lines = []
    for stage, group in stages.items():
        amounts = [d.amount for d in group if d.amount is not None]
        total = viewer.value("amount", sum(amounts) if amounts else None, "user", leaver.id)
        lines.append(StageLine(stage, len(group), total))
    return Preview(
        leaver=leaver,
        successor=successor,
        manager=manager_of(uow, leaver, config),
        customers=len(customers),
        shares=[(users.get(t) if t else None, n) for t, n in share_list],
        stages=lines,
        alerts=uow.handover.count_open_alerts(leaver.id),
        approvals=len(uow.handover.pending_approvals(leaver.id)),
        external_contacts=uow.handover.count_external_contacts(leaver.id),
        reason=reason,
    )


def _plan(
    uow: OffboardingUnitOfWork,
    leaver: User,
    successor: User | None,
    customers: Sequence[CustomerBrief],
    now: datetime,
    today: date,
    config: AssignmentConfig,
    *,
    lock: bool,
) -> dict[int, str | None]:
    if successor is not None:
        return plan(customers, successor, [], {}, config)
    team = uow.users.list(team=leaver.team) if leaver.team else []
    reps = candidates(leaver, team, today, config)
    if lock and reps:
        reps = candidates(leaver, uow.workload.lock_reps([r.id for r in reps]), today, config)
    loads = uow.workload.loads([r.id for r in reps], now) if reps else {}
    return plan(customers, None, reps, loads, config)


# ---------------------------------------------------------------------------- confirmation
def start(
    uow: OffboardingUnitOfWork,
    actor: User,
    leaver_id: str,
    successor_id: str | None,
    now: datetime,
    *,
    today: date,
    config: AssignmentConfig,
    reason: str = "",
    wecom: bool = False,
) -> Job:
    """确认: the leaver is offboarded now (access ends with this commit) and the handover job is recorded."""
    leaver = uow.users.get(leaver_id)
    successor = uow.users.get(successor_id) if successor_id else None
    if successor_id and successor is None:
        raise NotFound("接手的同事已不存在，请重新发起离职交接。")
    leaver = check_request(actor, leaver, successor, today)
    manager = manager_of(uow, leaver, config)
    before = audit.snapshot(leaver, ("status", "leave_until"))
    leaver.status, leaver.leave_until = UserStatus.OFFBOARDED, None
    uow.users.save(leaver)
    job = uow.jobs.add(
        Job(
            None,
            JOB_KIND,
            PENDING,
            params={
                "leaver": leaver.id,
                "successor": successor.id if successor else None,
                "manager": manager.id if manager else None,
                "reason": reason.strip()[:200],
                "wecom": bool(wecom and leaver.wecom_userid),
                "handover_wecom": leaver.wecom_userid,
            },
            progress={"phase": PHASE_PLAN},
            created_by=actor.id,
            created_at=now,
            updated_at=now,
        )
    )
    audit.record(
        uow,
        actor_id=actor.id,
        action="user.offboard",
        subject_type="user",
        subject_id=leaver.id,
        now=now,
        before=before,
        after={
            **audit.snapshot(leaver, ("status", "leave_until")),
            "successor": job.params["successor"],
            "reason": job.params["reason"],
            "job_id": job.id,
        },
    )
    return job


# ---------------------------------------------------------------------------- the job's steps
def _actor(job: Job) -> str:
    return job.created_by


def _reason(job: Job) -> str:
    return f"{REASON}（任务 #{job.id}）"


def plan_items(
    uow: OffboardingUnitOfWork, job: Job, now: datetime, *, today: date, config: AssignmentConfig
) -> int:
    """Write the plan as job items (one per customer, one per stray open deal). One transaction."""
    leaver = uow.users.get(job.params["leaver"])
    if leaver is None:
        raise NotFound("要交接的同事已不存在。")
    successor = uow.users.get(job.params["successor"]) if job.params.get("successor") else None
    if successor is not None:
        check_successor(leaver, successor, today)  # they may have left or gone on leave since the preview
    customers = uow.handover.owned_customers(leaver.id)
    targets = _plan(uow, leaver, successor, customers, now, today, config, lock=True)
    items = [
        JobItem(None, job.id or 0, "customer", str(c.id), ITEM_PENDING, {"to": targets[c.id]}, now)
        for c in customers
    ]
    # open deals of the leaver on customers someone else owns follow the customer's owner
    mine = {c.id for c in customers}
    stray = [d for d in uow.handover.open_deals_owned(leaver.id) if d.customer_id not in mine]
    if stray:
        owners = {c.id: c.owner_id for c in uow.handover.customers(sorted({d.customer_id for d in stray}))}
        active = {u.id for u in uow.users.list()}
        fallback = successor.id if successor else job.params.get("manager")
        for d in stray:
            to = owners.get(d.customer_id)
            items.append(
                JobItem(
                    None,
                    job.id or 0,
                    "deal",
                    str(d.id),
                    ITEM_PENDING,
                    {"to": to if to in active and to != leaver.id else fallback},
                    now,
                )
            )
    uow.jobs.add_items(items)
    job.progress.update(phase=PHASE_MOVE, customers=len(customers), deals_stray=len(stray))
    job.updated_at = now
    uow.jobs.update(job)
    return len(items)


@dataclass
class BatchResult:
    customers: int = 0
    deals: int = 0
    alerts: int = 0
    skipped: int = 0


def move_batch(uow: OffboardingUnitOfWork, job: Job, now: datetime, *, limit: int = 500) -> BatchResult:
    """Move the next `limit` customers (with their open deals and the leaver's open alerts on them)."""
    leaver_id = job.params["leaver"]
    items = uow.jobs.items(job.id or 0, "customer", states=(ITEM_PENDING,), limit=limit)
    result = BatchResult()
    if not items:
        return result
    users = {u.id: u for u in uow.users.list(include_offboarded=True)}
    customers = {c.id: c for c in uow.handover.customers([int(i.subject_id) for i in items])}
    moves = []
    for item in items:
        customer = customers.get(int(item.subject_id))
        if customer is None or customer.owner_id != leaver_id:
            # someone reassigned it since the plan (or it vanished): nothing to move, never move it twice
            item.state, item.result = ITEM_DONE, {**item.result, "skipped": "负责人已变更"}
            result.skipped += 1
            continue
        to = item.result.get("to")
        rep = users.get(to) if to else None
        moves.append((customer, rep, customer.team, _reason(job)))
    deals = uow.workload.open_deals([c.id or 0 for c, _, _, _ in moves])
    hand_over(uow, moves, _actor(job), now)
    new_owner = {c.id: (rep.id if rep else None) for c, rep, _, _ in moves}
    manager = job.params.get("manager")
    alert_moves = []
    for alert_id, customer_id in uow.handover.open_alerts_of_customers(leaver_id, list(new_owner)):
        to = new_owner.get(customer_id) or manager
        if to:
            alert_moves.append((alert_id, to))
    uow.handover.add_assignments(
        [Assignment(None, "alert", a, leaver_id, to, _actor(job), _reason(job), now) for a, to in alert_moves]
    )
    uow.handover.set_alert_recipients(alert_moves)
    uow.handover.add_audit_entries(
        [
            AuditEntry(
                None,
                now,
                _actor(job),
                "customer.handover",
                "customer",
                str(customer.id),
                {"owner_id": leaver_id},
                {
                    "owner_id": rep.id if rep else None,
                    "deals": [d.id for d in deals.get(customer.id or 0, [])],
                    "job_id": job.id,
                },
            )
            for customer, rep, _, _ in moves
        ]
    )
    by_id = {str(c.id): (rep, deals.get(c.id or 0, [])) for c, rep, _, _ in moves}
    for item in items:
        if item.subject_id in by_id:
            rep, moved_deals = by_id[item.subject_id]
            item.state = ITEM_DONE
            item.result = {**item.result, "deals": len(moved_deals)}
            result.customers += 1
            result.deals += len(moved_deals)
        item.updated_at = now
    result.alerts = len(alert_moves)
    uow.jobs.update_items(items)
    _count(
        job, now, customers=result.customers, deals=result.deals, alerts=result.alerts, skipped=result.skipped
    )
    uow.jobs.update(job)
    return result


def move_deal_batch(uow: OffboardingUnitOfWork, job: Job, now: datetime, *, limit: int = 500) -> int:
    """Open deals of the leaver on customers someone else owns (planned as "deal" items)."""
    leaver_id = job.params["leaver"]
    items = uow.jobs.items(job.id or 0, "deal", states=(ITEM_PENDING,), limit=limit)
    changes: list[tuple[int, str | None]] = []
    for item in items:
        deal = uow.deals.get(int(item.subject_id))
        to = item.result.get("to")
        item.updated_at = now
        if deal is None or deal.owner_id != leaver_id or deal.status.value != "open":
            item.state, item.result = ITEM_DONE, {**item.result, "skipped": "负责人已变更"}
            continue
        uow.history.add_assignment(
            Assignment(None, "deal", deal.id or 0, leaver_id, to, _actor(job), _reason(job), now)
        )
        audit.record(
            uow,
            actor_id=_actor(job),
            action="deal.handover",
            subject_type="deal",
            subject_id=deal.id or 0,
            now=now,
            before={"owner_id": leaver_id},
            after={"owner_id": to, "job_id": job.id},
        )
        changes.append((deal.id or 0, to))
        item.state = ITEM_DONE
    uow.workload.set_deal_owners(changes, now)
    uow.jobs.update_items(items)
    _count(job, now, deals=len(changes))
    uow.jobs.update(job)
    return len(items)


@dataclass
class RestResult:
    alerts: int = 0
    approvals: list[int] = field(default_factory=list)  # ids now waiting on the manager
    done: bool = False


def move_rest(uow: OffboardingUnitOfWork, job: Job, now: datetime, *, limit: int = 2000) -> RestResult:
    """The leaver's other open alerts (to the successor, else the manager), then pending approvals
    waiting on the leaver (to the leaver's manager). Call until `done`."""
    leaver_id = job.params["leaver"]
    to = job.params.get("successor") or job.params.get("manager")
    result = RestResult()
    alerts = uow.handover.open_alerts(leaver_id, limit=limit) if to else []
    if alerts:
        uow.handover.add_assignments(
            [
                Assignment(None, "alert", a.id or 0, leaver_id, to, _actor(job), _reason(job), now)
                for a in alerts
            ]
        )
        uow.handover.set_alert_recipients([(a.id or 0, str(to)) for a in alerts])
        result.alerts = len(alerts)
        _count(job, now, alerts=len(alerts))
        uow.jobs.update(job)
        return result
    manager = job.params.get("manager")
    for approval in uow.handover.pending_approvals(leaver_id) if manager else []:
        uow.handover.set_approver(approval.id or 0, manager)
        audit.record(
            uow,
            actor_id=_actor(job),
            action="approval.reassign",
            subject_type="deal",
            subject_id=approval.deal_id,
            now=now,
            before={"approval_id": approval.id, "approver": leaver_id},
            after={"approval_id": approval.id, "approver": manager, "job_id": job.id},
        )
        result.approvals.append(approval.id or 0)
    _count(job, now, approvals=len(result.approvals))
    job.progress["phase"] = PHASE_REPORT
    uow.jobs.update(job)
    result.done = True
    return result


def _count(job: Job, now: datetime, **moved: int) -> None:
    counts = dict(job.progress.get("moved") or {})
    for key, n in moved.items():
        counts[key] = int(counts.get(key, 0)) + n
    job.progress["moved"] = counts
    job.updated_at = now


def advance_phase(uow: OffboardingUnitOfWork, job: Job, phase: str, now: datetime) -> None:
    job.progress["phase"] = phase
    job.updated_at = now
    uow.jobs.update(job)


# ---------------------------------------------------------------------------- the summary
@dataclass
class Summary:
    job: Job
    leaver: User | None
    manager: User | None
    per_owner: dict[str | None, list[int]]  # new owner (None = pool) → customer ids
    deals: int
    alerts: int
    approvals: int
    skipped: int
    failed: int
    wecom: Counter[str] = field(default_factory=Counter)  # outcome → contacts
    refused: list[tuple[str, int | None]] = field(default_factory=list)  # (external_userid, customer id)

    @property
    def moved(self) -> int:
        return sum(len(v) for k, v in self.per_owner.items() if k is not None)

    @property
    def to_pool(self) -> int:
        return len(self.per_owner.get(None, []))


def summary(uow: OffboardingUnitOfWork, job: Job) -> Summary:
    per_owner: dict[str | None, list[int]] = {}
    skipped = failed = 0
    after = 0
    while True:
        items = uow.jobs.items(job.id or 0, "customer", limit=5000, after_id=after)
        if not items:
            break
        after = items[-1].id or 0
        for item in items:
            if item.state == ITEM_FAILED:
                failed += 1
            elif item.result.get("skipped"):
                skipped += 1
            elif item.state == ITEM_DONE:
                per_owner.setdefault(item.result.get("to"), []).append(int(item.subject_id))
    wecom: Counter[str] = Counter()
    refused: list[tuple[str, int | None]] = []
    after = 0
    while True:
        items = uow.jobs.items(job.id or 0, "contact", limit=5000, after_id=after)
        if not items:
            break
        after = items[-1].id or 0
        for item in items:
            outcome = str(
                item.result.get("outcome") or ("waiting" if item.state == ITEM_WAITING else item.state)
            )
            wecom[outcome] += 1
            if item.state == ITEM_FAILED:
                refused.append((item.subject_id, item.result.get("customer_id")))
    moved = job.progress.get("moved") or {}
    manager_id = job.params.get("manager")
    return Summary(
        job,
        uow.users.get(job.params["leaver"]),
        uow.users.get(manager_id) if manager_id else None,
        per_owner,
        int(moved.get("deals", 0)),
        int(moved.get("alerts", 0)),
        int(moved.get("approvals", 0)),
        skipped,
        failed,
        wecom,
        refused,
    )


def top_deals(
    uow: OffboardingUnitOfWork, owner_id: str, customer_ids: Sequence[int], *, limit: int = 5
) -> list[Deal]:
    """The successor's biggest open deals among the customers they took over (by amount, then recency)."""
    wanted = set(customer_ids)
    deals = [d for d in uow.handover.open_deals_owned(owner_id) if d.customer_id in wanted]
    deals.sort(key=lambda d: (-(d.amount or 0), -(d.id or 0)))
    return deals[:limit]


# ---------------------------------------------------------------------------- WeCom 离职继承
def plan_contacts(uow: OffboardingUnitOfWork, job: Job, now: datetime) -> int:
    """One "contact" item per external contact of the moved customers, with its takeover userid."""
    users = {u.id: u for u in uow.users.list(include_offboarded=True)}
    added = 0
    after = 0
    while True:
        items = uow.jobs.items(job.id or 0, "customer", states=(ITEM_DONE,), limit=2000, after_id=after)
        if not items:
            break
        after = items[-1].id or 0
        owner = {int(i.subject_id): i.result.get("to") for i in items if not i.result.get("skipped")}
        contacts = []
        for customer_id, external in uow.handover.external_contacts(list(owner)):
            to = owner.get(customer_id)
            takeover = users[to].wecom_userid if to and to in users else None
            if takeover:
                contacts.append(
                    JobItem(
                        None,
                        job.id or 0,
                        "contact",
                        external,
                        ITEM_PENDING,
                        {"customer_id": customer_id, "to": to, "takeover": takeover},
                        now,
                    )
                )
            else:
                contacts.append(
                    JobItem(
                        None,
                        job.id or 0,
                        "contact",
                        external,
                        ITEM_FAILED,
                        {"customer_id": customer_id, "to": to, "outcome": "no_takeover"},
                        now,
                    )
                )
        added += uow.jobs.add_items(contacts)
    return added


def pending_contacts(uow: OffboardingUnitOfWork, job: Job, *, limit: int = 100) -> list[JobItem]:
    """The next contacts to start, all with the same takeover userid (one API call moves one pair)."""
    items = uow.jobs.items(job.id or 0, "contact", states=(ITEM_PENDING,), limit=limit * 5)
    if not items:
        return []
    takeover = items[0].result.get("takeover")
    return [i for i in items if i.result.get("takeover") == takeover][:limit]


def record_started(
    uow: OffboardingUnitOfWork, items: Sequence[JobItem], errcodes: dict[str, int], now: datetime
) -> None:
    for item in items:
        code = errcodes.get(item.subject_id, -1)
        item.updated_at = now
        if code == 0:
            item.state, item.result = ITEM_WAITING, {**item.result, "outcome": "waiting"}
        else:
            item.state, item.result = ITEM_FAILED, {**item.result, "outcome": "failed", "errcode": code}
    uow.jobs.update_items(items)


def waiting_pairs(uow: OffboardingUnitOfWork, job: Job) -> dict[str, list[JobItem]]:
    """takeover userid → contacts still waiting for WeCom's result."""
    out: dict[str, list[JobItem]] = {}
    after = 0
    while True:
        items = uow.jobs.items(job.id or 0, "contact", states=(ITEM_WAITING,), limit=5000, after_id=after)
        if not items:
            return out
        after = items[-1].id or 0
        for item in items:
            out.setdefault(str(item.result.get("takeover")), []).append(item)


def record_results(
    uow: OffboardingUnitOfWork, items: Sequence[JobItem], statuses: dict[str, int], now: datetime
) -> int:
    """Settle the waiting contacts WeCom answered for; returns how many are still waiting."""
    changed = []
    waiting = 0
    for item in items:
        status = statuses.get(item.subject_id, WECOM_WAITING)
        if status == WECOM_WAITING:
            waiting += 1
            continue
        outcome = {WECOM_DONE: "done", WECOM_REFUSED: "refused", WECOM_OVER_LIMIT: "over_limit"}.get(
            status, "failed"
        )
        item.state = ITEM_DONE if status == WECOM_DONE else ITEM_FAILED
        item.result = {**item.result, "outcome": outcome, "status": status}
        item.updated_at = now
        changed.append(item)
    uow.jobs.update_items(changed)
    return waiting


def progress_line(job: Job, counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    """Done / total per kind of item, for `crmbot jobs` and the cards."""
    out: dict[str, Any] = {}
    for (kind, state), n in counts.items():
        entry = out.setdefault(kind, {"total": 0})
        entry["total"] += n
        entry[state] = entry.get(state, 0) + n
    return out


# ---------------------------------------------------------------------------- one step of the job
@dataclass
class StepOutcome:
    phase: str  # the phase the step worked on
    count: int = 0  # what it moved
    approvals: list[int] = field(default_factory=list)  # approvals now waiting on the manager (notify them)


def step(
    uow: OffboardingUnitOfWork,
    job: Job,
    now: datetime,
    *,
    today: date,
    config: AssignmentConfig,
    batch: int = 500,
) -> StepOutcome:
    """One transaction's worth of the database phases (plan, move, rest). The caller commits."""
    phase = job.phase
    if job.state == PENDING:
        job.state = "running"
    if phase == PHASE_PLAN:
        return StepOutcome(phase, plan_items(uow, job, now, today=today, config=config))
    if phase == PHASE_MOVE:
        moved = move_batch(uow, job, now, limit=batch)
        if moved.customers or moved.skipped:
            return StepOutcome(phase, moved.customers)
        deals = move_deal_batch(uow, job, now, limit=batch)
        if not deals:
            advance_phase(uow, job, PHASE_REST, now)
        return StepOutcome(phase, deals)
    if phase == PHASE_REST:
        rest = move_rest(uow, job, now, limit=batch * 4)
        return StepOutcome(phase, rest.alerts + len(rest.approvals), rest.approvals)
    return StepOutcome(phase)
