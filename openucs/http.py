"""The ASGI surface: routes, body limit, authentication, content types. Thin on purpose.

Routes (paths compared case-insensitively, as IIS does):
  POST /EWS/Exchange.asmx                       SOAP operations (HTTP Basic)
  GET  /EWS/Services.wsdl, /EWS/messages.xsd, /EWS/types.xsd
  GET  /healthz
Database and password work runs on a bounded thread pool, off the event loop.
"""

import asyncio
import base64
import binascii
import itertools
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from openucs.auth.passwords import PasswordAuthenticator
from openucs.ews.reader import SCHEMA_DIR
from openucs.ews.writer import attr
from openucs.ops.service import Outcome, Service

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger("openucs.http")
T = TypeVar("T")

EWS_PATH = "/ews/exchange.asmx"
XML = b"text/xml; charset=utf-8"
REALM = b'Basic realm="openucs", charset="UTF-8"'

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


def parse_basic(value: bytes | None) -> tuple[str, str] | None:
    """``Authorization: Basic base64(user:password)`` → (user, password), else None."""
    if value is None:
        return None
    scheme, _, token = value.partition(b" ")
    if scheme.lower() != b"basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


class HttpApp:
    def __init__(
        self,
        service: Service,
        authenticator: PasswordAuthenticator,
        *,
        max_body_bytes: int = 1024 * 1024,
        threads: int = 8,
        public_url: str | None = None,
    ) -> None:
        self.service = service
        self.authenticator = authenticator
        self.max_body_bytes = max_body_bytes
        self.public_url = public_url.rstrip("/") if public_url else None
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="openucs")
        self.inline_store = getattr(service.store, "inline", False)
        self._writer = service.store.writer() or self._pool
        # Request ids: unique per process start, cheap to make (a counter, not a UUID per request).
        self._id_prefix = secrets.token_hex(4) + "-"
        self._ids = itertools.count(1)
        self._wsdl = (SCHEMA_DIR / "Services.wsdl").read_text("utf-8")
        self._schemas = {path: (SCHEMA_DIR / name).read_bytes() for path, name in _SCHEMA_FILES.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path = scope["path"].lower()
        method = scope["method"]
        if path == EWS_PATH:
            if method != "POST":
                await _respond(send, 405, b"Use POST for SOAP requests.\n", extra=[(b"allow", b"POST")])
                return
            await self._ews(scope, receive, send)
        elif path in ("/ews/services.wsdl", *_SCHEMA_FILES) and method in ("GET", "HEAD"):
            await _respond(send, 200, self._document(scope, path), content_type=XML)
        elif path == "/healthz" and method in ("GET", "HEAD"):
            await self._health(send)
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
        request_id = f"{self._id_prefix}{next(self._ids):x}"
        credentials = parse_basic(_header(scope, b"authorization"))
        if credentials is None:
            await _unauthorized(send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            await _respond(send, 413, b"Request body too large.\n")
            return
        try:
            body = await _read_body(receive, self.max_body_bytes)
        except BodyTooLarge:
            await _respond(send, 413, b"Request body too large.\n")
            return
        verdict = await self._call(self.authenticator.check_cached, *credentials)
        user = verdict.user
        if not verdict.verified:
            loop = asyncio.get_running_loop()
            user = await loop.run_in_executor(self._pool, self.authenticator.verify, verdict, credentials[1])
        if user is None:
            log.info("request %s: authentication failed for %r", request_id, credentials[0])
            await _unauthorized(send)
            return
        decoded = self.service.decode(body)
        if isinstance(decoded, Outcome):
            outcome = decoded
        elif self.service.writes(decoded):
            # Writes wait for the database's write lock and its fsync: never on the event loop.
            loop = asyncio.get_running_loop()
            try:
                outcome = await loop.run_in_executor(self._writer, self.service.execute, decoded, user, request_id)
            except Exception:
                log.exception("request %s: the write could not be committed", request_id)
                outcome = self.service.failure(decoded)
        else:
            outcome = await self._call(self.service.execute, decoded, user, request_id)
        await _respond(
            send, outcome.status, outcome.body, content_type=XML, extra=[(b"request-id", request_id.encode())]
        )

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
                await send({"type": "lifespan.shutdown.complete"})
                return


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _unauthorized(send: Send) -> None:
    await _respond(send, 401, b"Authentication required.\n", extra=[(b"www-authenticate", REALM)])


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes = b"text/plain; charset=utf-8",
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers.extend(extra or [])
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
