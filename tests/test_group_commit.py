"""SQLite group commit: writes queued together share one transaction, each in its own savepoint,
run on the event loop, and are answered only after their commit (the fsync) is done."""

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from openucs.domain.model import GroupKind
from openucs.store.group_commit import LOCK_POLL, CommitThread
from openucs.store.sqlite import SqliteStore
from tests.conftest import make_user


@pytest.fixture
def sqlite_store(tmp_path: Path):
    store = SqliteStore(tmp_path / "gc.db")
    yield store
    store.close()


class Connection:
    """The writer's connection, with its commits counted and, on demand, held or failed."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.commits = 0
        self.hold = threading.Event()
        self.hold.set()
        self.fail: Exception | None = None
        self.slow = 0.0  # seconds each commit takes, as on a disk that flushes slowly
        self.threads: list[str] = []  # where each commit ran

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def commit(self) -> None:
        self.threads.append(threading.current_thread().name)
        time.sleep(self.slow)
        self.hold.wait(10)
        if self.fail is not None:
            raise self.fail
        self.commits += 1
        self._conn.commit()


@pytest.fixture
def conn(sqlite_store):
    writer = sqlite_store.writer()
    wrapped = Connection(writer._conn)
    writer._conn = wrapped
    return wrapped


def _add_group(store: SqliteStore, mailbox: int, name: str) -> int:
    with store.transaction(write=True, lock_mailbox=mailbox) as tx:
        return tx.imlist(mailbox).create_group(GroupKind.USER, name).id


def _names(store: SqliteStore, mailbox: int) -> set[str]:
    with store.transaction(write=False) as tx:
        return {g.display_name for g in tx.imlist(mailbox).groups() if g.kind is GroupKind.USER}


def test_jobs_queued_together_commit_together_and_fail_alone(sqlite_store, conn):
    user = make_user(sqlite_store, "gc@example.com")
    writer = sqlite_store.writer()

    async def main():
        names = ["G0", "G1", "G2", "G1", "G9"]  # the second G1 violates the unique name
        return await asyncio.gather(
            *(writer.run(_add_group, sqlite_store, user.id, n) for n in names), return_exceptions=True
        )

    results = asyncio.run(main())
    assert conn.commits == 1
    assert isinstance(results[3], sqlite3.IntegrityError)
    assert len({r for i, r in enumerate(results) if i != 3}) == 4
    assert _names(sqlite_store, user.id) == {"G0", "G1", "G2", "G9"}


def test_a_write_is_answered_and_visible_only_after_its_commit(sqlite_store, conn):
    user = make_user(sqlite_store, "gc3@example.com")
    writer = sqlite_store.writer()
    conn.hold.clear()

    async def main():
        first = asyncio.ensure_future(writer.run(_add_group, sqlite_store, user.id, "A"))
        await asyncio.sleep(0.05)  # the batch ran; its commit is held
        assert not first.done()
        assert _names(sqlite_store, user.id) == set()  # readers never see an uncommitted write
        # Writes that arrive during a commit wait for it, then form the next batch.
        second = asyncio.ensure_future(writer.run(_add_group, sqlite_store, user.id, "B"))
        await asyncio.sleep(0.05)
        assert not second.done()
        conn.hold.set()
        return await first, await second

    first, second = asyncio.run(main())
    assert first != second
    assert conn.commits == 2
    assert _names(sqlite_store, user.id) == {"A", "B"}


def test_a_failed_commit_fails_every_job_of_the_batch(sqlite_store, conn):
    user = make_user(sqlite_store, "gc2@example.com")
    writer = sqlite_store.writer()
    conn.fail = OSError("disk full")

    async def main():
        return await asyncio.gather(
            *(writer.run(_add_group, sqlite_store, user.id, f"H{i}") for i in range(3)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert all(isinstance(r, OSError) and "disk full" in str(r) for r in results)  # nobody told it succeeded
    assert _names(sqlite_store, user.id) == set()
    conn.fail = None  # the writer recovers for the next batch
    assert asyncio.run(writer.run(_add_group, sqlite_store, user.id, "after"))
    assert _names(sqlite_store, user.id) == {"after"}


def test_another_process_holding_the_write_lock_never_stalls_the_loop(sqlite_store, conn):
    user = make_user(sqlite_store, "gc4@example.com")
    writer = sqlite_store.writer()
    other = sqlite3.connect(sqlite_store.path, isolation_level=None)  # as a second worker would
    other.execute("BEGIN IMMEDIATE")

    async def main():
        write = asyncio.ensure_future(writer.run(_add_group, sqlite_store, user.id, "late"))
        ticks = 0
        for _ in range(20):  # the loop keeps turning while the write waits for the lock
            await asyncio.sleep(0.005)
            ticks += 1
        assert not write.done()
        other.execute("COMMIT")
        return ticks, await asyncio.wait_for(write, 10)

    ticks, group_id = asyncio.run(main())
    other.close()
    assert ticks == 20 and group_id
    assert _names(sqlite_store, user.id) == {"late"}


def test_a_read_that_must_write_waits_for_the_write_lock_off_the_loop(sqlite_store):
    """GetImItemList creates a mailbox's missing system groups. On the event loop that write
    must go through the group commit: taking the lock on the loop's own connection would stall
    every request, and deadlock once the group commit holds the lock waiting for the loop."""
    from openucs.domain.model import Limits  # noqa: PLC0415
    from openucs.ops.ids import IdCodec  # noqa: PLC0415
    from openucs.ops.service import Service  # noqa: PLC0415
    from tests.asgi_support import client, make_app, post  # noqa: PLC0415
    from tests.support import Reply, T, validate_envelope  # noqa: PLC0415

    lazy = make_user(sqlite_store, "lazy@example.com")
    make_user(sqlite_store, "busy@example.com")
    with sqlite_store.transaction(write=True) as tx:
        tx.db.run("DELETE FROM im_groups WHERE mailbox_id = ?", (lazy.id,))
    app = make_app(Service(sqlite_store, IdCodec(b"k" * 32), Limits()))
    writer = sqlite_store.writer()
    real_run = writer.run
    entered = asyncio.Event()

    async def run(fn, *args):
        entered.set()
        return await real_run(fn, *args)

    writer.run = run
    other_process = sqlite3.connect(sqlite_store.path, isolation_level=None)

    async def scenario() -> tuple[Reply, Reply]:
        async with client(app) as c:
            for user in ("lazy@example.com", "busy@example.com"):  # sign in (argon2) beforehand
                assert (await post(c, "<m:GetImItems/>", user)).status_code == 200
            other_process.execute("BEGIN IMMEDIATE")
            try:
                lazy_list = asyncio.ensure_future(post(c, "<m:GetImItemList/>", "lazy@example.com"))
                await asyncio.wait_for(entered.wait(), 10)  # the read went to the write path ...
                busy = await asyncio.wait_for(post(c, "<m:GetImItemList/>", "busy@example.com"), 10)
                assert not lazy_list.done()  # ... where it waits for the lock, off the loop
            finally:
                other_process.rollback()
            lazy_answer = await asyncio.wait_for(lazy_list, 10)
            return (
                Reply(busy.status_code, validate_envelope(busy.content)),
                Reply(lazy_answer.status_code, validate_envelope(lazy_answer.content)),
            )

    busy, lazy_reply = asyncio.run(scenario())
    other_process.close()
    assert busy.ok() and lazy_reply.ok()
    names = {g.findtext(f"{{{T}}}DisplayName") for g in lazy_reply.findall("m:ImItemList/t:Groups/t:ImGroup")}
    assert names == {"Favorites", "Other Contacts", "Tagged"}


def _contended_writes(store: SqliteStore, mailbox: int, names: list[str]) -> list:
    """Writes made while another process holds the write lock for a moment, one after another."""
    writer = store.writer()
    other = sqlite3.connect(store.path, isolation_level=None)  # as a second worker would

    async def main():
        results = []
        for name in names:
            other.execute("BEGIN IMMEDIATE")
            write = asyncio.ensure_future(writer.run(_add_group, store, mailbox, name))
            await asyncio.sleep(0.003)  # the batch finds the lock busy and asks again
            assert not write.done()
            other.execute("COMMIT")
            results.append(await asyncio.wait_for(write, 10))
        return results

    try:
        return asyncio.run(main())
    finally:
        other.close()


def test_while_another_process_wants_the_lock_quick_commits_run_on_the_loop(sqlite_store, conn):
    user = make_user(sqlite_store, "contended@example.com")
    asyncio.run(sqlite_store.writer().run(_add_group, sqlite_store, user.id, "alone"))
    assert conn.threads[-1].startswith("openucs-commit")  # no contention: the fsync waits on its thread
    assert all(_contended_writes(sqlite_store, user.id, ["C1", "C2"]))
    assert conn.threads[-2:] == [threading.current_thread().name] * 2  # no hand-over while holding the lock
    assert _names(sqlite_store, user.id) == {"alone", "C1", "C2"}


def test_slow_commits_stay_on_the_commit_thread_even_under_contention(sqlite_store, conn):
    user = make_user(sqlite_store, "slowdisk@example.com")
    conn.slow = 0.005  # five times the limit: the loop would stall for every batch
    assert all(_contended_writes(sqlite_store, user.id, [f"S{i}" for i in range(6)]))
    assert conn.threads[-1].startswith("openucs-commit")
    assert _names(sqlite_store, user.id) == {f"S{i}" for i in range(6)}


def test_a_lock_held_past_the_busy_timeout_fails_the_batch_not_the_loop(tmp_path):
    store = SqliteStore(tmp_path / "busy.db", busy_timeout_ms=100)
    user = make_user(store, "timeout@example.com")
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def main():
        write = asyncio.ensure_future(store.writer().run(_add_group, store, user.id, "never"))
        ticks = 0
        while not write.done() and ticks < 400:  # 2 s: far past the timeout
            await asyncio.sleep(0.005)
            ticks += 1
        return ticks, write.exception()

    try:
        ticks, error = asyncio.run(main())
    finally:
        other.rollback()
        other.close()
    assert isinstance(error, sqlite3.OperationalError) and "locked" in str(error)
    assert ticks >= 15  # the loop turned all along
    assert _names(store, user.id) == set()
    store.close()


def test_a_long_held_lock_is_asked_for_less_and_less_often(sqlite_store, conn):
    """A lock held for long (an import, a backup) must not cost the loop thousands of tries: it
    asks on every turn only for the first few milliseconds."""
    user = make_user(sqlite_store, "patient@example.com")
    tries: list[float] = []
    real_execute = conn._conn.execute

    def execute(sql, *args):
        if sql == "BEGIN IMMEDIATE":
            tries.append(time.monotonic())
        return real_execute(sql, *args)

    conn.execute = execute  # the wrapper's own attribute, before __getattr__'s delegation
    other = sqlite3.connect(sqlite_store.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")

    async def main():
        write = asyncio.ensure_future(sqlite_store.writer().run(_add_group, sqlite_store, user.id, "later"))
        await asyncio.sleep(0.2)
        other.execute("COMMIT")
        return await asyncio.wait_for(write, 10)

    try:
        assert asyncio.run(main())
    finally:
        other.close()
    late = [t for t in tries if t - tries[0] > 0.05]  # well past the spin
    first_ms = [t for t in tries if t - tries[0] < 0.004]
    assert len(first_ms) > 10, len(first_ms)  # it asked on every turn at first ...
    assert len(late) < 1.5 * 0.15 / LOCK_POLL, len(late)  # ... then asked every LOCK_POLL
    assert _names(sqlite_store, user.id) == {"later"}


def test_the_commit_thread_answers_on_the_loop_and_outlives_a_closed_one():
    outcomes = iter([None, OSError("disk full"), None, None])  # the third is for the closed loop

    def commit():
        error = next(outcomes)
        if error is not None:
            raise error

    thread = CommitThread(commit)

    async def one() -> tuple[BaseException | None, str]:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[tuple[BaseException | None, str]] = loop.create_future()
        thread.commit(loop, lambda error: answer.set_result((error, threading.current_thread().name)))
        return await asyncio.wait_for(answer, 5)  # a dead thread would never answer

    try:
        assert asyncio.run(one()) == (None, threading.current_thread().name)  # answered on the loop's thread
        error, _ = asyncio.run(one())
        assert isinstance(error, OSError) and str(error) == "disk full"
        # A loop that closed before its answer came: the answer is dropped, the thread goes on.
        gone = asyncio.new_event_loop()
        gone.close()
        thread.commit(gone, lambda error: pytest.fail("answered on a closed loop"))
        assert asyncio.run(one()) == (None, threading.current_thread().name)
    finally:
        thread.close()
    assert not thread._thread.is_alive()
