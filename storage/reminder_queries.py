"""The reminder scans' queries: one indexed range query per scan, returning core facts.

Indexes used (all in the initial schema): deals (status, next_followup_on) for follow-ups,
deals (status, stage, stage_entered_at) for stalls, customers (lead_state, assigned_at) for
untouched and unassigned leads, the alert ledger's unique key and (subject_type, subject_id, state).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, JSON, BigInteger, String, and_, bindparam, exists, func, or_, select
from sqlalchemy import insert as sa_insert
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.model import Alert
from core.reminders import DealFacts, LeadFacts, LedgerEntry
from storage.models import AlertRow, CardRow, CustomerRow, DealRow, FollowUpRow, OutboxRow
from storage.repositories import _ALERT_FIELDS, alert_from_row

_DEAL_COLUMNS = (
    DealRow.id,
    DealRow.customer_id,
    DealRow.owner_id,
    DealRow.stage,
    DealRow.next_followup_on,
    DealRow.last_followup_at,
    DealRow.stage_entered_at,
    DealRow.title,
    CustomerRow.name,
    CustomerRow.team,
)


def _deal(row: Sequence[object]) -> DealFacts:
    return DealFacts(*row)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=16)
def _pg_insert_select(name: str, table: Any, cols: Sequence[str]) -> str:
    """`INSERT INTO name (cols) SELECT … FROM unnest(one typed array per column)`, rows in input order."""
    # %b: arrays in binary; the text format escapes every quote of the JSON bodies with a regex
    arrays = ", ".join(f"%b::{_pg_type(table.c[c].type)}[]" for c in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    fields = ", ".join(f"u.c{i}" for i in range(len(cols)))
    aliases = ", ".join(f"c{i}" for i in range(len(cols)))
    return (
        f"INSERT INTO {name} ({names}) SELECT {fields} "
        f"FROM unnest({arrays}) WITH ORDINALITY AS u({aliases}, ord) ORDER BY u.ord"
    )


def _pg_type(type_: Any) -> str:
    # JSON travels as text already encoded (below). Strings go as text, not varchar(n): casting to
    # varchar(n) would silently cut a long value, where the insert into the column rejects it.
    if isinstance(type_, JSON):
        return "json"
    if isinstance(type_, String):
        return "text"
    return str(type_.compile(dialect=postgresql.dialect()))


def _json_text(value: Any, encoded: dict[int, str]) -> str | None:
    """`value` as psycopg's Json() would send it (json.dumps). An outbox body {"card": body} reuses
    the card's text: json.dumps of a one-key dict is exactly '{"card": ' + json.dumps(body) + '}'."""
    if value is None:
        return None
    if isinstance(value, dict) and len(value) == 1 and "card" in value and id(value["card"]) in encoded:
        return '{"card": ' + encoded[id(value["card"])] + "}"
    text = json.dumps(value)
    encoded[id(value)] = text
    return text


class SqlReminderQueries:
    def __init__(self, session: Session) -> None:
        self.s = session

    # ------------------------------------------------------------ candidate scans
    def followup_query(self, lo: date, hi: date):  # type: ignore[no-untyped-def]
        return (
            select(*_DEAL_COLUMNS)
            .join(CustomerRow, CustomerRow.id == DealRow.customer_id)
            .where(
                DealRow.status == "open",
                DealRow.next_followup_on >= lo,
                DealRow.next_followup_on <= hi,
                CustomerRow.status == "active",
            )
        )

    def followup_candidates(self, lo: date, hi: date) -> list[DealFacts]:
        """Open deals of active customers whose next follow-up date is in [lo, hi]."""
        return [_deal(r) for r in self.s.execute(self.followup_query(lo, hi))]

    def stall_query(
        self, ranges: Sequence[tuple[Sequence[str], datetime, datetime]], exclude: Sequence[str] = ()
    ):  # type: ignore[no-untyped-def]
        branches = [
            and_(
                DealRow.stage.in_(list(stages)), DealRow.stage_entered_at >= lo, DealRow.stage_entered_at < hi
            )
            for stages, lo, hi in ranges
            if stages
        ]
        q = (
            select(*_DEAL_COLUMNS)
            .join(CustomerRow, CustomerRow.id == DealRow.customer_id)
            .where(DealRow.status == "open", or_(*branches), CustomerRow.status == "active")
        )
        if exclude:
            q = q.where(DealRow.stage.not_in(list(exclude)))
        return q

    def stall_candidates(
        self, ranges: Sequence[tuple[Sequence[str], datetime, datetime]], exclude: Sequence[str] = ()
    ) -> list[DealFacts]:
        """Open deals that entered one of `stages` in [lo, hi), per (stages, lo, hi) range."""
        if not any(stages for stages, _, _ in ranges):
            return []
        return [_deal(r) for r in self.s.execute(self.stall_query(ranges, exclude))]

    def untouched_query(self, lo: datetime, hi: datetime):  # type: ignore[no-untyped-def]
        touched = exists().where(
            FollowUpRow.customer_id == CustomerRow.id, FollowUpRow.occurred_at >= CustomerRow.assigned_at
        )
        return select(
            CustomerRow.id,
            CustomerRow.owner_id,
            CustomerRow.team,
            CustomerRow.assigned_at,
            CustomerRow.created_at,
            CustomerRow.name,
        ).where(
            CustomerRow.lead_state == "new",
            CustomerRow.assigned_at >= lo,
            CustomerRow.assigned_at <= hi,
            CustomerRow.owner_id.is_not(None),
            CustomerRow.status == "active",
            ~touched,
        )

    def untouched_candidates(self, lo: datetime, hi: datetime) -> list[LeadFacts]:
        """New leads assigned in [lo, hi] with no follow-up since the assignment."""
        return [LeadFacts(*r) for r in self.s.execute(self.untouched_query(lo, hi))]  # type: ignore[arg-type]

    def unassigned_query(self, lo: datetime, hi: datetime):  # type: ignore[no-untyped-def]
        return select(
            CustomerRow.id,
            CustomerRow.owner_id,
            CustomerRow.team,
            CustomerRow.assigned_at,
            CustomerRow.created_at,
            CustomerRow.name,
        ).where(
            CustomerRow.lead_state == "new",
            CustomerRow.assigned_at.is_(None),
            CustomerRow.owner_id.is_(None),
            CustomerRow.status == "active",
            CustomerRow.created_at >= lo,
            CustomerRow.created_at <= hi,
        )

    def unassigned_candidates(self, lo: datetime, hi: datetime) -> list[LeadFacts]:
        """Active leads nobody owns (never assigned), created in [lo, hi]."""
        return [LeadFacts(*r) for r in self.s.execute(self.unassigned_query(lo, hi))]  # type: ignore[arg-type]

    # ------------------------------------------------------------ the ledger
    def add_alerts_if_absent(self, alerts: Sequence[Alert]) -> dict[tuple[str, str, int, int, str], int]:
        """`alerts.add_if_absent` for a whole batch in ONE statement: insert-or-ignore on the ledger key.

        Returns the ids of the rows this call inserted, by ledger key; a key missing from the answer
        was already in the ledger (fired by another scanner, or stopped by a person's action).
        """
        if not alerts:
            return {}
        values = [{name: getattr(a, name) for name in _ALERT_FIELDS} for a in alerts]
        if self._pg is not None:
            return self._pg_insert_alerts(values)
        table = AlertRow.__table__
        # executemany with RETURNING: SQLAlchemy batches it into multi-row statements ("insertmanyvalues")
        stmt = (
            sqlite_insert(table)
            .on_conflict_do_nothing(index_elements=["rule", "subject_type", "subject_id", "level", "window"])
            .returning(
                table.c.id,
                table.c.rule,
                table.c.subject_type,
                table.c.subject_id,
                table.c.level,
                table.c.window,
            )
        )
        return {
            (r.rule, r.subject_type, int(r.subject_id), int(r.level), r.window): int(r.id)
            for r in self.s.execute(stmt, values)
        }

    @property
    def _pg(self) -> Any:
        """The psycopg connection under the session's transaction, on PostgreSQL (else None).

        A whole batch goes in as one array parameter per column (`INSERT … SELECT … FROM unnest(…)`):
        one short statement and one round trip per table, instead of a pipelined executemany paying
        psycopg's per-row overhead, or SQLAlchemy's multi-row rewrite re-parsing a long SQL text per page.
        """
        if self.s.get_bind().dialect.name != "postgresql":
            return None
        return self.s.connection().connection.driver_connection

    def _pg_insert_alerts(self, values: list[dict[str, Any]]) -> dict[tuple[str, str, int, int, str], int]:
        # ORDER BY the input position: ids are handed out in batch order, as row-by-row inserts would
        sql = (
            _pg_insert_select("alerts", AlertRow.__table__, _ALERT_FIELDS)
            + ' ON CONFLICT (rule, subject_type, subject_id, level, "window") DO NOTHING '
            'RETURNING id, rule, subject_type, subject_id, level, "window"'
        )
        columns = [[v[c] for v in values] for c in _ALERT_FIELDS]
        with self._pg.cursor() as cur:
            cur.execute(sql, columns)
            return {(r[1], r[2], int(r[3]), int(r[4]), r[5]): int(r[0]) for r in cur.fetchall()}

    def add_cards(self, cards: Sequence[dict[str, Any]], outbox: Sequence[dict[str, Any]]) -> None:
        """The cards and their outbox rows for a batch of alerts, in two batched inserts."""
        if self._pg is not None:
            encoded: dict[int, str] = {}  # id(card body) -> its JSON text, reused for the outbox's copy
            with self._pg.cursor() as cur:
                for table, rows in ((CardRow.__table__, cards), (OutboxRow.__table__, outbox)):
                    if not rows:
                        continue
                    cols = tuple(rows[0])
                    columns = [
                        [_json_text(r[c], encoded) for r in rows] if c == "body" else [r[c] for r in rows]
                        for c in cols
                    ]
                    cur.execute(_pg_insert_select(table.name, table, cols), columns)
            return
        if cards:
            self.s.execute(sa_insert(CardRow.__table__), list(cards))
        if outbox:
            self.s.execute(sa_insert(OutboxRow.__table__), list(outbox))

    def ledger(self, rule: str, subject_type: str, subject_ids: Sequence[int]) -> list[LedgerEntry]:
        """What the ledger already holds for these subjects (sent, stopped) under one rule."""
        out: list[LedgerEntry] = []
        ids = sorted(set(subject_ids))
        pg = self.s.get_bind().dialect.name == "postgresql"
        step = 10_000 if pg else 900  # SQLite's bound-parameter limit
        for start in range(0, len(ids), step):
            chunk = ids[start : start + step]
            # PostgreSQL: one array parameter, unnested so the planner can hash it (a bare = ANY(array)
            # is a linear search per row), instead of thousands of placeholders to parse
            match = (
                AlertRow.subject_id.in_(select(func.unnest(bindparam("ids", chunk, type_=ARRAY(BigInteger)))))
                if pg
                else AlertRow.subject_id.in_(chunk)
            )
            q = select(
                AlertRow.rule,
                AlertRow.subject_type,
                AlertRow.subject_id,
                AlertRow.level,
                AlertRow.window,
                AlertRow.state,
            ).where(AlertRow.subject_type == subject_type, match, AlertRow.rule == rule)
            out.extend(LedgerEntry(*r) for r in self.s.execute(q))  # type: ignore[arg-type]
        return out

    def digest_windows(self, windows: Sequence[str]) -> set[str]:
        q = select(AlertRow.window).where(
            AlertRow.rule == "digest",
            AlertRow.subject_type == "digest",
            AlertRow.subject_id == 0,
            AlertRow.level == 1,
            AlertRow.window.in_(list(windows)),
        )
        return set(self.s.scalars(q))

    def alerts_for(self, recipients: Sequence[str], since: datetime) -> list[Alert]:
        """Alerts sent to these people since `since` (the digest); the ledger's stoppers excluded."""
        q = (
            select(AlertRow)
            .where(
                AlertRow.recipient_id.in_(list(recipients)),
                AlertRow.created_at >= since,
                AlertRow.card_id.is_not(None),
                AlertRow.rule != "digest",
            )
            .order_by(AlertRow.id)
        )
        return [alert_from_row(r) for r in self.s.scalars(q)]

    def list_alerts(
        self, *, open_only: bool = False, user: str | None = None, limit: int = 200
    ) -> list[Alert]:
        """For `crmbot alerts`: newest first; only alerts that went out (not ladder stoppers)."""
        q = select(AlertRow).where(AlertRow.card_id.is_not(None)).order_by(AlertRow.id.desc()).limit(limit)
        if open_only:
            q = q.where(AlertRow.state == "open")
        if user:
            q = q.where(or_(AlertRow.recipient_id == user, AlertRow.acted_by == user))
        return [alert_from_row(r) for r in self.s.scalars(q)]

    def customer_names(self, customer_ids: Sequence[int]) -> dict[int, str]:
        if not customer_ids:
            return {}
        q = select(CustomerRow.id, CustomerRow.name).where(CustomerRow.id.in_(sorted(set(customer_ids))))
        return {int(i): n for i, n in self.s.execute(q)}

    def deal_customers(self, deal_ids: Sequence[int]) -> dict[int, str]:
        if not deal_ids:
            return {}
        q = (
            select(DealRow.id, CustomerRow.name)
            .join(CustomerRow, CustomerRow.id == DealRow.customer_id)
            .where(DealRow.id.in_(sorted(set(deal_ids))))
        )
        return {int(i): n for i, n in self.s.execute(q)}
