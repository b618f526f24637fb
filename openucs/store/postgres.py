"""The shared backend: PostgreSQL through a bounded psycopg connection pool.

Any number of processes on any number of hosts may use one database. Writes run in READ
COMMITTED and a mailbox's writers queue on its ``users`` row (the UPDATE that raises the list's
version takes the row lock), so each sees everything the previous one committed: a limit check
and the insert after it cannot interleave with another node's. Reads run in a READ ONLY
REPEATABLE READ snapshot, so a list read in several queries is one consistent state.
"""

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.rows import TupleRow
from psycopg_pool import ConnectionPool

from openucs.store.migrate import migrate, schema_version
from openucs.store.open import DatabaseUrlError
from openucs.store.snapshots import SnapshotCache, TransactionSnapshots
from openucs.store.sql import ACCOUNT_VERSIONS, SqlSession, SqlTransaction, raise_list_version

DEFAULT_POOL_SIZE = 10
# Any constant: every openucs node agrees on it, nothing else in the database uses it.
_MIGRATION_LOCK = 0x6F70656E756373  # "openucs"
_OPENUCS_PARAMS = ("pool_size",)

_BEGIN_WRITE = "BEGIN ISOLATION LEVEL READ COMMITTED"
_BEGIN_READ = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"


class DatabaseUnavailable(DatabaseUrlError):
    """The server cannot be reached or refuses the URL's credentials."""


def split_url(url: str) -> tuple[str, int]:
    """``postgresql://...?pool_size=N&sslmode=...`` → (the URL libpq gets, pool size). The rest
    of the URL is passed on untouched, percent-encoding and all."""
    parts = urlsplit(url)
    ours: dict[str, str] = {}
    theirs = []
    for item in parts.query.split("&") if parts.query else []:
        name, _, value = item.partition("=")
        if unquote(name) in _OPENUCS_PARAMS:
            ours[unquote(name)] = unquote(value)
        else:
            theirs.append(item)
    size_text = ours.get("pool_size", str(DEFAULT_POOL_SIZE))
    try:
        size = int(size_text)
    except ValueError:
        size = 0
    if size < 1:
        raise DatabaseUrlError(f"pool_size must be a whole number of at least 1, not {size_text!r}")
    query = "&".join(theirs)
    return f"postgresql://{parts.netloc}{parts.path}{'?' + query if query else ''}", size


class PostgresStore:
    inline = False  # every call waits on the network: the server runs them off the event loop
    # The lists this process keeps (see snapshots.py); the server sets it, tools run without.
    snapshots: SnapshotCache | None = None

    def __init__(self, url: str) -> None:
        self.url = url
        conninfo, size = split_url(url)
        # Migrate on a connection of its own first: an unreachable server fails here, with
        # libpq's own message, rather than as a pool timeout.
        try:
            conn = psycopg.connect(conninfo, autocommit=True)
        except psycopg.OperationalError as exc:  # a wrong host, port, password or database name
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL: {str(exc).strip()}") from None
        with conn, conn.cursor() as cursor:
            cursor.execute(_BEGIN_WRITE)
            try:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
                migrate(SqlSession(cursor, "postgresql"))
            except BaseException:
                _rollback(cursor)
                raise
            cursor.execute("COMMIT")
        self._pool: ConnectionPool[psycopg.Connection[TupleRow]] = ConnectionPool(
            conninfo, min_size=1, max_size=size, kwargs={"autocommit": True}, open=True, name="openucs"
        )

    @contextmanager
    def transaction(self, *, write: bool, lock_mailbox: int | None = None) -> Iterator[SqlTransaction]:
        with self._pool.connection() as conn, conn.cursor() as cursor:
            cursor.execute(_BEGIN_WRITE if write else _BEGIN_READ)
            session = SqlSession(cursor, "postgresql")
            snapshots = None if self.snapshots is None else TransactionSnapshots(self.snapshots)
            try:
                if write and lock_mailbox is not None:
                    raise_list_version(session, lock_mailbox, snapshots)  # also the mailbox's row lock
                yield SqlTransaction(session, snapshots)
            except BaseException:
                _rollback(cursor)
                raise
            cursor.execute("COMMIT")
            if snapshots is not None:
                snapshots.publish()

    @contextmanager
    def autocommit(self) -> Iterator[SqlTransaction]:
        with self._pool.connection() as conn, conn.cursor() as cursor:
            yield SqlTransaction(SqlSession(cursor, "postgresql"))

    def account_versions(self, user_id: int) -> tuple[int, int] | None:
        with self._pool.connection() as conn, conn.cursor() as cursor:
            row: tuple[int, int] | None = SqlSession(cursor, "postgresql").one(ACCOUNT_VERSIONS, (user_id,))
            return row

    def writer(self) -> None:
        return None  # writes wait on the network and on row locks: the server's thread pool runs them

    def schema_version(self) -> int:
        with self.transaction(write=False) as tx:
            return schema_version(tx.db)

    def close(self) -> None:
        self._pool.close()


def _rollback(cursor: psycopg.Cursor[TupleRow]) -> None:
    # A broken connection cannot roll back; the pool discards it, and the first error is the one to report.
    with suppress(psycopg.Error):
        cursor.execute("ROLLBACK")
