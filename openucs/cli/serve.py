"""``openucs serve``: create and migrate the database, bootstrap the first account, run uvicorn."""

import argparse
import os
import secrets
from pathlib import Path

from openucs.auth.passwords import hash_password
from openucs.cli.common import CliError, Commands, add_database_option
from openucs.config import Settings
from openucs.store.open import open_store
from openucs.store.port import Store

BOOTSTRAP_EMAIL = "admin@openucs.local"


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
    import uvicorn  # noqa: PLC0415 - only the server needs it

    settings = Settings.from_env(
        database=args.database,
        host=args.host,
        port=args.port,
        workers=args.workers,
        threads=args.threads,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        public_url=args.public_url,
    )
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise CliError("--tls-cert and --tls-key go together")
    if settings.workers < 1 or settings.threads < 1:
        raise CliError("--workers and --threads must be at least 1")
    store = open_store(settings.database)  # creates and migrates the database before workers start
    try:
        bootstrap(store, settings)
    finally:
        store.close()
    os.environ.update(settings.to_env())
    print(f"openucs: serving {settings.database} on {settings.host}:{settings.port}", flush=True)
    uvicorn.run(
        "openucs.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        log_level=settings.log_level,
        access_log=settings.access_log,
        proxy_headers=False,
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
    add_database_option(serve)
    serve.set_defaults(func=cmd_serve)
