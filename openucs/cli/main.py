"""``openucs``: serve, and manage accounts.

openucs serve [--host H] [--port P] [--workers N] [--database URL] [--tls-cert F --tls-key F]
openucs user add EMAIL --display-name NAME --password-stdin
openucs user list
openucs user passwd EMAIL --password-stdin
openucs user remove EMAIL
openucs db export FILE | openucs db import FILE
"""

import argparse
import os
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from openucs.auth.passwords import hash_password
from openucs.cli import db
from openucs.config import Settings
from openucs.domain.accounts import AccountExists
from openucs.domain.imlist import is_smtp_address
from openucs.store.open import DatabaseUrlError, open_store
from openucs.store.port import Store

BOOTSTRAP_EMAIL = "admin@openucs.local"


class CliError(Exception):
    """A message for the administrator; exit status 1, no traceback."""


def _read_password(stdin_flag: bool) -> str:
    if not stdin_flag:
        raise CliError("give the password on standard input with --password-stdin")
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise CliError("the password read from standard input is empty")
    return password


def _valid_email(email: str) -> str:
    email = email.strip().lower()
    if not is_smtp_address(email):
        raise CliError(f"{email!r} is not a valid e-mail address")
    return email


def _store(args: argparse.Namespace) -> Store:
    settings = Settings.from_env(database=args.database)
    return open_store(settings.database)


def cmd_user_add(args: argparse.Namespace) -> int:
    email = _valid_email(args.email)
    display_name = (args.display_name or "").strip()
    if not display_name:
        raise CliError("--display-name must not be empty")
    password_hash = hash_password(_read_password(args.password_stdin))
    store = _store(args)
    try:
        with store.transaction(write=True) as tx:
            tx.accounts.add(email, display_name, password_hash)
    except AccountExists:
        raise CliError(f"an account {email} exists already") from None
    finally:
        store.close()
    print(f"added {email}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    store = _store(args)
    try:
        with store.transaction(write=False) as tx:
            users = tx.accounts.all()
    finally:
        store.close()
    rows = [("EMAIL", "DISPLAY NAME", "IM LIST MIGRATED", "CREATED")]
    rows += [(u.email, u.display_name, "yes" if u.im_list_migration_completed else "no", u.created) for u in users]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    email = args.email.strip().lower()
    password_hash = hash_password(_read_password(args.password_stdin))
    store = _store(args)
    try:
        with store.transaction(write=True) as tx:
            user = tx.accounts.by_email(email)
            if user is None:
                raise CliError(f"no account {email}")
            tx.accounts.set_password_hash(user.id, password_hash)
    finally:
        store.close()
    print(f"password changed for {email}")
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    email = args.email.strip().lower()
    store = _store(args)
    try:
        with store.transaction(write=True) as tx:
            user = tx.accounts.by_email(email)
            if user is None:
                raise CliError(f"no account {email}")
            tx.accounts.remove(user.id)
    finally:
        store.close()
    print(f"removed {email} and its mailbox")
    return 0


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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="openucs", description="Unified Contact Store (MS-OXWSCOS) server.")
    root.add_argument("--database", help="database URL (default: env OPENUCS_DATABASE, else ./openucs-data/)")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="serve EWS over HTTP(S)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default 8080)")
    serve.add_argument("--workers", type=int, help="worker processes (default 1)")
    serve.add_argument("--threads", type=int, help="requests each worker handles at once (default 8)")
    serve.add_argument("--database", dest="database", default=argparse.SUPPRESS, help="database URL")
    serve.add_argument("--tls-cert", type=Path, help="PEM certificate chain: serve HTTPS")
    serve.add_argument("--tls-key", type=Path, help="PEM private key for --tls-cert")
    serve.add_argument("--public-url", help="base URL clients use, e.g. https://mail.example.com")
    serve.set_defaults(func=cmd_serve)

    user = commands.add_parser("user", help="manage accounts (a login and a mailbox each)").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="add an account")
    add.add_argument("email")
    add.add_argument("--display-name", required=True)
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    add.set_defaults(func=cmd_user_add)
    lst = user.add_parser("list", help="list accounts")
    lst.set_defaults(func=cmd_user_list)
    passwd = user.add_parser("passwd", help="change an account's password")
    passwd.add_argument("email")
    passwd.add_argument("--password-stdin", action="store_true")
    passwd.set_defaults(func=cmd_user_passwd)
    remove = user.add_parser("remove", help="remove an account and its mailbox")
    remove.add_argument("email")
    remove.set_defaults(func=cmd_user_remove)
    for sub in (add, lst, passwd, remove):
        sub.add_argument("--database", dest="database", default=argparse.SUPPRESS, help="database URL")
    db.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CliError, DatabaseUrlError, ValueError) as exc:
        print(f"openucs: {exc}", file=sys.stderr)
        return 1
