"""The embedded backend: one SQLite file in WAL mode, foreign keys on.

Each thread keeps its own connection (sqlite3 connections must not cross threads). Writers
take the database's write lock when they begin (BEGIN IMMEDIATE), which serialises every
write — and so every limit check with the insert after it — across threads and processes.
Readers never wait for writers (WAL).
"""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from openucs.store.migrate import migrate, schema_version
from openucs.store.sql import SqlSession, SqlTransaction

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


class SqliteStore:
    # Calls return in microseconds and never wait on a network: the server runs them inline.
    inline = True

    def __init__(self, path: Path, *, synchronous: Synchronous = "FULL", busy_timeout_ms: int = 30_000) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self._synchronous = synchronous
        self._busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self.migrate()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=self._busy_timeout_ms / 1000, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def transaction(self, *, write: bool, lock_mailbox: int | None = None) -> Iterator[SqlTransaction]:
        # The whole database is the lock unit here, so lock_mailbox needs nothing more.
        conn = self._connection()
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield SqlTransaction(SqlSession(cursor, "sqlite"))
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cursor.close()

    def schema_version(self) -> int:
        with self.transaction(write=False) as tx:
            return schema_version(tx.db)

    def migrate(self) -> None:
        with self.transaction(write=True) as tx:  # BEGIN IMMEDIATE: the migration lock
            migrate(tx.db)

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
