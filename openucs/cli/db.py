"""``openucs db export FILE`` / ``openucs db import FILE``: move or back up an installation
(FILE ``-`` is standard output / input). The format: docs/export-format.md."""

import argparse
import io
import json
import os
import sqlite3
import sys
from pathlib import Path

import psycopg

from openucs.cli.common import Commands, add_database_option, open_database
from openucs.store.transfer import TransferError, export_data, import_data, validate


def _fail(message: str) -> int:
    print(f"openucs: {message}", file=sys.stderr)
    return 1


def cmd_db_export(args: argparse.Namespace) -> int:
    store = open_database(args)
    try:
        if args.file == "-":
            out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="\n")
            counts = export_data(store, out)
            out.flush()
            out.detach()
        else:
            # Written beside the target and renamed into place: a failed export leaves no half file.
            # Owner-only: the file holds password hashes and the item-id key.
            path = Path(args.file)
            partial = path.with_name(path.name + ".partial")
            try:
                fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with open(fd, "w", encoding="utf-8", newline="\n") as file:
                    counts = export_data(store, file)
                partial.replace(path)
            except OSError as exc:
                partial.unlink(missing_ok=True)
                return _fail(f"cannot write {args.file}: {exc.strerror or exc}")
            except BaseException:
                partial.unlink(missing_ok=True)
                raise
    finally:
        store.close()
    print(f"openucs: exported {counts} to {args.file}", file=sys.stderr)
    return 0


def cmd_db_import(args: argparse.Namespace) -> int:
    try:
        raw = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        return _fail(f"cannot read {args.file}: {exc.strerror or exc}")
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _fail(f"{args.file}: not a JSON document ({exc})")
    try:
        validate(doc)  # before the store is opened: a bad file creates nothing
    except TransferError as exc:
        return _fail(f"{args.file}: {exc}; nothing imported")
    store = open_database(args)
    try:
        counts = import_data(store, doc)
    except TransferError as exc:
        return _fail(f"{exc}; nothing imported")
    except (sqlite3.Error, psycopg.Error) as exc:
        # E.g. a value an older version let into SQLite that the target's indexes refuse.
        return _fail(f"the target database refused the data ({type(exc).__name__}: {exc}); nothing imported")
    finally:
        store.close()
    print(f"openucs: imported {counts} from {args.file}", file=sys.stderr)
    return 0


def register(commands: Commands) -> None:
    db = commands.add_parser("db", help="export or import the whole database").add_subparsers(
        dest="db_command", required=True
    )
    export = db.add_parser("export", help="write every account, IM list and server secret as JSON")
    export.add_argument("file", metavar="FILE", help="output file, or - for standard output")
    export.set_defaults(func=cmd_db_export)
    load = db.add_parser("import", help="load an export into a new, empty database")
    load.add_argument("file", metavar="FILE", help="input file, or - for standard input")
    load.set_defaults(func=cmd_db_import)
    add_database_option(export, load)
