"""The real-time duplicate check run before any customer or contact is created.

`check(new, candidates, thresholds)` scores a new record against candidates fetched by blocking
keys and decides, for the customer (company) and for the contact (person):
  "link" — score >= auto and no other customer is as likely: attach to the existing one;
  "ask"  — ask <= score < auto, or two customers are equally likely: show "是否关联到 X？" with the
           evidence;
  "new"  — nothing scores >= ask.
`DedupIndex` is an in-memory key → ids index with the same contract storage implements with a table;
the CLI and the benchmark use it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from core.dedup.keys import blocking_keys, is_exact_key
from core.dedup.normalize import NormalizedRecord, Normalizer
from core.dedup.score import Evidence, company_evidence, contact_evidence

Decision = Literal["link", "ask", "new"]

# How much better than the runner-up a customer must score to be linked without asking: a same-city
# name (97) or a shared phone (95) beats a name without a city (93), two cities' firms (93/93) do not.
AMBIGUITY_MARGIN = 2.0


class DedupThresholds(BaseModel):
    """Score bands (0..100); configured as [dedup] auto/ask in crmbot.toml."""

    auto: float = Field(default=90.0, ge=0, le=100)
    ask: float = Field(default=70.0, ge=0, le=100)

    @model_validator(mode="after")
    def _ordered(self) -> DedupThresholds:
        if self.ask > self.auto:
            raise ValueError("dedup.ask 不能高于 dedup.auto")
        return self

    def decide(self, score: float) -> Decision:
        return "link" if score >= self.auto else "ask" if score >= self.ask else "new"


class CustomerInput(BaseModel):
    """What a rep, an import row or the API wants to create."""

    name: str | None = None
    company: str | None = None
    phone: str | None = None
    email: str | None = None


class ExistingRecord(BaseModel):
    """A stored contact with its customer, as typed; `normalized` may carry precomputed keys."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    record_id: str
    customer_id: str
    name: str | None = None
    company: str | None = None
    phone: str | None = None
    email: str | None = None
    normalized: NormalizedRecord | None = Field(default=None, exclude=True, repr=False)


class DedupMatch(BaseModel):
    record_id: str
    customer_id: str
    label: str  # how the card names it: the company as typed, and the person if any
    company_score: float
    company_evidence: list[str]
    contact_score: float
    contact_evidence: list[str]


class DedupDecision(BaseModel):
    decision: Decision  # for the customer (company)
    customer_id: str | None = None
    score: float = 0.0
    evidence: list[str] = Field(default_factory=list)
    contact_decision: Decision = "new"
    contact_id: str | None = None
    contact_score: float = 0.0
    contact_evidence: list[str] = Field(default_factory=list)
    candidates: list[DedupMatch] = Field(default_factory=list)  # best first, those >= ask

    @property
    def question(self) -> str | None:
        """The card text when the rep must decide."""
        if self.decision != "ask" or not self.candidates:
            return None
        best = self.candidates[0]
        why = "，".join(
            best.company_evidence + [e for e in best.contact_evidence if e not in best.company_evidence]
        )
        return f"是否关联到 {best.label}？（{why}）" if why else f"是否关联到 {best.label}？"


def _label(rec: NormalizedRecord) -> str:
    company = rec.company.typed.strip()
    person = rec.name.typed.strip()
    return f"{company}（{person}）" if company and person else company or person or rec.record_id


def _normalized(rec: ExistingRecord, normalizer: Normalizer) -> NormalizedRecord:
    if rec.normalized is not None:
        return rec.normalized
    return normalizer.record(rec.record_id, rec.name, rec.company, rec.phone, rec.email)


_DEFAULT_NORMALIZER: Normalizer | None = None


def _default_normalizer() -> Normalizer:
    global _DEFAULT_NORMALIZER
    if _DEFAULT_NORMALIZER is None:
        _DEFAULT_NORMALIZER = Normalizer()
    return _DEFAULT_NORMALIZER


def normalize_input(new: CustomerInput, normalizer: Normalizer | None = None) -> NormalizedRecord:
    n = normalizer or _default_normalizer()
    return n.record("new", new.name, new.company, new.phone, new.email)


def check(
    new: CustomerInput | NormalizedRecord,
    candidates: Iterable[ExistingRecord],
    thresholds: DedupThresholds | None = None,
    normalizer: Normalizer | None = None,
    max_candidates: int = 5,
) -> DedupDecision:
    """Decide link / ask / new for `new` against `candidates` (fetched by blocking keys)."""
    t = thresholds or DedupThresholds()
    n = normalizer or _default_normalizer()
    rec = new if isinstance(new, NormalizedRecord) else normalize_input(new, n)
    scored: list[tuple[DedupMatch, Evidence, Evidence]] = []
    for cand in candidates:
        other = _normalized(cand, n)
        company = company_evidence(rec, other)
        contact = contact_evidence(rec, other, same_company=company.score >= t.auto)
        if max(company.score, contact.score) < t.ask:
            continue
        match = DedupMatch(
            record_id=cand.record_id,
            customer_id=cand.customer_id,
            label=_label(other),
            company_score=company.score,
            company_evidence=list(company.reasons),
            contact_score=contact.score,
            contact_evidence=list(contact.reasons),
        )
        scored.append((match, company, contact))
    if not scored:
        return DedupDecision(decision="new")
    # a person found by phone or email also finds their company, when the names do not contradict
    scored.sort(
        key=lambda m: (
            -(m[1].score if m[1].conflict else max(m[1].score, min(m[2].score, 95.0))),
            -m[2].score,
        )
    )
    best_by_customer: dict[str, tuple[DedupMatch, float]] = {}
    for match, company, contact in scored:
        strength = company.score if company.conflict else max(company.score, min(contact.score, 95.0))
        if match.customer_id not in best_by_customer or strength > best_by_customer[match.customer_id][1]:
            best_by_customer[match.customer_id] = (match, strength)
    ranked = sorted(best_by_customer.values(), key=lambda m: -m[1])
    top, top_score = ranked[0]
    decision = t.decide(top_score)
    if (
        decision == "link"
        and len(ranked) > 1
        and ranked[1][1] >= t.auto
        and top_score - ranked[1][1] < AMBIGUITY_MARGIN
    ):
        # two existing customers are about equally likely: a person must choose
        decision = "ask"
    result = DedupDecision(
        decision=decision,
        customer_id=top.customer_id if decision != "new" else None,
        score=top_score,
        evidence=top.company_evidence
        if top.company_score >= top.contact_score
        else top.contact_evidence + top.company_evidence,
        candidates=[m for m, _ in ranked[:max_candidates]],
    )
    # the contact: the best person inside the chosen customer, or anywhere if the customer is new
    people = [(m, c) for m, _, c in scored if decision == "new" or m.customer_id == top.customer_id]
    if people:
        person, evidence = max(people, key=lambda p: p[1].score)
        contact_decision = t.decide(evidence.score)
        if contact_decision == "link" and decision != "link":
            contact_decision = "ask"  # the same number at another company: a job change or a mistake
        if contact_decision != "new":
            result.contact_decision = contact_decision
            result.contact_id = person.record_id
            result.contact_score = evidence.score
            result.contact_evidence = list(evidence.reasons)
    return result


class DedupIndex:
    """In-memory blocking index: key → record ids, with the normalized records kept beside."""

    def __init__(self, normalizer: Normalizer | None = None, max_block: int = 200) -> None:
        self.normalizer = normalizer or _default_normalizer()
        self.max_block = max_block
        self._keys: dict[str, list[int]] = defaultdict(list)
        self._records: list[tuple[str, str, NormalizedRecord]] = []  # (record_id, customer_id, rec)

    def __len__(self) -> int:
        return len(self._records)

    def add(self, record: ExistingRecord) -> None:
        rec = _normalized(record, self.normalizer)
        self.add_normalized(record.record_id, record.customer_id, rec)

    def add_normalized(self, record_id: str, customer_id: str, rec: NormalizedRecord) -> None:
        pos = len(self._records)
        self._records.append((record_id, customer_id, rec))
        for key in blocking_keys(rec):
            self._keys[key].append(pos)

    def candidates(self, new: CustomerInput | NormalizedRecord, limit: int = 300) -> list[ExistingRecord]:
        rec = new if isinstance(new, NormalizedRecord) else normalize_input(new, self.normalizer)
        found: dict[int, None] = {}
        # exact keys first: they are the likeliest duplicates and must not be crowded out
        for key in sorted(blocking_keys(rec), key=lambda k: not is_exact_key(k)):
            ids = self._keys.get(key)
            if not ids:
                continue
            if not is_exact_key(key) and len(ids) > self.max_block:
                continue  # too common to mean anything (a brand character shared by hundreds)
            for pos in ids[: self.max_block]:
                found[pos] = None
            if len(found) >= limit:
                break
        out = []
        for pos in list(found)[:limit]:
            record_id, customer_id, normalized = self._records[pos]
            out.append(
                ExistingRecord.model_construct(
                    record_id=record_id,
                    customer_id=customer_id,
                    name=normalized.name.typed,
                    company=normalized.company.typed,
                    phone=normalized.phone_typed,
                    email=normalized.email_typed,
                    normalized=normalized,
                )
            )
        return out

    def check(self, new: CustomerInput, thresholds: DedupThresholds | None = None) -> DedupDecision:
        rec = normalize_input(new, self.normalizer)
        return check(rec, self.candidates(rec), thresholds, self.normalizer)
