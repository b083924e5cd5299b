"""The SQLAlchemy unit of work: one Session, one transaction, committed once by the caller."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction, sessionmaker

from storage import import_repos, offboarding_repos, stage_repos
from storage.calls_repo import SqlCallLogRepository
from storage.dedup_repo import SqlDedupKeys
from storage.messaging import SqlCards, SqlDialogs, SqlInbox, SqlOutbox
from storage.repositories import (
    CORE_CONN,
    CUSTOMER_ROWS,
    DEAL_LISTS,
    DEAL_ROWS,
    DIALOG_ROWS,
    SqlAlertRepository,
    SqlCustomerRepository,
    SqlDealRepository,
    SqlFollowUpRepository,
    SqlHistoryRepository,
    SqlMergeRepository,
    SqlUserRepository,
)

_REPOSITORIES: dict[str, Any] = {
    "users": SqlUserRepository,
    "customers": SqlCustomerRepository,
    "deals": SqlDealRepository,
    "followups": SqlFollowUpRepository,
    "history": SqlHistoryRepository,
    "merges": SqlMergeRepository,
    "alerts": SqlAlertRepository,
    "calls": SqlCallLogRepository,
    "dedup_keys": SqlDedupKeys,
    "inbox": SqlInbox,
    "outbox": SqlOutbox,
    "cards": SqlCards,
    "dialogs": SqlDialogs,
    "approvals": stage_repos.SqlApprovalRepository,
    "evidence": stage_repos.SqlEvidenceRepository,
    "workload": stage_repos.SqlWorkloadRepository,
    "import_batches": import_repos.SqlImportBatchRepository,
    "reviews": import_repos.SqlReviewItemRepository,
    "jobs": offboarding_repos.SqlJobRepository,
    "handover": offboarding_repos.SqlHandoverRepository,
}


class SqlUnitOfWork:
    session: Session
    users: SqlUserRepository
    customers: SqlCustomerRepository
    deals: SqlDealRepository
    followups: SqlFollowUpRepository
    history: SqlHistoryRepository
    merges: SqlMergeRepository
    alerts: SqlAlertRepository
    calls: SqlCallLogRepository
    dedup_keys: SqlDedupKeys
    inbox: SqlInbox
    outbox: SqlOutbox
    cards: SqlCards
    dialogs: SqlDialogs
    approvals: stage_repos.SqlApprovalRepository
    evidence: stage_repos.SqlEvidenceRepository
    workload: stage_repos.SqlWorkloadRepository
    import_batches: import_repos.SqlImportBatchRepository
    reviews: import_repos.SqlReviewItemRepository
    jobs: offboarding_repos.SqlJobRepository
    handover: offboarding_repos.SqlHandoverRepository

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._factory = session_factory

    def __enter__(self) -> SqlUnitOfWork:
        self.session = self._factory()
        self.session.info.clear()
        return self

    def __getattr__(self, name: str) -> Any:
        # repositories are made on first use: a unit of work uses a few of its twenty
        repository = _REPOSITORIES.get(name)
        if repository is None or "session" not in self.__dict__:
            raise AttributeError(name)
        value = self.__dict__[name] = repository(self.session)
        return value

    def __exit__(self, *exc: object) -> None:
        # anything not committed explicitly is rolled back: no half-written change survives an error
        self.session.rollback()
        self.session.close()

    def commit(self) -> None:
        self.session.commit()
        self.session.info.pop("contacts_by_customer", None)

    def rollback(self) -> None:
        self.session.rollback()
        self.session.info.pop("contacts_by_customer", None)
        self.session.info.pop("created", None)

    def created(self, row_type: type) -> list[Any]:
        """Rows of that type this transaction inserted (read before commit)."""
        return [o for o in self.session.info.get("created", []) if isinstance(o, row_type)]


def _keep_strong(session: Session, instance: object) -> None:
    # the identity map holds rows weakly; repositories map rows to entities and drop them, so
    # without this every repeated get() in one transaction would query again
    session.info.setdefault("strong", set()).add(instance)


def _note_created(session: Session, instance: object) -> None:
    session.info.setdefault("created", []).append(instance)


def _forget_read_rows(session: Session, transaction: SessionTransaction) -> None:
    # rows the repositories read with Core are only good inside the transaction that read them (a
    # rollback, of a savepoint too, undoes the updates recorded in DEAL_ROWS); a flush's own
    # subtransaction ending changes nothing
    if transaction.parent is None:
        session.info.pop(CORE_CONN, None)
    if transaction.parent is None or transaction.nested:
        session.info.pop(DEAL_ROWS, None)
        session.info.pop(DIALOG_ROWS, None)
        _forget_customer_rows(session)


def _forget_customer_rows(session: Session, *_: object) -> None:
    # an ORM write may have changed a customer or deal the caches hold: flushes are rare on the hot path
    session.info.pop(CUSTOMER_ROWS, None)
    session.info.pop(DEAL_LISTS, None)


def _on_orm_execute(state: ORMExecuteState) -> None:
    if state.is_update or state.is_delete:  # bulk UPDATE/DELETE (reassignment, merges) bypass the caches
        _forget_customer_rows(state.session)
        state.session.info.pop(DIALOG_ROWS, None)


class UnitOfWorkFactory:
    """Creates units of work on one engine; the one object the app passes around for storage."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        event.listen(self._sessions, "loaded_as_persistent", _keep_strong)
        event.listen(self._sessions, "pending_to_persistent", _keep_strong)
        event.listen(self._sessions, "pending_to_persistent", _note_created)
        event.listen(self._sessions, "after_transaction_end", _forget_read_rows)
        event.listen(self._sessions, "after_flush", _forget_customer_rows)
        event.listen(self._sessions, "do_orm_execute", _on_orm_execute)

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self._sessions)
