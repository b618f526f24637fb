"""``openucs user add|list|passwd|remove``: accounts (a login and a mailbox each)."""

import argparse

from openucs.auth.passwords import hash_password
from openucs.cli.common import CliError, Commands, add_database_option, open_database, read_password, valid_email
from openucs.domain.accounts import AccountExists


def cmd_user_add(args: argparse.Namespace) -> int:
    email = valid_email(args.email)
    display_name = (args.display_name or "").strip()
    if not display_name:
        raise CliError("--display-name must not be empty")
    password_hash = hash_password(read_password(args.password_stdin))
    store = open_database(args)
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
    store = open_database(args)
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
    password_hash = hash_password(read_password(args.password_stdin))
    store = open_database(args)
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
    store = open_database(args)
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
    add_database_option(add, lst, passwd, remove)
