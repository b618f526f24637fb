"""What every backend promises beyond the operations: migrations that many processes may run at
once, refusal of a database a newer openucs migrated, the PostgreSQL URL's own parameters."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from openucs.store.migrate import SchemaTooNew
from openucs.store.migrations import LATEST_VERSION, MIGRATIONS
from openucs.store.open import DatabaseUrlError, open_store
from tests.conftest import make_user


def test_nodes_starting_together_migrate_once(blank_url):
    starters = 6
    barrier = threading.Barrier(starters)

    def start(_: int):
        barrier.wait(timeout=60)  # a guard against a hang, not a measurement
        return open_store(blank_url)

    with ThreadPoolExecutor(max_workers=starters) as pool:
        stores = list(pool.map(start, range(starters)))
    try:
        assert {s.schema_version() for s in stores} == {LATEST_VERSION}
        with stores[0].transaction(write=False) as tx:
            rows = tx.db.all("SELECT version, name FROM openucs_schema ORDER BY version")
        assert [tuple(r) for r in rows] == [(m.version, m.name) for m in MIGRATIONS]
        make_user(stores[1], "alice@example.com")
        with stores[2].transaction(write=False) as tx:
            assert tx.accounts.by_email("alice@example.com") is not None
    finally:
        for s in stores:
            s.close()


def test_a_database_migrated_by_a_newer_openucs_is_refused(database_url):
    store = open_store(database_url)
    try:
        with store.transaction(write=True) as tx:
            tx.db.run("INSERT INTO openucs_schema (version, name) VALUES (?, ?)", (LATEST_VERSION + 1, "future"))
    finally:
        store.close()
    with pytest.raises(SchemaTooNew, match=f"version {LATEST_VERSION + 1} is newer"):
        open_store(database_url).close()


def test_reopening_a_current_database_changes_nothing(database_url):
    first = open_store(database_url)
    try:
        alice = make_user(first, "alice@example.com")
    finally:
        first.close()
    again = open_store(database_url)
    try:
        assert again.schema_version() == LATEST_VERSION
        with again.transaction(write=False) as tx:
            assert tx.accounts.by_id(alice.id) == alice
            assert tx.db.one("SELECT COUNT(*) FROM openucs_schema")[0] == len(MIGRATIONS)
    finally:
        again.close()


def test_booleans_read_back_as_booleans(store):
    user = make_user(store, "alice@example.com")
    assert user.im_list_migration_completed is False
    with store.transaction(write=True, lock_mailbox=user.id) as tx:
        tx.accounts.set_migration_completed(user.id, True)
    with store.transaction(write=False) as tx:
        assert tx.accounts.by_id(user.id).im_list_migration_completed is True


SOCKET = "host=%2Fvar%2Frun%2Fpostgresql"


@pytest.mark.parametrize(
    ("url", "conninfo", "size"),
    [
        ("postgresql://u:p@db.example:5433/openucs", "postgresql://u:p@db.example:5433/openucs", 10),
        ("postgres://u@h/d?pool_size=3&sslmode=require", "postgresql://u@h/d?sslmode=require", 3),
        (f"postgresql:///d?{SOCKET}&pool_size=25", f"postgresql:///d?{SOCKET}", 25),
    ],
)
def test_postgresql_url_parameters_of_openucs_are_not_passed_to_libpq(url, conninfo, size):
    from openucs.store.postgres import split_url  # noqa: PLC0415 - needs the optional driver

    assert split_url(url) == (conninfo, size)


@pytest.mark.parametrize("value", ["0", "-1", "ten", ""])
def test_a_bad_pool_size_is_refused(value):
    from openucs.store.postgres import split_url  # noqa: PLC0415 - needs the optional driver

    with pytest.raises(DatabaseUrlError, match="pool_size"):
        split_url(f"postgresql://u@h/d?pool_size={value}")
