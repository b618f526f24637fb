"""Failed-login throttling, per account name and per client address.

How it works, and why:

* **Exponential.** Each key (an account name, a client address) counts its failed logins. After
  ``free`` failures, every further attempt on it is held back ``base * 2**(failures - free)``
  seconds, up to ``max_delay``, before its password is checked. A key is forgotten
  ``forget_after`` seconds after its last failure.
* **Still 401.** A held-back attempt is checked after the wait and answered exactly as it would
  be without the throttle, so its answer tells nothing new.
* **Spaced, not parallel.** A throttled key hands out its checks at least one step apart; an
  attempt that would have to wait longer than ``max_delay`` is refused at once, without a check
  (401 again). Sending many guesses at the same time buys nothing.
* **No lock-out an attacker controls.** Failures on an account never hold back a client whose
  password the server already verified (the credential cache answers before the throttle is
  asked) nor an address this account signed in from successfully; failures from an address
  only hold back that address. At worst, a first sign-in from a new address waits while someone
  else is guessing that account's password — and never after the guessing stops.
* **No enumeration.** Names are throttled alike whether or not an account has them.
* **Bounded and O(1).** Each table is an LRU of at most ``capacity`` keys; every call does a
  few dictionary operations. Only the event loop calls it, so it needs no lock. Counts are per
  process: each worker process or node throttles on its own.
"""

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(slots=True)
class _Failures:
    count: int = 0
    last: float = 0.0
    next_slot: float = 0.0  # the earliest time the next check on this key may run


class LoginThrottle:
    def __init__(
        self,
        *,
        base: float = 0.5,
        max_delay: float = 30.0,
        free: int = 3,
        forget_after: float = 900.0,
        remember_success: float = 30 * 24 * 3600.0,
        capacity: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = base
        self.max_delay = max_delay
        self.free = free
        self.forget_after = forget_after
        self.remember_success = remember_success
        self.capacity = capacity
        self.clock = clock
        self._accounts: OrderedDict[str, _Failures] = OrderedDict()
        self._addresses: OrderedDict[str, _Failures] = OrderedDict()
        self._known_good: OrderedDict[tuple[str, str], float] = OrderedDict()

    def step(self, failures: int) -> float:
        """The hold-back after ``failures`` failures."""
        if failures < self.free:
            return 0.0
        return min(self.base * 2.0 ** min(failures - self.free, 40), self.max_delay)

    def admit(self, account: str | None, address: str) -> float | None:
        """Seconds to hold this attempt back before checking it, or None to refuse it unchecked."""
        now = self.clock()
        entries = []
        wait = 0.0
        for entry in self._applicable(account, address, now):
            slot = max(now, entry.next_slot)
            if slot - now > self.max_delay:
                return None
            entries.append(entry)
            wait = max(wait, slot - now)
        for entry in entries:  # reserve the slot: the next attempt on this key comes a step later
            entry.next_slot = now + wait + self.step(entry.count)
        return wait

    def failed(self, account: str | None, address: str) -> None:
        """Count a failure; ``account`` None: the attempt named none (an invalid bearer token)."""
        now = self.clock()
        keys = (
            [(self._addresses, address)] if account is None else [(self._accounts, account), (self._addresses, address)]
        )
        for table, key in keys:
            entry = self._get(table, key, now)
            if entry is None:
                entry = table[key] = _Failures()
                if len(table) > self.capacity:
                    table.popitem(last=False)
            entry.count += 1
            entry.last = now
            entry.next_slot = max(entry.next_slot, now + self.step(entry.count))

    def succeeded(self, account: str, address: str) -> None:
        self._accounts.pop(account, None)
        self._addresses.pop(address, None)
        self._known_good[(account, address)] = self.clock()
        self._known_good.move_to_end((account, address))
        if len(self._known_good) > self.capacity:
            self._known_good.popitem(last=False)

    def failures(self, key: str) -> int:
        """Failures counted for an account name or an address (for tests and diagnostics)."""
        now = self.clock()
        entry = self._get(self._accounts, key, now) or self._get(self._addresses, key, now)
        return 0 if entry is None else entry.count

    def _applicable(self, account: str | None, address: str, now: float) -> list[_Failures]:
        found = []
        by_address = self._get(self._addresses, address, now)
        if by_address is not None and by_address.count >= self.free:
            found.append(by_address)
        if account is not None and not self._is_known_good(account, address, now):
            by_account = self._get(self._accounts, account, now)
            if by_account is not None and by_account.count >= self.free:
                found.append(by_account)
        return found

    def _is_known_good(self, account: str, address: str, now: float) -> bool:
        since = self._known_good.get((account, address))
        if since is None:
            return False
        if now - since > self.remember_success:
            del self._known_good[(account, address)]
            return False
        return True

    def _get(self, table: OrderedDict[str, _Failures], key: str, now: float) -> _Failures | None:
        entry = table.get(key)
        if entry is None:
            return None
        if now - entry.last > self.forget_after:
            del table[key]
            return None
        table.move_to_end(key)
        return entry
