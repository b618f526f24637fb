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
from datetime import UTC, datetime
from typing import Any

MAX_FIELD = 512  # characters kept of any one value: a client cannot make lines arbitrarily long


class AuditLog:
    def __init__(self, target: str = "stderr") -> None:
        """``target``: "stderr", "off", or a file path (created owner-only, appended to)."""
        self.target = target
        self._own_fd = False
        self._lock = threading.Lock()
        if target == "off":
            self._fd: int | None = None
        elif target in ("stderr", "-"):
            self._fd = sys.stderr.fileno()
        else:
            self._fd = os.open(target, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._own_fd = True

    @property
    def enabled(self) -> bool:
        return self._fd is not None

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
        record: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "event": event,
            "request_id": request_id,
            "client": client,
            "caller": caller[:MAX_FIELD],
            "mailbox": mailbox[:MAX_FIELD] if mailbox is not None else None,
            "operation": operation,
            "result": result,
        }
        for key, value in extra.items():
            record[key] = value[:MAX_FIELD] if isinstance(value, str) else value
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")
        with self._lock:  # writes also come from worker threads; one os.write per line either way
            os.write(self._fd, line)

    def close(self) -> None:
        if self._own_fd and self._fd is not None:
            os.close(self._fd)
        self._fd = None
