"""Export and import: every account, IM list, impersonation grant, SID, photo and server secret
as one versioned JSON document (docs/export-format.md), to move an installation between backends
or back it up.

Ids are kept exactly, with the item-id key and each table's id high-water mark, so the ids
clients cached stay valid and a stale id never names a newer item. Import validates the whole
document first, then loads it into an empty database in one transaction.
"""

import base64
import binascii
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO

from openucs.domain.imlist import im_address_key
from openucs.domain.model import SYSTEM_GROUP_NAMES, GroupKind, PropertyKey
from openucs.photos import CONTENT_TYPE
from openucs.store.grants import MAX_SID_CHARS
from openucs.store.port import Store
from openucs.store.sql import SqlSession, utc_now

FORMAT = "openucs-export"
VERSION = 2  # what export writes
# What import reads. Version 1 had no impersonation grants, SIDs or photos: such a file
# imports with none of them.
VERSIONS = (1, 2)
ID_TABLES = ("users", "im_groups", "im_contacts")  # the tables whose ids reach clients
_BATCH = 500  # accounts read per round of queries on export
_PHOTO_BATCH = 50  # accounts whose photos are read at once (up to ~100 KiB each)
_MAX_ID = 2**63 - 1
_INT32 = 2**31
_JPEG = b"\xff\xd8\xff"  # a JPEG opens with its start-of-image marker (FF D8), then a segment marker


class TransferError(ValueError):
    """An export or import that cannot go ahead; the message says why."""


class InvalidExport(TransferError):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path


class TargetNotEmpty(TransferError):
    pass


@dataclass(frozen=True)
class Counts:
    users: int = 0
    groups: int = 0
    contacts: int = 0
    grants: int = 0
    photos: int = 0

    def __str__(self) -> str:
        counted = (
            (self.users, "account"),
            (self.groups, "group"),
            (self.contacts, "contact"),
            (self.grants, "impersonation grant"),
            (self.photos, "photo"),
        )
        return ", ".join(f"{n} {what}{'' if n == 1 else 's'}" for n, what in counted)


# -- the document's fields: name → type; "?" marks a nullable field that may also be absent
_DIRECTORY = ("im_address", "given_name", "surname", "title", "department", "company_name", "business_phone")
_USER_FIELDS_V1 = {
    "id": "id",
    "email": "text",
    "display_name": "str",
    "password_hash": "str",
    "created": "str",
    "im_list_migration_completed": "bool",
    **{name: "str?" for name in (*_DIRECTORY, "mobile_phone")},
    "groups": "list",
    "contacts": "list",
}
# Version 2: what an account holds beyond its IM list. Absent (or null) means none.
_USER_FIELDS = {**_USER_FIELDS_V1, "sid": "text?", "impersonation_grants": "list?", "photo": "dict?"}
_USER_FIELDS_BY_VERSION = {1: _USER_FIELDS_V1, 2: _USER_FIELDS}
_GRANT_FIELDS = {"target": "id?", "created": "str"}  # target null: every mailbox ("--scope all")
_PHOTO_FIELDS = {"content_type": "str", "etag": "text", "updated": "str", "data": "str"}
_GROUP_FIELDS = {
    "id": "id",
    "kind": "str",
    "display_name": "text",
    "smtp_address": "str?",
    "created": "str",
    "members": "list",
    "extended_properties": "list",
}
_CARD = ("email_address", "given_name", "surname", "title", "department", "company_name", "business_phone")
_CONTACT_FIELDS = {
    "id": "id",
    "im_address": "text",
    "display_name": "str",
    **{name: "str?" for name in (*_CARD, "mobile_phone")},
    "created": "str",
    "extended_properties": "list",
}
_PROPERTY_KEY = (
    "property_type",
    "distinguished_property_set_id",
    "property_set_id",
    "property_tag",
    "property_name",
    "property_id",
)
_PROPERTY_FIELDS = {
    "property_type": "text",
    "distinguished_property_set_id": "str?",
    "property_set_id": "str?",
    "property_tag": "str?",
    "property_name": "str?",
    "property_id": "int?",
    "multi_valued": "bool",
    "values": "list",
}
_TOP_FIELDS = {
    "format": "str",
    "version": "any",
    "exported": "str?",
    "sequences": "dict?",
    "server_secrets": "dict",
    "users": "list",
}

_USER_COLUMNS = [name for name in _USER_FIELDS_V1 if name not in ("groups", "contacts")]
_GROUP_COLUMNS = ["id", "mailbox_id", "kind", "display_name", "smtp_address", "created"]
_CONTACT_COLUMNS = ["id", "mailbox_id", *(n for n in _CONTACT_FIELDS if n not in ("id", "extended_properties"))]
_PROPERTY_COLUMNS = ["mailbox_id", "group_id", "contact_id", *_PROPERTY_KEY, "multi_valued", "property_values"]


# -- export


def export_data(store: Store, out: TextIO) -> Counts:
    """Write the whole database to ``out``, one account per line, from one consistent snapshot."""
    users = groups = contacts = grants = photos = 0
    with store.transaction(write=False) as tx:
        db = tx.db
        header = {
            "format": FORMAT,
            "version": VERSION,
            "exported": utc_now(),
            "sequences": {table: _high_water(db, table) for table in ID_TABLES},
            "server_secrets": dict(db.all("SELECT name, value FROM server_secrets ORDER BY name")),
        }
        out.write(json.dumps(header, ensure_ascii=False)[:-1] + ',\n"users": [')
        for user in _export_users(db):
            out.write(("\n" if users == 0 else ",\n") + json.dumps(user, ensure_ascii=False))
            users += 1
            groups += len(user["groups"])
            contacts += len(user["contacts"])
            grants += len(user["impersonation_grants"])
            photos += user["photo"] is not None
        out.write("\n]}\n")
    return Counts(users, groups, contacts, grants, photos)


def _export_users(db: SqlSession) -> Iterator[dict[str, Any]]:
    after = 0
    while True:
        rows = db.all(
            f"SELECT {', '.join(_USER_COLUMNS)} FROM users WHERE id > ? ORDER BY id LIMIT {_BATCH}",
            (after,),
        )
        if not rows:
            return
        span = (rows[0][0], rows[-1][0])
        by_mailbox = _batch_items(db, span)
        sids, grants = _batch_grants(db, span)
        photos: dict[int, dict[str, Any]] = {}
        for n, row in enumerate(rows):
            if n % _PHOTO_BATCH == 0:  # photos are the bulk of an export: hold only a few at a time
                chunk = rows[n : n + _PHOTO_BATCH]
                photos = _batch_photos(db, (chunk[0][0], chunk[-1][0]))
            user = dict(zip(_USER_COLUMNS, row, strict=True))
            user["im_list_migration_completed"] = bool(user["im_list_migration_completed"])
            user["sid"] = sids.get(user["id"])
            user["impersonation_grants"] = grants.get(user["id"], [])
            user_groups, user_contacts = by_mailbox.get(user["id"], ([], []))
            user["groups"], user["contacts"] = user_groups, user_contacts
            user["photo"] = photos.get(user["id"])  # last: the one long value, after what people read
            yield user
        after = span[1]


def _batch_grants(db: SqlSession, span: tuple[int, int]) -> tuple[dict[int, str], dict[int, list[dict[str, Any]]]]:
    """SIDs and impersonation grants (by service account) of the accounts with ids in ``span``."""
    sids = {
        int(r[0]): str(r[1])
        for r in db.all("SELECT user_id, sid FROM account_sids WHERE user_id BETWEEN ? AND ?", span)
    }
    grants: dict[int, list[dict[str, Any]]] = {}
    # Grant rows are renumbered by an import, so they are listed by what they say: "all" first, then by target.
    for service_id, target_id, created in db.all(
        "SELECT service_id, target_id, created FROM impersonation_grants WHERE service_id BETWEEN ? AND ? "
        "ORDER BY service_id, COALESCE(target_id, 0)",
        span,
    ):
        grants.setdefault(int(service_id), []).append({"target": target_id, "created": created})
    return sids, grants


def _batch_photos(db: SqlSession, span: tuple[int, int]) -> dict[int, dict[str, Any]]:
    photos: dict[int, dict[str, Any]] = {}
    for user_id, data, etag, updated in db.all(
        "SELECT user_id, data, etag, updated FROM user_photos WHERE user_id BETWEEN ? AND ?", span
    ):
        # Only the normalised original is stored (always a JPEG); scaled copies are a cache, made again.
        photos[int(user_id)] = {
            "content_type": CONTENT_TYPE,
            "etag": etag,
            "updated": updated,
            "data": base64.b64encode(bytes(data)).decode("ascii"),
        }
    return photos


def _batch_items(db: SqlSession, span: tuple[int, int]) -> dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Groups and contacts of the mailboxes with ids in ``span``, members as contact indexes."""
    where = "WHERE mailbox_id BETWEEN ? AND ? ORDER BY id"
    group_rows = db.all(f"SELECT {', '.join(_GROUP_COLUMNS)} FROM im_groups {where}", span)
    contact_rows = db.all(f"SELECT {', '.join(_CONTACT_COLUMNS)} FROM im_contacts {where}", span)
    member_rows = db.all(f"SELECT group_id, contact_id FROM im_members {where}", span)
    property_rows = db.all(f"SELECT {', '.join(_PROPERTY_COLUMNS)} FROM im_extended_properties {where}", span)

    properties: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in property_rows:
        prop = dict(zip(_PROPERTY_KEY, row[3:9], strict=True))
        prop["multi_valued"] = bool(row[9])
        prop["values"] = json.loads(row[10])
        owner = ("group", row[1]) if row[1] is not None else ("contact", row[2])
        properties.setdefault(owner, []).append(prop)

    found: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
    index: dict[int, int] = {}  # contact id → its position in its mailbox's contact list
    for row in contact_rows:
        contact = dict(zip(_CONTACT_COLUMNS, row, strict=True))
        mailbox = contact.pop("mailbox_id")
        contact["extended_properties"] = properties.get(("contact", contact["id"]), [])
        listed = found.setdefault(mailbox, ([], []))[1]
        index[contact["id"]] = len(listed)
        listed.append(contact)
    members: dict[int, list[int]] = {}
    for group_id, contact_id in member_rows:
        members.setdefault(group_id, []).append(index[contact_id])
    for row in group_rows:
        group = dict(zip(_GROUP_COLUMNS, row, strict=True))
        mailbox = group.pop("mailbox_id")
        group["members"] = members.get(group["id"], [])
        group["extended_properties"] = properties.get(("group", group["id"]), [])
        found.setdefault(mailbox, ([], []))[0].append(group)
    return found


def _high_water(db: SqlSession, table: str) -> int:
    """The highest id the table ever issued, deleted rows included."""
    if db.dialect == "postgresql":
        row = db.one("SELECT pg_sequence_last_value(pg_get_serial_sequence(?, 'id')::regclass)", (table,))
    else:
        row = db.one("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
    issued = int(row[0]) if row is not None and row[0] is not None else 0
    present = db.one(f"SELECT MAX(id) FROM {table}")[0]
    return max(issued, int(present or 0))


# -- validation


def _fail(path: str, problem: str) -> NoReturn:
    raise InvalidExport(path, problem)


_TYPES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "any": (lambda v: True, ""),
    "str": (lambda v: isinstance(v, str), "a string"),
    "text": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "bool": (lambda v: isinstance(v, bool), "true or false"),
    "id": (lambda v: isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= _MAX_ID, "a positive integer id"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool) and -_INT32 <= v < _INT32, "a 32-bit integer"),
    "list": (lambda v: isinstance(v, list), "a list"),
    "dict": (lambda v: isinstance(v, dict), "an object"),
}


def _object(value: Any, path: str, fields: dict[str, str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        _fail(path, "must be an object")
    for name in value:
        if name not in fields:
            _fail(f"{path}.{name}", "unknown field")
    for name, kind in fields.items():
        nullable = kind.endswith("?")
        if name not in value:
            if nullable:
                continue
            _fail(path, f"missing field {name!r}")
        item = value[name]
        if item is None and nullable:
            continue
        check, expected = _TYPES[kind.rstrip("?")]
        if not check(item):
            _fail(f"{path}.{name}", f"must be {expected}{' or null' if nullable else ''}, not {json.dumps(item)[:60]}")
    return value


def _unique(seen: dict[Any, str], key: Any, path: str, what: str) -> None:
    if key in seen:
        _fail(path, f"{what} repeats {seen[key]}")
    seen[key] = path


def validate(doc: Any) -> dict[str, Any]:
    """Check the whole document (shape, types, references, uniqueness); the first problem is
    raised as ``InvalidExport`` naming its JSON path."""
    if not isinstance(doc, dict):
        _fail("$", "must be an object")
    if doc.get("format") != FORMAT:
        _fail("$.format", f"not an openucs export (expected {FORMAT!r}, found {json.dumps(doc.get('format'))})")
    version = doc.get("version")
    if version not in VERSIONS or isinstance(version, bool):
        readable = " or ".join(str(v) for v in VERSIONS)
        _fail("$.version", f"version {json.dumps(version)} is not supported (this openucs reads {readable})")
    user_fields = _USER_FIELDS_BY_VERSION[version]
    _object(doc, "$", _TOP_FIELDS)
    for name, value in doc["server_secrets"].items():
        if not isinstance(value, str):
            _fail(f"$.server_secrets.{name}", "must be a string")
    for name, value in (doc.get("sequences") or {}).items():
        if name not in ID_TABLES:
            _fail(f"$.sequences.{name}", f"unknown table (expected one of {', '.join(ID_TABLES)})")
        if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= _MAX_ID):
            _fail(f"$.sequences.{name}", "must be a non-negative integer")
    user_ids: dict[Any, str] = {}
    emails: dict[Any, str] = {}
    user_im: dict[Any, str] = {}
    group_ids: dict[Any, str] = {}
    contact_ids: dict[Any, str] = {}
    sids: dict[Any, str] = {}
    for u, user in enumerate(doc["users"]):
        path = f"$.users[{u}]"
        _object(user, path, user_fields)
        _unique(user_ids, user["id"], f"{path}.id", "the id")
        _unique(emails, user["email"], f"{path}.email", "the e-mail address")
        if user.get("im_address"):
            _unique(user_im, im_address_key(user["im_address"]), f"{path}.im_address", "the IM address")
        contacts = user["contacts"]
        _validate_contacts(contacts, path, contact_ids)
        _validate_groups(user["groups"], path, group_ids, len(contacts))
        if user.get("sid") is not None:
            _validate_sid(user["sid"], f"{path}.sid", sids)
        if user.get("photo") is not None:
            _validate_photo(user["photo"], f"{path}.photo")
    # Grants name other accounts, which may come later in the file: checked once every id is known.
    for u, user in enumerate(doc["users"]):
        _validate_grants(user.get("impersonation_grants") or [], f"$.users[{u}]", user["id"], user_ids)
    return doc


def _validate_groups(groups: list[Any], owner: str, ids: dict[Any, str], contact_count: int) -> None:
    names: dict[Any, str] = {}
    addresses: dict[Any, str] = {}
    for g, group in enumerate(groups):
        path = f"{owner}.groups[{g}]"
        _object(group, path, _GROUP_FIELDS)
        _unique(ids, group["id"], f"{path}.id", "the group id")
        _unique(names, group["display_name"], f"{path}.display_name", "the group name")
        if group["kind"] not in GroupKind._value2member_map_:
            _fail(f"{path}.kind", f"unknown group kind {group['kind']!r}")
        if GroupKind(group["kind"]) in SYSTEM_GROUP_NAMES:
            _unique(names, ("kind", group["kind"]), f"{path}.kind", "the system group")
        if group["smtp_address"] is not None:
            _unique(addresses, group["smtp_address"].lower(), f"{path}.smtp_address", "the address")
        seen: dict[Any, str] = {}
        for m, member in enumerate(group["members"]):
            where = f"{path}.members[{m}]"
            if not _TYPES["int"][0](member) or not 0 <= member < contact_count:
                _fail(where, f"{json.dumps(member)[:60]} is not the index of one of the {contact_count} contacts")
            _unique(seen, member, where, "the member")
        _validate_properties(group["extended_properties"], path)


def _validate_contacts(contacts: list[Any], owner: str, ids: dict[Any, str]) -> None:
    addresses: dict[Any, str] = {}
    for c, contact in enumerate(contacts):
        path = f"{owner}.contacts[{c}]"
        _object(contact, path, _CONTACT_FIELDS)
        _unique(ids, contact["id"], f"{path}.id", "the contact id")
        _unique(addresses, im_address_key(contact["im_address"]), f"{path}.im_address", "the IM address")
        _validate_properties(contact["extended_properties"], path)


def _validate_sid(sid: str, path: str, seen: dict[Any, str]) -> None:
    # As ``openucs impersonation sid`` accepts them: SDDL form, compared ignoring case.
    if sid != sid.strip() or len(sid) > MAX_SID_CHARS or not sid.upper().startswith("S-1-"):
        _fail(path, f"{json.dumps(sid)[:60]} is not a SID in SDDL form (S-1-..., at most {MAX_SID_CHARS} characters)")
    _unique(seen, sid.upper(), path, "the SID")


def _validate_photo(photo: Any, path: str) -> None:
    _object(photo, path, _PHOTO_FIELDS)
    if photo["content_type"] != CONTENT_TYPE:
        _fail(f"{path}.content_type", f"must be {CONTENT_TYPE!r} (openucs stores every photo as a JPEG)")
    try:
        data = base64.b64decode(photo["data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        _fail(f"{path}.data", f"not base64 ({exc})")
    if not data.startswith(_JPEG):
        _fail(f"{path}.data", "not a JPEG image")


def _validate_grants(grants: list[Any], owner: str, service_id: int, user_ids: dict[Any, str]) -> None:
    targets: dict[Any, str] = {}
    for n, grant in enumerate(grants):
        path = f"{owner}.impersonation_grants[{n}]"
        _object(grant, path, _GRANT_FIELDS)
        # Left out, "target" would widen the grant to every mailbox: that must be said, as null.
        if "target" not in grant:
            _fail(path, "missing field 'target' (null: every mailbox)")
        target = grant["target"]
        if target is not None and target not in user_ids:
            _fail(f"{path}.target", f"{target} is not the id of one of the accounts in the file")
        if target == service_id:
            _fail(f"{path}.target", "an account needs no grant to act on its own mailbox")
        _unique(targets, target, path, "the grant")


def _validate_properties(properties: list[Any], owner: str) -> None:
    keys: dict[Any, str] = {}
    for p, prop in enumerate(properties):
        path = f"{owner}.extended_properties[{p}]"
        _object(prop, path, _PROPERTY_FIELDS)
        _unique(keys, _key(prop).canonical(), path, "the property")
        for v, value in enumerate(prop["values"]):
            if not isinstance(value, str):
                _fail(f"{path}.values[{v}]", "must be a string")
        # EWS has no way to say "a property without a value" (types.xsd: Value, or Values with at
        # least one), nor a second value of a single-valued one: either would be lost or invalid.
        if prop["multi_valued"] and not prop["values"]:
            _fail(f"{path}.values", "a multi-valued property needs at least one value")
        if not prop["multi_valued"] and len(prop["values"]) != 1:
            _fail(f"{path}.values", "a single-valued property has exactly one value")


def _key(prop: dict[str, Any]) -> PropertyKey:
    return PropertyKey(
        prop["property_type"],
        prop.get("distinguished_property_set_id"),
        prop.get("property_set_id"),
        prop.get("property_tag"),
        prop.get("property_name"),
        prop.get("property_id"),
    )


# -- import


def import_data(store: Store, doc: Any) -> Counts:
    """Validate ``doc`` (a parsed export), then load it into the store's empty database."""
    validate(doc)
    users: list[tuple[Any, ...]] = []
    groups: list[tuple[Any, ...]] = []
    contacts: list[tuple[Any, ...]] = []
    members: list[tuple[int, int, int]] = []
    properties: list[tuple[Any, ...]] = []
    sids: list[tuple[str, str, int]] = []
    grants: list[tuple[int, int | None, str]] = []
    photos: list[tuple[int, bytes, str, str]] = []
    for user in doc["users"]:
        mailbox = user["id"]
        address = user.get("im_address")
        users.append((*(user.get(n) for n in _USER_COLUMNS), im_address_key(address) if address else None))
        if user.get("sid") is not None:
            sids.append((user["sid"].upper(), user["sid"], mailbox))  # the key as SqlGrants.set_sid makes it
        grants += [(mailbox, g["target"], g["created"]) for g in user.get("impersonation_grants") or []]
        if (photo := user.get("photo")) is not None:
            photos.append((mailbox, base64.b64decode(photo["data"]), photo["etag"], photo["updated"]))
        contact_ids = [c["id"] for c in user["contacts"]]
        for contact in user["contacts"]:
            fields = [contact.get(n) for n in _CONTACT_COLUMNS[2:]]
            contacts.append((contact["id"], mailbox, *fields, im_address_key(contact["im_address"])))
            properties += [_property_row(mailbox, None, contact["id"], p) for p in contact["extended_properties"]]
        for group in user["groups"]:
            smtp = group.get("smtp_address")
            groups.append(
                (
                    group["id"],
                    mailbox,
                    group["kind"],
                    group["display_name"],
                    smtp,
                    group["created"],
                    smtp.lower() if smtp else None,
                )
            )
            members += [(mailbox, group["id"], contact_ids[i]) for i in group["members"]]
            properties += [_property_row(mailbox, group["id"], None, p) for p in group["extended_properties"]]

    with store.transaction(write=True) as tx:
        db = tx.db
        if db.dialect == "postgresql":  # no account or secret may appear between the check and the load
            db.run("LOCK TABLE users, server_secrets IN EXCLUSIVE MODE")
        _require_empty(db)
        db.many("INSERT INTO server_secrets (name, value) VALUES (?, ?)", sorted(doc["server_secrets"].items()))
        db.many(_insert("users", [*_USER_COLUMNS, "im_address_key"]), users)
        db.many(_insert("im_groups", [*_GROUP_COLUMNS, "smtp_address_key"]), groups)
        db.many(_insert("im_contacts", [*_CONTACT_COLUMNS, "im_address_key"]), contacts)
        db.many(_insert("im_members", ["mailbox_id", "group_id", "contact_id"]), members)
        db.many(_insert("im_extended_properties", [*_PROPERTY_COLUMNS, "property_key"]), properties)
        db.many(_insert("account_sids", ["sid_key", "sid", "user_id"]), sids)
        db.many(_insert("impersonation_grants", ["service_id", "target_id", "created"]), grants)
        db.many(_insert("user_photos", ["user_id", "data", "etag", "updated"]), photos)
        tx.people.reindex_all()  # the directory's search index is derived, not exported
        sequences = doc.get("sequences") or {}
        highest = {
            "users": max((u[0] for u in users), default=0),
            "im_groups": max((g[0] for g in groups), default=0),
            "im_contacts": max((c[0] for c in contacts), default=0),
        }
        for table in ID_TABLES:
            _advance(db, table, max(highest[table], sequences.get(table, 0)))
    return Counts(len(users), len(groups), len(contacts), len(grants), len(photos))


def _property_row(mailbox: int, group_id: int | None, contact_id: int | None, prop: dict[str, Any]) -> tuple[Any, ...]:
    key = [prop.get(name) for name in _PROPERTY_KEY]
    values = json.dumps(prop["values"])
    return (mailbox, group_id, contact_id, *key, prop["multi_valued"], values, _key(prop).canonical())


def _insert(table: str, columns: list[str]) -> str:
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _require_empty(db: SqlSession) -> None:
    accounts = int(db.one("SELECT COUNT(*) FROM users")[0])
    secrets = int(db.one("SELECT COUNT(*) FROM server_secrets")[0])
    if accounts or secrets:
        raise TargetNotEmpty(
            f"the target database is not empty ({accounts} accounts, {secrets} server secrets): "
            "import only into a new database (one no openucs server has started on)"
        )


def _advance(db: SqlSession, table: str, issued: int) -> None:
    """Make the table's next id ``issued + 1`` at the least: imported ids are never issued again."""
    if db.dialect == "postgresql":
        db.run("SELECT setval(pg_get_serial_sequence(?, 'id')::regclass, ?, ?)", (table, max(issued, 1), issued > 0))
    else:
        db.run("UPDATE sqlite_sequence SET seq = ? WHERE name = ? AND seq < ?", (issued, table, issued))
        db.run(
            "INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? WHERE NOT EXISTS "
            "(SELECT 1 FROM sqlite_sequence WHERE name = ?)",
            (table, issued, table),
        )
