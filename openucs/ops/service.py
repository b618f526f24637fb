"""Dispatch: the whole server minus HTTP. Bytes and an authenticated account in, an HTTP
status and bytes out. Every failure ends here as a fault or an error response; nothing
internal reaches the client."""

import logging
from collections.abc import Hashable
from dataclasses import dataclass

from openucs.domain.accounts import User
from openucs.domain.model import Limits
from openucs.ews.codes import ResponseCode
from openucs.ews.faults import SoapFault
from openucs.ews.fragments import FragmentCache
from openucs.ews.reader import read_request
from openucs.ews.requests import Envelope, GetImItemList
from openucs.ews.responses import Response
from openucs.ews.versions import DEFAULT_VERSION
from openucs.ews.writer import write_fault, write_response
from openucs.ops.cache import ListCache
from openucs.ops.context import Context, WriteNeeded
from openucs.ops.errors import EXPECTED_ERRORS, code_response, error_response
from openucs.ops.ids import IdCodec
from openucs.ops.impersonation import resolve_target
from openucs.ops.registry import HANDLERS, READ_ONLY
from openucs.ops.views import wanted_keys
from openucs.store.port import Store

log = logging.getLogger("openucs.ops")


# Not frozen: one per request, and a frozen dataclass costs ~3x more to build.
@dataclass(slots=True)
class Outcome:
    status: int
    body: bytes
    operation: str | None = None
    response_code: str = ResponseCode.NO_ERROR.value
    mailbox: str | None = None  # the mailbox an ExchangeImpersonation header named (as given)
    etag: str | None = None  # GetUserPhoto: the photo's entity tag, sent as the ETag header


class Service:
    def __init__(
        self,
        store: Store,
        codec: IdCodec,
        limits: Limits,
        list_cache: ListCache | None = None,
        fragments: FragmentCache | None = None,
    ) -> None:
        self.store = store
        self.codec = codec
        self.limits = limits
        self.list_cache = list_cache
        self.fragments = fragments

    def handle(self, body: bytes, caller: User, request_id: str) -> Outcome:
        decoded = self.decode(body)
        if isinstance(decoded, Outcome):
            return decoded
        return self.execute(decoded, caller, request_id)

    def decode(self, body: bytes) -> Envelope | Outcome:
        """The first half of ``handle``: the request, or the fault that answers it."""
        try:
            return read_request(body)
        except SoapFault as fault:
            return Outcome(500, write_fault(fault), None, fault.code.value)

    @staticmethod
    def writes(envelope: Envelope) -> bool:
        return envelope.operation not in READ_ONLY

    def execute(self, envelope: Envelope, caller: User, request_id: str, *, read_only: bool = False) -> Outcome:
        """The second half of ``handle``: run a decoded request and write its response."""
        key = self._list_cache_key(envelope, caller)
        if key is not None and self.list_cache is not None:
            body = self.list_cache.get(caller.id, key)
            if body is not None:
                return Outcome(200, body, envelope.operation)
        outcome = self._execute(envelope, caller, request_id, read_only)
        if key is not None and self.list_cache is not None and outcome.response_code == ResponseCode.NO_ERROR:
            self.list_cache.put(caller.id, key, outcome.body)
        return outcome

    @staticmethod
    def _list_cache_key(envelope: Envelope, caller: User) -> Hashable | None:
        """The caller's own GetImItemList is cached under the list version read to authenticate
        it (see ops/cache.py): any answer computed since is at least that current."""
        request = envelope.request
        if not isinstance(request, GetImItemList) or envelope.headers.impersonation is not None:
            return None
        version = envelope.headers.request_server_version or DEFAULT_VERSION
        return (caller.list_version, version, wanted_keys(request.extended_properties))

    def _execute(self, envelope: Envelope, caller: User, request_id: str, read_only: bool = False) -> Outcome:
        operation = envelope.operation
        version = envelope.headers.request_server_version or DEFAULT_VERSION
        impersonation = envelope.headers.impersonation
        mailbox_id = caller.id
        if impersonation is not None:
            # Never act as the caller when another mailbox was asked for: act on it, or refuse.
            try:
                with self.store.transaction(write=False) as tx:
                    mailbox_id = resolve_target(tx, caller, impersonation).id
            except SoapFault as fault:
                return Outcome(500, write_fault(fault), operation, fault.code.value, impersonation.value)
            except Exception:
                log.exception("request %s: impersonation of %r failed", request_id, impersonation.value)
                response = code_response(operation, ResponseCode.INTERNAL_SERVER_ERROR)
                return Outcome(200, write_response(response, version), operation, response.code.value)
        ctx = Context(self.store, self.codec, self.limits, caller, mailbox_id, request_id, read_only)
        response = self._run(envelope.request, operation, ctx)
        mailbox = impersonation.value if impersonation is not None else None
        body = write_response(response, version, self.fragments)
        return Outcome(response.http_status, body, operation, response.code.value, mailbox, response.etag)

    def failure(self, envelope: Envelope) -> Outcome:
        """The answer to a request whose transaction failed to commit."""
        version = envelope.headers.request_server_version or DEFAULT_VERSION
        response = code_response(envelope.operation, ResponseCode.INTERNAL_SERVER_ERROR)
        return Outcome(200, write_response(response, version), envelope.operation, response.code.value)

    def _run(self, request: object, operation: str, ctx: Context) -> Response:
        handler = HANDLERS[type(request)]
        try:
            return handler(request, ctx)
        except WriteNeeded:
            raise
        except EXPECTED_ERRORS as exc:
            return error_response(operation, exc)
        except Exception:
            log.exception("request %s: %s failed", ctx.request_id, operation)
            return code_response(operation, ResponseCode.INTERNAL_SERVER_ERROR)
