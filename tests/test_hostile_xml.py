"""Hostile XML against a real server (issue 4 §1): every attack is answered with a SOAP fault or
a 4xx within a second, reads no file and opens no connection, the process's memory stays
bounded, and the server goes on serving.

"Within a second" is the client's timeout on every attack request — a generous bound for work
that takes milliseconds, never a measurement. Memory is the server process's VmRSS, read from
/proc before and after all attacks, each sent several times."""

import os
import socket
import threading
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.helpers_ops import fast_password_hashes, new_group, running_server
from tests.support import SOAP, HttpClient, Reply, envelope, validate_envelope

pytestmark = pytest.mark.slow

ATTACK_TIMEOUT = httpx.Timeout(1.0)
ROUNDS = 3
RSS_GROWTH_LIMIT_KIB = 64 * 1024

LOL = b'<!ENTITY lol "lol">' + b"".join(
    b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10) for i in range(1, 10)
)


def _doc(doctype: bytes, body: bytes = b"<m:GetImItemList/>") -> bytes:
    return (
        b'<?xml version="1.0" encoding="utf-8"?>' + doctype + b'<soap:Envelope xmlns:soap="' + SOAP.encode() + b'" '
        b'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages"><soap:Body>'
        + body
        + b"</soap:Body></soap:Envelope>"
    )


class Listener:
    """A loopback TCP port that counts the connections made to it: a parser that fetched an
    external DTD or entity from http://127.0.0.1:PORT/ would show up here."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


@pytest.fixture(scope="module")
def listener():
    lst = Listener()
    yield lst
    lst.close()


@pytest.fixture(scope="module")
def fifo(tmp_path_factory) -> Path:
    """A named pipe: a parser that opened it to read a DTD would block forever (and time out)."""
    path = tmp_path_factory.mktemp("fifo") / "probe.fifo"
    os.mkfifo(path)
    return path


def attacks(listener: Listener, fifo: Path) -> dict[str, bytes]:
    url = f"http://127.0.0.1:{listener.port}"
    return {
        "billion laughs": _doc(
            b"<!DOCTYPE soap:Envelope [" + LOL + b"]>",
            b"<m:AddImGroup><m:DisplayName>&lol9;</m:DisplayName></m:AddImGroup>",
        ),
        "quadratic blow-up": _doc(
            b'<!DOCTYPE soap:Envelope [<!ENTITY a "' + b"x" * 100_000 + b'">]>',
            b"<m:AddImGroup><m:DisplayName>" + b"&a;" * 250_000 + b"</m:DisplayName></m:AddImGroup>",
        ),
        "XXE file:///etc/passwd": _doc(
            b'<!DOCTYPE soap:Envelope [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
            b"<m:AddImGroup><m:DisplayName>&x;</m:DisplayName></m:AddImGroup>",
        ),
        "XXE over the network": _doc(
            f'<!DOCTYPE soap:Envelope [<!ENTITY x SYSTEM "{url}/x">]>'.encode(),
            b"<m:AddImGroup><m:DisplayName>&x;</m:DisplayName></m:AddImGroup>",
        ),
        "external DTD, local": _doc(f'<!DOCTYPE soap:Envelope SYSTEM "{fifo}">'.encode()),
        "external DTD, network": _doc(f'<!DOCTYPE soap:Envelope SYSTEM "{url}/evil.dtd">'.encode()),
        "parameter entity, local": _doc(
            f'<!DOCTYPE soap:Envelope [<!ENTITY % p SYSTEM "file://{fifo}"> %p;]>'.encode()
        ),
        "parameter entity, network": _doc(
            f'<!DOCTYPE soap:Envelope [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]>'.encode()
        ),
        "parameter entity, /dev/zero": _doc(b'<!DOCTYPE soap:Envelope [<!ENTITY % z SYSTEM "file:///dev/zero"> %z;]>'),
        "100 000-deep nesting": b"<a>" * 100_000 + b"</a>" * 100_000,
        "nesting past the depth limit": envelope("<m:GetImItemList>" + "<x>" * 40 + "</x>" * 40 + "</m:GetImItemList>"),
        "a million attributes' worth": b"<a " + b" ".join(b"a%d=''" % i for i in range(120_000)) + b"/>",
        "invalid UTF-8": b'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="'
        + SOAP.encode()
        + b'">\xff\xfe\xc3(</soap:Envelope>',
        "not XML": b'{"operation": "GetImItemList"}',
        "empty": b"",
        "only whitespace": b" \r\n\t ",
        "truncated": envelope("<m:GetImItemList/>")[:-20],
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with (
        fast_password_hashes(),
        running_server(
            tmp_path_factory.mktemp("hostile"), "alice@example.com", env={"OPENUCS_ACCESS_LOG": "false"}
        ) as (proc, _),
    ):
        yield proc


@pytest.fixture(scope="module")
def attacker(server):
    with httpx.Client(base_url=server.base_url, auth=("alice@example.com", PASSWORD), timeout=ATTACK_TIMEOUT) as c:
        # Sign in first: the one argon2 check belongs to the sign-in, not to the attacks.
        assert c.post("/EWS/Exchange.asmx", content=envelope("<m:GetImItemList/>")).status_code == 200
        yield c


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def post(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post("/EWS/Exchange.asmx", content=body, headers={"Content-Type": "text/xml; charset=utf-8"})


def assert_refused(response: httpx.Response) -> None:
    if 400 <= response.status_code < 500:
        return
    assert response.status_code == 500, response.text[:500]
    reply = Reply(500, validate_envelope(response.content))
    reply.fault("ErrorSchemaValidation")
    assert b"root:" not in response.content  # nothing of /etc/passwd comes back


def test_every_attack_is_refused_quickly_with_bounded_memory(server, attacker, listener, fifo):
    cases = attacks(listener, fifo)
    before = rss_kib(server.proc.pid)
    for _ in range(ROUNDS):
        for name, body in cases.items():
            try:
                response = post(attacker, body)
            except httpx.TimeoutException:
                pytest.fail(f"{name}: no answer within {ATTACK_TIMEOUT.read} s")
            assert_refused(response)
    grown = rss_kib(server.proc.pid) - before
    assert grown < RSS_GROWTH_LIMIT_KIB, f"the server grew by {grown} KiB"
    assert listener.connections == 0, "the parser opened a network connection"
    # ... and still serves.
    alice = HttpClient(server.base_url, "alice@example.com", PASSWORD)
    try:
        new_group(alice, "Still serving")
        assert "Still serving" in alice.item_list().groups
    finally:
        alice.close()


def test_a_20_mb_body_is_413_before_it_is_read(server):
    # Announced by Content-Length: refused from the headers alone, so only they are sent.
    with socket.create_connection(("127.0.0.1", server.port), timeout=1.0) as sock:
        sock.sendall(
            b"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Authorization: Basic YWxpY2VAZXhhbXBsZS5jb206Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==\r\n"
            b"Content-Length: 20971520\r\n\r\n"
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")


def test_a_20_mb_chunked_body_is_413_once_past_the_limit(server, attacker):
    """No length announced: the server reads up to the limit, answers 413, and is not waiting for
    the other 18 MiB the client says are coming — the answer arrives while they are unsent."""
    before = rss_kib(server.proc.pid)
    with socket.create_connection(("127.0.0.1", server.port), timeout=1.0) as sock:
        sock.sendall(
            b"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n"
            b"Authorization: Basic YWxpY2VAZXhhbXBsZS5jb206Y29ycmVjdCBob3JzZSBiYXR0ZXJ5IHN0YXBsZQ==\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"10000\r\n" + b" " * 65536 + b"\r\n"
        for _ in range(2 * 16 + 1):  # 2 MiB and a bit of the 20, then stop sending
            sock.sendall(chunk)
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")
    assert rss_kib(server.proc.pid) - before < RSS_GROWTH_LIMIT_KIB
    assert_refused(post(attacker, b"<not xml"))  # and the next request is served


def test_attacks_without_credentials_are_401_and_never_parsed(server, listener, fifo):
    with httpx.Client(base_url=server.base_url, timeout=ATTACK_TIMEOUT) as anonymous:
        for body in attacks(listener, fifo).values():
            assert post(anonymous, body).status_code == 401
