"""Rendered GetImItemList answers, kept per process and checked against the list's version.

Clients ask for the whole list at every sign-in and again whenever they are told it may have
changed; most of those answers are the same bytes as last time. Every write to a mailbox
raises its ``list_version`` in the database (in the write's own transaction), and the account
row read to authenticate a request carries the current value — so a cached answer is served
only while its version is the current one, on every process and node, at no extra query.

Only the newest answer per mailbox is kept, least recently used mailboxes leave first, and the
whole cache is bounded in bytes.
"""

import threading
from collections import OrderedDict
from collections.abc import Hashable


class ListCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, tuple[Hashable, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, mailbox_id: int, key: Hashable) -> bytes | None:
        with self._lock:
            entry = self._entries.get(mailbox_id)
            if entry is None or entry[0] != key:
                return None
            self._entries.move_to_end(mailbox_id)
            return entry[1]

    def put(self, mailbox_id: int, key: Hashable, body: bytes) -> None:
        if len(body) > self.max_bytes // 4:  # one giant list must not flush everyone else's
            return
        with self._lock:
            old = self._entries.pop(mailbox_id, None)
            if old is not None:
                self._size -= len(old[1])
            self._entries[mailbox_id] = (key, body)
            self._size += len(body)
            while self._size > self.max_bytes:
                _, (_, evicted) = self._entries.popitem(last=False)
                self._size -= len(evicted)

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._entries)
