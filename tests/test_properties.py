"""Property-based (issue 4 §7): random sequences of the IM-list operations, sent by several
clients at once on one mailbox, keep every invariant of the model — every member is an
existing contact of the mailbox, every contact is in a group, one of each system group,
unique group names, the limits — and never end in an internal error.

Hypothesis draws each client's script; the clients run it on threads against the real service
and store, each acting on its own (possibly stale) view of the list, as real clients do."""

import threading
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openucs.domain.model import Limits
from openucs.ops.ids import IdCodec
from openucs.ops.service import Service
from tests.conftest import make_user
from tests.helpers_ops import (
    USER_GROUP,
    add_dg,
    add_group,
    add_new_contact,
    add_to_group,
    fast_password_hashes,
    remove_contact,
    remove_dg,
    remove_from_group,
    remove_group,
    set_group,
)
from tests.support import InProcessClient, run_in_threads

MAX_GROUPS = 2
MAX_CONTACTS = 3
CLIENTS = 3
SYSTEM_KINDS = ("IPM.DistList.MOC.Favorites", "IPM.DistList.MOC.OtherContacts", "IPM.DistList.MOC.Tagged")
LIMITED_KINDS = (USER_GROUP, "IPM.DistList.MOC.DG")

EXPECTED = {
    "NoError",
    "ErrorImGroupLimitReached",
    "ErrorImContactLimitReached",
    "ErrorImGroupDisplayNameAlreadyExists",
    "ErrorInvalidImGroupId",  # a group another client removed, or a system group where a user group is needed
    "ErrorInvalidImContactId",  # a contact another client removed
}

NAMES = st.sampled_from(["A", "B", "C", "D", "E", "Favorites"])
PICK = st.integers(min_value=0, max_value=7)
STEP = st.one_of(
    st.tuples(st.just("add_group"), NAMES),
    st.tuples(st.just("rename"), PICK, NAMES),
    st.tuples(st.just("remove_group"), PICK),
    st.tuples(st.just("new_contact"), st.sampled_from([f"p{i}@example.org" for i in range(8)]), PICK),
    st.tuples(st.just("add_to_group"), PICK, PICK),
    st.tuples(st.just("remove_from_group"), PICK, PICK),
    st.tuples(st.just("remove_contact"), PICK),
    st.tuples(st.just("add_dg"), st.sampled_from(["dl1@example.org", "dl2@example.org"])),
    st.tuples(st.just("remove_dg"), PICK),
    st.tuples(st.just("refresh")),
)
SCRIPTS = st.lists(st.lists(STEP, min_size=1, max_size=12), min_size=CLIENTS, max_size=CLIENTS)


def pick(items: list, i: int):
    return items[i % len(items)] if items else None


def run_script(client: InProcessClient, script, seen: Counter) -> None:
    state = client.item_list()
    for step in script:
        groups = [g["id"] for g in state.groups.values()]
        users = [g["id"] for g in state.groups.values() if g["type"] == USER_GROUP]
        dgs = [g["id"] for g in state.groups.values() if g["type"] == "IPM.DistList.MOC.DG"]
        contacts = [p["id"] for p in state.personas.values()]
        op, *args = step
        reply = None
        if op == "add_group":
            reply = add_group(client, args[0])
        elif op == "rename" and users:
            reply = set_group(client, pick(users, args[0]), args[1])
        elif op == "remove_group" and users:
            reply = remove_group(client, pick(users, args[0]))
        elif op == "new_contact":
            reply = add_new_contact(client, args[0], pick(groups, args[1]))
        elif op == "add_to_group" and contacts:
            reply = add_to_group(client, pick(contacts, args[0]), pick(groups, args[1]))
        elif op == "remove_from_group" and contacts:
            reply = remove_from_group(client, pick(contacts, args[0]), pick(groups, args[1]))
        elif op == "remove_contact" and contacts:
            reply = remove_contact(client, pick(contacts, args[0]))
        elif op == "add_dg":
            reply = add_dg(client, args[0], args[0].split("@")[0])
        elif op == "remove_dg" and dgs:
            reply = remove_dg(client, pick(dgs, args[0]))
        elif op == "refresh":
            state = client.item_list()
        if reply is not None:
            seen[reply.code] += 1


def check_invariants(store, mailbox: int) -> None:
    def rows(sql: str, params=()):
        with store.transaction(write=False) as tx:
            return tx.db.all(sql, params)

    orphans = rows(
        "SELECT m.id FROM im_members m "
        "LEFT JOIN im_contacts c ON c.id = m.contact_id AND c.mailbox_id = m.mailbox_id "
        "LEFT JOIN im_groups g ON g.id = m.group_id AND g.mailbox_id = m.mailbox_id "
        "WHERE m.mailbox_id = ? AND (c.id IS NULL OR g.id IS NULL)",
        (mailbox,),
    )
    assert orphans == [], "a member that is not a contact of the mailbox"
    alone = rows(
        "SELECT id FROM im_contacts c WHERE mailbox_id = ? "
        "AND NOT EXISTS (SELECT 1 FROM im_members m WHERE m.contact_id = c.id)",
        (mailbox,),
    )
    assert alone == [], "a contact in no group"
    kinds = Counter(k for (k,) in rows("SELECT kind FROM im_groups WHERE mailbox_id = ?", (mailbox,)))
    assert [kinds[k] for k in SYSTEM_KINDS] == [1, 1, 1], kinds
    assert sum(kinds[k] for k in LIMITED_KINDS) <= MAX_GROUPS, kinds
    names = Counter(n for (n,) in rows("SELECT display_name FROM im_groups WHERE mailbox_id = ?", (mailbox,)))
    assert max(names.values()) == 1, names
    contacts = [a for (a,) in rows("SELECT im_address_key FROM im_contacts WHERE mailbox_id = ?", (mailbox,))]
    assert len(contacts) <= MAX_CONTACTS and len(set(contacts)) == len(contacts)


@pytest.fixture
def small_service(store) -> Service:
    return Service(store, IdCodec(b"p" * 32), Limits(contacts=MAX_CONTACTS, groups=MAX_GROUPS))


def test_concurrent_random_scripts_keep_every_invariant(store, small_service, database_url):
    examples = 30 if database_url.startswith("sqlite") else 12
    counter = {"n": 0}
    outcomes: Counter = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,  # the same scripts in every run: CI failures reproduce
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(scripts=SCRIPTS)
    def check(scripts) -> None:
        counter["n"] += 1
        with fast_password_hashes():
            user = make_user(store, f"p{counter['n']}@example.com")  # a fresh mailbox per example
        seen: list[Counter] = [Counter() for _ in scripts]
        barrier = threading.Barrier(len(scripts))
        errors: list[BaseException] = []

        def client_thread(i: int) -> None:
            try:
                barrier.wait(timeout=60)
                run_script(InProcessClient(small_service, user), scripts[i], seen[i])
            except BaseException as exc:  # surfaced below, on the test's thread
                errors.append(exc)

        run_in_threads(client_thread, len(scripts))
        assert not errors, errors
        total = sum(seen, Counter())
        assert set(total) <= EXPECTED, total
        outcomes.update(total)
        check_invariants(store, user.id)

    check()
    assert outcomes["NoError"] > 0 and outcomes["ErrorImGroupLimitReached"] + outcomes["ErrorImContactLimitReached"] > 0
