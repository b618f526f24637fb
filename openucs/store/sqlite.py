"""The embedded backend: one SQLite file in WAL mode, foreign keys on, fsynced at every commit.

Each thread keeps its own connection (sqlite3 connections must not cross threads). Writers
take the database's write lock when they begin (BEGIN IMMEDIATE), which serialises every
write — and so every limit check with the insert after it — across threads and processes.
Readers never wait for writers (WAL).

Group commit: the server hands its writes to ``writer()``, one thread that runs whatever writes
queued up while the previous commit was being fsynced as one transaction, each in a savepoint
of its own, and answers them all after the one fsync. A failing write rolls back only its own
savepoint; nobody is answered before the commit that makes the write durable.
"""

import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from openucs.store.migrate import migrate, schema_version
from openucs.store.sql import BUMP_LIST_VERSION, SqlSession, SqlTransaction

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
_Job = tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]
MAX_BATCH = 64


class GroupCommit(Executor):
    """The single writer thread of a ``SqliteStore``."""

    def __init__(self, store: "SqliteStore") -> None:
        self._store = store
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="openucs-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((future, fn, args, kwargs))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._queue.put(None)
        if wait:
            self._thread.join()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            batch = [job]
            stop = False
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            self._store.run_batch(batch)
            if stop:
                return


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
        self._writer: GroupCommit | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        self.migrate()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, isolation_level=None, timeout=self._busy_timeout_ms / 1000, check_same_thread=False
            )
            self._enable_wal(conn)
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_ms)}")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _enable_wal(self, conn: sqlite3.Connection) -> None:
        """WAL is a property of the file, set by whichever process opens it first. While another
        process is converting a new file, SQLite answers "locked" at once rather than calling the
        busy handler (that could deadlock), so the conversion is retried here, within the same
        timeout every other lock wait has."""
        deadline = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def writer(self) -> Executor:
        with self._lock:
            if self._writer is None:
                self._writer = GroupCommit(self)
            return self._writer

    def run_batch(self, batch: list[_Job]) -> None:
        """On the writer thread: one transaction for the whole batch, a savepoint per job."""
        conn = self._connection()
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        self._local.in_batch = True
        try:
            conn.execute("BEGIN IMMEDIATE")
            for future, fn, args, kwargs in batch:
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    results.append((future, fn(*args, **kwargs), None))
                except BaseException as exc:  # handed to the waiting caller
                    results.append((future, None, exc))
            conn.commit()
        except BaseException as exc:  # the commit failed: no job may succeed
            if conn.in_transaction:
                conn.rollback()
            for future, _, _ in results:
                future.set_exception(exc)
            return
        finally:
            self._local.in_batch = False
        for future, result, error in results:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

    @contextmanager
    def transaction(self, *, write: bool, lock_mailbox: int | None = None) -> Iterator[SqlTransaction]:
        # The whole database is the lock unit here; lock_mailbox only raises the list's version.
        conn = self._connection()
        cursor = conn.cursor()
        if getattr(self._local, "in_batch", False):
            with self._savepoint(cursor) as tx:
                if write and lock_mailbox is not None:
                    cursor.execute(BUMP_LIST_VERSION, (lock_mailbox,))
                yield tx
            return
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            if write and lock_mailbox is not None:
                cursor.execute(BUMP_LIST_VERSION, (lock_mailbox,))
            yield SqlTransaction(SqlSession(cursor, "sqlite"))
        except BaseException:
            conn.rollback()
            raise
        else:
            conn.commit()
        finally:
            cursor.close()

    @staticmethod
    @contextmanager
    def _savepoint(cursor: sqlite3.Cursor) -> Iterator[SqlTransaction]:
        cursor.execute("SAVEPOINT job")
        try:
            yield SqlTransaction(SqlSession(cursor, "sqlite"))
        except BaseException:
            cursor.execute("ROLLBACK TO job")
            cursor.execute("RELEASE job")
            raise
        else:
            cursor.execute("RELEASE job")
        finally:
            cursor.close()

    def schema_version(self) -> int:
        with self.transaction(write=False) as tx:
            return schema_version(tx.db)

    def migrate(self) -> None:
        with self.transaction(write=True) as tx:  # BEGIN IMMEDIATE: the migration lock
            migrate(tx.db)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.shutdown()
            self._writer = None
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()
