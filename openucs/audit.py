"""The audit log: one JSON object per line for every write and every security event.

Events (``event``):
  ``write``          a mutating operation ran on the caller's own mailbox (any result)
  ``impersonation``  any operation with an ExchangeImpersonation header, allowed or refused
  ``login_failure``  credentials were refused (401)
  ``throttled``      a request was refused by a budget (ErrorExceededConnectionCount,
                     ErrorServerBusy, or 503 for a full queue)

Every line has ``time`` (UTC, ISO 8601, milliseconds), ``event``, ``request_id``, ``client``
(the peer address), ``caller`` (the authenticated account, or the name a refused login claimed),
``mailbox`` (whose list the request acted on), ``operation`` and ``result`` (the EWS response
code, or the HTTP status); some events add fields. Values are JSON-escaped, so a client cannot
forge a line, and each line is written with one ``write`` call on a file opened for appending,
so lines from several worker processes sharing one file never interleave, and a line is on its
way to the disk before the response leaves. Point ``OPENUCS_AUDIT_LOG`` at a file for a log
shipper to tail, or leave it on standard error for the service manager to collect.
"""

import json
import os
import sys
import threading
import time
from json.encoder import encode_basestring
from typing import Any

MAX_FIELD = 512  # characters kept of any one value: a client cannot make lines arbitrarily long
_MILLISECONDS = tuple(f".{n:03d}Z" for n in range(1000))  # a time's end, looked up: formatting costs more


class AuditLog:
    def __init__(self, target: str = "stderr") -> None:
        """``target``: "stderr", "off", or a file path (created owner-only, appended to)."""
        self.target = target
        self._own_fd = False
        self._lock = threading.Lock()
        self._second = (-1, "")
        if target == "off":
            self._fd: int | None = None
        elif target in ("stderr", "-"):
            self._fd = sys.stderr.fileno()
        else:
            self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._own_fd = True
        # Callers look before building an event: an attribute, so a log that is off costs one
        # load per request.
        self.enabled = self._fd is not None

    def event(
        self,
        event: str,
        *,
        request_id: str,
        client: str,
        caller: str,
        mailbox: str | None,
        operation: str | None,
        result: str,
        **extra: Any,
    ) -> None:
        if self._fd is None:
            return
        fields = [
            self._fields(
                event,
                request_id=request_id,
                client=client,
                caller=caller,
                mailbox=mailbox,
                operation=operation,
                result=result,
            )
        ]
        fields.extend(
            f"{_json(key)}:{_json(value[:MAX_FIELD] if isinstance(value, str) else value)}"
            for key, value in extra.items()
        )
        self._write((",".join(fields) + "}\n").encode("utf-8"))

    def request(
        self,
        event: str,
        *,
        request_id: str,
        client: str,
        caller: str,
        mailbox: str,
        operation: str | None,
        result: str,
        auth: str,
    ) -> None:
        """The line of a request that ran (``write``, ``impersonation``): ``event`` with ``auth``,
        without its list of extra fields, since every write makes one."""
        if self._fd is None:
            return
        fields = self._fields(
            event,
            request_id=request_id,
            client=client,
            caller=caller,
            mailbox=mailbox,
            operation=operation,
            result=result,
        )
        self._write(f'{fields},"auth":{_str(auth)}}}\n'.encode())

    def _fields(
        self,
        event: str,
        *,
        request_id: str,
        client: str,
        caller: str,
        mailbox: str | None,
        operation: str | None,
        result: str,
    ) -> str:
        """Every line's fields, in order, up to its end: one expression, no helper per value."""
        return (
            f'{{"time":"{self._now()}","event":{_str(event)},"request_id":{_str(request_id)},'
            f'"client":{_str(client)},"caller":{_str(caller[:MAX_FIELD])},'
            f'"mailbox":{"null" if mailbox is None else _str(mailbox[:MAX_FIELD])},'
            f'"operation":{"null" if operation is None else _str(operation)},"result":{_str(result)}'
        )

    def _write(self, line: bytes) -> None:
        fd = self._fd
        if fd is not None:
            with self._lock:  # writes also come from worker threads; one os.write per line either way
                os.write(fd, line)

    def _now(self) -> str:
        """UTC to the millisecond, ISO 8601 with Z. The part down to the second is made once a second."""
        now = time.time()
        second = int(now)
        cached = self._second  # one tuple: threads never pair one second with another's text
        if cached[0] != second:
            cached = self._second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
        return cached[1] + _MILLISECONDS[int((now - second) * 1000)]

    def close(self) -> None:
        if self._own_fd and self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self.enabled = False


_str = encode_basestring  # a string as json.dumps(ensure_ascii=False) writes it (the same C escaper)


def _json(value: Any) -> str:
    """``value`` as json.dumps(ensure_ascii=False) writes it; strings through the same C escaper,
    without building a dict per line and encoding it whole."""
    if isinstance(value, str):
        return _str(value)
    return json.dumps(value, ensure_ascii=False)
