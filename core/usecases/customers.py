"""Customer use cases: create (through the duplicate check), look up, mark invalid."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, cast

from core import audit, permissions
from core.errors import Ambiguous, InvalidInput, NotFound
from core.model import Assignment, Contact, Customer, CustomerStatus, Deal, FollowUp, Role, User
from core.pipeline import Pipeline
from core.ports import StageUnitOfWork, UnitOfWork
from core.usecases.assignment import AssignOutcome, LeadAssigner
from core.usecases.deals import open_deal
from core.validation import fold_width, normalize_phone, require_name, require_phone, require_reason


@dataclass(frozen=True)
class NewCustomer:
    company: str
    contact_name: str | None = None
    phone: str | None = None
    email: str | None = None
    region: str | None = None
    source: str = "chat"
    product: str | None = None  # the product line a lead asks about (assignment matches it)


@dataclass
class DuplicateDecision:
    kind: Literal["link", "ask", "new"]
    customer: Customer | None = None
    score: float = 0.0
    evidence: list[str] = field(default_factory=list)
    candidates: list[tuple[Customer, float, list[str]]] = field(default_factory=list)


class DuplicateCheck(Protocol):
    """Finds an existing customer that a new record duplicates (core/dedup supplies the real one)."""

    def name_key(self, company: str) -> str: ...

    def decide(self, uow: UnitOfWork, record: NewCustomer, phone_norm: str | None) -> DuplicateDecision: ...

    def register(self, uow: UnitOfWork, customer: Customer, contact: Contact | None) -> None:
        """Index a new customer/contact so that the next check finds it."""
        ...


class ExactDuplicateCheck:
    """Exact phone or exact normalized company name: the minimum every path must honour."""

    def __init__(self, name_key: Callable[[str], str] | None = None) -> None:
        self._name_key = name_key or (lambda s: fold_width(s).strip().casefold())

    def name_key(self, company: str) -> str:
        return self._name_key(company)

    def decide(self, uow: UnitOfWork, record: NewCustomer, phone_norm: str | None) -> DuplicateDecision:
        if phone_norm:
            hits = [c for c in uow.customers.by_phone(phone_norm) if c.status == CustomerStatus.ACTIVE]
            if hits:
                return DuplicateDecision("link", hits[0], 100.0, ["电话相同"])
        hits = [c for c in uow.customers.by_name_key(self.name_key(record.company))
                if c.status == CustomerStatus.ACTIVE]
        if hits:
            return DuplicateDecision("link", hits[0], 100.0, ["公司名称相同"])
        return DuplicateDecision("new")

    def register(self, uow: UnitOfWork, customer: Customer, contact: Contact | None) -> None:
        return None  # exact matches are found through the customers' own indexed columns


@dataclass
class CreateCustomerResult:
    customer: Customer
    contact: Contact | None
    created: bool  # False: linked to an existing customer
    decision: DuplicateDecision
    deal: Deal | None = None
    assignment: AssignOutcome | None = None  # how a lead that the creator did not find was assigned


def create_customer(
    uow: UnitOfWork,
    actor: User,
    data: NewCustomer,
    now: datetime,
    *,
    dedup: DuplicateCheck,
    pipeline: Pipeline,
    force_new: bool = False,
    link_to: Customer | None = None,
    assigner: LeadAssigner | None = None,
) -> CreateCustomerResult:
    """Create a customer with its contact, unless the duplicate check links it to an existing one.

    A decision of "ask" is returned without writing anything, so the caller can show the
    evidence and let the user choose (`force_new=True` after the user said it is new,
    `link_to` after they picked the existing customer).
    """
    company = require_name(data.company, "公司名称")
    contact_name = require_name(data.contact_name, "联系人姓名") if data.contact_name else None
    phone_norm = require_phone(data.phone) if data.phone else None
    email = data.email.strip().lower() if data.email else None
    if email and ("@" not in email or len(email) > 200):
        raise InvalidInput(f"「{data.email}」不像是有效的邮箱地址。")

    if force_new:
        decision = DuplicateDecision("new")
    elif link_to is not None:  # the user confirmed the match on the "是否关联到 X？" card
        decision = DuplicateDecision("link", link_to, 100.0, ["销售确认关联"])
    else:
        decision = dedup.decide(uow, data, phone_norm)
    if decision.kind == "ask":
        return CreateCustomerResult(customer=decision.customer, contact=None, created=False,  # type: ignore[arg-type]
                                    decision=decision)
    if decision.kind == "link" and decision.customer is not None:
        customer = decision.customer
        known = {c.id for c in customer.contacts}
        contact = _attach_contact(uow, actor, customer, contact_name, data.phone, phone_norm, email, now)
        if contact is not None and contact.id not in known:
            dedup.register(uow, customer, contact)
        return CreateCustomerResult(customer, contact, False, decision)

    # a rep who found the customer keeps it; any other lead goes through the round robin
    found_it = actor.has(Role.REP) and data.source in SELF_FOUND_SOURCES
    customer = uow.customers.add(
        Customer(
            id=None,
            name=company,
            name_key=dedup.name_key(company),
            owner_id=actor.id if found_it else None,
            team=actor.team,
            region=data.region or (actor.regions[0] if actor.regions else None),
            source=data.source,
            created_by=actor.id,
            assigned_at=now if found_it else None,
            created_at=now,
            updated_at=now,
        )
    )
    audit.record(uow, actor_id=actor.id, action="customer.create", subject_type="customer",
                 subject_id=customer.id or 0, now=now,
                 after={"name": company, "contact": contact_name, "phone": phone_norm, "source": data.source})
    if customer.owner_id:
        uow.history.add_assignment(Assignment(None, "customer", customer.id or 0, None, customer.owner_id,
                                              actor.id, "新建客户", now))
    contact = _attach_contact(uow, actor, customer, contact_name, data.phone, phone_norm, email, now)
    dedup.register(uow, customer, contact)
    # every new customer starts with an open deal at the pipeline's first stage (线索)
    deal = open_deal(uow, actor, customer, now, pipeline=pipeline)
    outcome = None
    if not found_it:
        outcome = (assigner or LeadAssigner()).assign(cast(StageUnitOfWork, uow), actor.id, customer, now,
                                                      product=data.product)
        deal = uow.deals.get(deal.id or 0) or deal
    return CreateCustomerResult(customer, contact, True, decision, deal, outcome)


SELF_FOUND_SOURCES = frozenset({"chat", "command", "voice", "card"})


def _attach_contact(
    uow: UnitOfWork,
    actor: User,
    customer: Customer,
    name: str | None,
    phone_raw: str | None,
    phone_norm: str | None,
    email: str | None,
    now: datetime,
) -> Contact | None:
    if not name and not phone_norm and not email:
        return None
    for existing in customer.contacts:
        same_phone = phone_norm and existing.phone_norm == phone_norm
        same_name = name and existing.name == name and (not phone_norm or not existing.phone_norm)
        if same_phone or same_name:
            # fill what the existing contact lacks; never overwrite what someone typed
            updated = False
            if phone_norm and not existing.phone_norm:
                existing.phone, existing.phone_norm, updated = phone_raw, phone_norm, True
            if email and not existing.email:
                existing.email, updated = email, True
            if updated:
                uow.customers.update_contact(existing)
            return existing
    contact = uow.customers.add_contact(
        Contact(id=None, customer_id=customer.id, name=name or "", phone=phone_raw, phone_norm=phone_norm,
                email=email, created_at=now)
    )
    customer.contacts.append(contact)
    audit.record(uow, actor_id=actor.id, action="contact.create", subject_type="customer",
                 subject_id=customer.id or 0, now=now, after={"contact": name, "phone": phone_norm})
    return contact


@dataclass
class CustomerView:
    customer: Customer
    deals: list[Deal]
    recent: list[FollowUp]


def find_visible_customers(uow: UnitOfWork, actor: User, keyword: str, *, limit: int = 20) -> list[Customer]:
    keyword = keyword.strip()
    if not keyword:
        raise InvalidInput("请告诉我要查找的客户名称、联系人或电话。")
    phone = normalize_phone(keyword)
    found = uow.customers.by_phone(phone) if phone else []
    if not found:
        found = uow.customers.search(keyword, limit=limit * 3)
    return [c for c in found if permissions.can_see_customer(actor, c)][:limit]


def resolve_customer(uow: UnitOfWork, actor: User, keyword: str) -> Customer:
    """Exactly one visible, active customer for the keyword, or a clear error."""
    exact = [c for c in uow.customers.by_name(keyword.strip())
             if c.status == CustomerStatus.ACTIVE and permissions.can_see_customer(actor, c)]
    if len(exact) == 1:  # the common case: the rep typed the name as stored (one indexed query)
        return exact[0]
    matches = [c for c in find_visible_customers(uow, actor, keyword) if c.status == CustomerStatus.ACTIVE]
    if not matches:
        _explain_inactive(uow, actor, keyword.strip())
        raise NotFound(f"没有找到客户「{keyword}」。", hint="可以用 /新客户 公司 联系人 电话 新建。")
    exact = [c for c in matches if c.name == keyword.strip()]
    if len(exact) == 1:
        return exact[0]
    if len(matches) > 1:
        raise Ambiguous(f"「{keyword}」匹配到 {len(matches)} 个客户，请说得更具体一些：",
                        [(c.id or 0, c.name) for c in matches[:6]])
    return matches[0]


def _explain_inactive(uow: UnitOfWork, actor: User, name: str) -> None:
    """A merged or invalid customer by that exact name: say so, rather than suggest creating a duplicate."""
    for c in uow.customers.by_name(name):
        if not permissions.can_see_customer(actor, c):
            continue
        if c.status == CustomerStatus.MERGED and c.merged_into:
            keeper = uow.customers.get(c.merged_into)
            keeper_name = keeper.name if keeper else "另一个客户"
            raise NotFound(f"客户「{c.name}」已合并到「{keeper_name}」，请对「{keeper_name}」操作。",
                           hint=f"如果合并错了，主管可以 /撤销合并 {c.name}。")
        if c.status == CustomerStatus.INVALID:
            raise NotFound(f"客户「{c.name}」已标记为无效（原因：{c.invalid_reason or '—'}），不能再操作。",
                           hint="如需恢复，请联系主管。")


def lookup_customer(uow: UnitOfWork, actor: User, keyword: str) -> list[CustomerView]:
    views = []
    for customer in find_visible_customers(uow, actor, keyword, limit=5):
        views.append(CustomerView(customer, uow.deals.for_customer(customer.id or 0),
                                  uow.followups.for_customer(customer.id or 0, limit=3)))
    if not views:
        raise NotFound(f"没有找到您可以查看的客户「{keyword.strip()}」。")
    return views


def mark_customer_invalid(uow: UnitOfWork, actor: User, keyword: str, reason: str, now: datetime) -> Customer:
    """"Delete" for reps: the customer stays, with status invalid and the reason."""
    reason = require_reason(reason, "标记无效的原因")
    customer = resolve_customer(uow, actor, keyword)
    permissions.require_change(actor, customer)
    before = audit.snapshot(customer, ("status", "invalid_reason"))
    customer.status = CustomerStatus.INVALID
    customer.invalid_reason = reason
    customer.updated_at = now
    uow.customers.update(customer)
    audit.record(uow, actor_id=actor.id, action="customer.invalid", subject_type="customer",
                 subject_id=customer.id or 0, now=now, before=before,
                 after=audit.snapshot(customer, ("status", "invalid_reason")))
    return customer
