"""Settings: command-line flags over environment variables over defaults."""

import os
from dataclasses import dataclass, fields
from pathlib import Path

from openucs.store.open import DEFAULT_DATABASE

ENV_PREFIX = "OPENUCS_"


@dataclass(frozen=True)
class Settings:
    database: str = DEFAULT_DATABASE
    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    threads: int = 8  # per worker: requests handled at once (database and password work)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_body_bytes: int = 1024 * 1024
    max_contacts: int = 1000
    max_groups: int = 64
    public_url: str | None = None
    list_cache_mb: int = 64  # per process: rendered GetImItemList answers (0 turns it off)
    render_cache_mb: int = 32  # per process: rendered list items, reused by later answers (0 turns it off)
    model_cache_mb: int = 64  # per process: IM lists as read, carried forward by its writes (0 turns it off)
    log_level: str = "info"
    access_log: bool = True
    # -- security (issue 4; README "Security")
    insecure_http: bool = False  # allow plain HTTP on an address other than loopback
    forwarded_allow_ips: str | None = None  # reverse proxies whose X-Forwarded-For/-Proto to trust
    audit_log: str = "stderr"  # "stderr", "off", or a file to append JSON lines to
    max_concurrency_per_user: int = 27  # Exchange 2013's EWSMaxConcurrency
    busy_at: int = 256  # requests in progress per process beyond which ErrorServerBusy answers
    max_queue: int = 512  # requests in progress per process beyond which 503 answers
    login_delay_ms: int = 500  # first hold-back after the free failed logins; doubles per failure
    login_max_delay_ms: int = 30_000
    login_free_failures: int = 3
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_key_file: Path | None = None  # PEM public key or certificate of the token issuer
    jwt_jwks_file: Path | None = None  # or its JWKS document
    jwt_algorithms: str | None = None  # comma-separated; default: every asymmetric JWS algorithm
    jwt_user_claims: str = "upn,email,sub"  # the first of these the token has names the account

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: object) -> "Settings":
        """Read OPENUCS_<FIELD> variables; explicit overrides (flags) win when not None."""
        env = dict(os.environ) if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _convert(f.name, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        """The environment that makes ``from_env`` rebuild these settings (for worker processes)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[ENV_PREFIX + f.name.upper()] = str(value)
        return out


_INTS = {"port", "workers", "threads", "max_body_bytes", "max_contacts", "max_groups", "list_cache_mb"}
_PATHS = {"tls_cert", "tls_key"}
_BOOLS = {"access_log"}
_INTS |= {
    "max_concurrency_per_user",
    "busy_at",
    "max_queue",
    "login_delay_ms",
    "login_max_delay_ms",
    "login_free_failures",
}
_PATHS |= {"jwt_key_file", "jwt_jwks_file"}
_BOOLS |= {"insecure_http"}
_INTS |= {"render_cache_mb", "model_cache_mb"}


def _convert(name: str, raw: str) -> object:
    if name in _INTS:
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a whole number, not {raw!r}") from None
    if name in _PATHS:
        return Path(raw)
    if name in _BOOLS:
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
            raise ValueError(f"{ENV_PREFIX}{name.upper()} must be true or false, not {raw!r}")
        return raw.lower() in ("1", "true", "yes", "on")
    return raw
