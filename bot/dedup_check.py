"""The real-time duplicate check against the database: blocking keys in, core/dedup's decision out.

Every path that creates a customer or a contact (chat, commands, call logs, import, API) goes
through `core.usecases.customers.create_customer`, which calls this check; nothing bypasses it.
"""

from __future__ import annotations

from typing import Any

from bot.settings import DedupSettings
from core.dedup.check import DedupThresholds, ExistingRecord, check
from core.dedup.keys import blocking_keys, is_exact_key
from core.model import Contact, Customer, CustomerStatus
from core.ports import UnitOfWork
from core.usecases.customers import DuplicateDecision, NewCustomer


class DbDuplicateCheck:
    def __init__(self, thresholds: DedupThresholds, normalizer: Any) -> None:
        self.thresholds = thresholds
        self.normalizer = normalizer

    def name_key(self, company: str) -> str:
        core = self.normalizer.company(company).core
        return core or company.strip().casefold()

    def decide(self, uow: UnitOfWork, record: NewCustomer, phone_norm: str | None) -> DuplicateDecision:
        rec = self.normalizer.record("new", record.contact_name, record.company, record.phone, record.email)
        keys = blocking_keys(rec)
        pairs = uow.dedup_keys.lookup([k for k in keys if is_exact_key(k)],  # type: ignore[attr-defined]
                                      [k for k in keys if not is_exact_key(k)])
        customers: dict[int, Customer] = {}
        candidates: list[ExistingRecord] = []
        for customer_id, contact_id in pairs:
            customer = customers.get(customer_id) or uow.customers.get(customer_id)
            if customer is None:
                continue
            customer = _live(uow, customer)
            if customer is None:
                continue
            customers[customer.id or 0] = customer
            contact = next((c for c in customer.contacts if c.id == contact_id), None)
            candidates.append(ExistingRecord(
                record_id=f"{customer.id}:{contact.id if contact else 0}", customer_id=str(customer.id),
                name=contact.name if contact else None, company=customer.name,
                phone=contact.phone if contact else None, email=contact.email if contact else None))
        decision = check(rec, candidates, self.thresholds, self.normalizer)
        if decision.decision == "new" and decision.contact_decision != "new" and decision.contact_id:
            # the company looks different but the person is known (same phone or email): a person decides
            owner = customers[int(decision.contact_id.split(":")[0])]
            return DuplicateDecision("ask", owner, decision.contact_score, list(decision.contact_evidence))
        if decision.decision == "new" or decision.customer_id is None:
            return self._same_mobile(rec, customers) or DuplicateDecision("new")
        best = customers[int(decision.customer_id)]
        ranked = [(customers[int(m.customer_id)], max(m.company_score, m.contact_score),
                   m.company_evidence + m.contact_evidence) for m in decision.candidates]
        evidence = list(dict.fromkeys(decision.evidence))  # the same reason from company and contact once
        return DuplicateDecision(decision.decision, best, decision.score, evidence, ranked)

    @staticmethod
    def _same_mobile(rec: Any, customers: dict[int, Customer]) -> DuplicateDecision | None:
        """A mobile number already on file under another name and company is never created silently:
        a job change, a shared phone or a typo — the rep decides."""
        mobiles = set(rec.mobiles)
        for customer in customers.values():
            for contact in customer.contacts:
                if contact.phone_norm and contact.phone_norm in mobiles:
                    who = f"{customer.name}（{contact.name}）" if contact.name else customer.name
                    return DuplicateDecision("ask", customer, 70.0, [f"手机号已登记在 {who} 名下"])
        return None

    def register(self, uow: UnitOfWork, customer: Customer, contact: Contact | None) -> None:
        rec = self.normalizer.record("x", contact.name if contact else None, customer.name,
                                     contact.phone if contact else None, contact.email if contact else None)
        uow.dedup_keys.add(blocking_keys(rec), customer.id or 0, contact.id if contact else None)  # type: ignore[attr-defined]


def _live(uow: UnitOfWork, customer: Customer) -> Customer | None:
    """Follow merges to the surviving customer; invalid customers are not matched."""
    seen = 0
    while customer.status == CustomerStatus.MERGED and customer.merged_into and seen < 10:
        nxt = uow.customers.get(customer.merged_into)
        if nxt is None:
            return None
        customer, seen = nxt, seen + 1
    return customer if customer.status == CustomerStatus.ACTIVE else None


def build_duplicate_check(settings: DedupSettings) -> DbDuplicateCheck:
    from bot.textconv import make_normalizer

    return DbDuplicateCheck(DedupThresholds(auto=settings.auto, ask=settings.ask), make_normalizer())
