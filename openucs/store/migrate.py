"""The one migration runner every backend calls, inside a transaction holding its migration lock
(SQLite: the write lock; PostgreSQL: an advisory lock), so processes starting together apply
each migration exactly once."""

from openucs.store.migrations import LATEST_VERSION, MIGRATIONS
from openucs.store.sql import SqlSession


class SchemaTooNew(RuntimeError):
    """The database was migrated by a newer openucs; this code must not touch it."""


def schema_version(db: SqlSession) -> int:
    return int(db.one("SELECT MAX(version) FROM openucs_schema")[0] or 0)


def migrate(db: SqlSession, *, target: int = LATEST_VERSION) -> int:
    """Bring the schema to ``target`` (tests build older databases with a lower one); return the
    version found before."""
    db.run("CREATE TABLE IF NOT EXISTS openucs_schema (version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    current = schema_version(db)
    if current > LATEST_VERSION:
        raise SchemaTooNew(
            f"database schema version {current} is newer than this openucs ({LATEST_VERSION}); upgrade openucs"
        )
    for migration in MIGRATIONS:
        if current < migration.version <= target:
            for statement in migration.render(db.dialect):
                db.run(statement)
            if migration.data is not None:
                migration.data(db)
            db.run("INSERT INTO openucs_schema (version, name) VALUES (?, ?)", (migration.version, migration.name))
    return current
