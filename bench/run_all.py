"""Every benchmark, one after the other: ``./run bench``.

PostgreSQL figures need Debian's PostgreSQL server binaries (the same ones the tests use); the
benchmark starts a throwaway server of its own with production durability (fsync on).
"""

import sys

from bench import imitemlist, scale, small_requests


def main() -> None:
    imitemlist.main()
    sys.argv = [sys.argv[0]]
    small_requests.main()
    from tests.pg_server import PostgresServer, find_bindir  # noqa: PLC0415 - test helper, optional

    bindir = find_bindir()
    server = PostgresServer(bindir, durable=True).start() if bindir else None
    try:
        args = ["--postgres", server.url("postgres")] if server else []
        if server is None:
            print("PostgreSQL server binaries not found: scale figures for SQLite only")
        sys.argv = [sys.argv[0], *args]
        scale.main()
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
