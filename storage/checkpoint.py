"""SQLite WAL checkpoints on a background thread, off the request path.

In WAL mode with synchronous=NORMAL a commit does not wait for the disk; the disk waits happen at
checkpoints (copying the WAL back into the database file, with fsyncs). SQLite runs them inside the
commit that takes the WAL past `wal_autocheckpoint` pages (1,000 by default): every few hundred
follow-ups one chat message paid a few milliseconds, a third of all the time above 2 ms
(bench/record_followup.py: p99 5.5 ms; 1.8 ms without the disk waits). Here one daemon thread per
process checkpoints each SQLite file every `INTERVAL` seconds in PASSIVE mode, which never blocks a
reader or a writer, and the connections' own threshold is raised to a safety net for when the
thread cannot keep up. The WAL file is truncated back to `JOURNAL_SIZE_LIMIT` after a checkpoint.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
import weakref
from pathlib import Path

from sqlalchemy import Engine, event

log = logging.getLogger(__name__)

INTERVAL = 0.25  # seconds between checkpoints
AUTOCHECKPOINT_PAGES = 10_000  # the connections' own threshold (~40 MB of WAL at 4 KiB pages)
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024


class WalCheckpointer:
    """Checkpoints the SQLite files of the engines it watches until each engine is disposed or gone."""

    def __init__(self, interval: float = INTERVAL) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._watched: dict[str, weakref.ref[Engine]] = {}
        self._thread: threading.Thread | None = None
        self.checkpoints = 0  # completed rounds that moved frames (for tests and benches)

    def watch(self, engine: Engine, path: str) -> None:
        key = str(Path(path).resolve())
        with self._lock:
            self._watched[key] = weakref.ref(engine)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)
                self._thread.start()
        event.listen(engine, "engine_disposed", lambda _engine: self.unwatch(key))

    def unwatch(self, key: str) -> None:
        with self._lock:
            self._watched.pop(key, None)

    def _run(self) -> None:
        connections: dict[str, sqlite3.Connection] = {}
        while True:
            time.sleep(self.interval)
            with self._lock:
                live = {k for k, ref in self._watched.items() if ref() is not None}
                self._watched = {k: v for k, v in self._watched.items() if k in live}
                if not live:  # nothing left to watch: the next watch() starts a new thread
                    self._thread = None
            for key in set(connections) - live:
                connections.pop(key).close()
            if not live:
                return
            for key in live:
                self._checkpoint(connections, key)

    def _checkpoint(self, connections: dict[str, sqlite3.Connection], key: str) -> None:
        try:
            conn = connections.get(key)
            if conn is None:
                conn = connections[key] = sqlite3.connect(key, timeout=0, check_same_thread=False)
                conn.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
            busy, _wal_pages, moved = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            if moved and moved > 0 and not busy:
                self.checkpoints += 1
        except sqlite3.Error as exc:
            # a locked, missing or damaged file: the app reports that where it uses the database;
            # here the next round tries again with a fresh connection
            log.debug("WAL checkpoint of %s skipped: %s", key, exc)
            stale = connections.pop(key, None)
            if stale is not None:
                stale.close()


CHECKPOINTER = WalCheckpointer()
