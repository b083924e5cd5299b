"""The call-log repository."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.model import CallLog
from storage.models import CallLogRow

_FIELDS = ("call_id", "rep_id", "customer_phone", "phone_norm", "started_at", "duration_s", "transcript",
           "customer_id", "followup_id", "status", "created_at")


def _entity(row: CallLogRow) -> CallLog:
    return CallLog(row.id, row.call_id, row.rep_id, row.customer_phone, row.phone_norm, row.started_at,
                   row.duration_s, row.transcript, row.customer_id, row.followup_id, row.status, row.created_at)


class SqlCallLogRepository:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, call: CallLog) -> CallLog:
        row = CallLogRow(**{f: getattr(call, f) for f in _FIELDS})
        self.s.add(row)
        self.s.flush()
        call.id = row.id
        return call

    def get(self, call_log_id: int) -> CallLog | None:
        row = self.s.get(CallLogRow, call_log_id)
        return _entity(row) if row else None

    def by_call_id(self, call_id: str) -> CallLog | None:
        row = self.s.scalars(select(CallLogRow).where(CallLogRow.call_id == call_id)).first()
        return _entity(row) if row else None

    def update(self, call: CallLog) -> None:
        row = self.s.get(CallLogRow, call.id)
        if row is None:
            raise LookupError(f"call log {call.id} vanished")
        for f in _FIELDS:
            setattr(row, f, getattr(call, f))
        self.s.flush()
