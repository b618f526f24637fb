"""Shared benchmark plumbing: populated databases, server processes, the load generator."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from openucs.auth.passwords import hash_password
from openucs.domain.model import ContactCard, GroupKind
from openucs.store.port import Store

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "bench-password"
SOAP_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><soap:Header>'
    '<t:RequestServerVersion Version="Exchange2013"/></soap:Header><soap:Body>'
)
SOAP_TAIL = "</soap:Body></soap:Envelope>"


def soap(operation_xml: str) -> bytes:
    return (SOAP_HEAD + operation_xml + SOAP_TAIL).encode()


def add_user(store: Store, email: str, *, password_hash: str | None = None) -> int:
    with store.transaction(write=True) as tx:
        user = tx.accounts.add(email, email.split("@", maxsplit=1)[0], password_hash or hash_password(PASSWORD))
    return user.id


def populate(store: Store, mailbox_id: int, contacts: int, groups: int) -> None:
    """``contacts`` contacts spread over ``groups`` user groups; every tenth also in Favorites."""
    with store.transaction(write=True, lock_mailbox=mailbox_id) as tx:
        repo = tx.imlist(mailbox_id)
        repo.create_missing_system_groups()
        favorites = repo.system_group(GroupKind.FAVORITES)
        assert favorites is not None
        group_ids = [repo.create_group(GroupKind.USER, f"Group {g:02d}").id for g in range(groups)]
        for i in range(contacts):
            address = f"contact{i:04d}@example.com"
            contact = repo.create_contact(address, ContactCard(display_name=f"Contact {i:04d}", email_address=address))
            repo.add_member(group_ids[i % len(group_ids)] if group_ids else favorites.id, contact.id)
            if i % 10 == 0:
                repo.add_member(favorites.id, contact.id)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes], path: str = "/healthz") -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited early")
        try:
            httpx.get(url + path, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def start_openucs(
    database: str, *, workers: int = 1, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {**os.environ, "OPENUCS_ACCESS_LOG": "false", "OPENUCS_LOG_LEVEL": "warning", **(extra_env or {})}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openucs",
            "--database",
            database,
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    return proc, url


def start_bare(*, workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    """The same HTTP server (openucs.server, same flags) with an app that returns a fixed response."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_app", "--port", str(port), "--workers", str(workers)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc, "/")
    return proc, url


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def load(url: str, cycles: list[list[bytes]], seconds: float, *, once: bool = False) -> dict:
    """Run bench/loadgen.py in its own process against ``url``; return its figures."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as f:
        connections = [[r.decode("latin-1") for r in c] for c in cycles]
        json.dump({"url": url, "seconds": seconds, "once": once, "connections": connections}, f)
        spec = f.name
    try:
        out = subprocess.run(
            [sys.executable, "-m", "bench.loadgen", "--spec", spec],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(spec)
    return dict(json.loads(out.stdout))
