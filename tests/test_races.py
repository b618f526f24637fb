"""Races at the limits (issue 4 §7), on every backend, against a real server: with one slot
left, ten clients adding at the same moment produce exactly one new item, and the list ends
exactly at the limit. Races start together on a barrier; outcomes are counted, never timed."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from openucs.domain.model import ContactCard, GroupKind
from tests.conftest import PASSWORD
from tests.helpers_ops import USER_GROUP, add_group, add_new_contact
from tests.support import HttpClient

pytestmark = pytest.mark.slow

PARALLEL = 10


def race(base_url: str, task) -> Counter:
    barrier = threading.Barrier(PARALLEL)
    clients = [HttpClient(base_url, "alice@example.com", PASSWORD) for _ in range(PARALLEL)]
    for c in clients:
        c.call("<m:GetImItemList/>").ok()  # signed in before the race: argon2 is not part of it

    def run(i: int) -> str:
        barrier.wait(timeout=60)
        return task(clients[i], i).code

    try:
        with ThreadPoolExecutor(PARALLEL) as pool:
            return Counter(pool.map(run, range(PARALLEL)))
    finally:
        for c in clients:
            c.close()


def test_63_groups_and_10_parallel_adds_make_exactly_64(server, store, alice):
    with store.transaction(write=True, lock_mailbox=alice.id) as tx:
        repo = tx.imlist(alice.id)
        for i in range(63):
            repo.create_group(GroupKind.USER, f"Existing {i}")
    outcome = race(server.base_url, lambda c, i: add_group(c, f"Racer {i}"))
    assert outcome == {"NoError": 1, "ErrorImGroupLimitReached": PARALLEL - 1}, outcome
    c = HttpClient(server.base_url, "alice@example.com", PASSWORD)
    try:
        groups = c.item_list().groups
    finally:
        c.close()
    assert len([g for g in groups.values() if g["type"] == USER_GROUP]) == 64


def test_999_contacts_and_10_parallel_adds_make_exactly_1000(server, store, alice):
    with store.transaction(write=True, lock_mailbox=alice.id) as tx:
        repo = tx.imlist(alice.id)
        repo.create_missing_system_groups()
        other = repo.system_group(GroupKind.OTHER_CONTACTS)
        for i in range(999):
            contact = repo.create_contact(f"c{i}@example.org", ContactCard(display_name=f"C {i}"))
            repo.add_member(other.id, contact.id)
    outcome = race(server.base_url, lambda c, i: add_new_contact(c, f"racer{i}@example.org"))
    assert outcome == {"NoError": 1, "ErrorImContactLimitReached": PARALLEL - 1}, outcome
    c = HttpClient(server.base_url, "alice@example.com", PASSWORD)
    try:
        assert len(c.item_list().personas) == 1000
    finally:
        c.close()
