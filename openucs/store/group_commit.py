"""Group commit for the embedded backend, driven by the server's event loop.

A write to a local SQLite file costs tens of microseconds of work and one fsync that takes
milliseconds. Running the work on a writer thread made both threads fight over the GIL for
every statement, which cost more than the work itself. So the work runs here, on the event
loop, and only the COMMIT — the fsync — runs on a thread of its own:

1. Writes that arrive while nothing is being committed start a batch on the next turn of the
   loop: BEGIN IMMEDIATE, then each write in a savepoint of its own (a failing write rolls back
   only itself).
2. The batch's COMMIT goes to the commit thread; the loop serves other requests meanwhile, and
   writes that arrive queue up for the next batch.
3. When the fsync is done, every write of the batch is answered — nobody before their write is
   durable — and the queued writes form the next batch.

The batch uses a connection of its own, so the loop's readers never see a write before it is
committed. Another process (a second worker, a CLI command) may hold the database's write lock:
then the batch waits for it on the commit thread, never on the loop.
"""

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from openucs.store.snapshots import ListSnapshot
    from openucs.store.sqlite import SqliteStore

T = TypeVar("T")
MAX_BATCH = 64
# What SQLite answers when another connection holds the lock a statement needs.
LOCKED = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_Job = tuple["asyncio.Future[Any]", Callable[..., Any], tuple[Any, ...]]
_Outcome = tuple["asyncio.Future[Any]", Any, Exception | None]


class GroupCommit:
    """The write path of one ``SqliteStore`` in one server process."""

    def __init__(self, store: "SqliteStore") -> None:
        self._store = store
        # busy_timeout 0: a lock held by another process must never stall the loop (see _begin).
        self._conn = store.open_connection(busy_timeout_ms=0)
        self._commit_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openucs-commit")
        self._queue: list[_Job] = []
        self._active = False  # a batch is running or being committed

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` as part of a batch; return its result once the batch is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((future, fn, args))
        if not self._active:
            self._active = True
            loop.call_soon(self._begin)  # writes arriving in this turn of the loop join the batch
        return await future

    def _begin(self) -> None:
        if not self._queue:
            self._active = False
            return
        batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode not in LOCKED:
                self._settle([(future, None, exc) for future, _, _ in batch])
                return
            # Another process is writing: wait for its lock off the loop.
            began = asyncio.get_running_loop().run_in_executor(self._commit_thread, self._begin_waiting)
            began.add_done_callback(lambda f: self._began(batch, f))
            return
        self._run(batch)

    def _began(self, batch: list[_Job], began: "asyncio.Future[None]") -> None:
        error = began.exception()
        if error is not None:
            self._settle([(future, None, _as_exception(error)) for future, _, _ in batch])
        else:
            self._run(batch)

    def _begin_waiting(self) -> None:
        """On the commit thread: BEGIN IMMEDIATE once the other process lets go of the lock."""
        self._store.retry_while_locked(lambda: self._conn.execute("BEGIN IMMEDIATE"))

    def _run(self, batch: list[_Job]) -> None:
        outcomes: list[_Outcome] = []
        with self._store.batch(self._conn) as staged:
            for future, fn, args in batch:
                if future.cancelled():  # its request is gone; nobody would hear the answer
                    continue
                try:
                    outcomes.append((future, fn(*args), None))
                except Exception as exc:  # the savepoint rolled it back; the caller gets the error
                    outcomes.append((future, None, exc))
        committed = asyncio.get_running_loop().run_in_executor(self._commit_thread, self._conn.commit)
        committed.add_done_callback(lambda f: self._committed(outcomes, staged, f))

    def _committed(
        self, outcomes: list[_Outcome], staged: "dict[int, ListSnapshot]", committed: "asyncio.Future[None]"
    ) -> None:
        error = committed.exception()
        if error is not None:  # the commit failed: no write of the batch may succeed
            if self._conn.in_transaction:
                self._conn.rollback()
            outcomes = [(future, None, _as_exception(error)) for future, _, _ in outcomes]
        else:
            self._store.publish(staged)
        self._settle(outcomes)

    def _settle(self, outcomes: list[_Outcome]) -> None:
        """Answer a finished batch, then start the next one."""
        for future, result, error in outcomes:
            if future.cancelled():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
        self._begin()

    def close(self) -> None:
        self._commit_thread.shutdown(wait=True)
        self._conn.close()


def _as_exception(error: BaseException) -> Exception:
    return error if isinstance(error, Exception) else RuntimeError(repr(error))
