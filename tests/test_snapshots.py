"""The IM lists a process keeps (store/snapshots.py): a list read from a snapshot is always the
list the database holds, whatever the writes before it did, failed or came from elsewhere.

The whole suite runs with snapshots on (tests/conftest.py); these tests aim at the snapshot
itself: every change a write can make, carried to the copy; writes that roll back; writes by
another process; a group-commit batch with several writes to one list, one failing, and a
commit that fails."""

import asyncio
import re
import sqlite3
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openucs.domain import imlist
from openucs.domain.model import Contact, ContactCard, ExtendedProperty, Group, GroupKind, PropertyKey
from openucs.store.open import open_store
from openucs.store.snapshots import ListMirror, ListSnapshot, SnapshotCache
from openucs.store.sql import SqlImList
from openucs.store.sqlite import SqliteStore
from tests.conftest import make_user
from tests.support import envelope


def read(store, mailbox: int) -> tuple[list[Group], list[Contact]]:
    with store.transaction(write=False) as tx:
        repo = tx.imlist(mailbox, with_properties=True)
        return repo.groups(), repo.contacts()


def version(store, mailbox: int) -> int:
    with store.transaction(write=False) as tx:
        return int(tx.db.one("SELECT list_version FROM users WHERE id = ?", (mailbox,))[0])


@pytest.fixture
def plain(database_url):
    """A second store on the same database that keeps nothing: it reads the tables, and its
    writes are another process's."""
    other = open_store(database_url)
    yield other
    other.close()


# -- every change a write can make --------------------------------------------------------------

PROPS = st.lists(
    st.builds(
        lambda name, values, multi: ExtendedProperty(
            PropertyKey("String", property_set_id="00062004-0000-0000-C000-000000000046", property_name=name),
            tuple(values) if multi else tuple(values[:1]),
            multi,
        ),
        st.sampled_from(["a", "b", "c"]),
        st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=2),
        st.booleans(),
    ),
    min_size=1,
    max_size=2,
)
PICK = st.integers(min_value=0, max_value=6)  # an index into the current items; past the end: an unknown id
NAME = st.sampled_from(["A", "B", "C", "Favorites"])  # "Favorites" collides with the system group
STEP = st.one_of(
    st.tuples(st.just("create_group"), st.sampled_from([GroupKind.USER, GroupKind.DISTRIBUTION]), NAME),
    st.tuples(st.just("rename_group"), PICK, NAME),
    st.tuples(st.just("delete_group"), PICK),
    st.tuples(st.just("create_contact"), st.sampled_from(["p@example.org", "q@example.org", "r@example.org"])),
    st.tuples(st.just("delete_contact"), PICK),
    st.tuples(st.just("delete_contacts"), st.lists(PICK, max_size=3)),
    st.tuples(st.just("add_member"), PICK, PICK),
    st.tuples(st.just("remove_memberships"), PICK, st.lists(PICK, min_size=1, max_size=3)),
    st.tuples(st.just("group_properties"), PICK, PROPS),
    st.tuples(st.just("contact_properties"), PICK, PROPS),
    st.tuples(st.just("system_groups")),
    st.tuples(st.just("remove_from_group"), PICK, PICK),  # a rule: untags, deletes a contact left in no group
    st.tuples(st.just("rolled_back"), st.sampled_from(["create_group", "add_member", "delete_contact"])),
    st.tuples(st.just("elsewhere")),  # a write by another process
    st.tuples(st.just("read")),
)


ROLLED_BACK = {
    "create_group": ("create_group", GroupKind.USER, "Z"),
    "add_member": ("add_member", 0, 0),
    "delete_contact": ("delete_contact", 0),
}


def apply(repo, step, groups: list[int], contacts: list[int]) -> None:
    def pick(items: list[int], i: int) -> int:
        return items[i] if i < len(items) else 10_000 + i  # an id nobody has

    match step:
        case ("create_group", kind, name):
            repo.create_group(kind, name, f"{name}@Lists.example.org" if kind is GroupKind.DISTRIBUTION else None)
        case ("rename_group", g, name):
            repo.rename_group(pick(groups, g), name)
        case ("delete_group", g):
            repo.delete_group(pick(groups, g))
        case ("create_contact", address):
            repo.create_contact(address, ContactCard(display_name=address.upper(), title="T"))
        case ("delete_contact", c):
            repo.delete_contact(pick(contacts, c))
        case ("delete_contacts", cs):
            repo.delete_contacts(sorted({pick(contacts, c) for c in cs}))
        case ("add_member", g, c):
            repo.add_member(pick(groups, g), pick(contacts, c))
        case ("remove_memberships", c, gs):
            repo.remove_memberships(pick(contacts, c), [pick(groups, g) for g in gs])
        case ("group_properties", g, props):
            if g < len(groups):  # the store refuses properties for an item that does not exist
                repo.set_extended_properties(group_id=groups[g], properties=props)
        case ("contact_properties", c, props):
            if c < len(contacts):
                repo.set_extended_properties(contact_id=contacts[c], properties=props)
        case ("system_groups",):
            repo.create_missing_system_groups()
        case ("remove_from_group", c, g):
            imlist.remove_contact_from_group(repo, pick(contacts, c), pick(groups, g))


def seed(store, mailbox: int) -> None:
    """Two user groups, a distribution group and three contacts, tagged or not, in one group or
    several: most steps find something to change, and every check something to tell apart."""
    with store.transaction(write=True, lock_mailbox=mailbox) as tx:
        repo = tx.imlist(mailbox)
        repo.create_missing_system_groups()
        one, two = (repo.create_group(GroupKind.USER, name).id for name in ("U1", "U2"))
        repo.create_group(GroupKind.DISTRIBUTION, "Team", "Team@Lists.Example.org")
        first, second, third = (
            repo.create_contact(f"{n}@example.org", ContactCard(display_name=n)).id for n in ("c1", "c2", "c3")
        )
        favorites, tagged = repo.system_group_id(GroupKind.FAVORITES), repo.system_group_id(GroupKind.TAGGED)
        assert favorites is not None and tagged is not None
        for group, contact in ((one, first), (one, second), (two, second), (tagged, second), (favorites, third)):
            repo.add_member(group, contact)
        repo.add_member(tagged, first)  # in U1 and Tagged only: U1's sole member, Tagged aside


class Refused(Exception):
    """Raised inside a write to roll it back."""


def checks_in_a_write(store, mailbox: int) -> None:
    """Every check a write makes, answered from its copy of the list, is what the tables answer
    at that point of the same transaction."""
    read(store, mailbox)  # kept at the current version: the write gets a copy
    with pytest.raises(Refused), store.transaction(write=True, lock_mailbox=mailbox) as tx:
        assert tx.snapshots.live(mailbox) is not None
        copy, tables = tx.imlist(mailbox), SqlImList(tx.db, mailbox, with_properties=True)
        groups, contacts = tables.groups(), tables.contacts()
        assert (copy.groups(), copy.contacts()) == (groups, contacts)
        group_ids, contact_ids = [g.id for g in groups] + [10_000], [c.id for c in contacts] + [10_001]
        for group_id in group_ids:
            assert copy.group_kind(group_id) == tables.group_kind(group_id)
            assert copy.sole_members(group_id, besides=GroupKind.TAGGED) == tables.sole_members(
                group_id, besides=GroupKind.TAGGED
            )
            assert copy.groups([group_id]) == tables.groups([group_id])
        for name in [g.display_name for g in groups] + ["nobody's"]:
            assert copy.group_by_name(name) == tables.group_by_name(name)
        for address in [g.smtp_address.upper() for g in groups if g.smtp_address] + ["none@example.org"]:
            assert copy.group_by_smtp_address(address) == tables.group_by_smtp_address(address)
        for kind in GroupKind:
            assert copy.system_group(kind) == tables.system_group(kind)
            assert copy.system_group_id(kind) == tables.system_group_id(kind)
        assert copy.count_limited_groups() == tables.count_limited_groups()
        assert copy.count_contacts() == tables.count_contacts()
        for contact_id in contact_ids:
            assert copy.memberships(contact_id) == tables.memberships(contact_id)
        assert copy.member_contacts(contact_ids) == tables.member_contacts(contact_ids)
        assert copy.contacts(contact_ids[::-1]) == tables.contacts(contact_ids[::-1])
        raise Refused


@pytest.mark.parametrize("seed_read", [True, False])
def test_a_list_read_from_its_snapshot_is_the_list_in_the_database(store, plain, database_url, seed_read):
    examples = 40 if database_url.startswith("sqlite") else 12
    counter = {"n": 0}
    carried = {"n": 0}

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(steps=st.lists(STEP, min_size=1, max_size=16))
    def check(steps) -> None:
        counter["n"] += 1
        mailbox = make_user(store, f"s{counter['n']}-{seed_read}@example.com").id
        seed(plain, mailbox)
        if seed_read:
            read(store, mailbox)  # the process keeps the (empty) list from here on
        for step in steps:
            groups_now, contacts_now = read(plain, mailbox)
            group_ids, contact_ids = [g.id for g in groups_now], [c.id for c in contacts_now]
            kept_before = store.snapshots.newest(mailbox)
            before = version(plain, mailbox)
            if step[0] == "read":
                read(store, mailbox)
            elif step[0] == "elsewhere":
                with plain.transaction(write=True, lock_mailbox=mailbox) as tx:
                    tx.imlist(mailbox).create_contact(f"x{before}@example.org", ContactCard(display_name="X"))
            elif step[0] == "rolled_back":
                with pytest.raises(Refused), store.transaction(write=True, lock_mailbox=mailbox) as tx:
                    apply(tx.imlist(mailbox), ROLLED_BACK[step[1]], group_ids, contact_ids)
                    raise Refused
            else:
                try:
                    with store.transaction(write=True, lock_mailbox=mailbox) as tx:
                        apply(tx.imlist(mailbox), step, group_ids, contact_ids)
                except Exception:  # a refused change (a taken name, an unknown item) rolls back
                    pass
                else:
                    if kept_before is not None and kept_before.version == before:
                        # The write carried the list forward: no read of the tables is needed.
                        kept = store.snapshots.newest(mailbox)
                        assert kept is not None and kept.version == before + 1, step
                        carried["n"] += 1
            assert read(store, mailbox) == read(plain, mailbox), step
            checks_in_a_write(store, mailbox)

    check()
    assert carried["n"] > 0  # the copies were exercised, not only rebuilt from the tables


def test_checks_in_a_write_on_a_list_with_no_contacts(store, alice):
    checks_in_a_write(store, alice.id)
    with store.transaction(write=True, lock_mailbox=alice.id) as tx:
        assert tx.imlist(alice.id).count_contacts() == 0


@pytest.mark.parametrize("kept_before", [True, False])
def test_a_change_to_a_list_whose_version_the_write_did_not_raise_keeps_nothing_of_it(store, alice, bob, kept_before):
    if kept_before:
        read(store, bob.id)
    with store.transaction(write=True, lock_mailbox=alice.id) as tx:  # Alice's version is raised, not Bob's
        assert tx.imlist(bob.id).groups()  # kept, or read and staged to be kept
        tx.imlist(bob.id).create_group(GroupKind.USER, "Unrecorded")
    assert store.snapshots.newest(bob.id) is None
    assert "Unrecorded" in user_groups(read(store, bob.id)[0])


def test_a_request_reads_its_kept_list_without_a_transaction_only_at_the_version_it_authenticated_at(
    store, plain, service, alice, bob, monkeypatch
):
    """A read of one's own list is answered from the kept list when that is at the version the
    request read to authenticate; at any other version, or for another mailbox, the database
    answers."""

    def account(email: str):
        with store.transaction(write=False) as tx:  # what the HTTP layer reads to authenticate
            return tx.accounts.by_email(email)

    def listed(caller, headers: str = "") -> list[str]:
        outcome = service.handle(envelope("<m:GetImItemList/>", headers=headers), caller, "r")
        assert b'ResponseClass="Success"' in outcome.body
        return [n.decode() for n in re.findall(rb"<t:DisplayName>([^<]*)</t:DisplayName>", outcome.body)]

    service.list_cache = None  # the answers themselves are not kept: each request reads the list
    transactions = []
    real = store.transaction
    monkeypatch.setattr(store, "transaction", lambda **kw: transactions.append(kw) or real(**kw))
    assert "Kept" not in listed(account(alice.email))
    with plain.transaction(write=True, lock_mailbox=alice.id) as tx:  # another process's change
        tx.imlist(alice.id).create_group(GroupKind.USER, "Kept")
    caller = account(alice.email)
    transactions.clear()
    assert "Kept" in listed(caller)  # a new version: the tables, and the list kept again
    assert transactions == [{"write": False}]
    transactions.clear()
    assert "Kept" in listed(caller)
    assert transactions == []  # the kept list at the version authenticated at: no transaction
    with store.transaction(write=True) as tx:
        tx.grants.grant(bob.id, alice.id)
    # Even at the number Alice's list is kept at, Bob's version says nothing of Alice's list.
    caller = account(bob.email).with_list_version(store.snapshots.newest(alice.id).version)
    transactions.clear()
    impersonating = (
        "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>alice@example.com"
        "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
    )
    assert "Kept" in listed(caller, impersonating)
    assert transactions == [{"write": False}] * 2  # resolving the impersonation; reading the list


# -- group commit (SQLite) ---------------------------------------------------------------------


class FailingCommit:
    """The writer's connection, whose commit fails on demand."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.fail = False

    def __getattr__(self, name):
        return getattr(self._conn, name)

    def commit(self) -> None:
        if self.fail:
            raise sqlite3.OperationalError("disk I/O error")
        self._conn.commit()


@pytest.fixture
def batch_store(tmp_path: Path):
    store = SqliteStore(tmp_path / "snap.db")
    store.snapshots = SnapshotCache(1 << 20)
    writer = store.writer()
    writer._conn = FailingCommit(writer._conn)
    yield store
    store.close()


def user_groups(groups) -> list[str]:
    return [g.display_name for g in groups if g.kind is GroupKind.USER]


def _add_group(store: SqliteStore, mailbox: int, name: str) -> int:
    with store.transaction(write=True, lock_mailbox=mailbox) as tx:
        return tx.imlist(mailbox).create_group(GroupKind.USER, name).id


def test_writes_to_one_list_in_one_batch_build_on_each_other_and_a_failed_one_leaves_nothing(batch_store):
    mailbox = make_user(batch_store, "batch@example.com").id
    read(batch_store, mailbox)
    writer = batch_store.writer()

    async def main():
        names = ["G0", "G1", "G0", "G2"]  # the second G0 fails alone (a taken name)
        return await asyncio.gather(
            *(writer.run(_add_group, batch_store, mailbox, n) for n in names), return_exceptions=True
        )

    results = asyncio.run(main())
    assert isinstance(results[2], sqlite3.IntegrityError)
    kept = batch_store.snapshots.newest(mailbox)
    assert kept is not None and kept.version == version(batch_store, mailbox) == 3  # carried through the batch
    assert user_groups(kept.groups.values()) == ["G0", "G1", "G2"]
    assert read(batch_store, mailbox) == read(SqliteStore(batch_store.path), mailbox)


def test_a_batch_whose_commit_fails_keeps_nothing_of_its_writes(batch_store):
    mailbox = make_user(batch_store, "failed@example.com").id
    read(batch_store, mailbox)
    writer = batch_store.writer()
    writer._conn.fail = True

    async def main():
        return await asyncio.gather(writer.run(_add_group, batch_store, mailbox, "Lost"), return_exceptions=True)

    (result,) = asyncio.run(main())
    assert isinstance(result, sqlite3.OperationalError)
    kept = batch_store.snapshots.newest(mailbox)
    assert kept is not None and kept.version == 0 and user_groups(kept.groups.values()) == []
    writer._conn.fail = False
    # The next write raises the version to 1 again: it must build on the database, not on the lost write.
    asyncio.run(writer.run(_add_group, batch_store, mailbox, "Kept"))
    assert user_groups(read(batch_store, mailbox)[0]) == ["Kept"]


# -- the copy and the cache on their own ----------------------------------------------------------


def _snapshot(mailbox: int, version: int, groups: int = 1, contacts: int = 1) -> ListSnapshot:
    return ListSnapshot(
        mailbox,
        version,
        {g: Group(g, GroupKind.USER, f"G{g}", "2026-01-01T00:00:00Z") for g in range(1, groups + 1)},
        {c: Contact(c, f"c{c}@x", ContactCard(f"C{c}"), "2026-01-01T00:00:00Z") for c in range(1, contacts + 1)},
    )


def test_the_cache_keeps_the_newest_version_and_leaves_the_least_recently_used_first():
    one = _snapshot(1, 5).size
    cache = SnapshotCache(max_bytes=4 * one + one // 2)  # room for four
    for mailbox in (1, 2, 3):
        cache.put(_snapshot(mailbox, 5))
    assert cache.get(1, 5) is not None  # 1 is now the most recently used
    assert cache.get(1, 4) is None  # another version is not the list
    cache.put(_snapshot(1, 3))  # older than the one kept: ignored
    assert cache.get(1, 5) is not None
    cache.put(_snapshot(4, 1))
    cache.put(_snapshot(5, 1))  # a fifth: 2, the least recently used, leaves
    assert cache.newest(2) is None and all(cache.newest(m) is not None for m in (1, 3, 4, 5))
    assert cache.size <= cache.max_bytes
    cache.forget(1)
    assert cache.newest(1) is None and len(cache) == 3


def test_one_giant_list_is_not_kept():
    cache = SnapshotCache(max_bytes=_snapshot(1, 1).size * 8)
    cache.put(_snapshot(1, 1, groups=10, contacts=10))
    assert len(cache) == 0


def test_a_copy_never_changes_the_snapshot_it_was_made_from():
    base = _snapshot(1, 1, groups=2, contacts=2)
    base_groups, base_contacts = dict(base.groups), dict(base.contacts)
    mirror = ListMirror(base)
    mirror.add_member(1, 1)
    mirror.rename_group(2, "Renamed")
    mirror.delete_contacts([2])
    mirror.add_group(Group(7, GroupKind.DISTRIBUTION, "DG", "2026-01-01T00:00:00Z", "dg@x"))
    after = mirror.snapshot(2)
    assert after is not None
    assert base.groups == base_groups and base.contacts == base_contacts
    assert base.groups[1].members == ()
    assert [g.id for g in after.groups.values()] == [7, 1, 2]  # listing order: kind, then id
    assert after.groups[1].members == (1,) and after.groups[2].display_name == "Renamed"
    assert list(after.contacts) == [1]


def test_a_copy_told_of_an_item_it_does_not_hold_is_dropped():
    mirror = ListMirror(_snapshot(1, 1))
    mirror.add_member(99, 1)
    assert mirror.snapshot(2) is None


def test_readers_on_other_threads_share_a_snapshot_while_a_write_carries_it_forward(store, alice):
    read(store, alice.id)
    with store.transaction(write=True, lock_mailbox=alice.id) as tx:
        tx.imlist(alice.id).create_group(GroupKind.USER, "Work")
    seen: list[list[str]] = []

    def reader() -> None:
        seen.append([g.display_name for g in read(store, alice.id)[0]])

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [user_groups_names for user_groups_names in seen] == [seen[0]] * 4 and "Work" in seen[0]
