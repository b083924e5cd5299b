"""Inbox, outbox, sent cards and dialog state: the bot's own tables, in the same transaction as the CRM."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from storage.models import CardRow, DialogRow, InboxRow, OutboxRow
from storage.prepared import Prepared
from storage.repositories import DIALOG_ROWS, core_conn

_NO_SYNC = {"synchronize_session": False}  # plain UPDATEs of rows the session does not hold

# The hot path (every inbound event) writes these tables with Core statements built once here and
# run on the session's connection, in its transaction: no ORM unit of work, no statement rebuilt per
# call (the compiled form is cached). Nothing reads these rows back as ORM objects in the same
# transaction except through fresh SELECTs, which see them.
_INBOX, _OUTBOX, _CARDS = InboxRow.__table__, OutboxRow.__table__, CardRow.__table__
_INBOX_INSERT = {
    name: Prepared(ins(_INBOX).on_conflict_do_nothing(index_elements=["channel", "message_id"]).returning(_INBOX.c.id))
    for name, ins in (("sqlite", sqlite_insert), ("postgresql", pg_insert))
}
_INBOX_MARK = Prepared(update(_INBOX).where(_INBOX.c.id == bindparam("b_id")))
_INBOX_OPEN = or_(_INBOX.c.status == "new", and_(_INBOX.c.status == "working", _INBOX.c.lease_until < bindparam("b_now")))
_INBOX_CLAIMABLE = Prepared(select(_INBOX.c.id, _INBOX.c.sender)
                            .where(_INBOX_OPEN, _INBOX.c.id <= bindparam("b_max"))
                            .order_by(_INBOX.c.id).limit(bindparam("b_limit")))
_INBOX_BUSY = Prepared(select(_INBOX.c.sender).distinct()
                       .where(_INBOX.c.status == "working", _INBOX.c.lease_until >= bindparam("b_now")))
# the claimed rows, marked and read back in one statement
_INBOX_TAKE = (update(_INBOX).where(_INBOX.c.id.in_(bindparam("b_ids", expanding=True)))
               .values(status="working", worker=bindparam("b_worker"), lease_until=bindparam("b_until"))
               .returning(_INBOX.c.id, _INBOX.c.channel, _INBOX.c.kind, _INBOX.c.payload))
# SQLite: a write first, so this transaction holds the write lock (storage/db.py) while it reads
_CLAIM_LOCK_SQLITE = Prepared(update(_INBOX).where(_INBOX.c.id == -1).values(status=_INBOX.c.status))
_CLAIM_LOCK_PG = text("SELECT pg_advisory_xact_lock(4242001)")  # any constant: claims only
_OUTBOX_INSERT = Prepared(insert(_OUTBOX))
_CARD_INSERT = Prepared(insert(_CARDS))
_OUTBOX_SENT = Prepared(update(_OUTBOX).where(_OUTBOX.c.id == bindparam("b_id")).values(
    status="sent", sent_at=bindparam("b_now"), attempts=_OUTBOX.c.attempts + 1, last_error=None))
_CARD_REF = Prepared(update(_CARDS).where(_CARDS.c.id == bindparam("b_id")))
_OUTBOX_DUE = (select(_OUTBOX).where(_OUTBOX.c.status == "pending", _OUTBOX.c.next_attempt_at <= bindparam("b_now"))
               .order_by(_OUTBOX.c.id).limit(bindparam("b_limit")))
_OUTBOX_DUE_ON = _OUTBOX_DUE.where(_OUTBOX.c.channel.in_(bindparam("b_channels", expanding=True)))
_TAKE_DUE: dict[tuple[str, tuple[str, ...]], Prepared] = {}


def _take_due_statement(channels: tuple[str, ...], *, for_update: bool) -> Prepared:
    due = (select(_OUTBOX.c.id)
           .where(_OUTBOX.c.status == "pending", _OUTBOX.c.next_attempt_at <= bindparam("b_now"),
                  or_(*[_OUTBOX.c.channel == c for c in channels]))  # not IN: no expanding parameter
           .order_by(_OUTBOX.c.id).limit(bindparam("b_limit")))
    if for_update:
        due = due.with_for_update(skip_locked=True)
    return Prepared(update(_OUTBOX).where(_OUTBOX.c.id.in_(due.scalar_subquery()))
                    .values(next_attempt_at=bindparam("b_until")).returning(*_OUTBOX.c))


_DIALOGS = DialogRow.__table__
_DIALOG_OF = Prepared(select(_DIALOGS).where(_DIALOGS.c.user_id == bindparam("b_user")))


class SqlInbox:
    def __init__(self, session: Session) -> None:
        self.s = session

    def record(
        self, *, channel: str, message_id: str, sender: str, kind: str, payload: dict[str, Any], now: datetime
    ) -> int | None:
        """Insert the event; None when it was seen before (a platform retry)."""
        conn = core_conn(self.s)
        stmt = _INBOX_INSERT["postgresql" if conn.dialect.name == "postgresql" else "sqlite"]
        row = stmt.first(conn, {"channel": channel, "message_id": message_id, "sender": sender, "kind": kind,
                                "payload": payload, "received_at": now, "status": "new"})
        return int(row.id) if row is not None else None

    def mark(self, inbox_id: int, status: str, now: datetime, error: str | None = None) -> None:
        _INBOX_MARK.execute(core_conn(self.s), {"b_id": inbox_id, "status": status, "processed_at": now,
                                                  "error": error})

    def claim(self, worker: str, now: datetime, lease_until: datetime, limit: int = 16,
              up_to_id: int | None = None, max_senders: int = 3) -> list[InboxItem]:
        """Take up to `limit` unhandled rows for `worker`, oldest first, until `lease_until`.

        Rows left by a worker whose lease ran out (it crashed) are taken again. A sender whose
        earlier row another worker is still handling is skipped, so each person's messages are
        handled in the order they arrived (dialogs depend on it); one claim takes the rows of at
        most `max_senders` people, so that other workers find someone to work for. Claims are
        serialized (on SQLite by taking the write lock before reading, on PostgreSQL by a
        transaction lock), after an unlocked look that finds nothing to do for an idle worker.
        """
        conn = core_conn(self.s)
        bound = up_to_id if up_to_id is not None else 2**62
        if not self._pick(conn, now, bound, limit, max_senders):
            return []
        if conn.dialect.name == "postgresql":
            conn.execute(_CLAIM_LOCK_PG)
        else:
            _CLAIM_LOCK_SQLITE.execute(conn, {})
        taken = self._pick(conn, now, bound, limit, max_senders)  # again: others may have claimed meanwhile
        if not taken:
            return []
        rows = conn.execute(_INBOX_TAKE, {"b_ids": taken, "b_worker": worker, "b_until": lease_until})
        return sorted((InboxItem(r.id, r.channel, r.kind, r.payload) for r in rows), key=lambda i: i.id)

    @staticmethod
    def _pick(conn: Any, now: datetime, bound: int, limit: int, max_senders: int) -> list[int]:
        busy = {r.sender for r in _INBOX_BUSY.all(conn, {"b_now": now})}
        taken: list[int] = []
        chosen: set[str] = set()
        for row in _INBOX_CLAIMABLE.all(conn, {"b_now": now, "b_limit": limit * 4, "b_max": bound}):
            sender = row.sender
            if sender in busy:
                continue  # its later rows wait too: `busy` keeps them out
            if sender not in chosen:
                if len(chosen) == max_senders:
                    busy.add(sender)
                    continue
                chosen.add(sender)
            taken.append(row.id)
            if len(taken) == limit:
                break
        return taken

    def last_id(self) -> int:
        return int(self.s.scalar(select(func.max(InboxRow.id))) or 0)


@dataclass(frozen=True)
class InboxItem:
    id: int
    channel: str
    kind: str  # message | action
    payload: dict[str, Any]


@dataclass
class OutgoingMessage:
    id: int
    channel: str
    user_id: str
    recipient: str
    kind: str
    body: dict[str, Any]
    card_id: str | None
    attempts: int


class SqlOutbox:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(
        self,
        *,
        channel: str,
        user_id: str,
        recipient: str,
        kind: str,
        body: dict[str, Any],
        now: datetime,
        card_id: str | None = None,
    ) -> None:
        _OUTBOX_INSERT.execute(
            core_conn(self.s),
            {"channel": channel, "user_id": user_id, "recipient": recipient, "kind": kind, "body": body,
             "card_id": card_id, "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now},
        )

    def claim_due(
        self, now: datetime, *, channels: list[str] | None = None, limit: int = 50
    ) -> list[OutgoingMessage]:
        """Due rows, locked so that two replicas never send the same row (SKIP LOCKED on PostgreSQL)."""
        conn = core_conn(self.s)
        q = _OUTBOX_DUE if channels is None else _OUTBOX_DUE_ON
        if conn.dialect.name == "postgresql":
            q = q.with_for_update(skip_locked=True)
        params = {"b_now": now, "b_limit": limit}
        if channels is not None:
            params["b_channels"] = list(channels)
        return [
            OutgoingMessage(r.id, r.channel, r.user_id, r.recipient, r.kind, r.body, r.card_id, r.attempts)
            for r in conn.execute(q, params)
        ]

    def take_due(self, now: datetime, until: datetime, *, channels: list[str], limit: int = 50) -> list[OutgoingMessage]:
        """`claim_due` and `lease` in one statement (the drainer's hot path): due rows of these
        channels, hidden from other drainers until `until`, oldest first."""
        conn = core_conn(self.s)
        key = (conn.dialect.name, tuple(sorted(channels)))
        stmt = _TAKE_DUE.get(key)
        if stmt is None:
            stmt = _TAKE_DUE[key] = _take_due_statement(key[1], for_update=key[0] == "postgresql")
        rows = stmt.all(conn, {"b_now": now, "b_until": until, "b_limit": limit})
        return sorted((OutgoingMessage(r.id, r.channel, r.user_id, r.recipient, r.kind, r.body, r.card_id, r.attempts)
                       for r in rows), key=lambda m: m.id)

    def mark_sent(self, outbox_id: int, now: datetime) -> None:
        _OUTBOX_SENT.execute(core_conn(self.s), {"b_id": outbox_id, "b_now": now})

    def mark_retry(self, outbox_id: int, now: datetime, delay: timedelta, error: str) -> None:
        self.s.execute(
            update(OutboxRow)
            .where(OutboxRow.id == outbox_id)
            .values(attempts=OutboxRow.attempts + 1, next_attempt_at=now + delay, last_error=error[:2000]),
            execution_options=_NO_SYNC,
        )

    def mark_failed(self, outbox_id: int, now: datetime, error: str) -> None:
        self.s.execute(
            update(OutboxRow)
            .where(OutboxRow.id == outbox_id)
            .values(status="failed", attempts=OutboxRow.attempts + 1, last_error=error[:2000]),
            execution_options=_NO_SYNC,
        )

    def failed(self, limit: int = 200) -> list[OutboxRow]:
        return list(
            self.s.scalars(
                select(OutboxRow).where(OutboxRow.status == "failed").order_by(OutboxRow.id).limit(limit)
            )
        )

    def retry_failed(self, now: datetime) -> int:
        result = self.s.execute(
            update(OutboxRow)
            .where(OutboxRow.status == "failed")
            .values(status="pending", attempts=0, next_attempt_at=now),
            execution_options=_NO_SYNC,
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]


class SqlCards:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, *, card_id: str, channel: str, user_id: str, body: dict[str, Any], now: datetime) -> None:
        _CARD_INSERT.execute(
            core_conn(self.s), {"id": card_id, "channel": channel, "user_id": user_id, "body": body, "created_at": now})

    def get(self, card_id: str) -> CardRow | None:
        return self.s.scalars(select(CardRow).where(CardRow.id == card_id)).first()

    def by_ref(self, ref: str) -> CardRow | None:
        return self.s.scalars(select(CardRow).where(CardRow.ref == ref)).first()

    def set_ref(self, card_id: str, ref: str | None, response_code: str | None) -> None:
        # a Core UPDATE bypasses loaded CardRow objects: expire the one for this card, if any
        _CARD_REF.execute(core_conn(self.s), {"b_id": card_id, "ref": ref, "response_code": response_code})
        for obj in self.s.identity_map.values():
            if isinstance(obj, CardRow) and obj.id == card_id:
                self.s.expire(obj)

    def claim(self, card_id: str, user_id: str, action: str, now: datetime) -> bool:
        """Mark the card handled; False when someone handled it before (buttons work once)."""
        result = self.s.execute(
            update(CardRow)
            .where(CardRow.id == card_id, CardRow.handled_at.is_(None))
            .values(handled_by=user_id, handled_at=now, handled_action=action)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def recent_for_user(self, user_id: str, limit: int = 20) -> list[CardRow]:
        return list(self.s.scalars(select(CardRow).where(CardRow.user_id == user_id)
                                   .order_by(CardRow.seq.desc()).limit(limit)))

    def latest_for_user(self, user_id: str) -> CardRow | None:
        return self.s.scalars(
            select(CardRow).where(CardRow.user_id == user_id).order_by(CardRow.seq.desc())
        ).first()


@dataclass
class Dialog:
    user_id: str
    kind: str
    step: str
    data: dict[str, Any]
    channel: str
    expires_at: datetime


class SqlDialogs:
    def __init__(self, session: Session) -> None:
        self.s = session

    def get(self, user_id: str) -> Dialog | None:
        # asked for every message: usually read with the sender (SqlUserRepository.by_platform_id),
        # else one Core read (put/clear flush at once and drop that copy, so it sees their changes)
        row = self.s.identity_map.get(identity_key(DialogRow, user_id))
        if row is None:
            read_with_user = self.s.info.get(DIALOG_ROWS, {})
            if user_id in read_with_user:
                row = read_with_user[user_id]
            else:
                row = _DIALOG_OF.first(core_conn(self.s), {"b_user": user_id})
        if row is None:
            return None
        return Dialog(row.user_id, row.kind, row.step, dict(row.data or {}), row.channel, row.expires_at)

    def put(self, dialog: Dialog, now: datetime) -> None:
        self.s.info.get(DIALOG_ROWS, {}).pop(dialog.user_id, None)
        row = self.s.get(DialogRow, dialog.user_id) or DialogRow(user_id=dialog.user_id)
        row.kind, row.step, row.data, row.channel = dialog.kind, dialog.step, dialog.data, dialog.channel
        row.updated_at, row.expires_at = now, dialog.expires_at
        self.s.add(row)
        self.s.flush()

    def clear(self, user_id: str) -> None:
        # dialog state is transient scratch space, not business data: ending a dialog removes it
        self.s.info.get(DIALOG_ROWS, {}).pop(user_id, None)
        row = self.s.get(DialogRow, user_id)
        if row is not None:
            self.s.delete(row)
            self.s.flush()

    def expired(self, now: datetime, limit: int = 100) -> list[Dialog]:
        rows = self.s.scalars(select(DialogRow).where(DialogRow.expires_at <= now).limit(limit))
        return [Dialog(r.user_id, r.kind, r.step, dict(r.data or {}), r.channel, r.expires_at) for r in rows]
