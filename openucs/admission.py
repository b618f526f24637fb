"""Admission control, as EWS throttles: per-user concurrency, a busy threshold, a bounded queue.

Three budgets, checked in this order for each EWS request, each O(1) on counters that only the
event loop touches:

1. **Queue** (``max_queue``): requests in progress in this process, from the moment their
   headers arrive until they are answered. A request that finds the queue full is answered
   ``503`` with ``Retry-After`` before anything else is done for it — a bounded queue instead of
   unbounded latency (Exchange: "EWS requests are queuing with IIS").
2. **Per user** (``max_per_user``, Exchange 2013's EWSMaxConcurrency, 27): requests of one
   authenticated account in progress at once. One more is refused with
   ``ErrorExceededConnectionCount``. A service account impersonating others is budgeted as
   itself, as Exchange does since 2010 SP2 RU4.
3. **Busy** (``busy_at``): more requests in progress than this and an authenticated request is
   answered ``ErrorServerBusy`` with ``BackOffMilliseconds``: the time the requests ahead of it
   should take, from a moving average of recent service times.
"""

import math
from dataclasses import dataclass, field

MIN_BACK_OFF_MS = 100
MAX_BACK_OFF_MS = 30_000


@dataclass
class Admission:
    max_per_user: int = 27
    busy_at: int = 256
    max_queue: int = 512
    parallelism: int = 8  # requests that make progress at once (the thread pool's size)
    in_flight: int = 0
    _per_user: dict[int, int] = field(default_factory=dict)
    _service_ms: float = 5.0  # moving average of the time a request takes

    def __post_init__(self) -> None:
        if min(self.max_per_user, self.busy_at, self.max_queue, self.parallelism) < 1:
            raise ValueError("throttling budgets must be at least 1")

    # -- the queue
    def enter(self) -> bool:
        """Take a place in the queue; False (and nothing taken) when it is full."""
        if self.in_flight >= self.max_queue:
            return False
        self.in_flight += 1
        return True

    def leave(self, elapsed_s: float) -> None:
        self.in_flight -= 1
        # An exponential moving average: recent requests weigh most, old ones fade.
        self._service_ms += (elapsed_s * 1000.0 - self._service_ms) * 0.05

    def retry_after_s(self) -> int:
        return max(1, math.ceil(self.back_off_ms() / 1000))

    # -- per user
    def enter_user(self, user_id: int) -> bool:
        """Take one of the user's slots; False (and nothing taken) when all are in use."""
        count = self._per_user.get(user_id, 0)
        if count >= self.max_per_user:
            return False
        self._per_user[user_id] = count + 1
        return True

    def leave_user(self, user_id: int) -> None:
        count = self._per_user.get(user_id, 0) - 1
        if count > 0:
            self._per_user[user_id] = count
        else:
            self._per_user.pop(user_id, None)

    def user_in_flight(self, user_id: int) -> int:
        return self._per_user.get(user_id, 0)

    # -- busy
    def busy(self) -> bool:
        return self.in_flight > self.busy_at

    def back_off_ms(self) -> int:
        """How long the requests ahead should take to drain."""
        estimate = self.in_flight * self._service_ms / self.parallelism
        return int(min(max(estimate, MIN_BACK_OFF_MS), MAX_BACK_OFF_MS))
