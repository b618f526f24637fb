"""``openucs user add|list|passwd|remove``: accounts (a login and a mailbox each)."""

import argparse
import sys
from pathlib import Path

from openucs.auth.passwords import hash_password
from openucs.cli import directory
from openucs.cli.common import (
    CliError,
    Commands,
    account,
    add_database_option,
    open_database,
    print_table,
    read_password,
    transaction,
    valid_email,
)
from openucs.domain.accounts import AccountExists
from openucs.domain.imlist import MAX_NAME_CHARS


def cmd_user_add(args: argparse.Namespace) -> int:
    email = valid_email(args.email)
    display_name = (args.display_name or "").strip()
    if not display_name:
        raise CliError("--display-name must not be empty")
    if len(display_name) > MAX_NAME_CHARS:
        raise CliError(f"--display-name is longer than {MAX_NAME_CHARS} characters ({len(display_name)})")
    password_hash = hash_password(read_password(args.password_stdin))
    try:
        with transaction(args, write=True) as tx:
            tx.accounts.add(email, display_name, password_hash)
    except AccountExists:
        raise CliError(f"an account {email} exists already") from None
    print(f"added {email}")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    with transaction(args, write=False) as tx:
        users = tx.accounts.all()
    rows = [("EMAIL", "DISPLAY NAME", "IM LIST MIGRATED", "CREATED")]
    rows += [(u.email, u.display_name, "yes" if u.im_list_migration_completed else "no", u.created) for u in users]
    print_table(rows)
    return 0


def cmd_user_passwd(args: argparse.Namespace) -> int:
    email = args.email.strip().lower()
    password_hash = hash_password(read_password(args.password_stdin))
    with transaction(args, write=True) as tx:
        tx.accounts.set_password_hash(account(tx, email).id, password_hash)
    print(f"password changed for {email}")
    return 0


def cmd_user_remove(args: argparse.Namespace) -> int:
    email = args.email.strip().lower()
    with transaction(args, write=True) as tx:
        tx.accounts.remove(account(tx, email).id)
    print(f"removed {email} and its mailbox")
    return 0


def cmd_user_set(args: argparse.Namespace) -> int:
    values = {name: getattr(args, name) for name in directory.FIELDS if getattr(args, name) is not None}
    if args.photo is not None:
        values["photo"] = str(args.photo)
    elif args.no_photo:
        values["photo"] = ""
    if not values:
        raise CliError("nothing to set: give at least one of the directory flags (see --help)")
    try:
        change = directory.check(args.email, values, lambda path: Path(path).read_bytes())
    except directory.RowError as exc:
        raise CliError(str(exc)) from None
    try:
        with transaction(args, write=True) as tx:
            directory.apply(tx, change, create=False)
    except directory.RowError as exc:
        raise CliError(str(exc)) from None
    print(f"updated {change.email}")
    return 0


def cmd_user_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read {args.file}: {exc}") from None
    try:
        _, rows = directory.read_csv(text)
    except directory.RowError as exc:
        raise CliError(f"{args.file}: {exc}; nothing imported") from None
    store = open_database(args)
    try:
        result = directory.import_rows(lambda: store.transaction(write=True), rows, path.parent)
    finally:
        store.close()
    for error in result.errors:
        print(f"openucs: {args.file}: {error}", file=sys.stderr)
    print(
        f"imported {args.file}: {result.created} accounts created, {result.updated} updated, "
        f"{len(result.errors)} rows refused"
    )
    return 1 if result.errors else 0


def register(commands: Commands) -> None:
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
    set_ = user.add_parser("set", help="set an account's directory fields (an empty value clears one)")
    set_.add_argument("email")
    for name in directory.FIELDS:
        set_.add_argument(f"--{name.replace('_', '-')}", dest=name, metavar="TEXT")
    photo = set_.add_mutually_exclusive_group()
    photo.add_argument("--photo", type=Path, metavar="FILE", help="a JPEG or PNG picture of the person")
    photo.add_argument("--no-photo", action="store_true", help="remove the account's photo")
    set_.set_defaults(func=cmd_user_set)
    imp = user.add_parser("import", help="create or update accounts' directory fields from a CSV file")
    imp.add_argument("file", metavar="FILE.csv", help="header row, then one account per row (see README)")
    imp.set_defaults(func=cmd_user_import)
    add_database_option(add, lst, passwd, remove, set_, imp)
