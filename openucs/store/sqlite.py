"""The embedded backend: one SQLite file in WAL mode, foreign keys on, fsynced at every commit.

Each thread keeps its own connection (a sqlite3 connection must not be used by two threads at
once); the group commit's own connection passes between the event loop, which runs a batch's
writes, and its commit thread, which runs the COMMIT (unless other processes wait for the lock:
see group_commit.py), and is never used by both at once. Writers
take the database's write lock when they begin (BEGIN IMMEDIATE), which serialises every
write — and so every limit check with the insert after it — across threads and processes.
Readers never wait for writers (WAL).

Group commit: the server runs its writes through ``writer()`` (see group_commit.py), which
runs the writes that queue up while the previous commit is being fsynced as one transaction,
each in a savepoint of its own, and answers them all after the one fsync.
"""

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from openucs.store.group_commit import LOCKED, GroupCommit
from openucs.store.migrate import migrate, schema_version
from openucs.store.snapshots import ListSnapshot, SnapshotCache, TransactionSnapshots
from openucs.store.sql import ACCOUNT_VERSIONS, SqlSession, SqlTransaction, raise_list_version

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]


class SqliteStore:
    # Calls return in microseconds and never wait on a network: the server runs them inline.
    inline = True
    # The lists this process keeps (see snapshots.py); the server sets it, tools run without.
    snapshots: SnapshotCache | None = None

    def __init__(self, path: Path, *, synchronous: Synchronous = "FULL", busy_timeout_ms: int = 30_000) -> None:
        self.path = path
        self.url = f"sqlite:///{path}"
        self._synchronous = synchronous
        self.busy_timeout_ms = busy_timeout_ms
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._writer: GroupCommit | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self.migrate()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.open_connection()
        return conn

    def open_connection(self, *, busy_timeout_ms: int | None = None) -> sqlite3.Connection:
        """A new connection, configured; closed by ``close()``."""
        timeout_ms = self.busy_timeout_ms if busy_timeout_ms is None else busy_timeout_ms
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=timeout_ms / 1000, check_same_thread=False)
        self._enable_wal(conn)
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_ms)}")
        with self._lock:
            self._all.append(conn)
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """WAL is a property of the file, set by whichever process opens it first. While another
        process is converting a new file, SQLite answers "locked" at once rather than calling the
        busy handler (that could deadlock), so the conversion is retried."""
        self.retry_while_locked(lambda: conn.execute("PRAGMA journal_mode = WAL"))

    def retry_while_locked(self, action: Callable[[], object]) -> None:
        """``action()``, retried while another connection holds the lock it needs, until the
        store's busy timeout. It polls finely: a lock is typically held for one batch and its
        fsync (about a millisecond), where SQLite's own busy handler sleeps up to 100 ms."""
        deadline = time.monotonic() + self.busy_timeout_ms / 1000
        pause = 0.0001
        while True:
            try:
                action()
                return
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode not in LOCKED or time.monotonic() > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.001)

    def writer(self) -> GroupCommit:
        if self._writer is None:  # made once, when the server is built
            self._writer = GroupCommit(self)
        return self._writer

    @contextmanager
    def batch(self, conn: sqlite3.Connection) -> Iterator[dict[int, ListSnapshot]]:
        """While open, this thread's transactions are savepoints inside ``conn``'s transaction.
        Yields the lists they leave behind, for ``publish`` once the batch is committed."""
        staged: dict[int, ListSnapshot] = {}
        self._local.batch, self._local.staged = conn, staged
        try:
            yield staged
        finally:
            self._local.batch = self._local.staged = None

    def publish(self, staged: dict[int, ListSnapshot]) -> None:
        """After a batch's commit: the lists its writes and reads left behind."""
        if self.snapshots is not None and staged:
            self.snapshots.put(*staged.values())

    def transaction(self, *, write: bool, lock_mailbox: int | None = None) -> "_Transaction":
        # The whole database is the lock unit here; lock_mailbox only raises the list's version.
        batch: sqlite3.Connection | None = getattr(self._local, "batch", None)
        bump = lock_mailbox if write else None
        if batch is not None:
            return _Transaction(batch, "SAVEPOINT job", bump, self.snapshots, self._local.staged)
        return _Transaction(self._connection(), "BEGIN IMMEDIATE" if write else "BEGIN", bump, self.snapshots, None)

    def autocommit(self) -> "_Autocommit":
        return _Autocommit(self._connection())

    def account_versions(self, user_id: int) -> tuple[int, int] | None:
        # On a cursor this thread keeps for it, with none of the transaction wrappers: this runs on
        # every request. fetchall() runs the statement to its end, which ends its read transaction
        # (a statement left at a row would hold this connection's snapshot of the database).
        cursor: sqlite3.Cursor | None = getattr(self._local, "versions", None)
        if cursor is None:
            cursor = self._local.versions = self._connection().cursor()
        rows: list[tuple[int, int]] = cursor.execute(ACCOUNT_VERSIONS, (user_id,)).fetchall()
        return rows[0] if rows else None

    def schema_version(self) -> int:
        with self.transaction(write=False) as tx:
            return schema_version(tx.db)

    def migrate(self) -> None:
        with self.transaction(write=True) as tx:  # BEGIN IMMEDIATE: the migration lock
            migrate(tx.db)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()


class _Transaction:
    """One transaction on a connection, or a savepoint inside a group commit's batch. A class, not
    a generator-based context manager: every request opens one or two, and this costs a third."""

    __slots__ = ("_begin", "_bump", "_cache", "_conn", "_cursor", "_outer", "_snapshots")

    def __init__(
        self,
        conn: sqlite3.Connection,
        begin: str,
        bump: int | None,
        cache: SnapshotCache | None,
        outer: dict[int, ListSnapshot] | None,
    ) -> None:
        self._conn = conn
        self._begin = begin
        self._bump = bump
        self._cache = cache
        self._outer = outer  # the batch's lists, when this is a savepoint in a group commit batch
        self._snapshots: TransactionSnapshots | None = None

    def __enter__(self) -> SqlTransaction:
        cursor = self._cursor = self._conn.cursor()
        cursor.execute(self._begin)
        session = SqlSession(cursor, "sqlite")
        if self._cache is not None:
            self._snapshots = TransactionSnapshots(self._cache, self._outer)
        if self._bump is not None:
            try:
                raise_list_version(session, self._bump, self._snapshots)
            except BaseException:
                self._end(failed=True)
                raise
        return SqlTransaction(session, self._snapshots)

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        self._end(failed=exc_type is not None)

    def _end(self, *, failed: bool) -> None:
        cursor, conn, snapshots = self._cursor, self._conn, self._snapshots
        try:
            if self._outer is not None:  # a savepoint: the batch's commit publishes what it leaves
                if failed:
                    cursor.execute("ROLLBACK TO job")
                cursor.execute("RELEASE job")
                if not failed and snapshots is not None:
                    self._outer.update(snapshots.finish())
            elif failed:
                conn.rollback()
            else:
                try:
                    conn.commit()
                except BaseException:
                    if conn.in_transaction:  # never leave the connection inside a dead transaction
                        conn.rollback()
                    raise
                if snapshots is not None:
                    snapshots.publish()
        finally:
            cursor.close()


class _Autocommit:
    """Statements outside any transaction, each reading a snapshot of its own: for a read of one
    statement, where BEGIN and COMMIT would double the work."""

    __slots__ = ("_conn", "_cursor")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> SqlTransaction:
        self._cursor = self._conn.cursor()
        return SqlTransaction(SqlSession(self._cursor, "sqlite"))

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> None:
        self._cursor.close()
