"""SQLite group commit: writes queued together share one transaction, each in its own savepoint."""

import threading
from pathlib import Path

import pytest

from openucs.domain.model import GroupKind
from openucs.store.sqlite import SqliteStore
from tests.conftest import make_user


@pytest.fixture
def sqlite_store(tmp_path: Path):
    store = SqliteStore(tmp_path / "gc.db")
    yield store
    store.close()


def _add_group(store: SqliteStore, mailbox: int, name: str) -> int:
    with store.transaction(write=True, lock_mailbox=mailbox) as tx:
        return tx.imlist(mailbox).create_group(GroupKind.USER, name).id


def _names(store: SqliteStore, mailbox: int) -> set[str]:
    with store.transaction(write=False) as tx:
        return {g.display_name for g in tx.imlist(mailbox).groups() if g.kind is GroupKind.USER}


def test_jobs_queued_together_commit_together_and_fail_alone(sqlite_store):
    user = make_user(sqlite_store, "gc@example.com")
    writer = sqlite_store.writer()
    release = threading.Event()
    # Hold the writer thread so the next jobs queue up and run as one batch.
    blocker = writer.submit(release.wait)
    futures = [writer.submit(_add_group, sqlite_store, user.id, f"G{i}") for i in range(5)]
    duplicate = writer.submit(_add_group, sqlite_store, user.id, "G1")  # violates the unique name
    after = writer.submit(_add_group, sqlite_store, user.id, "G9")
    release.set()
    assert blocker.result(timeout=10)
    ids = [f.result(timeout=10) for f in futures]
    assert len(set(ids)) == 5
    with pytest.raises(Exception, match="UNIQUE"):
        duplicate.result(timeout=10)
    assert after.result(timeout=10)
    assert _names(sqlite_store, user.id) == {"G0", "G1", "G2", "G3", "G4", "G9"}


def test_a_failed_commit_fails_every_job_of_the_batch(sqlite_store):
    user = make_user(sqlite_store, "gc2@example.com")
    real_connection = sqlite_store._connection

    class FailingCommit:
        """The writer's connection, except that its commit fails (a full disk, say)."""

        def __init__(self, conn):
            self._conn = conn

        def __getattr__(self, name):
            return getattr(self._conn, name)

        def commit(self):
            raise OSError("disk full")

    sqlite_store._connection = lambda: FailingCommit(real_connection())
    try:
        futures = [sqlite_store.writer().submit(_add_group, sqlite_store, user.id, f"H{i}") for i in range(3)]
        for f in futures:  # nobody may be told it succeeded
            with pytest.raises(OSError, match="disk full"):
                f.result(timeout=10)
    finally:
        del sqlite_store._connection
    assert _names(sqlite_store, user.id) == set()
