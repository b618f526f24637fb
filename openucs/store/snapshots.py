"""IM lists this process has read, kept at their list version and carried forward by its own writes.

A client reads its whole list at every sign-in and again after each change it makes; reading a
list back from the database costs several times more than rendering it. So each process keeps
the lists it read as domain objects, tagged with the mailbox's ``list_version``:

- A read of the whole list first reads the version inside its own transaction (one small
  query). A snapshot at that version *is* the list that transaction would read: every change to
  a list raises its version in the same transaction, on any process or node.
- A write transaction raises the version from N-1 to N. When this process holds the list at
  N-1, each change the write makes through the repository is applied to a copy as well, and the
  copy becomes the snapshot at N once the write is committed, never before: a write that rolls
  back leaves no trace here either.
- A change the copy cannot follow exactly makes the write keep no copy: the next read goes to
  the database.
- While it holds the copy, the write's own reads (is there such a group, how many contacts,
  which groups hold this contact) are answered from it: it is the list the database holds at
  that point of the transaction, and a query per check costs a round trip on PostgreSQL.

Snapshots are immutable: readers share them (and their items) with no lock; a write works on
copies of the dicts, and replaces an item rather than changing it. The cache is bounded by an
estimate of the objects' size; least recently used lists leave first.
"""

import threading
from collections import OrderedDict
from collections.abc import Iterable

from openucs.domain.model import Contact, ExtendedProperty, Group, GroupKind

# Rough sizes of a kept item in bytes, with its strings: enough to bound the cache's memory.
_GROUP_BYTES = 400
_CONTACT_BYTES = 700


class ListSnapshot:
    """A mailbox's whole IM list at one version: groups in listing order, contacts by id."""

    __slots__ = ("_members", "contacts", "groups", "mailbox_id", "size", "version")

    def __init__(self, mailbox_id: int, version: int, groups: dict[int, Group], contacts: dict[int, Contact]) -> None:
        self.mailbox_id = mailbox_id
        self.version = version
        self.groups = groups  # never changed once made
        self.contacts = contacts
        # Memberships are left out: a few bytes each, and counting them would cost every write a pass.
        self.size = _GROUP_BYTES * len(groups) + _CONTACT_BYTES * len(contacts)
        self._members: frozenset[int] | None = None

    def members(self) -> frozenset[int]:
        """The ids of the contacts that are in some group."""
        if self._members is None:  # racing threads compute the same set: no lock needed
            self._members = _members(self.groups)
        return self._members


class ListMirror:
    """A write's copy of a snapshot, changed as the write changes the database. Each dict is
    copied when first changed (a membership change leaves the contacts shared)."""

    __slots__ = ("_broken", "_contacts", "_groups", "_own_contacts", "_own_groups", "mailbox_id")

    def __init__(self, base: ListSnapshot) -> None:
        self.mailbox_id = base.mailbox_id
        self._groups = base.groups
        self._contacts = base.contacts
        self._own_groups = self._own_contacts = False
        self._broken = False  # a change named an item the copy does not hold: it is no longer the list

    def _changing_groups(self) -> dict[int, Group]:
        if not self._own_groups:
            self._groups, self._own_groups = dict(self._groups), True
        return self._groups

    def _changing_contacts(self) -> dict[int, Contact]:
        if not self._own_contacts:
            self._contacts, self._own_contacts = dict(self._contacts), True
        return self._contacts

    @property
    def broken(self) -> bool:
        return self._broken

    def snapshot(self, version: int) -> ListSnapshot | None:
        if self._broken:
            return None
        return ListSnapshot(self.mailbox_id, version, self._groups, self._contacts)

    def add_group(self, group: Group) -> None:
        groups = self._changing_groups()
        groups[group.id] = group
        # Listing order is the database's ORDER BY kind, id; a new group rarely sorts last.
        self._groups = {g.id: g for g in sorted(groups.values(), key=lambda g: (g.kind.value, g.id))}

    def rename_group(self, group_id: int, display_name: str) -> None:
        old = self._groups.get(group_id)
        if old is not None:
            self._changing_groups()[group_id] = _group(old, display_name=display_name)

    def delete_group(self, group_id: int) -> None:
        if group_id in self._groups:
            del self._changing_groups()[group_id]

    def add_contact(self, contact: Contact) -> None:
        contacts = self._changing_contacts()
        last = next(reversed(contacts), 0)
        contacts[contact.id] = contact
        if contact.id < last:  # ids grow within a mailbox; keep id order whatever happens
            self._contacts = dict(sorted(contacts.items()))

    def delete_contacts(self, contact_ids: Iterable[int]) -> None:
        gone = {cid for cid in contact_ids if cid in self._contacts}
        if not gone:
            return
        contacts = self._changing_contacts()
        for cid in gone:
            del contacts[cid]
        for group in list(self._groups.values()):  # memberships go with their contact
            if not gone.isdisjoint(group.members):
                members = tuple([c for c in group.members if c not in gone])
                self._changing_groups()[group.id] = _with_members(group, members)

    def add_member(self, group_id: int, contact_id: int) -> None:
        group = self._groups.get(group_id)
        if group is None or contact_id not in self._contacts:
            self._broken = True
            return
        self._changing_groups()[group_id] = _with_members(group, (*group.members, contact_id))

    def remove_memberships(self, contact_id: int, group_ids: Iterable[int]) -> None:
        for group_id in group_ids:
            group = self._groups.get(group_id)
            if group is not None and contact_id in group.members:
                members = tuple([c for c in group.members if c != contact_id])
                self._changing_groups()[group_id] = _with_members(group, members)

    def set_group_properties(self, group_id: int, properties: Iterable[ExtendedProperty]) -> None:
        group = self._groups.get(group_id)
        if group is not None:
            merged = _merged(group.extended_properties, properties)
            self._changing_groups()[group_id] = _group(group, extended_properties=merged)

    def set_contact_properties(self, contact_id: int, properties: Iterable[ExtendedProperty]) -> None:
        old = self._contacts.get(contact_id)
        if old is not None:
            merged = _merged(old.extended_properties, properties)
            self._changing_contacts()[contact_id] = Contact(old.id, old.im_address, old.card, old.created, merged)

    # -- the list as the write has left it so far, for its own reads
    @property
    def groups(self) -> dict[int, Group]:
        return self._groups

    @property
    def contacts(self) -> dict[int, Contact]:
        return self._contacts

    def members(self) -> frozenset[int]:
        return _members(self._groups)  # not kept: the copy changes

    def first_group(
        self, kind: GroupKind | None = None, name: str | None = None, smtp_key: str | None = None
    ) -> Group | None:
        """The first group in listing order of that kind, or with that exact name, or whose
        address lowered is ``smtp_key``."""
        for group in self._groups.values():
            if (
                (kind is None or group.kind is kind)
                and (name is None or group.display_name == name)
                and (smtp_key is None or (group.smtp_address is not None and group.smtp_address.lower() == smtp_key))
            ):
                return group
        return None

    def memberships(self, contact_id: int) -> dict[int, GroupKind] | None:
        if contact_id not in self._contacts:
            return None
        return {g.id: g.kind for g in self._groups.values() if contact_id in g.members}

    def sole_members(self, group_id: int, besides: GroupKind) -> list[int]:
        group = self._groups.get(group_id)
        if group is None:
            return []
        elsewhere = {c for g in self._groups.values() if g.id != group_id and g.kind is not besides for c in g.members}
        return [c for c in group.members if c not in elsewhere]


def _members(groups: dict[int, Group]) -> frozenset[int]:
    return frozenset(c for g in groups.values() for c in g.members)


def _with_members(old: Group, members: tuple[int, ...]) -> Group:
    # Positional, no keywords: membership changes are most writes.
    return Group(old.id, old.kind, old.display_name, old.created, old.smtp_address, members, old.extended_properties)


def _group(
    old: Group,
    *,
    display_name: str | None = None,
    extended_properties: tuple[ExtendedProperty, ...] | None = None,
) -> Group:
    return Group(
        old.id,
        old.kind,
        old.display_name if display_name is None else display_name,
        old.created,
        old.smtp_address,
        old.members,
        old.extended_properties if extended_properties is None else extended_properties,
    )


def _merged(current: tuple[ExtendedProperty, ...], new: Iterable[ExtendedProperty]) -> tuple[ExtendedProperty, ...]:
    """Replace by key, as the store does: the new value is stored last (its row is the newest)."""
    result = list(current)
    for prop in new:
        key = prop.key.canonical()
        result = [p for p in result if p.key.canonical() != key]
        result.append(prop)
    return tuple(result)


# -- reading a kept list (a snapshot, or a write's copy so far) as the repository reads the database
def kept_groups(kept: ListSnapshot | ListMirror, group_ids: Iterable[int] | None) -> list[Group]:
    if group_ids is None:
        return list(kept.groups.values())
    ids = set(group_ids)
    return [g for g in kept.groups.values() if g.id in ids] if ids else []


def kept_contacts(kept: ListSnapshot | ListMirror, contact_ids: Iterable[int] | None) -> list[Contact]:
    if contact_ids is None:
        return list(kept.contacts.values())
    return _among(kept.contacts, contact_ids)


def kept_member_contacts(kept: ListSnapshot | ListMirror, contact_ids: Iterable[int]) -> list[Contact]:
    return _among(kept.contacts, set(contact_ids) & kept.members())


def _among(contacts: dict[int, Contact], contact_ids: Iterable[int]) -> list[Contact]:
    """The contacts with these ids, in id order (the order the database gives)."""
    return [contacts[cid] for cid in sorted(set(contact_ids)) if cid in contacts]


class KeptList:
    """``ImListReader`` over a snapshot, outside any transaction: for a request that knows the
    list's current version already (it read it to authenticate), so that reading it costs no
    transaction at all."""

    __slots__ = ("_snapshot", "mailbox_id")

    def __init__(self, snapshot: ListSnapshot) -> None:
        self._snapshot = snapshot
        self.mailbox_id = snapshot.mailbox_id

    def groups(self, group_ids: Iterable[int] | None = None) -> list[Group]:
        return kept_groups(self._snapshot, group_ids)

    def contacts(self, contact_ids: Iterable[int] | None = None) -> list[Contact]:
        return kept_contacts(self._snapshot, contact_ids)

    def member_contacts(self, contact_ids: Iterable[int]) -> list[Contact]:
        return kept_member_contacts(self._snapshot, contact_ids)


class SnapshotCache:
    """The snapshots of one process, shared by its threads."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[int, ListSnapshot] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, mailbox_id: int, version: int) -> ListSnapshot | None:
        with self._lock:
            found = self._entries.get(mailbox_id)
            if found is None or found.version != version:
                return None
            self._entries.move_to_end(mailbox_id)
            return found

    def put(self, *snapshots: ListSnapshot) -> None:
        """Keep these (a batch's, under one lock), unless a newer one of the same list is kept."""
        with self._lock:
            for snapshot in snapshots:
                if snapshot.size > self.max_bytes // 4:  # one giant list must not flush everyone else's
                    continue
                old = self._entries.get(snapshot.mailbox_id)
                if old is not None:
                    if old.version > snapshot.version:  # a newer one came first: keep it
                        continue
                    del self._entries[snapshot.mailbox_id]
                    self._size -= old.size
                self._entries[snapshot.mailbox_id] = snapshot
                self._size += snapshot.size
            while self._size > self.max_bytes:
                _, evicted = self._entries.popitem(last=False)
                self._size -= evicted.size

    def newest(self, mailbox_id: int) -> ListSnapshot | None:
        return self._entries.get(mailbox_id)  # one dict read: atomic, no lock needed

    def forget(self, mailbox_id: int) -> None:
        with self._lock:
            old = self._entries.pop(mailbox_id, None)
            if old is not None:
                self._size -= old.size

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._entries)


class TransactionSnapshots:
    """One transaction's use of the cache: snapshots it read or wrote, published when it commits.

    ``outer`` is the enclosing group-commit batch's staging when the transaction is a savepoint
    in one: earlier writes of the batch are not in the cache yet, and may be the base of this one.
    """

    __slots__ = ("_cache", "_mirror", "_outer", "_writing", "staged")

    def __init__(self, cache: SnapshotCache, outer: dict[int, ListSnapshot] | None = None) -> None:
        self._cache = cache
        self._outer = outer
        self.staged: dict[int, ListSnapshot] = {}
        self._writing: int | None = None  # the mailbox whose list this transaction changes
        self._mirror: tuple[ListMirror, int] | None = None  # its copy, and the version it will be

    def newest(self, mailbox_id: int) -> ListSnapshot | None:
        """The newest snapshot of the mailbox at hand, at whatever version."""
        found = self.staged.get(mailbox_id)
        if found is None and self._outer is not None:
            found = self._outer.get(mailbox_id)
        return self._cache.newest(mailbox_id) if found is None else found

    def at(self, mailbox_id: int, version: int) -> ListSnapshot | None:
        """The list at that version, or None."""
        found = self.staged.get(mailbox_id)
        if found is None and self._outer is not None:
            found = self._outer.get(mailbox_id)
        if found is None:
            return self._cache.get(mailbox_id, version)  # marks it recently used
        return found if found.version == version else None

    def stage(self, snapshot: ListSnapshot) -> None:
        """A list this transaction read whole: kept once the transaction commits."""
        self.staged[snapshot.mailbox_id] = snapshot

    def writing(self, mailbox_id: int, base: ListSnapshot | None) -> None:
        """The store raised the mailbox's list version: from ``base.version`` by one when ``base``
        is given (the store made sure of it), else from a version it did not check."""
        self._writing = mailbox_id
        self._mirror = None if base is None else (ListMirror(base), base.version + 1)

    def writes(self, mailbox_id: int) -> bool:
        """Whether this transaction is changing the mailbox's list (its own reads must see it)."""
        return self._writing == mailbox_id

    def live(self, mailbox_id: int) -> ListMirror | None:
        """The write's copy of the mailbox's list, when this transaction writes it and has one."""
        if self._mirror is None or self._writing != mailbox_id or self._mirror[0].broken:
            return None
        return self._mirror[0]

    def mirror(self, mailbox_id: int) -> ListMirror | None:
        """The copy a change to the mailbox's list must also be made to, or None when there is none."""
        if self._writing != mailbox_id:  # a change no version records: keep nothing of the list
            self.staged.pop(mailbox_id, None)
            if self._outer is not None:
                self._outer.pop(mailbox_id, None)
            self._cache.forget(mailbox_id)
            return None
        return None if self._mirror is None else self._mirror[0]

    def finish(self) -> dict[int, ListSnapshot]:
        """What the transaction leaves behind once committed (or released into its batch)."""
        if self._mirror is not None:
            mirror, version = self._mirror
            snapshot = mirror.snapshot(version)
            if snapshot is not None:
                self.staged[snapshot.mailbox_id] = snapshot
        return self.staged

    def publish(self) -> None:
        """After the commit: what this transaction read or wrote is now everyone's."""
        staged = self.finish()
        if staged:
            self._cache.put(*staged.values())
