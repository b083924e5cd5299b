"""The reminder scans' queries: one indexed range query per scan, returning core facts.

Indexes used (all in the initial schema): deals (status, next_followup_on) for follow-ups,
deals (status, stage, stage_entered_at) for stalls, customers (lead_state, assigned_at) for
untouched and unassigned leads, the alert ledger's unique key and (subject_type, subject_id, state).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import ARRAY, BigInteger, and_, bindparam, exists, func, or_, select
from sqlalchemy import insert as sa_insert
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

        psycopg's own executemany pipelines one short prepared statement; SQLAlchemy's multi-row
        rewrite of the same batch spends most of its time re-parsing a long SQL text per page.
        """
        if self.s.get_bind().dialect.name != "postgresql":
            return None
        return self.s.connection().connection.driver_connection

    def _pg_insert_alerts(self, values: list[dict[str, Any]]) -> dict[tuple[str, str, int, int, str], int]:
        cols = ", ".join(f'"{c}"' for c in _ALERT_FIELDS)
        marks = ", ".join(["%s"] * len(_ALERT_FIELDS))
        sql = (
            f"INSERT INTO alerts ({cols}) VALUES ({marks}) "
            'ON CONFLICT (rule, subject_type, subject_id, level, "window") DO NOTHING '
            'RETURNING id, rule, subject_type, subject_id, level, "window"'
        )
        out: dict[tuple[str, str, int, int, str], int] = {}
        with self._pg.cursor() as cur:
            cur.executemany(sql, [tuple(v[c] for c in _ALERT_FIELDS) for v in values], returning=True)
            while True:
                for r in cur.fetchall():
                    out[(r[1], r[2], int(r[3]), int(r[4]), r[5])] = int(r[0])
                if not cur.nextset():
                    break
        return out

    def add_cards(self, cards: Sequence[dict[str, Any]], outbox: Sequence[dict[str, Any]]) -> None:
        """The cards and their outbox rows for a batch of alerts, in two batched inserts."""
        if self._pg is not None:
            from psycopg.types.json import Json

            with self._pg.cursor() as cur:
                for table, rows in (("cards", cards), ("outbox", outbox)):
                    if not rows:
                        continue
                    cols = list(rows[0])
                    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
                    cur.executemany(
                        sql, [tuple(Json(r[c]) if c == "body" else r[c] for c in cols) for r in rows]
                    )
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
