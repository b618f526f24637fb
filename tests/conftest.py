"""Fixtures: a real SQLite store file per test, the in-process service, a running server."""

import pytest

from openucs.auth.passwords import hash_password
from openucs.config import Settings
from openucs.domain.model import Limits
from openucs.ops.ids import IdCodec
from openucs.ops.service import Service
from openucs.store.open import open_store
from tests.support import InProcessClient, ServerProcess, ms_schemas

PASSWORD = "correct horse battery staple"


def pytest_sessionstart(session: pytest.Session) -> None:
    ms_schemas()  # fail fast when the reference schema is missing


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'openucs.db'}"


@pytest.fixture
def store(database_url):
    s = open_store(database_url)
    yield s
    s.close()


@pytest.fixture
def limits() -> Limits:
    return Limits()


@pytest.fixture
def service(store, limits) -> Service:
    return Service(store, IdCodec(b"k" * 32), limits)


def make_user(store, email: str, name: str = "", password: str = PASSWORD):
    with store.transaction(write=True) as tx:
        return tx.accounts.add(email, name or email.split("@")[0].title(), hash_password(password))


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
