"""Password hashing (argon2id) and HTTP Basic verification with a verified-credential cache.

argon2 is slow on purpose (tens of milliseconds), so a client that sends Basic credentials
with every request must not pay it every time. The cache maps a keyed digest of
(address, password) — never the password itself — to the password hash it was verified
against. A hit counts only while the account still has that exact hash, read from the database
on every request: a password change or a removed account, made by any process or node,
invalidates it at once. Entries are also dropped here when this process changes a password.
"""

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from openucs.domain.accounts import User
from openucs.store.port import Store

# argon2id at OWASP's recommended minimum (19 MiB, 2 passes, 1 lane): ~15 ms of one core per
# check. The library's default (64 MiB, 3 passes, 4 lanes) costs several times more, which a
# sign-in storm of thousands of users pays once per user per server process. Existing hashes keep
# the parameters they were made with.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)

# Verified against when the account does not exist, so a wrong address costs as long as a wrong
# password and the two cannot be told apart by timing.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


class CredentialCache:
    def __init__(self, capacity: int = 10_000) -> None:
        self._capacity = capacity
        self._key = secrets.token_bytes(32)
        self._entries: OrderedDict[bytes, tuple[str, str]] = OrderedDict()  # digest → (email, hash)
        self._lock = threading.Lock()

    def digest(self, email: str, password: str) -> bytes:
        # Keyed BLAKE2b is a MAC in one C call: a fifth of what the hmac module costs per request.
        return hashlib.blake2b(f"{email}\0{password}".encode(), key=self._key, digest_size=32).digest()

    def verified_hash(self, digest: bytes) -> str | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            self._entries.move_to_end(digest)
            return entry[1]

    def remember(self, digest: bytes, email: str, password_hash: str) -> None:
        with self._lock:
            self._entries[digest] = (email, password_hash)
            self._entries.move_to_end(digest)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def forget(self, email: str) -> None:
        with self._lock:
            for digest in [d for d, (e, _) in self._entries.items() if e == email]:
                del self._entries[digest]

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class Verdict:
    """The quick half of a password check: the account, and whether the cache vouched for it."""

    user: User | None
    verified: bool
    digest: bytes = b""


class PasswordAuthenticator:
    """Checks a password in two steps so that the server can run the cheap one inline and send
    only the expensive one (argon2, on a cache miss) to a thread."""

    def __init__(self, store: Store, cache: CredentialCache | None = None) -> None:
        self._store = store
        self.cache = cache or CredentialCache()

    def check_cached(self, email: str, password: str) -> Verdict:
        """A database read and a cache probe: microseconds."""
        email = email.strip().lower()
        with self._store.autocommit() as tx:  # one statement
            user = tx.accounts.by_email(email)
        if user is None:
            return Verdict(None, False)
        digest = self.cache.digest(email, password)
        cached = self.cache.verified_hash(digest)
        return Verdict(user, cached is not None and hmac.compare_digest(cached, user.password_hash), digest)

    def verify(self, verdict: Verdict, password: str) -> User | None:
        """The slow path: argon2. Runs even for unknown accounts, so timing tells nothing."""
        user = verdict.user
        if user is None:
            verify_password(_DUMMY_HASH, password)
            return None
        if not verify_password(user.password_hash, password):
            return None
        self.cache.remember(verdict.digest, user.email, user.password_hash)
        return user

    def authenticate(self, email: str, password: str) -> User | None:
        verdict = self.check_cached(email, password)
        return verdict.user if verdict.verified else self.verify(verdict, password)
