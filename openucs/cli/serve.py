"""``openucs serve``: create and migrate the database, bootstrap the first account, run the server."""

import argparse
import ipaddress
import os
import secrets
import time
from pathlib import Path

from openucs.auth import bearer
from openucs.auth.passwords import hash_password
from openucs.cli.common import CliError, Commands, add_database_option
from openucs.config import Settings
from openucs.store.open import open_store
from openucs.store.port import Store

BOOTSTRAP_EMAIL = "admin@openucs.local"


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach ``host``: 127.0.0.0/8, ::1, or the name localhost."""
    if host.strip().lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address


def bootstrap(store: Store, settings: Settings) -> None:
    """On the first start of an empty database: one account, its password shown once."""
    password = secrets.token_urlsafe(15)
    with store.transaction(write=True) as tx:
        if tx.accounts.count() > 0:
            return
        tx.accounts.add(BOOTSTRAP_EMAIL, "openucs administrator", hash_password(password))
    scheme = "https" if settings.tls_cert else "http"
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host  # noqa: S104
    if ":" in host:
        host = f"[{host}]"
    url = f"{scheme}://{host}:{settings.port}/EWS/Exchange.asmx"
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
        'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">'
        '<soap:Header><t:RequestServerVersion Version="Exchange2013"/></soap:Header>'
        "<soap:Body><m:GetImItemList/></soap:Body></soap:Envelope>"
    )
    insecure = " -k" if scheme == "https" else ""
    print(
        "\nopenucs: created the first account (this password is shown only once):\n"
        f"  address:  {BOOTSTRAP_EMAIL}\n  password: {password}\n\n"
        "Try it:\n"
        f"  curl{insecure} -u '{BOOTSTRAP_EMAIL}:{password}' -H 'Content-Type: text/xml; charset=utf-8' \\\n"
        f"    --data '{body}' \\\n    {url}\n",
        flush=True,
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from openucs import server  # noqa: PLC0415 - only serving needs uvicorn

    settings = Settings.from_env(
        database=args.database,
        host=args.host,
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        public_url=args.public_url,
        insecure_http=True if args.insecure_http else None,
        forwarded_allow_ips=args.forwarded_allow_ips,
        audit_log=args.audit_log,
    )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise CliError("--tls-cert and --tls-key go together")
    if settings.tls_cert is None and not settings.insecure_http and not is_loopback(settings.host):
        raise CliError(
            f"refusing to serve plain HTTP on {settings.host}: passwords would cross the network in clear. "
            "Give --tls-cert and --tls-key (see `openucs cert self-signed`), put openucs behind a TLS reverse "
            "proxy on a loopback address, or accept the risk with --insecure-http"
        )
    for path in (settings.tls_cert, settings.tls_key, settings.jwt_key_file, settings.jwt_jwks_file):
        if path is not None and not path.is_file():
            raise CliError(f"{path}: no such file")
    jwt = bearer.jwt_settings(settings)  # a bad JWT configuration stops here, not in every worker
    if jwt is not None:
        bearer.Keys(jwt, time.monotonic)
    if settings.workers < 1 or settings.threads < 1:
        raise CliError("--workers and --threads must be at least 1")
    store = open_store(settings.database)  # creates and migrates the database before workers start
    try:
        bootstrap(store, settings)
    finally:
        store.close()
    os.environ.update(settings.to_env())
    print(f"openucs: serving {settings.database} on {settings.host}:{settings.port}", flush=True)
    server.run(
        "openucs.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_level=settings.log_level,
        access_log=settings.access_log,
        # X-Forwarded-For/-Proto are believed only from the proxies named here (the client address
        # is what the login throttle and the audit log key on).
        proxy_headers=settings.forwarded_allow_ips is not None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        server_header=False,
        lifespan="on",
    )
    return 0


def register(commands: Commands) -> None:
    serve = commands.add_parser("serve", help="serve EWS over HTTP(S)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--threads", type=int, help="requests each worker handles at once (default 8)")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve HTTPS")
    serve.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    serve.add_argument("--public-url", help="base URL clients use, e.g. https://mail.example.com")
    serve.add_argument(
        "--insecure-http", action="store_true", help="allow plain HTTP on an address other than loopback"
    )
    serve.add_argument(
        "--forwarded-allow-ips", help="reverse proxies (comma-separated addresses) whose X-Forwarded-* to trust"
    )
    serve.add_argument("--audit-log", help="stderr (default), off, or a file to append JSON lines to")
    add_database_option(serve)
    serve.set_defaults(func=cmd_serve)
