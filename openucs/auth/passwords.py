"""Password hashing (argon2id) and HTTP Basic verification with a verified-credential cache.

argon2 is slow on purpose (tens of milliseconds), so a client that sends Basic credentials
with every request must not pay it every time. The cache maps a keyed digest of
(address, password) — never the password itself — to the account as it was when that password
verified against it, password hash included. Each request reads the kept account's two versions
by its id: the database raises ``account_version`` at every change to the row but the list
version's (its address and password hash included), so a kept account is used only while its
row is exactly as it was read, whichever process or node changed it; a removed account's row
is gone. When the row changed, it is read whole again; the credential still
counts if the password hash is the one it verified against, and is dropped otherwise (a changed
password, a removed account).
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
        # Keyed BLAKE2b is a MAC in a few C calls: a fifth of what the hmac module costs per request.
        # The key's block is hashed here, once; each digest starts from a copy of that state.
        self._keyed = hashlib.blake2b(key=secrets.token_bytes(32), digest_size=32)
        self._entries: OrderedDict[bytes, User] = OrderedDict()  # digest → the account it verified against
        self._lock = threading.Lock()

    def digest(self, email: str, password: str) -> bytes:
        mac = self._keyed.copy()
        mac.update(f"{email}\0{password}".encode())
        return mac.digest()

    def verified(self, digest: bytes) -> User | None:
        with self._lock:
            user = self._entries.get(digest)
            if user is not None:
                self._entries.move_to_end(digest)
            return user

    def remember(self, digest: bytes, user: User) -> None:
        with self._lock:
            self._entries[digest] = user
            self._entries.move_to_end(digest)
            while len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def drop(self, digest: bytes) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(slots=True)
class Verdict:
    """The quick half of a password check: the account, and whether the cache vouched for it."""

    user: User | None
    verified: bool
    digest: bytes


class PasswordAuthenticator:
    """Checks a password in two steps so that the server can run the cheap one inline and send
    only the expensive one (argon2, on a cache miss) to a thread."""

    def __init__(self, store: Store, cache: CredentialCache | None = None) -> None:
        self._store = store
        self.cache = cache or CredentialCache()

    def check_cached(self, email: str, password: str) -> Verdict:
        """A cache probe and one database read (usually of two integers): microseconds. An unknown
        address and a wrong password take the same path here: a digest, a miss, the whole row read."""
        email = email.strip().lower()
        digest = self.cache.digest(email, password)
        known = self.cache.verified(digest)
        if known is not None:
            versions = self._store.account_versions(known.id)
            if versions is not None and versions[1] == known.account_version:
                return Verdict(self._at_list_version(digest, known, versions[0]), True, digest)
        with self._store.autocommit() as tx:  # one statement
            user = tx.accounts.by_email(email)
        if known is not None:  # the account's row changed, or it is gone, since it was verified
            if user is not None and hmac.compare_digest(known.password_hash, user.password_hash):
                self.cache.remember(digest, user)
                return Verdict(user, True, digest)
            self.cache.drop(digest)
        return Verdict(user, False, digest)

    def _at_list_version(self, digest: bytes, known: User, list_version: int) -> User:
        """The kept account with the list version just read: the list cache is keyed on it."""
        if list_version == known.list_version:
            return known
        user = known.with_list_version(list_version)
        self.cache.remember(digest, user)
        return user

    def verify(self, verdict: Verdict, password: str) -> User | None:
        """The slow path: argon2. Runs even for unknown accounts, so timing tells nothing."""
        user = verdict.user
        if user is None:
            verify_password(_DUMMY_HASH, password)
            return None
        if not verify_password(user.password_hash, password):
            return None
        self.cache.remember(verdict.digest, user)
        return user

    def authenticate(self, email: str, password: str) -> User | None:
        verdict = self.check_cached(email, password)
        return verdict.user if verdict.verified else self.verify(verdict, password)
