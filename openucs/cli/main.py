"""``openucs``: serve, and manage accounts.

openucs serve [--host H] [--port P] [--workers N] [--database URL] [--tls-cert F --tls-key F]
openucs user add EMAIL --display-name NAME --password-stdin
openucs user list
openucs user passwd EMAIL --password-stdin
openucs user remove EMAIL
openucs db export FILE | openucs db import FILE
openucs impersonation grant|revoke|list SERVICE_EMAIL [--scope all|USER...]; impersonation sid EMAIL SID
openucs cert self-signed [--host NAME...]
"""

import argparse
import sys
from collections.abc import Sequence

from openucs.cli import cert, db, impersonation, serve, users
from openucs.cli.common import CliError
from openucs.store.migrate import SchemaTooNew
from openucs.store.open import DatabaseUrlError


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="openucs", description="Unified Contact Store (MS-OXWSCOS) server.")
    root.add_argument("--database", help="database URL (default: env OPENUCS_DATABASE, else ./openucs-data/)")
    commands = root.add_subparsers(dest="command", required=True)
    serve.register(commands)
    users.register(commands)
    db.register(commands)
    impersonation.register(commands)
    cert.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CliError, DatabaseUrlError, SchemaTooNew, ValueError) as exc:
        print(f"openucs: {exc}", file=sys.stderr)
        return 1
