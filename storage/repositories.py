"""Repositories: map rows to core entities at the boundary (core never sees SQLAlchemy)."""

from __future__ import annotations

from collections import namedtuple
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from core.model import (
    Alert,
    Assignment,
    AuditEntry,
    Conclusion,
    Contact,
    Customer,
    CustomerStatus,
    Deal,
    DealStatus,
    FollowUp,
    FollowUpSource,
    MergeLink,
    Method,
    NextAction,
    Role,
    StageChange,
    User,
    UserStatus,
)
from storage.models import (
    AlertRow,
    AssignmentRow,
    AuditRow,
    CallLogRow,
    ContactRow,
    CustomerRow,
    DealRow,
    DialogRow,
    EvidenceFileRow,
    FollowUpRow,
    MergeLinkRow,
    StageChangeRow,
    UserRow,
)
from storage.prepared import Prepared


def _copy(src: Any, dst: Any, names: tuple[str, ...]) -> None:
    for name in names:
        setattr(dst, name, getattr(src, name))


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# session.info keys for what a transaction holds beside the ORM identity map (dropped by the
# listeners in storage/uow.py when the transaction or savepoint ends)
CORE_CONN = "core_conn"  # the transaction's connection
CUSTOMER_ROWS = "customer_rows"  # customer id -> row read with Core (also dropped on any flush or bulk UPDATE)
DEAL_ROWS = "deal_rows"  # deal id -> column values as this transaction last read or wrote them
DEAL_LISTS = "deal_lists"  # (customer id, open only) -> deal rows read with Core (dropped like CUSTOMER_ROWS)
DIALOG_ROWS = "dialog_rows"  # user id -> the dialog row read with the user (None: none), see SqlDialogs.get


def core_conn(session: Session) -> Connection:
    """The session's connection, in its transaction, for the hot path's Core statements.

    An ORM query costs 3-5x a Core one (result mapping, identity map, statement rebuilt per call);
    the statements below are built once with bind parameters, so their compiled form is cached.
    Core bypasses autoflush, so pending ORM changes are flushed first: reads see them and inserts
    keep their order (the set checks are O(pending), nearly free when nothing is pending).
    """
    if session.new or session.dirty or session.deleted:
        session.flush()
    conn: Connection | None = session.info.get(CORE_CONN)
    if conn is None or not conn.in_transaction():
        conn = session.info[CORE_CONN] = session.connection()
    return conn


def _expire_loaded(session: Session, model: type, pk: Any) -> None:
    """A Core UPDATE bypasses an ORM object of that row loaded in this session: expire it."""
    obj = session.identity_map.get(identity_key(model, pk))
    if obj is not None:
        session.expire(obj)


# ---------------------------------------------------------------- users
def user_from_row(row: UserRow) -> User:
    return User(
        id=row.id,
        name=row.name,
        roles=frozenset(Role(r) for r in row.roles or []),
        team=row.team,
        manager_id=row.manager_id,
        regions=tuple(row.regions or ()),
        products=tuple(row.products or ()),
        capacity=row.capacity,
        status=UserStatus(row.status),
        leave_until=row.leave_until,
        wecom_userid=row.wecom_userid,
        dingtalk_staffid=row.dingtalk_staffid,
    )


_USERS, _DIALOGS = UserRow.__table__, DialogRow.__table__
# the sender's open dialog comes with the sender (asked for every message): one query, not two
_USER_BY_PLATFORM = {
    column: Prepared(select(_USERS, *[c.label(f"d_{c.name}") for c in _DIALOGS.c])
    .outerjoin(_DIALOGS, _DIALOGS.c.user_id == _USERS.c.id)
    .where(_USERS.c[column] == bindparam("b_pid")))
    for column in ("id", "wecom_userid", "dingtalk_staffid")
}
_DIALOG_COLUMNS = tuple(c.name for c in _DIALOGS.c)
_DialogValues = namedtuple("_DialogValues", _DIALOG_COLUMNS)  # type: ignore[misc]  # a Row's attributes
_PLATFORM_COLUMN = {"wecom": "wecom_userid", "dingtalk": "dingtalk_staffid"}


class SqlUserRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def get(self, user_id: str) -> User | None:
        row = self.s.get(UserRow, user_id)
        return user_from_row(row) if row else None

    def by_platform_id(self, channel: str, platform_id: str) -> User | None:
        stmt = _USER_BY_PLATFORM[_PLATFORM_COLUMN.get(channel, "id")]
        row = stmt.first(core_conn(self.s), {"b_pid": platform_id})
        if row is None:
            return None
        # kept for SqlDialogs.get in this transaction (None: no open dialog); put/clear drop it
        dialog = _DialogValues(*(getattr(row, f"d_{n}") for n in _DIALOG_COLUMNS)) if row.d_user_id else None
        self.s.info.setdefault(DIALOG_ROWS, {})[row.id] = dialog
        return user_from_row(row)  # type: ignore[arg-type]  # a Row has the same attributes

    def find_by_name(self, name: str) -> list[User]:
        rows = self.s.scalars(select(UserRow).where(or_(UserRow.name == name, UserRow.id == name))).all()
        return [user_from_row(r) for r in rows]

    def list(self, *, team: str | None = None, include_offboarded: bool = False) -> list[User]:
        q = select(UserRow).order_by(UserRow.id)
        if team is not None:
            q = q.where(UserRow.team == team)
        if not include_offboarded:
            q = q.where(UserRow.status != UserStatus.OFFBOARDED.value)
        return [user_from_row(r) for r in self.s.scalars(q)]

    def save(self, user: User) -> None:
        row = self.s.get(UserRow, user.id) or UserRow(id=user.id)
        row.name = user.name
        row.roles = sorted(r.value for r in user.roles)
        row.team = user.team
        row.manager_id = user.manager_id
        row.regions = list(user.regions)
        row.products = list(user.products)
        row.capacity = user.capacity
        row.status = user.status.value
        row.leave_until = user.leave_until
        row.wecom_userid = user.wecom_userid
        row.dingtalk_staffid = user.dingtalk_staffid
        self.s.add(row)
        self.s.flush()


# ---------------------------------------------------------------- customers
_CUSTOMER_FIELDS = ("name", "name_key", "owner_id", "team", "region", "invalid_reason", "merged_into", "source",
                    "created_by", "assigned_at", "lead_state", "created_at", "updated_at")
_CONTACT_FIELDS = ("customer_id", "name", "title", "phone", "phone_norm", "email", "external_userid", "created_at")


_CUSTOMERS, _CONTACTS = CustomerRow.__table__, ContactRow.__table__
_CUSTOMER_BY_ID = Prepared(select(_CUSTOMERS).where(_CUSTOMERS.c.id == bindparam("b_id")))
# a customer looked up by name comes with its contacts (the entity carries them): one query, not 1 + n
_CUSTOMERS_BY_NAME = Prepared(select(_CUSTOMERS, *[c.label(f"k_{c.name}") for c in _CONTACTS.c])
                      .outerjoin(_CONTACTS, _CONTACTS.c.customer_id == _CUSTOMERS.c.id)
                      .where(_CUSTOMERS.c.name == bindparam("b_name")).order_by(_CUSTOMERS.c.id, _CONTACTS.c.id))
_CONTACT_COLUMNS = tuple(c.name for c in _CONTACTS.c)
_ContactValues = namedtuple("_ContactValues", _CONTACT_COLUMNS)  # type: ignore[misc]  # a Row's attributes
_CONTACTS_OF = Prepared(
    select(_CONTACTS).where(_CONTACTS.c.customer_id == bindparam("b_customer")).order_by(_CONTACTS.c.id))


def contact_from_row(row: ContactRow) -> Contact:
    return Contact(id=row.id, customer_id=row.customer_id, name=row.name, phone=row.phone,
                   phone_norm=row.phone_norm, email=row.email, title=row.title,
                   external_userid=row.external_userid, created_at=row.created_at)


class SqlCustomerRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def _contacts(self, customer_id: int) -> list[ContactRow]:
        # within one transaction a customer's contacts are read once; writes here refresh the cache
        cache: dict[int, list[ContactRow]] = self.s.info.setdefault("contacts_by_customer", {})
        if customer_id not in cache:
            # Core rows carry the same attribute names as ContactRow; contact_from_row maps either
            cache[customer_id] = _CONTACTS_OF.all(core_conn(self.s), {"b_customer": customer_id})
        return cache[customer_id]

    def _forget(self, customer_id: int | None = None) -> None:
        cache = self.s.info.setdefault("contacts_by_customer", {})
        if customer_id is None:
            cache.clear()
        else:
            cache.pop(customer_id, None)

    def _entity(self, row: Any, contacts: list[ContactRow] | None = None) -> Customer:
        """From a CustomerRow or a Core row of the customers table (same attribute names)."""
        if contacts is None:
            contacts = self._contacts(row.id)
        customer = Customer(id=row.id, name=row.name, name_key=row.name_key, owner_id=row.owner_id,
                            status=CustomerStatus(row.status))
        _copy(row, customer, _CUSTOMER_FIELDS)
        customer.contacts = [contact_from_row(c) for c in contacts]
        return customer

    def get(self, customer_id: int) -> Customer | None:
        loaded = self.s.identity_map.get(identity_key(CustomerRow, customer_id))
        if loaded is not None:
            return self._entity(loaded)  # loaded as an ORM object in this transaction (as Session.get would)
        row = self.s.info.get(CUSTOMER_ROWS, {}).get(customer_id)  # e.g. just found by name
        if row is None:
            row = _CUSTOMER_BY_ID.first(core_conn(self.s), {"b_id": customer_id})
            if row is None:
                return None
            self._remember([row])
        return self._entity(row)

    def _remember(self, rows: Any) -> None:
        cache = self.s.info.setdefault(CUSTOMER_ROWS, {})
        for row in rows:
            cache[row.id] = row

    def add(self, customer: Customer) -> Customer:
        row = CustomerRow(status=customer.status.value)
        _copy(customer, row, _CUSTOMER_FIELDS)
        self.s.add(row)
        self.s.flush()
        customer.id = row.id
        return customer

    def update(self, customer: Customer) -> None:
        self.s.info.pop(CUSTOMER_ROWS, None)
        row = self.s.get(CustomerRow, customer.id)
        if row is None:
            raise LookupError(f"customer {customer.id} vanished")
        _copy(customer, row, _CUSTOMER_FIELDS)
        row.status = customer.status.value
        self.s.flush()

    def add_contact(self, contact: Contact) -> Contact:
        row = ContactRow()
        _copy(contact, row, _CONTACT_FIELDS)
        self.s.add(row)
        self.s.flush()
        self._forget(contact.customer_id)
        contact.id = row.id
        return contact

    def update_contact(self, contact: Contact) -> None:
        row = self.s.get(ContactRow, contact.id)
        if row is None:
            raise LookupError(f"contact {contact.id} vanished")
        self._forget(row.customer_id)
        _copy(contact, row, _CONTACT_FIELDS)
        self._forget(contact.customer_id)
        self.s.flush()

    def _many(self, ids: list[int]) -> list[Customer]:
        if not ids:
            return []
        rows = self.s.scalars(select(CustomerRow).where(CustomerRow.id.in_(ids)).order_by(CustomerRow.id)).all()
        contacts: dict[int, list[ContactRow]] = {i: [] for i in ids}
        for c in self.s.scalars(select(ContactRow).where(ContactRow.customer_id.in_(ids)).order_by(ContactRow.id)):
            contacts[c.customer_id].append(c)
        self.s.info.setdefault("contacts_by_customer", {}).update(contacts)
        return [self._entity(r, contacts[r.id]) for r in rows]

    def by_phone(self, phone_norm: str) -> list[Customer]:
        ids = self.s.scalars(select(ContactRow.customer_id).where(ContactRow.phone_norm == phone_norm)).all()
        return self._many(sorted(set(ids)))

    def by_name_key(self, name_key: str) -> list[Customer]:
        ids = self.s.scalars(select(CustomerRow.id).where(CustomerRow.name_key == name_key)).all()
        return self._many(list(ids))

    def by_name(self, name: str) -> list[Customer]:
        customers: dict[int, Any] = {}
        contacts: dict[int, list[Any]] = {}
        for row in _CUSTOMERS_BY_NAME.all(core_conn(self.s), {"b_name": name}):
            if row.id not in customers:
                customers[row.id], contacts[row.id] = row, []
            if row.k_id is not None:
                contacts[row.id].append(_ContactValues(*(getattr(row, f"k_{n}") for n in _CONTACT_COLUMNS)))
        self._remember(customers.values())
        self.s.info.setdefault("contacts_by_customer", {}).update(contacts)
        return [self._entity(r, contacts[i]) for i, r in customers.items()]

    def search(self, keyword: str, *, limit: int = 20) -> list[Customer]:
        pattern = f"%{_like_escape(keyword)}%"
        by_customer = select(CustomerRow.id).where(
            or_(CustomerRow.name.like(pattern, escape="\\"), CustomerRow.name_key.like(pattern, escape="\\")))
        by_contact = select(ContactRow.customer_id).where(ContactRow.name.like(pattern, escape="\\"))
        ids = set(self.s.scalars(by_customer.limit(limit)).all()) | set(self.s.scalars(by_contact.limit(limit)).all())
        return self._many(sorted(ids))[:limit]

    def count(self) -> int:
        return int(self.s.scalar(select(func.count()).select_from(CustomerRow)) or 0)

    def known_names(self, limit: int = 200_000) -> tuple[list[str], list[str]]:
        """Names of active customers and their contacts (full names only: titles like 张总 are not names)."""
        companies = list(self.s.scalars(select(CustomerRow.name).where(CustomerRow.status == "active").limit(limit)))
        contacts = [n for n in self.s.scalars(select(ContactRow.name).distinct().limit(limit)) if n]
        return companies, contacts


# ---------------------------------------------------------------- deals
_DEAL_FIELDS = ("customer_id", "owner_id", "title", "stage", "amount", "products", "payment_terms", "competitor",
                "lost_reason", "stage_entered_at", "last_followup_at", "next_followup_on", "close_date",
                "created_at", "updated_at")


_DEALS = DealRow.__table__
_DEAL_BY_ID = Prepared(select(_DEALS).where(_DEALS.c.id == bindparam("b_id")))
_DEALS_OF = Prepared(select(_DEALS).where(_DEALS.c.customer_id == bindparam("b_customer")).order_by(_DEALS.c.id))
_OPEN_DEALS_OF = Prepared(select(_DEALS).where(_DEALS.c.customer_id == bindparam("b_customer"), _DEALS.c.status == "open")
                  .order_by(_DEALS.c.id))
_DEAL_UPDATE = Prepared(update(_DEALS).where(_DEALS.c.id == bindparam("b_id")))


def deal_from_row(row: DealRow) -> Deal:
    deal = Deal(id=row.id, customer_id=row.customer_id, owner_id=row.owner_id, title=row.title, stage=row.stage,
                status=DealStatus(row.status), pain_points=list(row.pain_points or []))
    _copy(row, deal, _DEAL_FIELDS)
    return deal


def _deal_values(deal: Deal) -> dict[str, Any]:
    values = {name: getattr(deal, name) for name in _DEAL_FIELDS}
    values["status"] = deal.status.value
    values["pain_points"] = list(deal.pain_points)
    return values


class SqlDealRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def _read(self, stmt: Any, params: dict[str, Any], rows: Any = None) -> list[Deal]:
        """Deals read with Core; their values are kept so update() writes only what changed."""
        seen = self.s.info.setdefault(DEAL_ROWS, {})
        deals = []
        for row in stmt.all(core_conn(self.s), params) if rows is None else rows:
            deal = deal_from_row(row)  # type: ignore[arg-type]  # a Row has the same attributes
            seen[deal.id] = _deal_values(deal)
            deals.append(deal)
        return deals

    def get(self, deal_id: int) -> Deal | None:
        loaded = self.s.identity_map.get(identity_key(DealRow, deal_id))
        if loaded is not None:
            return deal_from_row(loaded)  # loaded as an ORM object in this transaction (as Session.get would)
        deals = self._read(_DEAL_BY_ID, {"b_id": deal_id})
        return deals[0] if deals else None

    def add(self, deal: Deal) -> Deal:
        row = DealRow(status=deal.status.value, pain_points=list(deal.pain_points))
        _copy(deal, row, _DEAL_FIELDS)
        self.s.add(row)
        self.s.flush()
        deal.id = row.id
        return deal

    def update(self, deal: Deal) -> None:
        seen = self.s.info.get(DEAL_ROWS, {}).get(deal.id)
        if seen is None:  # not read through this repository in this transaction: the ORM way
            self.s.info.pop(DEAL_LISTS, None)
            row = self.s.get(DealRow, deal.id)
            if row is None:
                raise LookupError(f"deal {deal.id} vanished")
            _copy(deal, row, _DEAL_FIELDS)
            row.status = deal.status.value
            row.pain_points = list(deal.pain_points)
            self.s.flush()
            return
        # one Core UPDATE of the columns that changed since this transaction read the row (as the
        # ORM would write): a concurrent change to another column is not overwritten
        values = _deal_values(deal)
        changes = {k: v for k, v in values.items() if seen.get(k) != v}
        if not changes:
            return
        self.s.info.pop(DEAL_LISTS, None)
        if not _DEAL_UPDATE.execute(core_conn(self.s), {"b_id": deal.id, **changes}):
            raise LookupError(f"deal {deal.id} vanished")
        seen.update(changes)
        _expire_loaded(self.s, DealRow, deal.id)

    def for_customer(self, customer_id: int, *, open_only: bool = False) -> list[Deal]:
        # asked twice per follow-up (the handler, then the use case): the second time from memory
        cache = self.s.info.setdefault(DEAL_LISTS, {})
        rows = cache.get((customer_id, open_only))
        if rows is None:
            stmt = _OPEN_DEALS_OF if open_only else _DEALS_OF
            rows = cache[(customer_id, open_only)] = stmt.all(core_conn(self.s), {"b_customer": customer_id})
        return self._read(None, {}, rows)


# ---------------------------------------------------------------- follow-ups
_FOLLOWUP_FIELDS = ("customer_id", "deal_id", "contact_id", "user_id", "occurred_at", "next_followup_on",
                    "stage_hint", "amount", "raw_text", "call_id", "effective", "status", "created_at")


_FOLLOWUP_INSERT = Prepared(insert(FollowUpRow.__table__).returning(FollowUpRow.__table__.c.id))
_AUDIT_INSERT = Prepared(insert(AuditRow.__table__))


def followup_from_row(row: FollowUpRow) -> FollowUp:
    f = FollowUp(
        id=row.id, customer_id=row.customer_id, user_id=row.user_id, occurred_at=row.occurred_at,
        method=Method(row.method) if row.method else None, source=FollowUpSource(row.source),
        conclusion=Conclusion(row.conclusion) if row.conclusion else None,
        next_action=NextAction(row.next_action) if row.next_action else None,
        pain_points=list(row.pain_points or []), extracted=dict(row.extracted or {}),
    )
    _copy(row, f, _FOLLOWUP_FIELDS)
    return f


class SqlFollowUpRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, followup: FollowUp) -> FollowUp:
        values = {name: getattr(followup, name) for name in _FOLLOWUP_FIELDS}
        values.update(
            method=followup.method.value if followup.method else None,
            source=followup.source.value,
            conclusion=followup.conclusion.value if followup.conclusion else None,
            next_action=followup.next_action.value if followup.next_action else None,
            pain_points=list(followup.pain_points),
            extracted=dict(followup.extracted),
        )
        # a Core insert on the session's connection: the ORM unit of work costs more than the row
        followup.id = _FOLLOWUP_INSERT.insert(core_conn(self.s), values)
        return followup

    def by_call_id(self, call_id: str) -> FollowUp | None:
        row = self.s.scalars(select(FollowUpRow).where(FollowUpRow.call_id == call_id)).first()
        return followup_from_row(row) if row else None

    def get(self, followup_id: int) -> FollowUp | None:
        row = self.s.get(FollowUpRow, followup_id)
        return followup_from_row(row) if row else None

    def update(self, followup: FollowUp) -> None:
        row = self.s.get(FollowUpRow, followup.id)
        if row is None:
            raise LookupError(f"follow-up {followup.id} vanished")
        _copy(followup, row, _FOLLOWUP_FIELDS)
        row.method = followup.method.value if followup.method else None
        row.conclusion = followup.conclusion.value if followup.conclusion else None
        row.next_action = followup.next_action.value if followup.next_action else None
        row.pain_points = list(followup.pain_points)
        row.extracted = dict(followup.extracted)
        self.s.flush()

    def for_customer(self, customer_id: int, *, limit: int = 20) -> list[FollowUp]:
        q = (select(FollowUpRow).where(FollowUpRow.customer_id == customer_id)
             .order_by(FollowUpRow.occurred_at.desc(), FollowUpRow.id.desc()).limit(limit))
        return [followup_from_row(r) for r in self.s.scalars(q)]

    def for_deal(self, deal_id: int, *, limit: int = 20) -> list[FollowUp]:
        q = (select(FollowUpRow).where(FollowUpRow.deal_id == deal_id)
             .order_by(FollowUpRow.occurred_at.desc(), FollowUpRow.id.desc()).limit(limit))
        return [followup_from_row(r) for r in self.s.scalars(q)]


# ---------------------------------------------------------------- histories (append-only)
class SqlHistoryRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add_stage_change(self, change: StageChange) -> StageChange:
        row = StageChangeRow(deal_id=change.deal_id, from_stage=change.from_stage, to_stage=change.to_stage,
                             kind=change.kind, actor_id=change.actor_id, at=change.at, reason=change.reason)
        self.s.add(row)  # append-only and nobody reads the id back: let the commit batch the insert
        return change

    def stage_changes(self, deal_id: int) -> list[StageChange]:
        rows = self.s.scalars(select(StageChangeRow).where(StageChangeRow.deal_id == deal_id)
                              .order_by(StageChangeRow.id))
        return [StageChange(r.id, r.deal_id, r.from_stage, r.to_stage, r.kind, r.actor_id, r.at, r.reason)
                for r in rows]

    def add_assignment(self, assignment: Assignment) -> Assignment:
        row = AssignmentRow(subject_type=assignment.subject_type, subject_id=assignment.subject_id,
                            from_user=assignment.from_user, to_user=assignment.to_user,
                            actor_id=assignment.actor_id, reason=assignment.reason, at=assignment.at)
        self.s.add(row)
        return assignment

    def assignments(self, subject_type: str, subject_id: int) -> list[Assignment]:
        rows = self.s.scalars(select(AssignmentRow).where(AssignmentRow.subject_type == subject_type,
                                                          AssignmentRow.subject_id == subject_id)
                              .order_by(AssignmentRow.id))
        return [Assignment(r.id, r.subject_type, r.subject_id, r.from_user, r.to_user, r.actor_id, r.reason, r.at)
                for r in rows]

    def add_audit(self, entry: AuditEntry) -> AuditEntry:
        # append-only and nobody reads the id back: a Core insert, no ORM object to track
        _AUDIT_INSERT.execute(core_conn(self.s), {
            "at": entry.at, "actor_id": entry.actor_id, "action": entry.action, "subject_type": entry.subject_type,
            "subject_id": entry.subject_id, "before": entry.before, "after": entry.after})
        return entry

    def audit(self, *, subject_type: str | None = None, subject_id: str | None = None,
              actor_id: str | None = None, since: datetime | None = None, limit: int = 200) -> list[AuditEntry]:
        q = select(AuditRow).order_by(AuditRow.id.desc()).limit(limit)
        if subject_type:
            q = q.where(AuditRow.subject_type == subject_type)
        if subject_id:
            q = q.where(AuditRow.subject_id == subject_id)
        if actor_id:
            q = q.where(AuditRow.actor_id == actor_id)
        if since:
            q = q.where(AuditRow.at >= since)
        return [AuditEntry(r.id, r.at, r.actor_id, r.action, r.subject_type, r.subject_id, r.before, r.after)
                for r in self.s.scalars(q)]


class SqlMergeRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    @staticmethod
    def _entity(r: MergeLinkRow) -> MergeLink:
        return MergeLink(r.id, r.winner_id, r.loser_id, r.actor_id, r.at, r.reason, dict(r.moved or {}),
                         r.undone_at, r.undone_by)

    def add(self, link: MergeLink) -> MergeLink:
        row = MergeLinkRow(winner_id=link.winner_id, loser_id=link.loser_id, actor_id=link.actor_id, at=link.at,
                           reason=link.reason, moved=link.moved)
        self.s.add(row)
        self.s.flush()
        link.id = row.id
        return link

    def get(self, link_id: int) -> MergeLink | None:
        row = self.s.get(MergeLinkRow, link_id)
        return self._entity(row) if row else None

    def latest_for_loser(self, loser_id: int) -> MergeLink | None:
        row = self.s.scalars(select(MergeLinkRow).where(MergeLinkRow.loser_id == loser_id)
                             .order_by(MergeLinkRow.id.desc())).first()
        return self._entity(row) if row else None

    def mark_undone(self, link: MergeLink) -> None:
        row = self.s.get(MergeLinkRow, link.id)
        if row is None:
            raise LookupError(f"merge link {link.id} vanished")
        row.undone_at, row.undone_by = link.undone_at, link.undone_by
        self.s.flush()

    def owned_rows(self, customer_id: int) -> dict[str, list[int]]:
        return {kind: list(self.s.scalars(select(table.id).where(table.customer_id == customer_id)
                                          .order_by(table.id)))
                for kind, table in _OWNED.items()}

    def move_rows(self, rows: dict[str, list[int]], to_customer_id: int) -> None:
        self.s.info.pop("contacts_by_customer", None)
        for kind, ids in rows.items():
            if ids:
                table = _OWNED[kind]
                self.s.execute(update(table).where(table.id.in_(ids)).values(customer_id=to_customer_id))
        self.s.flush()


# rows that belong to a customer and move with it in a merge (and back on undo)
_OWNED: dict[str, Any] = {"contacts": ContactRow, "deals": DealRow, "followups": FollowUpRow,
                          "call_logs": CallLogRow, "evidence_files": EvidenceFileRow}


# ---------------------------------------------------------------- alerts (the exactly-once ledger)
_ALERT_FIELDS = ("rule", "subject_type", "subject_id", "level", "window", "recipient_id", "created_at", "state",
                 "acted_by", "acted_at", "action", "due_at", "card_id")


def alert_from_row(r: AlertRow) -> Alert:
    alert = Alert(None, r.rule, r.subject_type, r.subject_id, r.level, r.window, r.recipient_id, r.created_at)
    _copy(r, alert, _ALERT_FIELDS)
    alert.id = r.id
    return alert


class SqlAlertRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add_if_absent(self, alert: Alert) -> Alert | None:
        values = {name: getattr(alert, name) for name in _ALERT_FIELDS}
        dialect = self.s.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = insert(AlertRow).values(**values).on_conflict_do_nothing(
            index_elements=["rule", "subject_type", "subject_id", "level", "window"]
        ).returning(AlertRow.id)
        new_id = self.s.execute(stmt).scalar()
        if new_id is None:
            return None
        alert.id = int(new_id)
        return alert

    def get(self, alert_id: int) -> Alert | None:
        row = self.s.get(AlertRow, alert_id)
        return alert_from_row(row) if row else None

    def update(self, alert: Alert) -> None:
        row = self.s.get(AlertRow, alert.id)
        if row is None:
            raise LookupError(f"alert {alert.id} vanished")
        _copy(alert, row, _ALERT_FIELDS)
        self.s.flush()

    def open_for_subject(self, subject_type: str, subject_id: int) -> list[Alert]:
        rows = self.s.scalars(select(AlertRow).where(AlertRow.subject_type == subject_type,
                                                     AlertRow.subject_id == subject_id,
                                                     AlertRow.state == "open"))
        return [alert_from_row(r) for r in rows]
