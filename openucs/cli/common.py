"""What every command shares: errors for the administrator, the database option, input checks."""

import argparse
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeAlias

from openucs.config import Settings
from openucs.domain.accounts import User
from openucs.domain.imlist import MAX_ADDRESS_CHARS, is_smtp_address
from openucs.store.open import open_store
from openucs.store.port import Store
from openucs.store.sql import SqlTransaction

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class CliError(Exception):
    """A message for the administrator; exit status 1, no traceback."""


def add_database_option(*parsers: argparse.ArgumentParser) -> None:
    for p in parsers:
        p.add_argument("--database", dest="database", default=argparse.SUPPRESS, help="database URL")


def open_database(args: argparse.Namespace) -> Store:
    return open_store(Settings.from_env(database=getattr(args, "database", None)).database)


def read_password(stdin_flag: bool) -> str:
    if not stdin_flag:
        raise CliError("give the password on standard input with --password-stdin")
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("the password read from standard input is empty")
    return password


def valid_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > MAX_ADDRESS_CHARS:  # said plainly, rather than by repeating the whole value
        raise CliError(f"the e-mail address is longer than {MAX_ADDRESS_CHARS} characters ({len(email)})")
    if not is_smtp_address(email):
        raise CliError(f"{email!r} is not a valid e-mail address")
    return email


@contextmanager
def transaction(args: argparse.Namespace, *, write: bool) -> Iterator[SqlTransaction]:
    """One transaction on the database the command names; the database is closed afterwards."""
    store = open_database(args)
    try:
        with store.transaction(write=write) as tx:
            yield tx
    finally:
        store.close()


def account(tx: SqlTransaction, email: str) -> User:
    user = tx.accounts.by_email(email)
    if user is None:
        raise CliError(f"no account {email}")
    return user


def print_table(rows: Sequence[Sequence[str]]) -> None:
    """Rows (the first is the header) in left-aligned columns."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
