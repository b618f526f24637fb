"""Rendered list items (groups and personas), kept per process and reused between answers.

An item's XML is a pure function of its view's data, and most items of a list are unchanged
between two reads of it (a write invalidates the whole rendered answer, but changes one or two
items). The writer looks each item up by a tuple of everything its rendering reads, so a hit is
the same text the item would render to, and an entry is never stale.

Two generations stand in for an LRU: an entry is added to (or, when found in the old
generation, copied to) the young one; when the young generation's bytes reach half the budget
it becomes the old one and the previous old one is dropped. Lookups take no lock (a dict lookup
is atomic, and any generation, even one just dropped, holds only correct entries); additions do.
"""

import sys
import threading
from collections.abc import Hashable

# What an entry costs besides its fragment: the key's strings (each appears, escaped, in the
# fragment, so no longer than it) and the key tuple and dict slot.
_OVERHEAD = 256


class FragmentCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._half = max_bytes // 2
        self._young: dict[Hashable, str] = {}
        self._old: dict[Hashable, str] = {}
        # Each generation's own lookup, for the writer's loop over a list's items: a hit costs no
        # Python call. Replaced with the generations; a replaced one still answers correctly.
        self.lookup = self._young.get
        self.lookup_old = self._old.get
        self._young_bytes = 0
        self._old_bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> str | None:
        """The fragment, from either generation (then kept in the young one), or None."""
        found = self._young.get(key)
        if found is None:
            found = self._old.get(key)
            if found is not None:
                self.add([(key, found)])
        return found

    def add(self, entries: list[tuple[Hashable, str]]) -> None:
        """Keep new fragments, and ones found in the old generation, in the young one. A list's
        misses are added together, under one lock. A key another thread added meanwhile is
        replaced by the same text, and its bytes are counted twice until its generation goes."""
        with self._lock:
            for key, fragment in entries:
                cost = 2 * sys.getsizeof(fragment) + _OVERHEAD
                if cost > self._half:
                    continue
                if self._young_bytes + cost > self._half:
                    self._old, self._old_bytes = self._young, self._young_bytes
                    self._young, self._young_bytes = {}, 0
                    self.lookup, self.lookup_old = self._young.get, self._old.get
                self._young[key] = fragment
                self._young_bytes += cost

    @property
    def size(self) -> int:
        """Bytes charged to both generations: at most ``max_bytes``."""
        return self._young_bytes + self._old_bytes

    def __len__(self) -> int:
        return len(self._young) + len(self._old)
