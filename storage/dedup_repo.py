"""The blocking-key index behind the real-time duplicate check."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from storage.models import DedupKeyRow


class SqlDedupKeys:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, keys: Iterable[str], customer_id: int, contact_id: int | None) -> None:
        existing = set(self.s.scalars(select(DedupKeyRow.key).where(
            DedupKeyRow.customer_id == customer_id,
            DedupKeyRow.contact_id.is_(None) if contact_id is None else DedupKeyRow.contact_id == contact_id)))
        for key in sorted(set(keys) - existing):
            self.s.add(DedupKeyRow(key=key[:200], customer_id=customer_id, contact_id=contact_id))

    def lookup(self, exact: Iterable[str], fuzzy: Iterable[str], *, cap: int = 200) -> list[tuple[int, int | None]]:
        """(customer_id, contact_id) pairs sharing a key; exact keys first, fuzzy ones capped."""
        out: list[tuple[int, int | None]] = []
        exact, fuzzy = list(exact), list(fuzzy)
        if exact:
            out += [(r.customer_id, r.contact_id) for r in self.s.execute(
                select(DedupKeyRow.customer_id, DedupKeyRow.contact_id).where(DedupKeyRow.key.in_(exact)).limit(cap))]
        if fuzzy:
            out += [(r.customer_id, r.contact_id) for r in self.s.execute(
                select(DedupKeyRow.customer_id, DedupKeyRow.contact_id).where(DedupKeyRow.key.in_(fuzzy)).limit(cap))]
        return list(dict.fromkeys(out))

    def move_customer(self, from_customer: int, to_customer: int) -> None:
        """A merge: the loser's contacts are now found under the winner."""
        self.s.execute(update(DedupKeyRow).where(DedupKeyRow.customer_id == from_customer)
                       .values(customer_id=to_customer))
