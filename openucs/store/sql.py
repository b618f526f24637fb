"""The SQL behind the storage port, shared by every backend.

Queries are written once with ``?`` placeholders; a backend whose driver wants ``%s`` gets them
rewritten once per query text. Every query of a mailbox is filtered by its mailbox id, so an
id that names another mailbox's item finds nothing.
"""

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol

from openucs.domain.accounts import AccountExists, User
from openucs.domain.imlist import im_address_key
from openucs.domain.model import (
    SYSTEM_GROUP_NAMES,
    Contact,
    ContactCard,
    ExtendedProperty,
    Group,
    GroupKind,
    PropertyKey,
)
from openucs.store.directory import SqlDirectory
from openucs.store.migrations import Dialect
from openucs.store.snapshots import (
    ListMirror,
    ListSnapshot,
    TransactionSnapshots,
    kept_contacts,
    kept_groups,
    kept_member_contacts,
)

if TYPE_CHECKING:
    from openucs.store.grants import SqlGrants


class Cursor(Protocol):
    """The slice of DB-API 2.0 both sqlite3 and psycopg provide."""

    def execute(self, sql: Any, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: Any, params: Iterable[Sequence[Any]], /) -> Any: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    @property
    def rowcount(self) -> int: ...


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=512)
def _pyformat(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


class SqlSession:
    """A cursor inside one transaction, with the dialect's placeholder style."""

    def __init__(self, cursor: Cursor, dialect: Dialect) -> None:
        self._cursor = cursor
        self.dialect = dialect

    def run(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        self._cursor.execute(_pyformat(sql) if self.dialect == "postgresql" else sql, params)
        return self._cursor

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        return self.run(sql, params).fetchone()

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self.run(sql, params).fetchall()

    def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """One statement over many parameter rows (bulk loads; psycopg pipelines them)."""
        self._cursor.executemany(_pyformat(sql) if self.dialect == "postgresql" else sql, rows)


_GROUP_COLUMNS = "id, kind, display_name, created, smtp_address"
_CONTACT_COLUMNS = (
    "id, im_address, display_name, email_address, given_name, surname, title, department, company_name, "
    "business_phone, mobile_phone, created"
)
_PROPERTY_COLUMNS = (
    "group_id, contact_id, property_type, distinguished_property_set_id, property_set_id, property_tag, "
    "property_name, property_id, multi_valued, property_values"
)


_LIMITED_KINDS = (GroupKind.USER, GroupKind.DISTRIBUTION)  # the groups the group limit counts
# Kind by stored text: a dict lookup, not an enum call, for every group of every list read.
_KINDS: dict[str, GroupKind] = {kind.value: kind for kind in GroupKind}
# Ids per IN (...) list: far below every backend's limit on parameters per statement.
_MAX_IDS = 500


def _marks(values: Sequence[Any]) -> str:
    return ", ".join("?" * len(values))


def _slices(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    """``ids`` in slices a statement takes: a request may name more ids than that."""
    for start in range(0, len(ids), _MAX_IDS):
        yield ids[start : start + _MAX_IDS]


def _contact(row: Sequence[Any], props: tuple[ExtendedProperty, ...] = ()) -> Contact:
    # Positional: this runs once per contact of a 1000-contact list on every sign-in.
    return Contact(row[0], row[1], ContactCard(*row[2:11]), row[11], props)


def _property(row: Sequence[Any]) -> ExtendedProperty:
    key = PropertyKey(
        property_type=row[2],
        distinguished_property_set_id=row[3],
        property_set_id=row[4],
        property_tag=row[5],
        property_name=row[6],
        property_id=row[7],
    )
    return ExtendedProperty(key, tuple(json.loads(row[9])), bool(row[8]))


class SqlImList:
    """``ImListRepository`` for one mailbox over an open transaction.

    With ``snapshots``, reads of the list come from the process's snapshot of it when that is
    at the list's current version, and changes are made to the write's copy of it as well (see
    snapshots.py)."""

    def __init__(
        self,
        db: SqlSession,
        mailbox_id: int,
        *,
        with_properties: bool = False,
        snapshots: TransactionSnapshots | None = None,
    ) -> None:
        self._db = db
        self.mailbox_id = mailbox_id
        # Extended properties are read only when the request asked for some: most never do.
        self._with_properties = with_properties
        self._loaded_properties: dict[str, dict[int, tuple[ExtendedProperty, ...]]] | None = None
        self._snapshots = snapshots
        self._snapshot: ListSnapshot | None = None
        self._looked = False  # for the snapshot

    # -- the snapshot, when there is one
    def _current(self, *, read: bool) -> ListSnapshot | ListMirror | None:
        """The snapshot of the list at its version in this transaction (in a write, the write's
        copy); when there is none and ``read``, the list read from the database and kept."""
        snapshots = self._snapshots
        if snapshots is None:
            return None
        if snapshots.writes(self.mailbox_id):
            return snapshots.live(self.mailbox_id)  # with the write's changes so far; None: ask the database
        if self._looked:
            return self._snapshot
        if not read and snapshots.newest(self.mailbox_id) is None:
            return None  # nothing kept: a version check would only add a query
        self._looked = True
        row = self._db.one(LIST_VERSION, (self.mailbox_id,))
        if row is None:
            return None
        version = int(row[0])
        found = snapshots.at(self.mailbox_id, version)
        if found is None and read:
            self._with_properties = True  # a snapshot serves every request, those asking for properties too
            groups = self._groups("", (), every_group=True)
            contacts = self._all_contacts()
            found = ListSnapshot(self.mailbox_id, version, {g.id: g for g in groups}, {c.id: c for c in contacts})
            snapshots.stage(found)
        self._snapshot = found
        return found

    def _mirror(self) -> ListMirror | None:
        """Before a change: the copy to make it to as well. From here on this repository reads
        the database (or the copy, which has the change too)."""
        self._looked, self._snapshot = True, None
        return None if self._snapshots is None else self._snapshots.mirror(self.mailbox_id)

    def _live(self) -> ListMirror | None:
        """In a write with a copy of the list: the copy, which answers the write's checks."""
        return None if self._snapshots is None else self._snapshots.live(self.mailbox_id)

    def _properties(self, column: str) -> dict[int, tuple[ExtendedProperty, ...]]:
        if not self._with_properties:
            return {}
        if self._loaded_properties is None:
            rows = self._db.all(
                f"SELECT {_PROPERTY_COLUMNS} FROM im_extended_properties WHERE mailbox_id = ? ORDER BY id",
                (self.mailbox_id,),
            )
            found: dict[str, dict[int, list[ExtendedProperty]]] = {"group_id": {}, "contact_id": {}}
            for row in rows:
                owner = ("group_id", row[0]) if row[0] is not None else ("contact_id", row[1])
                found[owner[0]].setdefault(owner[1], []).append(_property(row))
            self._loaded_properties = {
                kind: {k: tuple(v) for k, v in by_owner.items()} for kind, by_owner in found.items()
            }
        return self._loaded_properties[column]

    # -- groups
    def _groups(self, where: str, params: Sequence[Any], *, every_group: bool = False) -> list[Group]:
        rows = self._db.all(
            f"SELECT {_GROUP_COLUMNS} FROM im_groups WHERE mailbox_id = ? {where} ORDER BY kind, id",
            (self.mailbox_id, *params),
        )
        if not rows:
            return []
        if every_group:  # the whole list: one pass over the mailbox's memberships
            members_rows = self._db.all(
                "SELECT group_id, contact_id FROM im_members WHERE mailbox_id = ? ORDER BY id", (self.mailbox_id,)
            )
        else:
            ids = [r[0] for r in rows]
            members_rows = self._db.all(
                f"SELECT group_id, contact_id FROM im_members WHERE group_id IN ({_marks(ids)}) ORDER BY id", ids
            )
        members: dict[int, list[int]] = {}
        for group_id, contact_id in members_rows:
            if group_id in members:
                members[group_id].append(contact_id)
            else:
                members[group_id] = [contact_id]
        props = self._properties("group_id")
        return [
            Group(r[0], _KINDS[r[1]], r[2], r[3], r[4], tuple(members.get(r[0], ())), props.get(r[0], ())) for r in rows
        ]

    def groups(self, group_ids: Iterable[int] | None = None) -> list[Group]:
        snapshot = self._current(read=group_ids is None)
        if snapshot is not None:
            return kept_groups(snapshot, group_ids)
        if group_ids is None:
            return self._groups("", (), every_group=True)
        ids = sorted(set(group_ids))
        return self._groups(f"AND id IN ({_marks(ids)})", ids) if ids else []

    def group_kind(self, group_id: int) -> GroupKind | None:
        if (live := self._live()) is not None:
            group = live.groups.get(group_id)
            return None if group is None else group.kind
        row = self._db.one("SELECT kind FROM im_groups WHERE id = ? AND mailbox_id = ?", (group_id, self.mailbox_id))
        return None if row is None else _KINDS[row[0]]

    def group_by_name(self, display_name: str) -> Group | None:
        if (live := self._live()) is not None:
            return live.first_group(name=display_name)
        found = self._groups("AND display_name = ?", (display_name,))
        return found[0] if found else None

    def group_by_smtp_address(self, smtp_address: str) -> Group | None:
        if (live := self._live()) is not None:
            return live.first_group(smtp_key=smtp_address.lower())
        found = self._groups("AND smtp_address_key = ?", (smtp_address.lower(),))
        return found[0] if found else None

    def system_group(self, kind: GroupKind) -> Group | None:
        if (live := self._live()) is not None:
            return live.first_group(kind)
        found = self._groups("AND kind = ?", (kind.value,))
        return found[0] if found else None

    def system_group_id(self, kind: GroupKind) -> int | None:
        if (live := self._live()) is not None:
            group = live.first_group(kind)
            return None if group is None else group.id
        row = self._db.one("SELECT id FROM im_groups WHERE mailbox_id = ? AND kind = ?", (self.mailbox_id, kind.value))
        return None if row is None else int(row[0])

    def count_limited_groups(self) -> int:
        if (live := self._live()) is not None:
            return sum(g.kind in _LIMITED_KINDS for g in live.groups.values())
        row = self._db.one(
            "SELECT COUNT(*) FROM im_groups WHERE mailbox_id = ? AND kind IN (?, ?)",
            (self.mailbox_id, GroupKind.USER.value, GroupKind.DISTRIBUTION.value),
        )
        return int(row[0])

    def create_group(self, kind: GroupKind, display_name: str, smtp_address: str | None = None) -> Group:
        created = utc_now()
        row = self._db.one(
            "INSERT INTO im_groups (mailbox_id, kind, display_name, smtp_address, smtp_address_key, created) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            (
                self.mailbox_id,
                kind.value,
                display_name,
                smtp_address,
                smtp_address.lower() if smtp_address else None,
                created,
            ),
        )
        group = Group(id=row[0], kind=kind, display_name=display_name, created=created, smtp_address=smtp_address)
        if (mirror := self._mirror()) is not None:
            mirror.add_group(group)
        return group

    def create_missing_system_groups(self) -> None:
        created = utc_now()
        mirror = self._mirror()
        for kind, name in SYSTEM_GROUP_NAMES.items():
            row = self._db.one(
                "INSERT INTO im_groups (mailbox_id, kind, display_name, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING RETURNING id",
                (self.mailbox_id, kind.value, name, created),
            )
            if row is not None and mirror is not None:
                mirror.add_group(Group(row[0], kind, name, created))

    def rename_group(self, group_id: int, display_name: str) -> None:
        self._db.run(
            "UPDATE im_groups SET display_name = ? WHERE id = ? AND mailbox_id = ?",
            (display_name, group_id, self.mailbox_id),
        )
        if (mirror := self._mirror()) is not None:
            mirror.rename_group(group_id, display_name)

    def delete_group(self, group_id: int) -> None:
        self._db.run("DELETE FROM im_groups WHERE id = ? AND mailbox_id = ?", (group_id, self.mailbox_id))
        if (mirror := self._mirror()) is not None:
            mirror.delete_group(group_id)  # its memberships and properties go with it

    # -- contacts
    def contacts(self, contact_ids: Iterable[int] | None = None) -> list[Contact]:
        snapshot = self._current(read=contact_ids is None)
        if snapshot is not None:
            return kept_contacts(snapshot, contact_ids)
        if contact_ids is None:
            return self._all_contacts()
        return self._contacts_among(contact_ids, "")

    def _all_contacts(self) -> list[Contact]:
        rows = self._db.all(
            f"SELECT {_CONTACT_COLUMNS} FROM im_contacts WHERE mailbox_id = ? ORDER BY id", (self.mailbox_id,)
        )
        return self._contacts(rows)

    def member_contacts(self, contact_ids: Iterable[int]) -> list[Contact]:
        snapshot = self._current(read=False)
        if snapshot is not None:
            return kept_member_contacts(snapshot, contact_ids)
        return self._contacts_among(
            contact_ids, "AND EXISTS (SELECT 1 FROM im_members m WHERE m.contact_id = im_contacts.id)"
        )

    def _contacts_among(self, contact_ids: Iterable[int], where: str) -> list[Contact]:
        ids = sorted(set(contact_ids))
        rows = []
        for chunk in _slices(ids):
            rows += self._db.all(
                f"SELECT {_CONTACT_COLUMNS} FROM im_contacts WHERE mailbox_id = ? AND id IN ({_marks(chunk)}) "
                f"{where} ORDER BY id",
                (self.mailbox_id, *chunk),
            )
        return self._contacts(rows)

    def _contacts(self, rows: list[Any]) -> list[Contact]:
        props = self._properties("contact_id")
        return [_contact(r, props.get(r[0], ())) for r in rows]

    def contact_by_im_address(self, im_address: str) -> Contact | None:
        row = self._db.one(
            f"SELECT {_CONTACT_COLUMNS} FROM im_contacts WHERE mailbox_id = ? AND im_address_key = ?",
            (self.mailbox_id, im_address_key(im_address)),
        )
        if row is None:
            return None
        return _contact(row, self._properties("contact_id").get(row[0], ()))

    def count_contacts(self) -> int:
        if (live := self._live()) is not None:
            return len(live.contacts)
        return int(self._db.one("SELECT COUNT(*) FROM im_contacts WHERE mailbox_id = ?", (self.mailbox_id,))[0])

    def create_contact(self, im_address: str, card: ContactCard) -> Contact:
        created = utc_now()
        row = self._db.one(
            "INSERT INTO im_contacts (mailbox_id, im_address, im_address_key, display_name, email_address, "
            "given_name, surname, title, department, company_name, business_phone, mobile_phone, created) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                self.mailbox_id,
                im_address,
                im_address_key(im_address),
                card.display_name,
                card.email_address,
                card.given_name,
                card.surname,
                card.title,
                card.department,
                card.company_name,
                card.business_phone,
                card.mobile_phone,
                created,
            ),
        )
        contact = Contact(id=row[0], im_address=im_address, card=card, created=created)
        if (mirror := self._mirror()) is not None:
            mirror.add_contact(contact)
        return contact

    def delete_contact(self, contact_id: int) -> bool:
        cursor = self._db.run("DELETE FROM im_contacts WHERE id = ? AND mailbox_id = ?", (contact_id, self.mailbox_id))
        deleted = bool(cursor.rowcount)  # rows deleted by the statement itself, not by its cascades
        if deleted and (mirror := self._mirror()) is not None:
            mirror.delete_contacts((contact_id,))  # its memberships and properties go with it
        return deleted

    def delete_contacts(self, contact_ids: Sequence[int]) -> None:
        for chunk in _slices(contact_ids):
            self._db.run(
                f"DELETE FROM im_contacts WHERE mailbox_id = ? AND id IN ({_marks(chunk)})", (self.mailbox_id, *chunk)
            )
        if contact_ids and (mirror := self._mirror()) is not None:
            mirror.delete_contacts(contact_ids)

    # -- membership
    def memberships(self, contact_id: int) -> dict[int, GroupKind] | None:
        if (live := self._live()) is not None:
            return live.memberships(contact_id)
        # One row per membership, or one row of NULLs for a contact in no group.
        rows = self._db.all(
            "SELECT m.group_id, g.kind FROM im_contacts c "
            "LEFT JOIN im_members m ON m.contact_id = c.id "
            "LEFT JOIN im_groups g ON g.id = m.group_id "
            "WHERE c.id = ? AND c.mailbox_id = ?",
            (contact_id, self.mailbox_id),
        )
        if not rows:
            return None
        return {r[0]: _KINDS[r[1]] for r in rows if r[0] is not None}

    def sole_members(self, group_id: int, *, besides: GroupKind) -> list[int]:
        if (live := self._live()) is not None:
            return live.sole_members(group_id, besides)
        rows = self._db.all(
            "SELECT m.contact_id FROM im_members m WHERE m.group_id = ? AND m.mailbox_id = ? "
            "AND NOT EXISTS (SELECT 1 FROM im_members o JOIN im_groups g ON g.id = o.group_id "
            "WHERE o.contact_id = m.contact_id AND o.group_id <> m.group_id AND g.kind <> ?) "
            "ORDER BY m.id",
            (group_id, self.mailbox_id, besides.value),
        )
        return [r[0] for r in rows]

    def add_member(self, group_id: int, contact_id: int) -> bool:
        if (live := self._live()) is not None:
            # The write's copy knows whether both are this mailbox's and whether it is a member
            # already: a plain insert (the foreign keys still stand behind it), or none at all.
            group = live.groups.get(group_id)
            if group is None or contact_id not in live.contacts or contact_id in group.members:
                return False
            self._db.run(
                "INSERT INTO im_members (mailbox_id, group_id, contact_id) VALUES (?, ?, ?)",
                (self.mailbox_id, group_id, contact_id),
            )
            live.add_member(group_id, contact_id)
            return True
        # Inserts only when both are this mailbox's: the caller learns why nothing was added
        # only on that rare path, not with checks before every add.
        cursor = self._db.run(
            "INSERT INTO im_members (mailbox_id, group_id, contact_id) "
            "SELECT g.mailbox_id, g.id, c.id FROM im_groups g, im_contacts c "
            "WHERE g.id = ? AND g.mailbox_id = ? AND c.id = ? AND c.mailbox_id = ? "
            "ON CONFLICT DO NOTHING",
            (group_id, self.mailbox_id, contact_id, self.mailbox_id),
        )
        added = bool(cursor.rowcount)
        if added and (mirror := self._mirror()) is not None:
            mirror.add_member(group_id, contact_id)
        return added

    def remove_memberships(self, contact_id: int, group_ids: Iterable[int]) -> None:
        ids = list(group_ids)
        self._db.run(
            f"DELETE FROM im_members WHERE contact_id = ? AND mailbox_id = ? AND group_id IN ({_marks(ids)})",
            (contact_id, self.mailbox_id, *ids),
        )
        if (mirror := self._mirror()) is not None:
            mirror.remove_memberships(contact_id, ids)

    # -- extended properties
    def set_extended_properties(
        self,
        *,
        group_id: int | None = None,
        contact_id: int | None = None,
        properties: Sequence[ExtendedProperty] = (),
    ) -> None:
        column = "group_id" if group_id is not None else "contact_id"
        owner = group_id if group_id is not None else contact_id
        for prop in properties:
            key = prop.key.canonical()
            self._db.run(
                f"DELETE FROM im_extended_properties WHERE {column} = ? AND property_key = ? AND mailbox_id = ?",
                (owner, key, self.mailbox_id),
            )
            self._db.run(
                "INSERT INTO im_extended_properties (mailbox_id, group_id, contact_id, property_key, property_type, "
                "distinguished_property_set_id, property_set_id, property_tag, property_name, property_id, "
                "multi_valued, property_values) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self.mailbox_id,
                    group_id,
                    contact_id,
                    key,
                    prop.key.property_type,
                    prop.key.distinguished_property_set_id,
                    prop.key.property_set_id,
                    prop.key.property_tag,
                    prop.key.property_name,
                    prop.key.property_id,
                    prop.multi_valued,
                    json.dumps(list(prop.values)),
                ),
            )
        if properties and (mirror := self._mirror()) is not None:
            if group_id is not None:
                mirror.set_group_properties(group_id, properties)
            elif contact_id is not None:
                mirror.set_contact_properties(contact_id, properties)


_USER_COLUMNS = (
    "id, email, display_name, password_hash, created, im_list_migration_completed, im_address, given_name, "
    "surname, title, department, company_name, business_phone, mobile_phone, list_version, account_version"
)

# The directory fields `openucs user set` may change.
DIRECTORY_FIELDS = (
    "display_name",
    "im_address",
    "given_name",
    "surname",
    "title",
    "department",
    "company_name",
    "business_phone",
    "mobile_phone",
)


def _user(row: Sequence[Any]) -> User:
    return User(
        id=row[0],
        email=row[1],
        display_name=row[2],
        password_hash=row[3],
        created=row[4],
        im_list_migration_completed=bool(row[5]),
        im_address=row[6],
        given_name=row[7],
        surname=row[8],
        title=row[9],
        department=row[10],
        company_name=row[11],
        business_phone=row[12],
        mobile_phone=row[13],
        list_version=row[14],
        account_version=row[15],
    )


class SqlAccounts:
    """Accounts and the directory built from them."""

    def __init__(self, db: SqlSession) -> None:
        self._db = db

    def add(self, email: str, display_name: str, password_hash: str) -> User:
        email = email.strip().lower()
        if self.by_email(email) is not None:
            raise AccountExists(email)
        row = self._db.one(
            "INSERT INTO users (email, display_name, password_hash, created) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (email, display_name, password_hash, utc_now()),
        )
        if row is None:
            raise AccountExists(email)
        SqlImList(self._db, row[0]).create_missing_system_groups()
        SqlDirectory(self._db).reindex(row[0])
        user = self.by_id(row[0])
        assert user is not None
        return user

    def by_email(self, email: str) -> User | None:
        row = self._db.one(
            f"SELECT {_USER_COLUMNS} FROM users WHERE email = ?",
            (email.strip().lower(),),
        )
        return None if row is None else _user(row)

    def by_id(self, user_id: int) -> User | None:
        row = self._db.one(f"SELECT {_USER_COLUMNS} FROM users WHERE id = ?", (user_id,))
        return None if row is None else _user(row)

    def by_im_address(self, im_address: str) -> User | None:
        key = im_address_key(im_address)
        row = self._db.one(
            f"SELECT {_USER_COLUMNS} FROM users WHERE im_address_key = ? OR email = ? "
            "ORDER BY im_address_key IS NULL LIMIT 1",
            (key, key),
        )
        return None if row is None else _user(row)

    def all(self) -> list[User]:
        return [_user(r) for r in self._db.all(f"SELECT {_USER_COLUMNS} FROM users ORDER BY email")]

    def count(self) -> int:
        return int(self._db.one("SELECT COUNT(*) FROM users")[0])

    def set_password_hash(self, user_id: int, password_hash: str) -> None:
        self._db.run("UPDATE users SET password_hash = ? WHERE id = ?", (password_hash, user_id))

    def set_migration_completed(self, user_id: int, completed: bool) -> None:
        self._db.run("UPDATE users SET im_list_migration_completed = ? WHERE id = ?", (completed, user_id))

    def update_directory(self, user_id: int, fields: dict[str, str | None]) -> None:
        unknown = set(fields) - set(DIRECTORY_FIELDS)
        if unknown:
            raise ValueError(f"not directory fields: {sorted(unknown)}")
        if not fields:
            return
        assignments = [f"{name} = ?" for name in fields]
        values: list[Any] = list(fields.values())
        if "im_address" in fields:
            assignments.append("im_address_key = ?")
            address = fields["im_address"]
            values.append(im_address_key(address) if address else None)
        self._db.run(
            f"UPDATE users SET {', '.join(assignments)} WHERE id = ?",
            (*values, user_id),
        )
        SqlDirectory(self._db).reindex(user_id)

    def remove(self, user_id: int) -> None:
        self._db.run("DELETE FROM users WHERE id = ?", (user_id,))

    def secret(self, name: str, make: str) -> str:
        """A server-wide secret, created once by whichever node asks first."""
        self._db.run("INSERT INTO server_secrets (name, value) VALUES (?, ?) ON CONFLICT DO NOTHING", (name, make))
        return str(self._db.one("SELECT value FROM server_secrets WHERE name = ?", (name,))[0])


class AccountDirectory:
    """The server's users as the directory: ``Directory.card_for`` over ``SqlAccounts``."""

    def __init__(self, accounts: SqlAccounts) -> None:
        self._accounts = accounts

    def card_for(self, im_address: str) -> ContactCard | None:
        user = self._accounts.by_im_address(im_address)
        if user is None:
            return None
        return ContactCard(
            display_name=user.display_name,
            email_address=user.email,
            given_name=user.given_name,
            surname=user.surname,
            title=user.title,
            department=user.department,
            company_name=user.company_name,
            business_phone=user.business_phone,
            mobile_phone=user.mobile_phone,
        )


class SqlTransaction:
    """What one request may touch: the accounts/directory and any one mailbox's IM list."""

    # Every request makes a transaction and few touch the directory: its (stateless) parts are
    # made when asked for.
    def __init__(self, db: SqlSession, snapshots: TransactionSnapshots | None = None) -> None:
        self.db = db
        self.accounts = SqlAccounts(db)
        self.snapshots = snapshots

    @property
    def directory(self) -> AccountDirectory:
        return AccountDirectory(self.accounts)

    @property
    def people(self) -> SqlDirectory:
        """The directory's search index and photos."""
        return SqlDirectory(self.db)

    def imlist(self, mailbox_id: int, *, with_properties: bool = False) -> SqlImList:
        return SqlImList(self.db, mailbox_id, with_properties=with_properties, snapshots=self.snapshots)

    @property
    def grants(self) -> "SqlGrants":
        from openucs.store.grants import SqlGrants  # noqa: PLC0415 - grants.py builds on this module

        return SqlGrants(self.db)


# What tells whether an account this process knows is still current: its list's version and its
# row's version (``Store.account_versions``), by id (one b-tree, where the address would be two).
# Integers only: a read of the whole row costs several times more, mostly in decoding its text.
ACCOUNT_VERSIONS = "SELECT list_version, account_version FROM users WHERE id = ?"

# The first statement of every write transaction on a mailbox: it raises the list's version
# (so cached answers of other processes go stale) and, on PostgreSQL, takes the row lock that
# serialises writers of the mailbox across nodes.
BUMP_LIST_VERSION = "UPDATE users SET list_version = list_version + 1 WHERE id = ?"
# The same from a known version: it changes nothing (and locks nothing) when the list is at another.
BUMP_LIST_VERSION_FROM = "UPDATE users SET list_version = ? WHERE id = ? AND list_version = ?"

# What a read of a whole list checks its snapshot against (see snapshots.py).
LIST_VERSION = "SELECT list_version FROM users WHERE id = ?"


def raise_list_version(db: SqlSession, mailbox_id: int, snapshots: TransactionSnapshots | None) -> None:
    """The first statement of a write on a mailbox's list. When this process keeps a snapshot of
    the list, the version is raised from the snapshot's, if the list is still at it: then the
    write's changes can be carried over to the snapshot (a RETURNING clause would tell the version
    too, but costs SQLite more than the UPDATE itself)."""
    if snapshots is None:
        db.run(BUMP_LIST_VERSION, (mailbox_id,))
        return
    base = snapshots.newest(mailbox_id)
    if base is None or db.run(BUMP_LIST_VERSION_FROM, (base.version + 1, mailbox_id, base.version)).rowcount != 1:
        base = None
        db.run(BUMP_LIST_VERSION, (mailbox_id,))
    snapshots.writing(mailbox_id, base)
