"""Authentication (issue 4 §2): failed-login throttling per account and per address, no user
enumeration, Bearer JWTs, TLS with a self-signed certificate, and plain HTTP only on loopback."""

import asyncio
import base64
import dataclasses
import hashlib
import hmac
import json
import subprocess
import sys
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

import openucs.auth.passwords as passwords
from openucs.auth.basic import BasicBackend
from openucs.auth.bearer import BearerBackend, BearerConfigError, JwtSettings
from openucs.auth.passwords import PasswordAuthenticator, Verdict, hash_password
from openucs.auth.throttle import LoginThrottle
from openucs.cli import main as cli_main
from openucs.cli.serve import is_loopback
from openucs.domain.accounts import User
from openucs.store.open import open_store
from openucs.store.sql import BUMP_LIST_VERSION, DIRECTORY_FIELDS, SqlAccounts
from tests.asgi_support import client, make_app, post
from tests.conftest import PASSWORD, make_user
from tests.helpers_ops import fast_password_hashes, running_server, sqlite_only
from tests.support import HttpClient, ServerProcess, envelope, free_port, run_cli


@pytest.fixture(autouse=True)
def _fast_hashes():
    with fast_password_hashes():
        yield


# -- the throttle itself, on a clock of its own ------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def fail(throttle: LoginThrottle, account: str, address: str, times: int) -> list[float | None]:
    """Attempt and fail ``times`` times, each after waiting what the throttle asked."""
    waits = []
    for _ in range(times):
        wait = throttle.admit(account, address)
        waits.append(wait)
        if wait is None:
            continue
        throttle.clock.now += wait  # type: ignore[attr-defined]
        throttle.failed(account, address)
    return waits


def test_delays_double_after_the_free_failures_and_are_capped():
    t = LoginThrottle(base=1.0, max_delay=8.0, free=3, clock=Clock())
    assert fail(t, "alice@example.com", "198.51.100.1", 8) == [0, 0, 0, 1.0, 2.0, 4.0, 8.0, 8.0]


def test_unknown_and_known_names_are_throttled_alike():
    known = LoginThrottle(base=1.0, max_delay=8.0, free=2, clock=Clock())
    unknown = LoginThrottle(base=1.0, max_delay=8.0, free=2, clock=Clock())
    assert fail(known, "alice@example.com", "a", 6) == fail(unknown, "nobody@example.com", "a", 6)


def test_parallel_guesses_are_spaced_and_the_excess_refused_unchecked():
    clock = Clock()
    t = LoginThrottle(base=1.0, max_delay=4.0, free=1, clock=clock)
    fail(t, "alice@example.com", "x", 1)
    waits = [t.admit("alice@example.com", "x") for _ in range(8)]  # all at the same moment
    assert waits[:4] == [1.0, 2.0, 3.0, 4.0]
    assert waits[4:] == [None] * 4


def test_failures_are_forgotten_and_success_resets():
    clock = Clock()
    t = LoginThrottle(base=1.0, max_delay=8.0, free=1, forget_after=60.0, clock=clock)
    fail(t, "alice@example.com", "x", 4)
    assert t.failures("alice@example.com") == 4
    clock.now += 61
    assert t.admit("alice@example.com", "x") == 0
    fail(t, "alice@example.com", "x", 3)
    t.succeeded("alice@example.com", "x")
    assert t.admit("alice@example.com", "x") == 0


def test_an_attacker_cannot_lock_the_owner_out():
    clock = Clock()
    t = LoginThrottle(base=1.0, max_delay=4.0, free=1, clock=clock)
    t.succeeded("alice@example.com", "home")  # the owner signed in from home before
    for _ in range(50):  # someone keeps guessing from elsewhere
        fail(t, "alice@example.com", "attacker", 1)
        t.admit("alice@example.com", "attacker")  # and a few at once
        t.admit("alice@example.com", "attacker")
        # The owner's address is never held back by the account's failures ...
        assert t.admit("alice@example.com", "home") == 0
    # ... a new address waits at most the cap after the guessing stops, and never refused then.
    clock.now += 4.0
    assert t.admit("alice@example.com", "new place") <= 4.0


def test_the_tables_are_bounded():
    t = LoginThrottle(capacity=100, clock=Clock())
    for i in range(1000):
        t.failed(f"user{i}@example.com", f"10.0.{i // 256}.{i % 256}")
    assert len(t._accounts) <= 100 and len(t._addresses) <= 100


# -- Basic over the ASGI app -------------------------------------------------------------------


class Sleeps:
    """Stands in for asyncio.sleep: records what the server waited and moves the throttle's
    clock on by as much, instead of waiting."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(round(seconds, 3))
        self.clock.now += seconds


@pytest.fixture
def basic_app(service, store):
    make_user(store, "alice@example.com")
    clock = Clock()
    throttle = LoginThrottle(base=0.1, max_delay=0.8, free=2, clock=clock)
    app = make_app(service, throttle=throttle)
    sleeps = Sleeps(clock)
    app.backends[b"basic"] = BasicBackend(app.authenticator, throttle, sleep=sleeps)
    return app, sleeps


@sqlite_only
def test_basic_failures_are_held_back_exponentially_and_still_401(basic_app):
    app, sleeps = basic_app

    async def scenario():
        async with client(app, "198.51.100.7") as c:
            wrong = [await post(c, "<m:GetImItemList/>", "alice@example.com", "guess") for _ in range(6)]
            right = await post(c, "<m:GetImItemList/>", "alice@example.com")
            return wrong, right

    wrong, right = asyncio.run(scenario())
    assert {r.status_code for r in wrong} == {401}
    assert len({(r.content, r.headers["www-authenticate"]) for r in wrong}) == 1  # no tell-tale difference
    # 2 free failures, then doubling up to the cap; the right password waits its turn too
    assert sleeps.calls == [0.1, 0.2, 0.4, 0.8, 0.8]
    assert right.status_code == 200  # the right password still gets in: no lock-out


@sqlite_only
def test_a_signed_in_client_is_never_held_back(basic_app):
    app, sleeps = basic_app

    async def scenario():
        async with client(app, "198.51.100.7") as owner, client(app, "203.0.113.9") as attacker:
            assert (await post(owner, "<m:GetImItemList/>", "alice@example.com")).status_code == 200
            for _ in range(5):
                await post(attacker, "<m:GetImItemList/>", "alice@example.com", "guess")
            held = len(sleeps.calls)
            ok = [await post(owner, "<m:GetImItemList/>", "alice@example.com") for _ in range(3)]
            return held, ok

    held, ok = asyncio.run(scenario())
    assert held > 0
    assert [r.status_code for r in ok] == [200] * 3
    assert len(sleeps.calls) == held  # the owner's requests waited for nothing


@sqlite_only
def test_wrong_address_and_wrong_password_cost_the_same_argon2_work(basic_app, monkeypatch):
    app, _ = basic_app
    checks: list[str] = []
    real = passwords.verify_password

    def counting(password_hash: str, password: str) -> bool:
        checks.append(password)
        return real(password_hash, password)

    monkeypatch.setattr(passwords, "verify_password", counting)

    async def scenario():
        async with client(app, "198.51.100.8") as c:
            a = await post(c, "<m:GetImItemList/>", "alice@example.com", "wrong-1")
            b = await post(c, "<m:GetImItemList/>", "nobody@example.com", "wrong-2")
            return a, b

    a, b = asyncio.run(scenario())
    assert checks == ["wrong-1", "wrong-2"]  # one argon2 verification each, account or not
    assert (a.status_code, a.content, a.headers["www-authenticate"]) == (
        b.status_code,
        b.content,
        b.headers["www-authenticate"],
    )


def test_throttled_logins_over_http_are_audited(tmp_path):
    audit = tmp_path / "audit.log"
    env = {
        "OPENUCS_AUDIT_LOG": str(audit),
        "OPENUCS_LOGIN_DELAY_MS": "300",
        "OPENUCS_LOGIN_MAX_DELAY_MS": "600",
        "OPENUCS_LOGIN_FREE_FAILURES": "1",
    }
    with (
        running_server(tmp_path, "alice@example.com", env=env) as (proc, _),
        httpx.Client(base_url=proc.base_url, timeout=30) as c,
    ):
        for _ in range(4):
            r = c.post("/EWS/Exchange.asmx", content=b"<x/>", auth=("alice@example.com", "guess"))
            assert r.status_code == 401
        assert c.post("/EWS/Exchange.asmx", content=b"<x/>", auth=("alice@example.com", PASSWORD)).status_code
    events = [json.loads(line) for line in audit.read_text().splitlines()]
    failures = [e for e in events if e["event"] == "login_failure"]
    delays = [e["delay_ms"] for e in failures]
    # The first failure is free; each later one was held back (by what was left of its step,
    # so never more than the cap) and still answered 401.
    assert len(delays) == 4 and delays[0] == 0 and all(0 < d <= 600 for d in delays[1:]), delays
    assert {(e["caller"], e["client"], e["result"]) for e in failures} == {("alice@example.com", "127.0.0.1", "401")}
    assert all(e["time"].endswith("Z") and e["request_id"] for e in failures)


# -- Bearer tokens -----------------------------------------------------------------------------

ISSUER = "https://login.example.com/tenant"
AUDIENCE = "https://mail.example.com"


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def pem(key) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def token(key, alg: str = "RS256", headers: dict | None = None, **claims) -> str:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 600, "iat": now, "upn": "alice@example.com"}
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm=alg, headers=headers)


@pytest.fixture
def bearer_app(service, store, rsa_key, tmp_path):
    make_user(store, "alice@example.com")
    key_file = tmp_path / "issuer.pem"
    key_file.write_bytes(pem(rsa_key))
    throttle = LoginThrottle()
    settings = JwtSettings(ISSUER, AUDIENCE, key_file=key_file)
    bearer = BearerBackend(settings, store, throttle)
    return make_app(service, bearer=bearer, throttle=throttle), bearer, key_file


async def bearer_call(app, value: str) -> httpx.Response:
    async with client(app) as c:
        return await c.post(
            "/EWS/Exchange.asmx",
            content=b"<x/>",  # a fault once authenticated, 401 otherwise
            headers={"Authorization": f"Bearer {value}", "Content-Type": "text/xml"},
        )


@sqlite_only
def test_a_valid_token_authenticates_its_user(bearer_app, rsa_key):
    app, _, _ = bearer_app
    for claims in ({}, {"upn": None, "email": "Alice@Example.com"}, {"upn": None, "sub": "alice@example.com"}):
        response = asyncio.run(bearer_call(app, token(rsa_key, **claims)))
        assert response.status_code == 500, claims  # past authentication: the body is no SOAP request


@sqlite_only
@pytest.mark.parametrize(
    "case",
    [
        "wrong issuer",
        "wrong audience",
        "expired",
        "not yet valid",
        "no expiry",
        "other key",
        "alg none",
        "HS256 with the public key as secret",
        "unknown user",
        "unverified email",
        "no user claim",
        "garbage",
    ],
)
def test_bad_tokens_are_401(bearer_app, rsa_key, ec_key, case):
    app, _, _ = bearer_app
    now = int(time.time())
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    value = {
        "wrong issuer": lambda: token(rsa_key, iss="https://evil.example.com"),
        "wrong audience": lambda: token(rsa_key, aud="https://other.example.com"),
        "expired": lambda: token(rsa_key, exp=now - 3600),
        "not yet valid": lambda: token(rsa_key, nbf=now + 3600),
        "no expiry": lambda: token(rsa_key, exp=None),
        "other key": lambda: token(other),
        "alg none": lambda: jwt.encode(
            {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 60, "upn": "alice@example.com"}, None, algorithm="none"
        ),
        "HS256 with the public key as secret": lambda: _hs256_forgery(rsa_key),
        "unknown user": lambda: token(rsa_key, upn="mallory@example.com"),
        "unverified email": lambda: token(rsa_key, upn=None, email="alice@example.com", email_verified=False),
        "no user claim": lambda: token(rsa_key, upn=None),
        "garbage": lambda: "not.a.token",
    }[case]()
    response = asyncio.run(bearer_call(app, value))
    assert response.status_code == 401
    assert 'Bearer realm="openucs"' in response.headers.get_list("www-authenticate")


def _hs256_forgery(rsa_key) -> str:
    """The classic algorithm confusion: sign with HMAC, using the issuer's public key as secret."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()).rstrip(b"=")
    body = base64.urlsafe_b64encode(
        json.dumps({"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60, "upn": "alice@example.com"}).encode()
    ).rstrip(b"=")
    signature = hmac.new(pem(rsa_key), header + b"." + body, hashlib.sha256).digest()
    return (header + b"." + body + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()


@sqlite_only
def test_verified_tokens_are_cached_until_the_key_changes(bearer_app, rsa_key, monkeypatch):
    app, bearer, key_file = bearer_app
    decodes = []
    real = jwt.decode
    monkeypatch.setattr(jwt, "decode", lambda *a, **k: decodes.append(1) or real(*a, **k))
    value = token(rsa_key)
    for _ in range(3):
        assert asyncio.run(bearer_call(app, value)).status_code == 500
    assert len(decodes) == 1  # one signature check, then the cache
    # Key rotation: the issuer's key file is replaced; tokens of the old key stop working.
    new_key = ec.generate_private_key(ec.SECP256R1())
    key_file.write_bytes(pem(new_key))
    bearer._keys._checked = 0.0  # do not wait for the once-a-second file check
    assert asyncio.run(bearer_call(app, value)).status_code == 401
    assert asyncio.run(bearer_call(app, token(new_key, alg="ES256"))).status_code == 500


@sqlite_only
def test_jwks_keys_are_chosen_by_kid(service, store, rsa_key, ec_key, tmp_path):
    make_user(store, "alice@example.com")
    jwks = {
        "keys": [
            {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key())), "kid": "r1", "alg": "RS256"},
            {**json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key())), "kid": "e1", "alg": "ES256"},
        ]
    }
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks))
    bearer = BearerBackend(JwtSettings(ISSUER, AUDIENCE, jwks_file=path), store, LoginThrottle())
    app = make_app(service, bearer=bearer)
    assert asyncio.run(bearer_call(app, token(rsa_key, headers={"kid": "r1"}))).status_code == 500
    assert asyncio.run(bearer_call(app, token(ec_key, "ES256", headers={"kid": "e1"}))).status_code == 500
    assert asyncio.run(bearer_call(app, token(ec_key, "ES256", headers={"kid": "r1"}))).status_code == 401
    assert asyncio.run(bearer_call(app, token(rsa_key, headers={"kid": "nope"}))).status_code == 401


def test_bearer_configuration_errors(tmp_path, rsa_key):
    key = tmp_path / "k.pem"
    key.write_bytes(
        rsa_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(BearerConfigError):
        JwtSettings(ISSUER, AUDIENCE)  # no key at all
    with pytest.raises(BearerConfigError):
        JwtSettings("", AUDIENCE, key_file=key)
    with pytest.raises(BearerConfigError, match="private key"):
        BearerBackend(JwtSettings(ISSUER, AUDIENCE, key_file=key), None, LoginThrottle())  # type: ignore[arg-type]


def test_bearer_over_http_from_settings(tmp_path, rsa_key):
    key_file = tmp_path / "issuer.pem"
    key_file.write_bytes(pem(rsa_key))
    env = {"OPENUCS_JWT_ISSUER": ISSUER, "OPENUCS_JWT_AUDIENCE": AUDIENCE, "OPENUCS_JWT_KEY_FILE": str(key_file)}
    with running_server(tmp_path, "alice@example.com", env=env) as (proc, _):
        headers = {"Authorization": f"Bearer {token(rsa_key)}", "Content-Type": "text/xml; charset=utf-8"}
        r = httpx.post(proc.base_url + "/EWS/Exchange.asmx", content=envelope("<m:GetImItemList/>"), headers=headers)
        assert r.status_code == 200
        headers["Authorization"] = f"Bearer {token(rsa_key, aud='other')}"
        r = httpx.post(proc.base_url + "/EWS/Exchange.asmx", content=envelope("<m:GetImItemList/>"), headers=headers)
        assert r.status_code == 401


# -- TLS and plain HTTP ------------------------------------------------------------------------


def test_https_with_a_self_signed_certificate(tmp_path, monkeypatch):
    cert, key = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    database = f"sqlite:///{tmp_path / 'openucs.db'}"
    out = run_cli("cert", "self-signed", "--cert", str(cert), "--key", str(key), database=database).stdout
    assert "wrote" in out and (key.stat().st_mode & 0o777) == 0o600
    assert (
        run_cli(
            "cert", "self-signed", "--cert", str(cert), "--key", str(key), database=database, check=False
        ).returncode
        == 1
    )
    store = open_store(database)
    make_user(store, "alice@example.com")
    store.close()
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # trust exactly this certificate, here and in the checks below
    proc = ServerProcess(database, "--tls-cert", str(cert), "--tls-key", str(key))
    proc.base_url = f"https://127.0.0.1:{proc.port}"
    proc.start()
    try:
        c = HttpClient(proc.base_url, "alice@example.com", PASSWORD)
        try:
            assert c.call("<m:GetImItemList/>").ok()
            assert c.http.get("/healthz").url.scheme == "https"
        finally:
            c.close()
        with pytest.raises(httpx.HTTPError):  # plain HTTP gets no answer on the TLS port
            httpx.get(f"http://127.0.0.1:{proc.port}/healthz", timeout=5)
    finally:
        proc.stop()


def test_plain_http_off_loopback_is_refused(tmp_path):
    database = f"sqlite:///{tmp_path / 'openucs.db'}"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openucs",
            "--database",
            database,
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "--insecure-http" in result.stderr and "refusing to serve plain HTTP" in result.stderr


def test_insecure_http_is_an_explicit_choice(tmp_path, monkeypatch):
    started = {}
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.update(k))
    monkeypatch.setenv("OPENUCS_AUDIT_LOG", "off")
    database = f"sqlite:///{tmp_path / 'openucs.db'}"
    assert cli_main.main(["--database", database, "serve", "--host", "0.0.0.0", "--insecure-http"]) == 0
    assert started["host"] == "0.0.0.0" and started["proxy_headers"] is False


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("mail.example.com", False),
    ],
)
def test_loopback_addresses(host, loopback):
    assert is_loopback(host) is loopback


def test_cache_hit_is_the_only_check_for_a_known_password(store, monkeypatch):
    """The hot path: one account read and a keyed digest; argon2 only on the first request."""
    make_user(store, "alice@example.com")
    auth = PasswordAuthenticator(store)
    calls = []
    real = passwords.verify_password
    monkeypatch.setattr(passwords, "verify_password", lambda *a: calls.append(1) or real(*a))
    for _ in range(5):
        assert auth.authenticate("alice@example.com", PASSWORD) is not None
    assert len(calls) == 1


# -- the verified account kept per credential ---------------------------------------------------


@pytest.fixture
def other_process(database_url):
    """A second store on the same database: changes made through it are another process's (or,
    on PostgreSQL, another node's)."""
    s = open_store(database_url)
    yield s
    s.close()


def _full_reads(monkeypatch) -> list[str]:
    """The addresses whose whole account row ``PasswordAuthenticator`` reads."""
    reads: list[str] = []
    real = SqlAccounts.by_email
    monkeypatch.setattr(SqlAccounts, "by_email", lambda self, email: reads.append(email) or real(self, email))
    return reads


def test_a_kept_account_costs_only_its_versions_until_its_row_changes(store, other_process, monkeypatch):
    alice = make_user(store, "alice@example.com")
    auth = PasswordAuthenticator(store)
    reads = _full_reads(monkeypatch)
    assert auth.authenticate("alice@example.com", PASSWORD) == alice
    for _ in range(3):
        assert auth.check_cached("Alice@Example.com ", PASSWORD).user == alice
    assert reads == ["alice@example.com"]  # the first request's only
    # A write to the list raises its version, not the account's: still no whole-row read.
    with other_process.transaction(write=True, lock_mailbox=alice.id):
        pass
    verdict = auth.check_cached("alice@example.com", PASSWORD)
    assert verdict.verified and verdict.user is not None
    assert verdict.user.list_version == alice.list_version + 1
    assert verdict.user == dataclasses.replace(alice, list_version=alice.list_version + 1)
    assert reads == ["alice@example.com"]


DIRECTORY_CHANGES = {name: f"new {name}" for name in DIRECTORY_FIELDS}


@pytest.mark.parametrize("field", [*DIRECTORY_FIELDS, "im_list_migration_completed"])
def test_a_kept_account_sees_a_change_made_elsewhere_at_the_next_request(store, other_process, field):
    alice = make_user(store, "alice@example.com")
    auth = PasswordAuthenticator(store)
    assert auth.authenticate("alice@example.com", PASSWORD) == alice
    with other_process.transaction(write=True) as tx:  # each through the code path that changes it
        if field == "im_list_migration_completed":
            tx.accounts.set_migration_completed(alice.id, True)
            changed = True
        else:
            changed = DIRECTORY_CHANGES[field]
            tx.accounts.update_directory(alice.id, {field: changed})
        expected = tx.accounts.by_id(alice.id)
    verdict = auth.check_cached("alice@example.com", PASSWORD)
    assert verdict.verified  # the password did not change: no argon2 again
    assert verdict.user == expected and getattr(verdict.user, field) == changed


def test_a_password_changed_elsewhere_drops_the_kept_account(store, other_process, monkeypatch):
    alice = make_user(store, "alice@example.com")
    auth = PasswordAuthenticator(store)
    assert auth.authenticate("alice@example.com", PASSWORD) is not None
    with other_process.transaction(write=True) as tx:
        tx.accounts.set_password_hash(alice.id, passwords.hash_password("a new one"))
    assert not auth.check_cached("alice@example.com", PASSWORD).verified
    assert len(auth.cache) == 0
    assert auth.authenticate("alice@example.com", PASSWORD) is None
    assert auth.authenticate("alice@example.com", "a new one") is not None


def test_an_account_removed_elsewhere_drops_the_kept_account(store, other_process):
    alice = make_user(store, "alice@example.com")
    auth = PasswordAuthenticator(store)
    assert auth.authenticate("alice@example.com", PASSWORD) is not None
    with other_process.transaction(write=True) as tx:
        tx.accounts.remove(alice.id)
    assert auth.check_cached("alice@example.com", PASSWORD) == Verdict(
        None, False, auth.cache.digest(alice.email, PASSWORD)
    )
    assert len(auth.cache) == 0
    again = make_user(other_process, "alice@example.com")  # a new account at the old address
    assert auth.authenticate("alice@example.com", PASSWORD) == again


def test_an_account_made_again_at_the_same_address_is_not_the_kept_one(store, other_process):
    """The kept account is checked by its id: the new account at its address has another (ids are
    never reused), so the old credential is not vouched for, and the new password is checked."""
    alice = make_user(store, "alice@example.com")
    auth = PasswordAuthenticator(store)
    assert auth.authenticate("alice@example.com", PASSWORD) == alice
    with other_process.transaction(write=True) as tx:
        tx.accounts.remove(alice.id)
        again = tx.accounts.add("alice@example.com", "Alice Again", hash_password("another secret"))
    assert again.id != alice.id
    assert not auth.check_cached("alice@example.com", PASSWORD).verified
    assert auth.authenticate("alice@example.com", PASSWORD) is None
    assert auth.authenticate("alice@example.com", "another secret") == again


def _users_columns(store) -> list[str]:
    with store.transaction(write=False) as tx:
        if tx.db.dialect == "sqlite":
            return [r[1] for r in tx.db.all("PRAGMA table_info(users)")]
        return [
            r[0] for r in tx.db.all("SELECT column_name FROM information_schema.columns WHERE table_name = 'users'")
        ]


def test_every_update_of_an_account_row_raises_its_version_but_the_list_bump(store, other_process):
    """The database raises the version, whatever the statement: a column added to users without
    adding it to the triggers fails here."""
    alice = make_user(store, "alice@example.com")
    columns = set(_users_columns(store)) - {"id", "list_version", "account_version"}
    assert {"email", "password_hash", "display_name", *DIRECTORY_FIELDS} <= columns
    for column in sorted(columns):
        before = store.account_versions(alice.id)
        with other_process.transaction(write=True) as tx:
            tx.db.run(f"UPDATE users SET {column} = {column} WHERE id = ?", (alice.id,))
        after = store.account_versions(alice.id)
        assert before is not None and after == (before[0], before[1] + 1), column
    before = store.account_versions(alice.id)
    with other_process.transaction(write=True) as tx:
        tx.db.run(BUMP_LIST_VERSION, (alice.id,))
    assert before is not None and store.account_versions(alice.id) == (before[0] + 1, before[1])


def test_a_copy_at_another_list_version_keeps_every_other_field():
    marks = {f.name: object() for f in dataclasses.fields(User)}
    copy = User(**marks).with_list_version(7)  # type: ignore[arg-type]
    assert copy.list_version == 7
    assert all(getattr(copy, name) is mark for name, mark in marks.items() if name != "list_version")


def test_the_credential_cache_is_bounded():
    cache = passwords.CredentialCache(capacity=2)
    users = [User(i, f"u{i}@example.com", "U", "hash", "2024-01-01T00:00:00Z") for i in range(3)]
    for user in users:
        cache.remember(cache.digest(user.email, "pw"), user)
    assert len(cache) == 2
    assert cache.verified(cache.digest("u0@example.com", "pw")) is None  # the least recently used left
    assert cache.verified(cache.digest("u2@example.com", "pw")) == users[2]
