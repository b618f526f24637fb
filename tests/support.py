"""Test helpers: request envelopes, and clients that validate every response they receive
against Microsoft's EWS product schema (../shared/ews-schema), in process or over HTTP."""

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import httpx
from lxml import etree

REPO = Path(__file__).resolve().parents[1]
MS_SCHEMA_DIR = Path(os.environ.get("OPENUCS_EWS_SCHEMA_DIR", REPO.parent / "shared" / "ews-schema"))

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
M = "http://schemas.microsoft.com/exchange/services/2006/messages"
T = "http://schemas.microsoft.com/exchange/services/2006/types"
E = "http://schemas.microsoft.com/exchange/services/2006/errors"
NS = {"s": SOAP, "m": M, "t": T, "e": E}


@cache
def ms_schemas() -> tuple[etree.XMLSchema, etree.XMLSchema]:
    """(element schema, whole-envelope schema), compiled once. Missing reference data is an error."""
    element = MS_SCHEMA_DIR / "lxml_wrapper.xsd"
    envelope = MS_SCHEMA_DIR / "envelope_wrapper.xsd"
    if not element.exists():
        raise RuntimeError(f"Microsoft's EWS schema is missing: {element} (shared/ must sit beside the clone)")
    return etree.XMLSchema(etree.parse(str(element))), etree.XMLSchema(etree.parse(str(envelope)))


VALIDATED = {"count": 0}


def validate_envelope(body: bytes) -> etree._Element:
    """Parse a response envelope and validate it against the product schema; return the root."""
    element_schema, envelope_schema = ms_schemas()
    root = etree.fromstring(body)
    envelope_schema.assertValid(root)
    soap_body = root.find(f"{{{SOAP}}}Body")
    assert soap_body is not None and len(soap_body) == 1, "a response body holds exactly one element"
    child = soap_body[0]
    if child.tag != f"{{{SOAP}}}Fault":
        element_schema.assertValid(child)  # strict: the element must be declared by the product schema
    header = root.find(f"{{{SOAP}}}Header")
    if header is not None:
        for el in header:
            element_schema.assertValid(el)
    VALIDATED["count"] += 1
    return root


def envelope(body: str, version: str | None = "Exchange2013", headers: str = "", *, declaration: bool = True) -> bytes:
    version_header = f'<t:RequestServerVersion Version="{version}"/>' if version else ""
    decl = '<?xml version="1.0" encoding="utf-8"?>\n' if declaration else ""
    return (
        f'{decl}<soap:Envelope xmlns:soap="{SOAP}" xmlns:m="{M}" xmlns:t="{T}">'
        f"<soap:Header>{version_header}{headers}</soap:Header><soap:Body>{body}</soap:Body></soap:Envelope>"
    ).encode()


def item_id(tag: str, ref: "Ref | None") -> str:
    if ref is None:
        return ""
    return f'<m:{tag} Id="{ref.id}" ChangeKey="{ref.change_key}"/>'


@dataclass(frozen=True)
class Ref:
    id: str
    change_key: str = ""


@dataclass
class Reply:
    status: int
    root: etree._Element

    @property
    def body(self) -> etree._Element:
        return self.root.find(f"{{{SOAP}}}Body")[0]

    @property
    def is_fault(self) -> bool:
        return self.body.tag == f"{{{SOAP}}}Fault"

    @property
    def response_class(self) -> str:
        return self.body.get("ResponseClass")

    @property
    def code(self) -> str:
        if self.is_fault:
            return self.body.findtext("detail/e:ResponseCode", namespaces=NS)
        return self.body.findtext("m:ResponseCode", namespaces=NS)

    @property
    def message_text(self) -> str | None:
        return self.body.findtext("m:MessageText", namespaces=NS)

    def find(self, path: str) -> etree._Element | None:
        return self.body.find(path, namespaces=NS)

    def findall(self, path: str) -> list[etree._Element]:
        return self.body.findall(path, namespaces=NS)

    def group_ref(self, path: str = "m:ImGroup") -> Ref:
        el = self.find(f"{path}/t:ExchangeStoreId")
        assert el is not None, etree.tostring(self.body)
        return Ref(el.get("Id"), el.get("ChangeKey"))

    def persona_ref(self, path: str = "m:Persona") -> Ref:
        el = self.find(f"{path}/t:Attributions/t:Attribution/t:SourceId")
        assert el is not None, etree.tostring(self.body)
        return Ref(el.get("Id"), el.get("ChangeKey"))

    def ok(self) -> "Reply":
        assert self.status == 200 and self.response_class == "Success", etree.tostring(self.root)
        return self

    def error(self, code: str) -> "Reply":
        assert self.status == 200, etree.tostring(self.root)
        assert self.response_class == "Error", etree.tostring(self.root)
        assert self.code == code, etree.tostring(self.root)
        assert self.find("m:DescriptiveLinkKey").text == "0"
        assert self.message_text
        return self

    def fault(self, code: str) -> "Reply":
        assert self.status == 500 and self.is_fault, etree.tostring(self.root)
        assert self.code == code, etree.tostring(self.root)
        faultcode = self.body.findtext("faultcode")
        assert faultcode == f"a:{code}"
        return self


class ImListState:
    """A GetImItemList response read the way a client reads it."""

    def __init__(self, reply: Reply) -> None:
        reply.ok()
        self.groups: dict[str, dict] = {}
        for g in reply.findall("m:ImItemList/t:Groups/t:ImGroup"):
            name = g.findtext("t:DisplayName", namespaces=NS)
            store_id = g.find("t:ExchangeStoreId", namespaces=NS)
            self.groups[name] = {
                "type": g.findtext("t:GroupType", namespaces=NS),
                "id": Ref(store_id.get("Id"), store_id.get("ChangeKey")),
                "members": [i.get("Id") for i in g.findall("t:MemberCorrelationKey/t:ItemId", namespaces=NS)],
                "smtp": g.findtext("t:SmtpAddress", namespaces=NS),
                "element": g,
            }
        self.personas: dict[str, dict] = {}
        for p in reply.findall("m:ImItemList/t:Personas/t:Persona"):
            source = p.find("t:Attributions/t:Attribution/t:SourceId", namespaces=NS)
            self.personas[p.findtext("t:ImAddress", namespaces=NS)] = {
                "id": Ref(source.get("Id"), source.get("ChangeKey")),
                "name": p.findtext("t:DisplayName", namespaces=NS),
                "element": p,
            }

    def members_of(self, group: str) -> set[str]:
        """IM addresses of a group's members, resolved through the personas' SourceIds."""
        by_id = {v["id"].id: k for k, v in self.personas.items()}
        return {by_id[i] for i in self.groups[group]["members"]}


class InProcessClient:
    """Calls the service directly (no HTTP): bytes in, validated bytes out."""

    def __init__(self, service, user) -> None:
        self.service = service
        self.user = user

    def post(self, body: bytes) -> Reply:
        # As the HTTP layer does: the account is read afresh for every request (its list
        # version decides whether a cached GetImItemList answer is current).
        with self.service.store.transaction(write=False) as tx:
            user = tx.accounts.by_id(self.user.id) or self.user
        outcome = self.service.handle(body, user, "test-request")
        return Reply(outcome.status, validate_envelope(outcome.body))

    def call(self, operation_xml: str, **kwargs) -> Reply:
        return self.post(envelope(operation_xml, **kwargs))

    def item_list(self) -> ImListState:
        return ImListState(self.call("<m:GetImItemList/>"))


class HttpClient:
    """A real HTTP client against a running server; validates every SOAP response."""

    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, auth=(email, password), timeout=30)

    def post_raw(self, body: bytes, headers: dict[str, str] | None = None, **kwargs) -> httpx.Response:
        h = {"Content-Type": "text/xml; charset=utf-8", **(headers or {})}
        return self.http.post("/EWS/Exchange.asmx", content=body, headers=h, **kwargs)

    def post(self, body: bytes, headers: dict[str, str] | None = None) -> Reply:
        response = self.post_raw(body, headers)
        assert response.headers["content-type"].startswith("text/xml"), response.text
        return Reply(response.status_code, validate_envelope(response.content))

    def call(self, operation_xml: str, **kwargs) -> Reply:
        return self.post(envelope(operation_xml, **kwargs))

    def item_list(self) -> ImListState:
        return ImListState(self.call("<m:GetImItemList/>"))

    def close(self) -> None:
        self.http.close()


def run_in_threads(target, count: int, timeout: float = 120) -> None:
    """``target(i)`` for i in range(count), all at once on their own threads; waits for them."""
    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, database: str, stdin: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "openucs", "--database", database, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


class ServerProcess:
    """``openucs serve`` as a real process on a free loopback port."""

    def __init__(self, database: str, *extra: str, env: dict[str, str] | None = None) -> None:
        self.database = database
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.extra = extra
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen[str] | None = None
        self.output = ""

    def start(self) -> "ServerProcess":
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "openucs",
                "--database",
                self.database,
                "serve",
                "--port",
                str(self.port),
                *self.extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=self.env,
        )
        # Drained all along: a server that logs more than a pipe holds (access log, audit log)
        # would otherwise block on its next line.
        self._chunks: list[str] = []
        self._reader = threading.Thread(target=self._drain, args=(self.proc.stdout, self._chunks), daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._reader.join(5)
                raise RuntimeError(f"server exited: {''.join(self._chunks)}")
            try:
                if httpx.get(self.base_url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError("server did not become healthy in 30 s")

    def output_so_far(self) -> str:
        """What the running server printed until now."""
        return "".join(self._chunks)

    def stop(self, sig: int | None = None) -> str:
        if self.proc is None:
            return ""
        if sig is None:
            self.proc.terminate()
        else:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(15)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.output += "".join(self._chunks)
        self.proc = None
        return self.output

    @staticmethod
    def _drain(stream, chunks: list[str]) -> None:
        for line in stream:
            chunks.append(line)
