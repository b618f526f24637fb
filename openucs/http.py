"""The ASGI surface: routes, body limit, authentication, content types. Thin on purpose.

Routes (paths compared case-insensitively, as IIS does):
  POST /EWS/Exchange.asmx                       SOAP operations (HTTP Basic or Bearer; throttled, audited)
  GET  /EWS/Services.wsdl, /EWS/messages.xsd, /EWS/types.xsd
  GET  /healthz
  POST /autodiscover/autodiscover.xml           POX Autodiscover (HTTP Basic); GET: redirect to HTTPS, or error 600
  POST /autodiscover/autodiscover.svc           SOAP Autodiscover, GetUserSettings (HTTP Basic)
  GET  /EWS/Exchange.asmx/s/GetUserPhoto        a user's photo as an image, ?email=...&size=HR48x48 (HTTP Basic)
Password hashing and PostgreSQL work run on a bounded thread pool, off the event loop; SQLite
answers in microseconds, so its reads run inline and its writes through the store's group
commit (only the fsync leaves the loop).
"""

import asyncio
import itertools
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar
from urllib.parse import parse_qs

from openucs.admission import Admission
from openucs.audit import AuditLog
from openucs.auth.base import Backend, Denied, Principal
from openucs.auth.basic import BasicBackend
from openucs.auth.passwords import PasswordAuthenticator
from openucs.auth.throttle import LoginThrottle
from openucs.autodiscover import pox
from openucs.domain.accounts import User
from openucs.ews.codes import MESSAGE_TEXT, ResponseCode
from openucs.ews.faults import SoapFault, server_busy_fault
from openucs.ews.reader import SCHEMA_DIR
from openucs.ews.writer import attr, write_fault
from openucs.ops.autodiscover import Autodiscover
from openucs.ops.context import WriteNeeded
from openucs.ops.people import rest_user_photo, with_if_none_match
from openucs.ops.registry import READ_ONLY
from openucs.ops.service import Outcome, Service

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("openucs.http")
T = TypeVar("T")

EWS_PATH = "/ews/exchange.asmx"
PHOTO_PATH = "/ews/exchange.asmx/s/getuserphoto"
POX_PATH = "/autodiscover/autodiscover.xml"
AUTODISCOVER_SOAP_PATH = "/autodiscover/autodiscover.svc"
XML = b"text/xml; charset=utf-8"
BUSY_503 = b"The server is busy. Try again later.\n"
TOO_LARGE_413 = b"Request body too large.\n"

_SCHEMA_FILES = {
    "/ews/messages.xsd": "messages.xsd",
    "/ews/types.xsd": "types.xsd",
}


class BodyTooLarge(Exception):
    pass


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _client(scope: Scope) -> str:
    """The peer's address (the proxy's, unless --forwarded-allow-ips trusts it to name the client)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class HttpApp:
    def __init__(
        self,
        service: Service,
        authenticator: PasswordAuthenticator,
        *,
        max_body_bytes: int = 1024 * 1024,
        threads: int = 8,
        public_url: str | None = None,
        bearer: Backend | None = None,
        throttle: LoginThrottle | None = None,
        admission: Admission | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self.service = service
        self.authenticator = authenticator
        self.throttle = throttle or LoginThrottle()
        # Authorization schemes this server reads, by lower-case name; Basic always.
        self.backends: dict[bytes, Backend] = {b"basic": BasicBackend(authenticator, self.throttle)}
        if bearer is not None:
            self.backends[bearer.scheme] = bearer
        self._challenges = tuple((b"www-authenticate", b.challenge) for b in self.backends.values())
        self.admission = admission or Admission(parallelism=threads)
        self.audit = audit or AuditLog("off")
        self.max_body_bytes = max_body_bytes
        self.public_url = public_url.rstrip("/") if public_url else None
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="openucs")
        self.inline_store = getattr(service.store, "inline", False)
        self._writer = service.store.writer()
        # Request ids: unique per process start, cheap to make (a counter, not a UUID per request).
        self._id_prefix = secrets.token_hex(4) + "-"
        self._ids = itertools.count(1)
        self._wsdl = (SCHEMA_DIR / "Services.wsdl").read_text("utf-8")
        self._schemas = {path: (SCHEMA_DIR / name).read_bytes() for path, name in _SCHEMA_FILES.items()}
        self.autodiscover = Autodiscover(service.store)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http":
            if kind == "lifespan":
                await self._lifespan(receive, send)
            return
        path = scope["path"].lower()
        method = scope["method"]
        if path == EWS_PATH:
            if method == "POST":
                await self._ews(scope, receive, send)
            else:
                await _respond(send, 405, b"Use POST for SOAP requests.\n", extra=((b"allow", b"POST"),))
        elif path in ("/ews/services.wsdl", *_SCHEMA_FILES) and method in ("GET", "HEAD"):
            await _respond(send, 200, self._document(scope, path), content_type=XML)
        elif path == "/healthz" and method in ("GET", "HEAD"):
            await self._health(send)
        elif path in (POX_PATH, AUTODISCOVER_SOAP_PATH, PHOTO_PATH):
            await self._people_routes(scope, receive, send, path, method)
        else:
            await _respond(send, 404, b"Not found.\n")

    def base_url(self, scope: Scope) -> str:
        """Where clients reach this server: --public-url, else the URL this request came in on."""
        if self.public_url:
            return self.public_url
        host = (_header(scope, b"host") or b"").decode("latin-1") or "localhost"
        return f"{scope.get('scheme', 'http')}://{host}"

    def _document(self, scope: Scope, path: str) -> bytes:
        if path == "/ews/services.wsdl":
            return self._wsdl.replace("__EWS_URL__", attr(self.base_url(scope) + "/EWS/Exchange.asmx")).encode()
        return self._schemas[path]

    async def _ews(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A SOAP request: the queue, credentials, body, login and per-user budget, then the
        operation and its answer. On the path of every request, so written flat."""
        request_id = f"{self._id_prefix}{next(self._ids):x}"
        client = _client(scope)
        admission = self.admission
        if not admission.enter():
            # Before anything else is spent on it: a bounded queue, not unbounded latency.
            await self._queue_full(send, request_id, client)
            return
        started = time.monotonic()
        try:
            authorization, length, if_none_match = _ews_headers(scope)
            # Credentials are looked at before the body is read: no login, no reading.
            backend, credentials = self._backend(authorization, request_id, client)
            if backend is None:
                await self._unauthorized(send)
                return
            if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
                await _respond(send, 413, TOO_LARGE_413)
                return
            try:
                body = await _read_body(receive, self.max_body_bytes)
            except BodyTooLarge:
                await _respond(send, 413, TOO_LARGE_413)
                return
            principal = self._signed_in(await backend.authenticate(credentials, client, self), request_id, client)
            if principal is None:
                await self._unauthorized(send)
                return
            user = principal.user
            if not admission.enter_user(user.id):
                fault = SoapFault(
                    ResponseCode.EXCEEDED_CONNECTION_COUNT, MESSAGE_TEXT[ResponseCode.EXCEEDED_CONNECTION_COUNT]
                )
                await self._throttled(send, request_id, client, user.email, fault)
                return
            try:
                if admission.busy():
                    fault = server_busy_fault(admission.back_off_ms())
                    await self._throttled(send, request_id, client, user.email, fault)
                    return
                outcome = await self._execute(body, user, request_id, if_none_match)
            finally:
                admission.leave_user(user.id)
            if self.audit.enabled:
                self._audit_outcome(outcome, request_id, client, principal)
            extra = [(b"request-id", request_id.encode())]
            if outcome.etag is not None:  # GetUserPhoto
                extra.append((b"etag", f'"{outcome.etag}"'.encode()))
            await _respond(send, outcome.status, outcome.body, content_type=XML, extra=extra)
        finally:
            admission.leave(time.monotonic() - started)

    async def _execute(self, body: bytes, user: User, request_id: str, if_none_match: bytes | None = None) -> Outcome:
        decoded = self.service.decode(body)
        if isinstance(decoded, Outcome):
            return decoded
        if if_none_match is not None:
            decoded = with_if_none_match(decoded, if_none_match.decode("latin-1"))
        if not self.service.writes(decoded):
            if self._writer is None:
                return await self._call(self.service.execute, decoded, user, request_id)
            try:  # inline on the loop, which must never wait for the write lock itself
                return self.service.execute(decoded, user, request_id, read_only=True)
            except WriteNeeded:
                pass  # a read that must write (missing system groups): the write path runs it
        try:
            if self._writer is not None:  # the store's own write path (SQLite: group commit)
                return await self._writer.run(self.service.execute, decoded, user, request_id)
            # Writes wait for row locks and the network: never on the event loop.
            return await self.slow(self.service.execute, decoded, user, request_id)
        except Exception:
            log.exception("request %s: the write could not be committed", request_id)
            return self.service.failure(decoded)

    def _audit_outcome(self, outcome: Outcome, request_id: str, client: str, principal: Principal) -> None:
        """Writes to one's own mailbox, and anything done impersonating another, are audited."""
        user = principal.user
        operation = outcome.operation
        if outcome.mailbox is not None:
            event, mailbox = "impersonation", outcome.mailbox
        elif operation is not None and operation not in READ_ONLY:
            event, mailbox = "write", user.email
        else:
            return
        self.audit.request(
            event,
            request_id=request_id,
            client=client,
            caller=user.email,
            mailbox=mailbox,
            operation=operation,
            result=outcome.response_code,
            auth=principal.method,
        )

    def _backend(self, authorization: bytes | None, request_id: str, client: str) -> tuple[Backend | None, bytes]:
        """The backend for the request's Authorization scheme, and its credentials; a scheme no
        backend speaks counts as a failed login."""
        scheme, _, credentials = (authorization or b"").partition(b" ")
        backend = self.backends.get(scheme.lower())
        if backend is None or not credentials.strip():
            if authorization is not None:
                self._login_failure(request_id, client, Denied("", "unsupported_scheme"))
            return None, b""
        return backend, credentials

    def _signed_in(self, result: Principal | Denied, request_id: str, client: str) -> Principal | None:
        """The principal a backend accepted, or None (the refusal logged and audited)."""
        if isinstance(result, Denied):
            self._login_failure(request_id, client, result)
            return None
        return result

    async def _user(self, scope: Scope, request_id: str) -> User | None:
        """The account the request's credentials name, through the same backends as EWS."""
        client = _client(scope)
        backend, credentials = self._backend(_header(scope, b"authorization"), request_id, client)
        if backend is None:
            return None
        principal = self._signed_in(await backend.authenticate(credentials, client, self), request_id, client)
        return None if principal is None else principal.user

    async def _people_routes(self, scope: Scope, receive: Receive, send: Send, path: str, method: str) -> None:
        """Autodiscover (both dialects) and the REST photo, each authenticated like EWS."""
        request_id = f"{self._id_prefix}{next(self._ids):x}"
        if path == POX_PATH and method in ("GET", "HEAD"):
            # The redirect clients try over plain HTTP; it reveals nothing, so needs no login.
            location = pox.redirect_location(self.public_url, _secure(scope))
            if location is not None:
                await _respond(send, 302, b"", extra=[(b"location", location.encode())])
            else:
                await _respond(send, 200, pox.write_error(pox.INVALID_REQUEST), content_type=XML)
            return
        wanted = "GET" if path == PHOTO_PATH else "POST"
        if method != wanted and not (wanted == "GET" and method == "HEAD"):
            await _respond(send, 405, f"Use {wanted}.\n".encode(), extra=[(b"allow", wanted.encode())])
            return
        body = b""
        if wanted == "POST":
            try:
                body = await _read_body(receive, self.max_body_bytes)
            except BodyTooLarge:
                await _respond(send, 413, TOO_LARGE_413)
                return
        user = await self._user(scope, request_id)
        if user is None:
            await self._unauthorized(send)
            return
        if path == PHOTO_PATH:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            photo = await self._call(
                rest_user_photo,
                self.service.store,
                (query.get("email") or [None])[0],
                (query.get("size") or [None])[0],
                _text_header(scope, b"if-none-match"),
            )
            extra = [(b"etag", f'"{photo.etag}"'.encode()), (b"cache-control", b"private")] if photo.etag else []
            await _respond(send, photo.status, photo.body, content_type=photo.content_type.encode(), extra=extra)
        elif path == POX_PATH:
            answer = await self._call(self.autodiscover.pox, body, self.base_url(scope))
            await _respond(send, 200, answer, content_type=XML)
        else:
            status, answer = await self._call(self.autodiscover.soap, body, self.base_url(scope))
            await _respond(send, status, answer, content_type=XML)

    # -- the Runner the authentication backends use (openucs.auth.base)
    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        return await self._call(fn, *args)

    async def slow(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def _login_failure(self, request_id: str, client: str, denied: Denied) -> None:
        log.info("request %s: authentication failed for %r (%s)", request_id, denied.name, denied.reason)
        self.audit.event(
            "login_failure",
            request_id=request_id,
            client=client,
            caller=denied.name,
            mailbox=None,
            operation=None,
            result="401",
            reason=denied.reason,
            delay_ms=denied.delay_ms,
        )

    async def _queue_full(self, send: Send, request_id: str, client: str) -> None:
        self.audit.event(
            "throttled", request_id=request_id, client=client, caller="", mailbox=None, operation=None, result="503"
        )
        retry = str(self.admission.retry_after_s()).encode()
        await _respond(send, 503, BUSY_503, extra=((b"retry-after", retry), (b"request-id", request_id.encode())))

    async def _throttled(self, send: Send, request_id: str, client: str, caller: str, fault: SoapFault) -> None:
        self.audit.event(
            "throttled",
            request_id=request_id,
            client=client,
            caller=caller,
            mailbox=None,
            operation=None,
            result=fault.code.value,
            in_flight=self.admission.in_flight,
        )
        await _respond(send, 500, write_fault(fault), content_type=XML, extra=[(b"request-id", request_id.encode())])

    async def _unauthorized(self, send: Send) -> None:
        await _respond(send, 401, b"Authentication required.\n", extra=self._challenges)

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        """Reads: inline when the store answers in microseconds without waiting on a network or a
        lock (embedded SQLite in WAL mode: a thread hop would cost more than the work), else on
        the thread pool."""
        if self.inline_store:
            return fn(*args)
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _health(self, send: Send) -> None:
        try:
            version = await self._call(self.service.store.schema_version)
        except Exception:
            log.exception("health check failed")
            await _respond(send, 503, b'{"status": "unavailable"}\n', content_type=b"application/json")
            return
        body = json.dumps({"status": "ok", "schema_version": version}).encode() + b"\n"
        await _respond(send, 200, body, content_type=b"application/json")

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._pool.shutdown(wait=True)
                self.service.store.close()
                self.audit.close()
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _read_body(receive: Receive, limit: int) -> bytes:
    message = await receive()
    body: bytes = message.get("body", b"")
    if message.get("more_body", False):  # rare for SOAP requests: most arrive in one message
        chunks = [body]
        size = len(body)
        while message.get("more_body", False) and size <= limit:
            message = await receive()
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
        body = b"".join(chunks)
    if len(body) > limit:
        raise BodyTooLarge
    return body


def _ews_headers(scope: Scope) -> tuple[bytes | None, bytes | None, bytes | None]:
    """Authorization, Content-Length and If-None-Match: the headers an EWS request is read
    for, found in one pass (backwards, so that of a repeated header the first counts, as in
    ``_header``)."""
    authorization = length = if_none_match = None
    for name, value in reversed(scope["headers"]):
        if name == b"authorization":
            authorization = value
        elif name == b"content-length":
            length = value
        elif name == b"if-none-match":
            if_none_match = value
    return authorization, length, if_none_match


def _text_header(scope: Scope, name: bytes) -> str | None:
    value = _header(scope, name)
    return None if value is None else value.decode("latin-1")


def _secure(scope: Scope) -> bool:
    """Whether the client's connection is HTTPS: here, or at a proxy that says so."""
    if scope.get("scheme") == "https":
        return True
    forwarded = (_text_header(scope, b"x-forwarded-proto") or "").strip().lower()
    standard = (_text_header(scope, b"forwarded") or "").lower().replace(" ", "")
    return forwarded == "https" or "proto=https" in standard


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes = b"text/plain; charset=utf-8",
    extra: Sequence[tuple[bytes, bytes]] = (),
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body)), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
