"""SQLite WAL checkpoints run on the background thread, not inside a chat message's commit."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import text

from storage.checkpoint import AUTOCHECKPOINT_PAGES, CHECKPOINTER
from storage.db import create_db_engine


def test_written_pages_are_checkpointed_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with engine.begin() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == AUTOCHECKPOINT_PAGES
            conn.execute(text("CREATE TABLE t (x TEXT)"))
        before = CHECKPOINTER.checkpoints
        for i in range(50):  # well under the connections' own threshold: only the thread checkpoints
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (:x)"), {"x": "x" * 2000 + str(i)})
        deadline = time.monotonic() + 10
        while CHECKPOINTER.checkpoints == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert CHECKPOINTER.checkpoints > before
        with engine.connect() as conn:  # nothing lost on the way
            assert conn.execute(text("SELECT count(*) FROM t")).scalar() == 50
    finally:
        engine.dispose()
