"""HTTP Basic: an account's address and password, checked by ``PasswordAuthenticator``.

The hot path is the credential cache (one keyed digest, two integers read): a client that sent
the right password before is never held back. Only a cache miss meets the login throttle and
then argon2 — on the thread pool, and for unknown addresses too, so that a wrong address and a
wrong password cost the same time and get the same answer.
"""

import asyncio
import binascii
from collections.abc import Awaitable, Callable

from openucs.auth.base import Denied, Principal, Runner
from openucs.auth.passwords import PasswordAuthenticator
from openucs.auth.throttle import LoginThrottle

MAX_NAME = 256  # of a claimed name kept for the audit log


def parse_basic(token: bytes) -> tuple[str, str] | None:
    """base64(user:password) → (user, password), else None."""
    try:
        # base64.b64decode(validate=True) without its wrapper: this runs on every request.
        decoded = binascii.a2b_base64(token.strip(), strict_mode=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


class BasicBackend:
    scheme = b"basic"
    challenge = b'Basic realm="openucs", charset="UTF-8"'

    def __init__(
        self,
        passwords: PasswordAuthenticator,
        throttle: LoginThrottle,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.passwords = passwords
        self.throttle = throttle
        self._sleep = sleep

    async def authenticate(self, credentials: bytes, client: str, run: Runner) -> Principal | Denied:
        parsed = parse_basic(credentials)
        if parsed is None:
            return Denied("", "malformed")
        name, password = parsed
        check = self.passwords.check_cached
        verdict = check(name, password) if run.inline_store else await run.read(check, name, password)
        if verdict.verified and verdict.user is not None:
            return Principal(verdict.user, "basic")
        account = name.strip().lower()
        wait = self.throttle.admit(account, client)
        if wait is None:
            return Denied(name[:MAX_NAME], "throttled")
        if wait > 0:
            await self._sleep(wait)
        user = await run.slow(self.passwords.verify, verdict, password)
        if user is None:
            self.throttle.failed(account, client)
            return Denied(name[:MAX_NAME], "bad_credentials", round(wait * 1000))
        self.throttle.succeeded(account, client)
        return Principal(user, "basic")
