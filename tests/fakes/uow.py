"""An in-memory unit of work implementing core's ports, for fast use-case tests."""

from __future__ import annotations

import copy
import itertools
from datetime import datetime
from typing import Any

from core.model import (
    Alert,
    Assignment,
    AuditEntry,
    CallLog,
    Contact,
    Customer,
    Deal,
    FollowUp,
    MergeLink,
    StageChange,
    User,
    UserStatus,
)


class _Ids:
    def __init__(self) -> None:
        self._c = itertools.count(1)

    def next(self) -> int:
        return next(self._c)


class FakeUsers:
    def __init__(self) -> None:
        self.rows: dict[str, User] = {}

    def get(self, user_id: str) -> User | None:
        return copy.deepcopy(self.rows.get(user_id))

    def by_platform_id(self, channel: str, platform_id: str) -> User | None:
        attr = {"wecom": "wecom_userid", "dingtalk": "dingtalk_staffid"}.get(channel, "id")
        return next((copy.deepcopy(u) for u in self.rows.values() if getattr(u, attr) == platform_id), None)

    def find_by_name(self, name: str) -> list[User]:
        return [copy.deepcopy(u) for u in self.rows.values() if name in (u.name, u.id)]

    def list(self, *, team: str | None = None, include_offboarded: bool = False) -> list[User]:
        return [copy.deepcopy(u) for u in sorted(self.rows.values(), key=lambda u: u.id)
                if (team is None or u.team == team) and (include_offboarded or u.status != UserStatus.OFFBOARDED)]

    def save(self, user: User) -> None:
        self.rows[user.id] = copy.deepcopy(user)


class FakeCustomers:
    def __init__(self, ids: _Ids) -> None:
        self.rows: dict[int, Customer] = {}
        self.contacts: dict[int, Contact] = {}
        self.ids = ids

    def _full(self, c: Customer) -> Customer:
        out = copy.deepcopy(c)
        out.contacts = [copy.deepcopy(x) for x in self.contacts.values() if x.customer_id == c.id]
        return out

    def get(self, customer_id: int) -> Customer | None:
        c = self.rows.get(customer_id)
        return self._full(c) if c else None

    def add(self, customer: Customer) -> Customer:
        customer.id = self.ids.next()
        self.rows[customer.id] = copy.deepcopy(customer)
        return customer

    def update(self, customer: Customer) -> None:
        assert customer.id in self.rows
        self.rows[customer.id] = copy.deepcopy(customer)

    def add_contact(self, contact: Contact) -> Contact:
        contact.id = self.ids.next()
        self.contacts[contact.id] = copy.deepcopy(contact)
        return contact

    def update_contact(self, contact: Contact) -> None:
        assert contact.id in self.contacts
        self.contacts[contact.id] = copy.deepcopy(contact)

    def by_phone(self, phone_norm: str) -> list[Customer]:
        ids = sorted({x.customer_id for x in self.contacts.values() if x.phone_norm == phone_norm})
        return [self._full(self.rows[i]) for i in ids if i is not None]

    def by_name_key(self, name_key: str) -> list[Customer]:
        return [self._full(c) for c in self.rows.values() if c.name_key == name_key]

    def by_name(self, name: str) -> list[Customer]:
        return [self._full(c) for c in self.rows.values() if c.name == name]

    def search(self, keyword: str, *, limit: int = 20) -> list[Customer]:
        hits = {c.id for c in self.rows.values() if keyword in c.name or keyword in c.name_key}
        hits |= {x.customer_id for x in self.contacts.values() if keyword in x.name}
        return [self._full(self.rows[i]) for i in sorted(h for h in hits if h is not None)][:limit]

    def count(self) -> int:
        return len(self.rows)

    def known_names(self, limit: int = 200_000) -> tuple[list[str], list[str]]:
        return [c.name for c in self.rows.values()], [x.name for x in self.contacts.values() if x.name]


class FakeDeals:
    def __init__(self, ids: _Ids) -> None:
        self.rows: dict[int, Deal] = {}
        self.ids = ids

    def get(self, deal_id: int) -> Deal | None:
        return copy.deepcopy(self.rows.get(deal_id))

    def add(self, deal: Deal) -> Deal:
        deal.id = self.ids.next()
        self.rows[deal.id] = copy.deepcopy(deal)
        return deal

    def update(self, deal: Deal) -> None:
        assert deal.id in self.rows
        self.rows[deal.id] = copy.deepcopy(deal)

    def for_customer(self, customer_id: int, *, open_only: bool = False) -> list[Deal]:
        return [copy.deepcopy(d) for d in self.rows.values()
                if d.customer_id == customer_id and (not open_only or d.status == "open")]


class FakeFollowUps:
    def __init__(self, ids: _Ids) -> None:
        self.rows: dict[int, FollowUp] = {}
        self.ids = ids

    def add(self, followup: FollowUp) -> FollowUp:
        followup.id = self.ids.next()
        self.rows[followup.id] = copy.deepcopy(followup)
        return followup

    def get(self, followup_id: int) -> FollowUp | None:
        return copy.deepcopy(self.rows.get(followup_id))

    def update(self, followup: FollowUp) -> None:
        assert followup.id in self.rows
        self.rows[followup.id] = copy.deepcopy(followup)

    def by_call_id(self, call_id: str) -> FollowUp | None:
        return next((copy.deepcopy(f) for f in self.rows.values() if f.call_id == call_id), None)

    def for_customer(self, customer_id: int, *, limit: int = 20) -> list[FollowUp]:
        rows = [f for f in self.rows.values() if f.customer_id == customer_id]
        return copy.deepcopy(sorted(rows, key=lambda f: f.occurred_at, reverse=True)[:limit])

    def for_deal(self, deal_id: int, *, limit: int = 20) -> list[FollowUp]:
        rows = [f for f in self.rows.values() if f.deal_id == deal_id]
        return copy.deepcopy(sorted(rows, key=lambda f: f.occurred_at, reverse=True)[:limit])


class FakeHistory:
    def __init__(self, ids: _Ids) -> None:
        self.stage: list[StageChange] = []
        self.assign: list[Assignment] = []
        self.audit_log: list[AuditEntry] = []
        self.ids = ids

    def add_stage_change(self, change: StageChange) -> StageChange:
        change.id = self.ids.next()
        self.stage.append(copy.deepcopy(change))
        return change

    def stage_changes(self, deal_id: int) -> list[StageChange]:
        return [copy.deepcopy(c) for c in self.stage if c.deal_id == deal_id]

    def add_assignment(self, assignment: Assignment) -> Assignment:
        assignment.id = self.ids.next()
        self.assign.append(copy.deepcopy(assignment))
        return assignment

    def assignments(self, subject_type: str, subject_id: int) -> list[Assignment]:
        return [copy.deepcopy(a) for a in self.assign if (a.subject_type, a.subject_id) == (subject_type, subject_id)]

    def add_audit(self, entry: AuditEntry) -> AuditEntry:
        entry.id = self.ids.next()
        self.audit_log.append(copy.deepcopy(entry))
        return entry

    def audit(self, *, subject_type: str | None = None, subject_id: str | None = None,
              actor_id: str | None = None, since: datetime | None = None, limit: int = 200) -> list[AuditEntry]:
        rows = [e for e in reversed(self.audit_log)
                if (subject_type is None or e.subject_type == subject_type)
                and (subject_id is None or e.subject_id == subject_id)
                and (actor_id is None or e.actor_id == actor_id) and (since is None or e.at >= since)]
        return copy.deepcopy(rows[:limit])


class FakeMerges:
    def __init__(self, ids: _Ids) -> None:
        self.rows: dict[int, MergeLink] = {}
        self.ids = ids

    def add(self, link: MergeLink) -> MergeLink:
        link.id = self.ids.next()
        self.rows[link.id] = copy.deepcopy(link)
        return link

    def get(self, link_id: int) -> MergeLink | None:
        return copy.deepcopy(self.rows.get(link_id))

    def latest_for_loser(self, loser_id: int) -> MergeLink | None:
        rows = [m for m in self.rows.values() if m.loser_id == loser_id]
        return copy.deepcopy(rows[-1]) if rows else None

    def mark_undone(self, link: MergeLink) -> None:
        self.rows[link.id or 0] = copy.deepcopy(link)


class FakeAlerts:
    def __init__(self, ids: _Ids) -> None:
        self.rows: dict[int, Alert] = {}
        self.ids = ids

    def add_if_absent(self, alert: Alert) -> Alert | None:
        if any(a.ledger_key == alert.ledger_key for a in self.rows.values()):
            return None
        alert.id = self.ids.next()
        self.rows[alert.id] = copy.deepcopy(alert)
        return alert

    def get(self, alert_id: int) -> Alert | None:
        return copy.deepcopy(self.rows.get(alert_id))

    def update(self, alert: Alert) -> None:
        self.rows[alert.id or 0] = copy.deepcopy(alert)

    def open_for_subject(self, subject_type: str, subject_id: int) -> list[Alert]:
        return [copy.deepcopy(a) for a in self.rows.values()
                if (a.subject_type, a.subject_id, a.state) == (subject_type, subject_id, "open")]


class FakeCalls:
    def __init__(self, ids: _Ids) -> None:
        self.rows: dict[int, CallLog] = {}
        self.ids = ids

    def add(self, call: CallLog) -> CallLog:
        call.id = self.ids.next()
        self.rows[call.id] = copy.deepcopy(call)
        return call

    def get(self, call_log_id: int) -> CallLog | None:
        return copy.deepcopy(self.rows.get(call_log_id))

    def by_call_id(self, call_id: str) -> CallLog | None:
        return next((copy.deepcopy(c) for c in self.rows.values() if c.call_id == call_id), None)

    def update(self, call: CallLog) -> None:
        self.rows[call.id or 0] = copy.deepcopy(call)


class FakeUnitOfWork:
    def __init__(self) -> None:
        ids = _Ids()
        self.users = FakeUsers()
        self.customers = FakeCustomers(ids)
        self.deals = FakeDeals(ids)
        self.followups = FakeFollowUps(ids)
        self.history = FakeHistory(ids)
        self.merges = FakeMerges(ids)
        self.alerts = FakeAlerts(ids)
        self.calls = FakeCalls(ids)
        self.approvals, self.evidence, self.workload = FakeApprovals(ids), FakeEvidence(ids), FakeWorkload(self)
        self.committed = 0

    def __enter__(self) -> FakeUnitOfWork:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def commit(self) -> None:
        self.committed += 1

    def rollback(self) -> None:
        return None


# ---------------------------------------------------------------- stage rules and assignment
class FakeApprovals:
    def __init__(self, ids: _Ids) -> None:
        self.rows: dict[int, Any] = {}
        self.ids = ids

    def add(self, approval: Any) -> Any:
        approval.id = self.ids.next()
        self.rows[approval.id] = copy.deepcopy(approval)
        return approval

    def get(self, approval_id: int, *, lock: bool = False) -> Any:
        return copy.deepcopy(self.rows.get(approval_id))

    def update(self, approval: Any) -> None:
        self.rows[approval.id] = copy.deepcopy(approval)

    def pending_for_deal(self, deal_id: int) -> list[Any]:
        return [copy.deepcopy(a) for a in self.rows.values() if a.deal_id == deal_id and a.state == "pending"]


class FakeEvidence:
    def __init__(self, ids: _Ids) -> None:
        self.rows: list[Any] = []
        self.ids = ids

    def add(self, evidence: Any) -> Any:
        evidence.id = self.ids.next()
        self.rows.append(copy.deepcopy(evidence))
        return evidence

    def for_deal(self, deal_id: int) -> list[Any]:
        return [copy.deepcopy(e) for e in self.rows if e.deal_id == deal_id]


class FakeWorkload:
    """Loads computed from the fake customers, like the SQL GROUP BY; locking is a no-op in memory."""

    def __init__(self, uow: FakeUnitOfWork) -> None:
        self.uow = uow
        self.locked: list[list[str]] = []

    def lock_reps(self, user_ids: Any) -> list[User]:
        ids = sorted(set(user_ids))
        self.locked.append(ids)
        return [u for u in (self.uow.users.get(i) for i in ids) if u is not None]

    def loads(self, user_ids: Any, since: datetime) -> dict[str, Any]:
        from core.assignment import RepLoad

        out: dict[str, Any] = {}
        for c in self.uow.customers.rows.values():
            if c.owner_id not in user_ids:
                continue
            prev = out.get(c.owner_id, RepLoad())
            new = int(c.lead_state == "new" and c.status == "active")
            handed = int(c.assigned_at is not None and c.assigned_at >= since and c.created_by != c.owner_id)
            last = max((t for t in (prev.last_assigned_at, c.assigned_at) if t is not None), default=None)
            out[c.owner_id] = RepLoad(prev.new_leads + new, prev.received_today + handed, last)
        return out

    def pool(self, team: str | None, *, limit: int = 20) -> list[Customer]:
        rows = [c for c in self.uow.customers.rows.values() if c.owner_id is None and c.status == "active"
                and (team is None or c.team in (team, None))]
        return [self.uow.customers._full(c) for c in rows[:limit]]

    def open_deals(self, customer_ids: Any) -> dict[int, list[Deal]]:
        out: dict[int, list[Deal]] = {}
        for d in self.uow.deals.rows.values():
            if d.customer_id in customer_ids and d.status == "open":
                out.setdefault(d.customer_id, []).append(copy.deepcopy(d))
        return out

    def set_owners(self, customers: Any, now: datetime) -> None:
        for c in customers:
            row = self.uow.customers.rows[c.id]
            row.owner_id, row.team, row.assigned_at, row.updated_at = c.owner_id, c.team, c.assigned_at, now

    def set_deal_owners(self, changes: Any, now: datetime) -> None:
        for deal_id, owner in changes:
            self.uow.deals.rows[deal_id].owner_id = owner
            self.uow.deals.rows[deal_id].updated_at = now
