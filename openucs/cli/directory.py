"""``openucs user set`` and ``openucs user import``: the directory fields of accounts.

CSV import (``user import FILE.csv``): a header row naming the columns, then one account per
row. ``email`` is required; the other columns are the flags of ``user set`` without the dashes
(display_name, im_address, given_name, surname, title, department, company, phone, mobile,
photo). A column that is present sets that field on every row, and an empty cell clears it;
a column that is absent leaves the field alone. ``photo`` is a path to a JPEG or PNG file,
relative to the CSV file. Rows whose address has no account yet create one, with an unusable
password: such an account is in the directory (found by FindPeople, added with its details)
but cannot sign in until ``openucs user passwd`` gives it a password. Importing the same file
twice changes nothing the second time. A row that is wrong (a bad address, an unreadable
photo, an IM address another account has) is reported with its line number and none of it
is written; the other rows are.
"""

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from openucs.domain.imlist import MAX_ADDRESS_CHARS, MAX_NAME_CHARS, im_address_key, is_smtp_address
from openucs.photos import PhotoRejected, StoredPhoto, normalise
from openucs.store.sql import SqlTransaction, utc_now

# Never verifies: argon2 refuses it as a hash, so nobody can sign in with any password.
UNUSABLE_PASSWORD = "!directory-only"  # noqa: S105 - a marker that matches no password

# CSV column / CLI flag name → users column.
FIELDS = {
    "display_name": "display_name",
    "im_address": "im_address",
    "given_name": "given_name",
    "surname": "surname",
    "title": "title",
    "department": "department",
    "company": "company_name",
    "phone": "business_phone",
    "mobile": "mobile_phone",
}
COLUMNS = ("email", *FIELDS, "photo")
NO_PHOTO = object()


class RowError(ValueError):
    """What is wrong with one account's new values."""


def im_address(value: str) -> str:
    """An IM address as the directory publishes it: sip:user@domain."""
    address = value.strip()
    bare = address[4:] if address[:4].lower() == "sip:" else address
    if not is_smtp_address(bare):
        raise RowError(f"{value!r} is not an IM address (sip:user@domain)")
    return f"sip:{bare}"


@dataclass
class Change:
    """New values for one account: directory fields (None clears) and, optionally, its photo."""

    email: str
    fields: dict[str, str | None] = field(default_factory=dict)
    photo: StoredPhoto | object | None = NO_PHOTO  # NO_PHOTO: leave it as it is


def _bounded(what: str, text: str, limit: int) -> str:
    if len(text) > limit:
        raise RowError(f"the {what} is longer than {limit} characters ({len(text)})")
    return text


def check(email: str, values: dict[str, str], photo: Callable[[str], bytes] | None) -> Change:
    """Validate one account's new values (CLI flags or a CSV row): a Change, or RowError."""
    address = _bounded("e-mail address", email.strip().lower(), MAX_ADDRESS_CHARS)
    if not is_smtp_address(address):
        raise RowError(f"{email!r} is not a valid e-mail address")
    change = Change(address)
    for name, value in values.items():
        if name == "photo":
            continue
        what = "IM address" if name == "im_address" else name.replace("_", " ")
        limit = MAX_ADDRESS_CHARS if name == "im_address" else MAX_NAME_CHARS
        # Checked before anything else looks at it, so the message is about the length, not about
        # a screenful of the value; an IM address again once "sip:" may have been added.
        text = _bounded(what, value.strip(), limit)
        if name == "im_address" and text:
            text = _bounded(what, im_address(text), limit)
        if name == "display_name" and not text:
            raise RowError("the display name cannot be empty")
        change.fields[FIELDS[name]] = text or None
    if "photo" in values:
        path = values["photo"].strip()
        if not path:
            change.photo = None
        else:
            if photo is None:
                raise RowError("no photo can be read here")
            try:
                change.photo = normalise(photo(path))
            except OSError as exc:
                raise RowError(f"cannot read the photo {path}: {exc.strerror or exc}") from None
            except PhotoRejected as exc:
                raise RowError(f"photo {path}: {exc}") from None
    return change


def apply(tx: SqlTransaction, change: Change, *, create: bool) -> bool:
    """Write one Change; True when it created the account. RowError when it cannot be written."""
    address = change.fields.get("im_address")
    user = tx.accounts.by_email(change.email)
    if address:
        holder = tx.accounts.by_im_address(address)
        taken = holder is not None and holder.email != change.email and holder.im_address is not None
        if taken and holder is not None and im_address_key(holder.im_address or "") == im_address_key(address):
            raise RowError(f"the IM address {address} belongs to {holder.email}")
    created = False
    if user is None:
        if not create:
            raise RowError(f"no account {change.email}")
        name = change.fields.get("display_name") or _derived_name(change)
        user = tx.accounts.add(change.email, name, UNUSABLE_PASSWORD)
        created = True
    tx.accounts.update_directory(user.id, change.fields)
    if change.photo is not NO_PHOTO:
        photo = change.photo if isinstance(change.photo, StoredPhoto) else None
        tx.people.set_photo(user.id, photo, utc_now())
    return created


def _derived_name(change: Change) -> str:
    given, surname = change.fields.get("given_name"), change.fields.get("surname")
    return " ".join(p for p in (given, surname) if p) or change.email


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    errors: list[str]


def read_csv(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(header, [(line number, row)]); RowError naming line 1 for a bad header."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise RowError("line 1: the file is empty (a header row is required)") from None
    unknown = [h for h in header if h not in COLUMNS]
    if unknown or "email" not in header or len(set(header)) != len(header):
        raise RowError(
            f"line 1: the header must name an email column and only these (each once): {', '.join(COLUMNS)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
        )
    rows = []
    for record in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(header):
            rows.append((line, {"__error__": f"{len(record)} cells where the header has {len(header)}"}))
            continue
        rows.append((line, dict(zip(header, record, strict=True))))
    return header, rows


def import_rows(transaction: Callable[[], object], rows: list[tuple[int, dict[str, str]]], base: Path) -> ImportResult:
    """Write each row in a savepoint of its own: a bad row leaves nothing behind."""
    created = updated = 0
    errors: list[str] = []

    def photo(path: str) -> bytes:
        return (base / path).read_bytes()

    with transaction() as tx:  # type: ignore[attr-defined]
        for line, row in rows:
            if "__error__" in row:
                errors.append(f"line {line}: {row['__error__']}")
                continue
            values = {k: v for k, v in row.items() if k != "email"}
            tx.db.run("SAVEPOINT import_row")
            try:
                change = check(row["email"], values, photo)
                if apply(tx, change, create=True):
                    created += 1
                else:
                    updated += 1
            except RowError as exc:
                tx.db.run("ROLLBACK TO SAVEPOINT import_row")
                errors.append(f"line {line}: {exc}")
            except Exception as exc:  # the database refused the row (a constraint): report, go on
                tx.db.run("ROLLBACK TO SAVEPOINT import_row")
                errors.append(f"line {line}: cannot be written ({type(exc).__name__}: {exc})")
            finally:
                tx.db.run("RELEASE SAVEPOINT import_row")
    return ImportResult(created, updated, errors)
