"""What every authentication backend shares: the principal it returns, and how it runs work.

A backend reads one ``Authorization`` scheme and answers with a ``Principal`` or a ``Denied``
(nothing, plus what the audit log should say about the attempt). The HTTP layer answers every
``Denied`` with the same 401, whatever the reason: the client learns nothing from it.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from openucs.domain.accounts import User

T = TypeVar("T")


@dataclass(slots=True)
class Principal:
    user: User
    method: str  # "basic" | "bearer"


@dataclass(frozen=True, slots=True)
class Denied:
    name: str  # the identity the client claimed, as sent ("" when none could be read)
    reason: str  # for the audit log only: "bad_credentials", "malformed", "invalid_token", "throttled"
    delay_ms: int = 0  # how long the attempt was held back by the login throttle


class Runner(Protocol):
    """How a backend runs blocking work: the HTTP layer decides where."""

    # Store reads answer in microseconds and never wait (an embedded store): a backend may call
    # them directly rather than through ``read`` (on every request, two coroutines fewer).
    inline_store: bool

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """A store read: inline on an embedded store, on the thread pool otherwise."""
        ...

    async def slow(self, fn: Callable[..., T], *args: Any) -> T:
        """CPU-heavy work (argon2): always off the event loop."""
        ...


class Backend(Protocol):
    scheme: bytes  # the Authorization scheme it reads, lower case: b"basic", b"bearer"
    challenge: bytes  # its WWW-Authenticate value

    async def authenticate(self, credentials: bytes, client: str, run: Runner) -> Principal | Denied:
        """``credentials``: what follows the scheme in the header; ``client``: the peer address."""
        ...
