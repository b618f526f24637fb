"""A throwaway PostgreSQL server for one test session, and a fresh database per test.

initdb in a temp dir (owned by ``postgres`` when running as root: initdb and pg_ctl refuse
root), listening on 127.0.0.1 only on a free port, password-protected, durability off for
speed. Each test gets a copy of an already migrated template database (CREATE DATABASE ...
TEMPLATE is a file copy: far faster than running the migrations again).
"""

import itertools
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg

from openucs.store.postgres import PostgresStore
from tests.support import free_port

TEMPLATE = "openucs_template"
SUPERUSER = "openucs"


def find_bindir() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` (Debian's layout), else initdb on PATH."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", path.parent.name))

    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    return None


def _postgres_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError("running as root: initdb needs a 'postgres' user to own the cluster") from None


class PostgresServer:
    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        # Tests trade durability for speed; benchmarks measure a server configured as in production.
        self.durable = durable
        self.password = secrets.token_hex(16)
        self.port = 0
        self.base: Path | None = None
        self._admin: psycopg.Connection | None = None
        self._names = itertools.count(1)
        self._strategy = ""
        self._dropped: list[str] = []
        self._owner = _postgres_user() if os.geteuid() == 0 else None

    def _run(self, *args: str) -> None:
        assert self.base is not None
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._owner is not None:
            command = ["runuser", "-u", self._owner.pw_name, "--", *command]
        result = subprocess.run(command, cwd=self.base, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            log = self.base / "server.log"
            detail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed:\n{result.stdout}{result.stderr}{detail}")

    def _give(self, path: Path) -> None:
        if self._owner is not None:
            os.chown(path, self._owner.pw_uid, self._owner.pw_gid)

    def start(self) -> "PostgresServer":
        # In memory when the machine has /dev/shm: copying a template on disk can take 250 ms,
        # in memory 10 ms. Either way a world-traversable parent, so postgres can reach it.
        shm = Path("/dev/shm")
        parent = shm if shm.is_dir() and os.access(shm, os.W_OK) and not self.durable else None
        self.base = base = Path(tempfile.mkdtemp(prefix="openucs-pg-", dir=parent))
        self._give(base)
        (base / "sock").mkdir()
        self._give(base / "sock")
        pwfile = base / "pwfile"
        pwfile.write_text(self.password + "\n")
        self._give(pwfile)
        self._run(
            "initdb",
            "-D",
            str(base / "data"),
            "-U",
            SUPERUSER,
            "--pwfile",
            str(pwfile),
            "--auth",
            "scram-sha-256",
            "--no-locale",
            "--encoding",
            "UTF8",
            "--no-sync",
        )
        pwfile.unlink()
        for attempt in range(3):  # another process may take the free port before the server binds it
            self.port = free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={base / 'sock'} "
                "-c max_connections=300"
            )
            if not self.durable:
                options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            try:
                self._run("pg_ctl", "-D", str(base / "data"), "-l", str(base / "server.log"), "-w",
                          "-t", "60", "-o", options, "start")  # fmt: skip
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self._admin = psycopg.connect(self.url("postgres"), autocommit=True)
        # Faster than PostgreSQL 15's default (WAL-logged) copy for a small template.
        self._strategy = " STRATEGY = FILE_COPY" if self._admin.info.server_version >= 150000 else ""
        self._admin.execute(f"CREATE DATABASE {TEMPLATE}")
        PostgresStore(self.url(TEMPLATE)).close()  # migrated once, copied per test
        return self

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def create_database(self, *, migrated: bool = True) -> tuple[str, str]:
        """A fresh, empty database, migrated unless asked otherwise: (name, URL)."""
        assert self._admin is not None
        self._drop_dropped()
        name = f"test_{next(self._names)}"
        template = TEMPLATE if migrated else "template1"
        self._admin.execute(f"CREATE DATABASE {name} TEMPLATE {template}{self._strategy}")
        return name, self.url(name)

    def drop_database(self, name: str) -> None:
        """Dropped at the next create: by then the test's closed connections have gone (a DROP
        racing a backend that is still exiting waits 100 ms for it)."""
        self._dropped.append(name)

    def _drop_dropped(self) -> None:
        assert self._admin is not None
        while self._dropped:
            self._admin.execute(f"DROP DATABASE IF EXISTS {self._dropped.pop()} WITH (FORCE)")

    def stop(self) -> None:
        """Safe after a start that failed half way."""
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        if self.base is None:
            return
        try:
            if (self.base / "data" / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)
