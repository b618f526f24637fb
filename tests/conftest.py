"""Fixtures: a real store per test (SQLite file, and a fresh PostgreSQL database), the in-process
service, a running server."""

import os

import pytest

from openucs.auth.passwords import hash_password
from openucs.config import Settings
from openucs.domain.model import Limits
from openucs.ews.fragments import FragmentCache
from openucs.ops.cache import ListCache
from openucs.ops.ids import IdCodec
from openucs.ops.service import Service
from openucs.store.open import open_store
from openucs.store.snapshots import SnapshotCache
from tests.pg_server import PostgresServer, find_bindir
from tests.support import InProcessClient, ServerProcess, ms_schemas

PASSWORD = "correct horse battery staple"


def pytest_sessionstart(session: pytest.Session) -> None:
    ms_schemas()  # fail fast when the reference schema is missing


@pytest.fixture(scope="session")
def postgres_server():
    """Started on first use; PostgreSQL tests skip without the server binaries, unless
    OPENUCS_REQUIRE_POSTGRES=1 (CI) makes that an error."""
    bindir = find_bindir()
    if bindir is None:
        if os.environ.get("OPENUCS_REQUIRE_POSTGRES") == "1":
            pytest.fail("OPENUCS_REQUIRE_POSTGRES=1 but no PostgreSQL server binaries (initdb, pg_ctl)", pytrace=False)
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl)")
    server = PostgresServer(bindir)
    try:
        yield server.start()
    finally:
        server.stop()


@pytest.fixture
def postgres_database(postgres_server):
    """URLs of fresh, empty PostgreSQL databases, dropped after the test."""
    names = []

    def make(*, migrated: bool = True) -> str:
        name, url = postgres_server.create_database(migrated=migrated)
        names.append(name)
        return url

    yield make
    for name in names:
        postgres_server.drop_database(name)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'openucs.db'}"
    return request.getfixturevalue("postgres_database")()


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_url(request, tmp_path) -> str:
    """A database no openucs has touched yet."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'blank.db'}"
    return request.getfixturevalue("postgres_database")(migrated=False)


@pytest.fixture
def store(database_url):
    s = open_store(database_url)
    # As served: the lists read and written are kept, so every test also checks they never go stale.
    s.snapshots = SnapshotCache(8 * 1024 * 1024)
    yield s
    s.close()


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture
def service(store, limits) -> Service:
    # With the list cache and the rendered-item cache, as served: every in-process test also
    # checks that neither is ever stale.
    return Service(store, IdCodec(b"k" * 32), limits, ListCache(8 * 1024 * 1024), FragmentCache(4 * 1024 * 1024))


def make_user(store, email: str, name: str = "", password: str = PASSWORD):
    with store.transaction(write=True) as tx:
        return tx.accounts.add(email, name or email.split("@", maxsplit=1)[0].title(), hash_password(password))


@pytest.fixture
def alice(store):
    return make_user(store, "alice@example.com", "Alice Example")


@pytest.fixture
def bob(store):
    return make_user(store, "bob@example.com", "Bob Example")


@pytest.fixture
def client(service, alice) -> InProcessClient:
    return InProcessClient(service, alice)


@pytest.fixture
def bob_client(service, bob) -> InProcessClient:
    return InProcessClient(service, bob)


@pytest.fixture
def server(database_url, store):
    """A running ``openucs serve`` on the same database file as ``store``."""
    proc = ServerProcess(database_url).start()
    yield proc
    proc.stop()


@pytest.fixture
def settings(database_url) -> Settings:
    return Settings(database=database_url)
