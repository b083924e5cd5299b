"""Engine creation and migrations. SQLite by default (WAL, foreign keys on); PostgreSQL via psycopg 3."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows has no flock: there, run one process per SQLite file
    fcntl = None  # type: ignore[assignment]

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError
from sqlalchemy.pool import StaticPool

from storage.checkpoint import AUTOCHECKPOINT_PAGES, CHECKPOINTER, JOURNAL_SIZE_LIMIT

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class StorageError(Exception):
    """The database cannot be used; the message says why in Chinese and what to do."""


def normalize_url(url: str) -> str:
    """`postgresql://` means psycopg 3 here (SQLAlchemy's default driver would be psycopg2)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def create_db_engine(url: str, *, echo: bool = False) -> Engine:
    url = normalize_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StorageError(f"数据库地址无法识别：{url}（{exc}）") from exc
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:"):
            kwargs["poolclass"] = StaticPool
            kwargs["connect_args"] = {"check_same_thread": False}
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            lock = WriteLock(Path(database).expanduser())
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT,
                                      "factory": _writer_queue_connection(lock)}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        if database not in ("", ":memory:"):
            CHECKPOINTER.watch(engine, str(Path(database).expanduser()))
        return engine
    kwargs["pool_pre_ping"] = True
    kwargs["pool_size"] = 10
    return create_engine(url, **kwargs)


SQLITE_BUSY_TIMEOUT = 15  # seconds

_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLAC")


class WriteLock:
    """The queue for SQLite's write lock: a thread lock, and across processes an flock beside the file.

    `crmbot serve --workers N` runs handlers in other processes on the same SQLite file; without the
    flock their writers would meet in SQLite's busy handler (see below) instead of queueing. flock
    waits in the kernel (no polling, the GIL released) and the kernel drops it if a process dies.
    """

    def __init__(self, database: Path) -> None:
        self._thread = threading.Lock()
        self._path = Path(f"{database}-writelock")
        self._fd: int | None = None
        self._pid = 0

    def acquire(self, timeout: float) -> bool:
        if not self._thread.acquire(timeout=timeout):
            return False
        if fcntl is not None:
            try:
                if self._fd is None or self._pid != os.getpid():  # a forked child opens its own
                    self._fd, self._pid = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600), os.getpid()
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except OSError as exc:  # e.g. a read-only directory: SQLite's own locking still holds
                log.debug("no cross-process write queue for %s: %s", self._path, exc)
                self._fd = None
        return True

    def release(self) -> None:
        if self._fd is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread.release()


def _writer_queue_connection(lock: WriteLock) -> type[sqlite3.Connection]:
    """sqlite3 connections that queue for SQLite's single write lock on a Python lock.

    SQLite lets one transaction write at a time; a second writer in this process would wait in
    SQLite's busy handler, which sleeps 1, 2, 5, 10 … 100 ms between tries: under load the worker
    threads spend most of their time asleep there while the lock is free. Taking a process-wide
    lock at the moment SQLite would take its write lock (the first INSERT/UPDATE/DELETE of a
    transaction, which the sqlite3 module opens with BEGIN) and releasing it right after COMMIT or
    ROLLBACK hands the database to the next writer at once. Reads take no lock, as in SQLite. A
    writer that waits longer than the busy timeout goes on to SQLite, which answers as it would have.
    """

    class QueuedCursor(sqlite3.Cursor):
        def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor:
            conn = self.connection
            if sql[:6] in _WRITES and not conn.holds_write_lock and conn.isolation_level is not None:  # type: ignore[attr-defined]
                conn.take_write_lock()  # type: ignore[attr-defined]
            return super().execute(sql, parameters)

        def executemany(self, sql: str, seq_of_parameters: Any, /) -> sqlite3.Cursor:
            conn = self.connection
            if sql[:6] in _WRITES and not conn.holds_write_lock and conn.isolation_level is not None:  # type: ignore[attr-defined]
                conn.take_write_lock()  # type: ignore[attr-defined]
            return super().executemany(sql, seq_of_parameters)

    class QueuedConnection(sqlite3.Connection):
        holds_write_lock = False

        def cursor(self, factory: Any = QueuedCursor) -> Any:  # type: ignore[override]
            return super().cursor(factory)

        def take_write_lock(self) -> None:
            self.holds_write_lock = lock.acquire(timeout=SQLITE_BUSY_TIMEOUT)

        def _release(self) -> None:
            if self.holds_write_lock and not self.in_transaction:
                self.holds_write_lock = False
                lock.release()

        def commit(self) -> None:
            try:
                super().commit()
            finally:
                self._release()

        def rollback(self) -> None:
            try:
                super().rollback()
            finally:
                self._release()

        def close(self) -> None:
            try:
                super().close()
            finally:
                if self.holds_write_lock:
                    self.holds_write_lock = False
                    lock.release()

    return QueuedConnection


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")  # storage/checkpoint.py does it sooner
    cur.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")  # the WAL shrinks back after a burst
    cur.execute("PRAGMA busy_timeout=15000")
    cur.close()


def check_connection(engine: Engine) -> None:
    """Fail early with a clear message when the database is down, locked or not a database."""
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")
            if engine.dialect.name == "sqlite":
                row = conn.exec_driver_sql("PRAGMA quick_check").first()
                if row is None or row[0] != "ok":
                    raise StorageError(f"SQLite 数据库文件已损坏（quick_check: {row}）：{engine.url.database}")
    except StorageError:
        raise
    except OperationalError as exc:
        text = str(exc.orig) if exc.orig else str(exc)
        if "locked" in text:
            raise StorageError(f"数据库被其他进程锁定：{engine.url.database}。请关闭其他 crmbot 进程后重试。") from exc
        raise StorageError(f"无法连接数据库 {engine.url.render_as_string(hide_password=True)}：{text}") from exc
    except DatabaseError as exc:
        raise StorageError(
            f"数据库文件无法读取（可能已损坏或不是 SQLite 文件）：{engine.url.database}（{exc.orig}）"
        ) from exc


def alembic_config(engine: Engine) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine) -> None:
    """Apply pending migrations (run on every start; a no-op when the schema is current)."""
    from alembic import command

    check_connection(engine)
    try:
        command.upgrade(alembic_config(engine), "head")
    except OperationalError as exc:
        text = str(exc.orig) if exc.orig else str(exc)
        if "locked" in text:
            raise StorageError(f"数据库被其他进程锁定：{engine.url.database}。请关闭其他 crmbot 进程后重试。") from exc
        raise StorageError(f"数据库升级失败：{text}") from exc


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def table_names(engine: Engine) -> list[str]:
    return inspect(engine).get_table_names()
