"""``openucs impersonation grant|revoke|list|sid``: who may act on whose mailbox.

A grant is Exchange's ApplicationImpersonation role: the service account may send
``ExchangeImpersonation`` headers naming the mailboxes in its scope — every mailbox
(``--scope all``) or the listed ones. Without a grant, impersonation is refused.
"""

import argparse

from openucs.cli.common import (
    CliError,
    Commands,
    account,
    add_database_option,
    print_table,
    transaction,
    valid_email,
)
from openucs.store.grants import MAX_SID_CHARS
from openucs.store.sql import SqlTransaction


def _account_id(tx: SqlTransaction, email: str) -> int:
    return account(tx, email).id


def _targets(args: argparse.Namespace) -> list[str | None]:
    """``[None]`` for every mailbox, else the listed addresses."""
    scope = [s for item in args.scope or [] for s in item.split(",") if s.strip()]
    if not scope:
        raise CliError("give --scope all, or --scope and the addresses of the mailboxes")
    if [s.strip().lower() for s in scope] == ["all"]:
        return [None]
    if any(s.strip().lower() == "all" for s in scope):
        raise CliError("--scope all stands alone")
    return [valid_email(s) for s in scope]


def cmd_grant(args: argparse.Namespace) -> int:
    service = valid_email(args.service)
    targets = _targets(args)
    with transaction(args, write=True) as tx:
        service_id = _account_id(tx, service)
        for target in targets:
            target_id = None if target is None else _account_id(tx, target)
            if target_id == service_id:
                raise CliError(f"{service} needs no grant to act on its own mailbox")
            tx.grants.grant(service_id, target_id)
    named = [t for t in targets if t is not None]
    print(f"{service} may impersonate {', '.join(named) if named else 'every mailbox'}")
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    service = valid_email(args.service)
    with transaction(args, write=True) as tx:
        service_id = _account_id(tx, service)
        if not args.scope:
            removed = tx.grants.revoke_all(service_id)
        else:
            targets = _targets(args)
            removed = 0
            for target in targets:
                target_id = None if target is None else _account_id(tx, target)
                removed += tx.grants.revoke(service_id, target_id)
    print(f"revoked {removed} grant{'s' if removed != 1 else ''} of {service}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with transaction(args, write=False) as tx:
        service_id = _account_id(tx, valid_email(args.service)) if args.service else None
        grants = tx.grants.all(service_id)
    rows = [("SERVICE ACCOUNT", "MAY IMPERSONATE")]
    rows += [(g.service, g.target or "all") for g in grants]
    print_table(rows)
    return 0


def cmd_sid(args: argparse.Namespace) -> int:
    email = valid_email(args.email)
    if (args.sid is None) == (not args.clear):
        raise CliError("give a SID, or --clear")
    sid = args.sid.strip() if args.sid else None
    if sid is not None and (len(sid) > MAX_SID_CHARS or not sid.upper().startswith("S-1-")):
        raise CliError(f"{sid[:60]!r} is not a SID in SDDL form (S-1-..., at most {MAX_SID_CHARS} characters)")
    with transaction(args, write=True) as tx:
        user_id = _account_id(tx, email)
        owner = tx.grants.user_by_sid(sid) if sid else None
        if owner is not None and owner != user_id:
            raise CliError(f"{sid} names another account already")
        tx.grants.set_sid(user_id, sid)
    print(f"{email}: SID {sid}" if sid else f"{email}: no SID")
    return 0


def register(commands: Commands) -> None:
    group = commands.add_parser(
        "impersonation", help="service accounts that may act on other mailboxes (ApplicationImpersonation)"
    ).add_subparsers(dest="impersonation_command", required=True)
    grant = group.add_parser("grant", help="let SERVICE_EMAIL impersonate every mailbox or the listed ones")
    grant.add_argument("service", metavar="SERVICE_EMAIL")
    grant.add_argument("--scope", nargs="+", metavar="all|USER", required=True, help="all, or mailbox addresses")
    grant.set_defaults(func=cmd_grant)
    revoke = group.add_parser("revoke", help="take grants away (all of them without --scope)")
    revoke.add_argument("service", metavar="SERVICE_EMAIL")
    revoke.add_argument("--scope", nargs="+", metavar="all|USER", help="all, or mailbox addresses")
    revoke.set_defaults(func=cmd_revoke)
    lst = group.add_parser("list", help="list grants")
    lst.add_argument("service", metavar="SERVICE_EMAIL", nargs="?")
    lst.set_defaults(func=cmd_list)
    sid = group.add_parser("sid", help="give an account the SID that ConnectingSID/SID names it by")
    sid.add_argument("email", metavar="EMAIL")
    sid.add_argument("sid", metavar="SID", nargs="?")
    sid.add_argument("--clear", action="store_true", help="take the account's SID away")
    sid.set_defaults(func=cmd_sid)
    add_database_option(grant, revoke, lst, sid)
