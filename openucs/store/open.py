"""Database URL → store."""

from pathlib import Path
from urllib.parse import unquote, urlsplit

from openucs.store.port import Store
from openucs.store.sqlite import SqliteStore

DEFAULT_DATABASE = "sqlite:///openucs-data/openucs.db"


class DatabaseUrlError(ValueError):
    pass


def open_store(url: str) -> Store:
    """``sqlite:////abs/path.db`` or ``sqlite:///relative.db``; ``postgresql://...``."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        if parts.netloc:
            raise DatabaseUrlError(f"{url!r}: a SQLite URL has no host; write sqlite:////absolute/path.db")
        path = unquote(parts.path)
        if not path or path == "/":
            raise DatabaseUrlError(f"{url!r}: no file name")
        # sqlite:///rel.db has path "/rel.db" (relative); sqlite:////abs.db has "//abs.db".
        return SqliteStore(Path(path[1:]) if path.startswith("/") else Path(path))
    if parts.scheme in ("postgresql", "postgres"):
        try:
            from openucs.store.postgres import PostgresStore  # noqa: PLC0415 - loads the driver only when used
        except ModuleNotFoundError as exc:
            raise DatabaseUrlError(f"PostgreSQL support needs the psycopg package ({exc})") from None

        return PostgresStore(url)
    raise DatabaseUrlError(f"{url!r}: unsupported database URL (use sqlite:///... or postgresql://...)")
