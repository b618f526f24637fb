"""Bearer tokens: JSON Web Tokens from an identity provider the administrator trusts.

A token is accepted when its signature verifies with a configured key (a PEM file, or a JWKS
file chosen by the token's ``kid``), with one of the configured algorithms, and its ``iss``,
``aud`` and ``exp`` are right (``nbf`` and ``iat`` too when present). The first of the
configured user claims the token carries (by default ``upn``, then ``email``, then ``sub``) must
be an account's address; an ``email`` its issuer marks unverified is not used.

Verified tokens are remembered until they expire, keyed by a digest, so a client that sends the
same token with every request costs one dictionary probe and the account read, like Basic's
credential cache. Key files are re-read when they change (key rotation); that empties the cache.
"""

import asyncio
import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from openucs.auth.base import Denied, Principal, Runner
from openucs.auth.throttle import LoginThrottle
from openucs.config import Settings
from openucs.domain.accounts import User
from openucs.store.port import Store

ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
MAX_TOKEN = 16 * 1024  # bytes; real tokens are a few kB


class BearerConfigError(ValueError):
    pass


@dataclass(frozen=True)
class JwtSettings:
    issuer: str
    audience: str
    key_file: Path | None = None
    jwks_file: Path | None = None
    algorithms: tuple[str, ...] = ASYMMETRIC
    user_claims: tuple[str, ...] = ("upn", "email", "sub")
    leeway: int = 60  # seconds of clock skew allowed on exp / nbf / iat

    def __post_init__(self) -> None:
        if (self.key_file is None) == (self.jwks_file is None):
            raise BearerConfigError("bearer tokens need exactly one of a key file and a JWKS file")
        if not self.issuer or not self.audience:
            raise BearerConfigError("bearer tokens need an issuer and an audience")
        unknown = set(self.algorithms) - set(ASYMMETRIC) - {"HS256", "HS384", "HS512"}
        if unknown or not self.algorithms:
            raise BearerConfigError(f"unsupported JWT algorithms: {sorted(unknown) or 'none given'}")
        if not self.user_claims:
            raise BearerConfigError("bearer tokens need at least one user claim")


class Keys:
    """The verification keys, re-read when their file changes (checked at most once a second)."""

    def __init__(self, settings: JwtSettings, clock: Callable[[], float]) -> None:
        self._settings = settings
        self._path = settings.key_file or settings.jwks_file
        assert self._path is not None  # guaranteed by JwtSettings
        self._clock = clock
        self._lock = threading.Lock()
        self._checked = 0.0
        self._stamp: tuple[int, int] | None = None
        self._single: Any = None
        self._by_kid: dict[str, jwt.PyJWK] = {}
        self.generation = 0
        self._load()

    def _load(self) -> None:
        stat = os.stat(self._path)  # type: ignore[arg-type]
        data = Path(self._path).read_bytes()  # type: ignore[arg-type]
        if self._settings.jwks_file is not None:
            try:
                keys = jwt.PyJWKSet.from_json(data.decode("utf-8")).keys
            except (jwt.PyJWKSetError, jwt.InvalidKeyError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise BearerConfigError(f"{self._path}: not a usable JWKS ({exc})") from None
            self._by_kid = {k.key_id: k for k in keys if k.key_id}
            self._single = keys[0] if len(keys) == 1 else None
        else:
            self._single = _pem_key(data, self._settings.algorithms, self._path)  # type: ignore[arg-type]
        self._stamp = (stat.st_mtime_ns, stat.st_size)
        self.generation += 1

    def refresh(self) -> None:
        now = self._clock()
        if now - self._checked < 1.0:
            return
        with self._lock:
            self._checked = now
            try:
                stat = os.stat(self._path)  # type: ignore[arg-type]
            except OSError:
                return  # keep the keys we have; a missing file during a rotation is not an outage
            if (stat.st_mtime_ns, stat.st_size) != self._stamp:
                self._load()

    def key_for(self, header: dict[str, Any]) -> Any:
        kid = header.get("kid")
        if self._settings.jwks_file is not None:
            jwk = self._by_kid.get(kid) if isinstance(kid, str) else self._single
            if jwk is None:
                raise jwt.InvalidTokenError("no key for this token")
            if jwk.algorithm_name and header.get("alg") != jwk.algorithm_name:
                raise jwt.InvalidAlgorithmError("the token's algorithm is not its key's")
            return jwk.key
        return self._single


def jwt_settings(settings: Settings) -> JwtSettings | None:
    """Bearer tokens are on when an issuer, an audience and a key (file or JWKS) are configured."""
    configured = (settings.jwt_issuer, settings.jwt_audience, settings.jwt_key_file or settings.jwt_jwks_file)
    if not any(configured):
        return None
    if not all(configured):
        raise BearerConfigError("bearer tokens need OPENUCS_JWT_ISSUER, OPENUCS_JWT_AUDIENCE and a key or JWKS file")
    algorithms = tuple(a.strip() for a in (settings.jwt_algorithms or "").split(",") if a.strip())
    return JwtSettings(
        issuer=settings.jwt_issuer or "",
        audience=settings.jwt_audience or "",
        key_file=settings.jwt_key_file,
        jwks_file=settings.jwt_jwks_file,
        algorithms=algorithms or ASYMMETRIC,
        user_claims=tuple(c.strip() for c in settings.jwt_user_claims.split(",") if c.strip()),
    )


def _pem_key(data: bytes, algorithms: tuple[str, ...], path: Path) -> Any:
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificate(data).public_key()
    if b"-----BEGIN" in data:
        if b"PRIVATE KEY" in data:
            raise BearerConfigError(f"{path}: a private key; give the identity provider's public key")
        try:
            return load_pem_public_key(data)
        except ValueError as exc:
            raise BearerConfigError(f"{path}: not a PEM public key ({exc})") from None
    if any(a.startswith("HS") for a in algorithms) and len(data.strip()) >= 32:
        return data.strip()  # a shared secret, for HS* algorithms the administrator turned on
    raise BearerConfigError(f"{path}: not a PEM public key or certificate")


class BearerBackend:
    scheme = b"bearer"
    challenge = b'Bearer realm="openucs"'

    def __init__(
        self,
        settings: JwtSettings,
        store: Store,
        throttle: LoginThrottle,
        *,
        capacity: int = 10_000,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self.store = store
        self.throttle = throttle
        self._clock = clock
        self._keys = Keys(settings, time.monotonic)
        self._generation = self._keys.generation
        self._capacity = capacity
        self._verified: OrderedDict[bytes, tuple[str, float]] = OrderedDict()  # digest → (address, exp)

    async def authenticate(self, credentials: bytes, client: str, run: Runner) -> Principal | Denied:
        token = credentials.strip()
        if not token or len(token) > MAX_TOKEN:
            return Denied("", "malformed")
        digest = hashlib.sha256(token).digest()
        self._keys.refresh()
        if self._keys.generation != self._generation:
            self._verified.clear()
            self._generation = self._keys.generation
        cached = self._verified.get(digest)
        if cached is not None and cached[1] > self._clock():
            self._verified.move_to_end(digest)
            name = cached[0]
        else:
            # Tokens cannot be guessed, but each costs a signature check: an address that keeps
            # sending bad ones is held back like one that keeps sending bad passwords.
            wait = self.throttle.admit(None, client)
            if wait is None:
                return Denied("", "throttled")
            if wait > 0:
                await self._sleep(wait)
            try:
                name, expires = self._verify(token.decode("ascii"))
            except Exception as exc:  # a token is attacker input: whatever the library raises is a refusal
                self.throttle.failed(None, client)
                return Denied("", f"invalid_token: {exc}"[:200])
            self._remember(digest, name, expires)
        user: User | None = await run.read(_account, self.store, name)
        if user is None:
            return Denied(name[:256], "bad_credentials")
        return Principal(user, "bearer")

    def _verify(self, token: str) -> tuple[str, float]:
        header = jwt.get_unverified_header(token)
        if header.get("alg") not in self.settings.algorithms:
            raise jwt.InvalidAlgorithmError("algorithm not allowed")
        claims = jwt.decode(
            token,
            self._keys.key_for(header),
            algorithms=list(self.settings.algorithms),
            audience=self.settings.audience,
            issuer=self.settings.issuer,
            leeway=self.settings.leeway,
            options={"require": ["exp", "iss", "aud"]},
        )
        for claim in self.settings.user_claims:
            if claim not in claims:
                continue
            if claim == "email" and claims.get("email_verified") is False:
                raise jwt.InvalidTokenError("the email claim is not verified")
            value = claims[claim]
            if not isinstance(value, str) or not value.strip():
                raise jwt.InvalidTokenError(f"the {claim} claim is not a name")
            return value.strip().lower(), float(claims["exp"])
        raise jwt.InvalidTokenError("the token names no user")

    def _remember(self, digest: bytes, name: str, expires: float) -> None:
        self._verified[digest] = (name, expires)
        if len(self._verified) > self._capacity:
            self._verified.popitem(last=False)


def _account(store: Store, address: str) -> User | None:
    with store.transaction(write=False) as tx:
        return tx.accounts.by_email(address)
