"""Isolation (issue 4 §4): a user can never read or change another mailbox. For every mutating
operation: done in one's own mailbox, done with another mailbox's ids, done with forged ids,
done through impersonation of a mailbox one may act on — the other mailbox's list is byte for
byte what it was, and foreign or forged ids get exactly the error an unknown id gets."""

import base64
import hashlib
import os
import struct

import pytest

from openucs.ops.ids import IdCodec, IdKind
from openucs.ops.registry import HANDLERS, READ_ONLY
from tests.conftest import make_user
from tests.helpers_ops import (
    add_dg,
    add_group,
    add_new_contact,
    add_tel_contact,
    add_to_group,
    get_items,
    new_contact,
    new_group,
    raw_item_list,
    remove_contact,
    remove_dg,
    remove_from_group,
    remove_group,
    set_group,
    set_migration,
)
from tests.support import InProcessClient, Ref

# (operation, act(client, refs)) — each succeeds on the client's own mailbox, given its refs.
MUTATIONS = {
    "AddImGroup": lambda c, r: add_group(c, "Brand new"),
    "SetImGroup": lambda c, r: set_group(c, r["group"], "Renamed"),
    "RemoveImGroup": lambda c, r: remove_group(c, r["spare"]),
    "AddNewImContactToGroup": lambda c, r: add_new_contact(c, "dave@example.com", r["group"]),
    "AddNewTelUriContactToGroup": lambda c, r: add_tel_contact(
        c, "tel:+15550100", "sip:+15550100@example.com", "+15550100", r["group"]
    ),
    "AddImContactToGroup": lambda c, r: add_to_group(c, r["contact"], r["spare"]),
    "RemoveImContactFromGroup": lambda c, r: remove_from_group(c, r["contact"], r["group"]),
    "RemoveContactFromImList": lambda c, r: remove_contact(c, r["contact"]),
    "AddDistributionGroupToImList": lambda c, r: add_dg(c, "staff@example.com", "Staff"),
    "RemoveDistributionGroupFromImList": lambda c, r: remove_dg(c, r["dg"]),
    "SetImListMigrationCompleted": lambda c, r: set_migration(c, "true"),
}

# (operation/field, act(client, own refs, the ref under test), the unknown-id code)
ID_FIELDS = {
    "SetImGroup/GroupId": (lambda c, r, x: set_group(c, x, "Hijacked"), "group", "ErrorInvalidImGroupId"),
    "RemoveImGroup/GroupId": (lambda c, r, x: remove_group(c, x), "group", "ErrorInvalidImGroupId"),
    "AddNewImContactToGroup/GroupId": (
        lambda c, r, x: add_new_contact(c, "eve@example.com", x),
        "group",
        "ErrorInvalidImGroupId",
    ),
    "AddNewTelUriContactToGroup/GroupId": (
        lambda c, r, x: add_tel_contact(c, "tel:+1", "sip:+1@example.com", "+1", x),
        "group",
        "ErrorInvalidImGroupId",
    ),
    "AddImContactToGroup/ContactId": (
        lambda c, r, x: add_to_group(c, x, r["group"]),
        "contact",
        "ErrorInvalidImContactId",
    ),
    "AddImContactToGroup/GroupId": (lambda c, r, x: add_to_group(c, r["contact"], x), "group", "ErrorInvalidImGroupId"),
    "RemoveImContactFromGroup/ContactId": (
        lambda c, r, x: remove_from_group(c, x, r["group"]),
        "contact",
        "ErrorInvalidImContactId",
    ),
    "RemoveImContactFromGroup/GroupId": (
        lambda c, r, x: remove_from_group(c, r["contact"], x),
        "group",
        "ErrorInvalidImGroupId",
    ),
    "RemoveContactFromImList/ContactId": (lambda c, r, x: remove_contact(c, x), "contact", "ErrorInvalidImContactId"),
    "RemoveDistributionGroupFromImList/GroupId": (lambda c, r, x: remove_dg(c, x), "dg", "ErrorInvalidImGroupId"),
}


def populate(client) -> dict[str, Ref]:
    group = new_group(client, "Work")
    return {
        "group": group,
        "spare": new_group(client, "Spare"),
        "contact": new_contact(client, "carol@example.com", group),
        "dg": add_dg(client, "team@example.com", "Team").ok().group_ref(),
    }


@pytest.fixture
def two(service, client, bob_client, bob):
    """Alice and Bob, each with a populated list; ``bob_bytes()`` is Bob's exact list."""
    return populate(client), populate(bob_client), lambda: raw_item_list(service, bob)


def test_the_tables_cover_every_mutating_operation():
    mutating = {t.__name__ for t in HANDLERS} - READ_ONLY
    assert set(MUTATIONS) == mutating
    assert {f.split("/")[0] for f in ID_FIELDS} == mutating - {
        "AddImGroup",  # these take no id
        "AddDistributionGroupToImList",
        "SetImListMigrationCompleted",
    }


@pytest.mark.parametrize("operation", MUTATIONS)
def test_each_write_to_ones_own_mailbox_leaves_the_other_byte_for_byte(two, client, store, bob, operation):
    mine, _, bob_bytes = two
    before = bob_bytes()
    MUTATIONS[operation](client, mine).ok()
    assert bob_bytes() == before
    with store.transaction(write=False) as tx:
        assert tx.accounts.by_id(bob.id).im_list_migration_completed is False


@pytest.mark.parametrize("field", ID_FIELDS)
def test_another_mailboxs_ids_are_unknown_ids(two, client, field):
    mine, bobs, bob_bytes = two
    act, kind, code = ID_FIELDS[field]
    before, alice_before = bob_bytes(), client.item_list()
    reply = act(client, mine, bobs[kind])
    reply.error(code)
    assert bob_bytes() == before
    after = client.item_list()
    assert {n: g["members"] for n, g in after.groups.items()} == {
        n: g["members"] for n, g in alice_before.groups.items()
    }


def forgeries(genuine: Ref, victim_mailbox: int, attacker_mailbox: int) -> list[str]:
    """Ways to try to turn an id into one of the victim's mailbox without the server's key."""
    raw = base64.b64decode(genuine.id)
    payload, mac = raw[:18], raw[18:]
    version, kind, _, item = struct.unpack(">BBQQ", payload)
    moved = struct.pack(">BBQQ", version, kind, victim_mailbox, item)
    return [
        base64.b64encode(moved + mac).decode(),  # the mailbox changed, the MAC kept
        base64.b64encode(moved + hashlib.blake2b(moved, digest_size=9).digest()).decode(),  # an unkeyed MAC
        IdCodec(os.urandom(32)).encode(victim_mailbox, IdKind(kind), item),  # another server's key
        base64.b64encode(moved + os.urandom(9)).decode(),  # a guessed MAC
        base64.b64encode(struct.pack(">BBQQ", 2, kind, attacker_mailbox, item) + mac).decode(),  # another version
    ]


@pytest.mark.parametrize("field", ID_FIELDS)
def test_forged_ids_never_reach_another_mailbox(two, client, alice, bob, field):
    mine, _, bob_bytes = two
    act, kind, _ = ID_FIELDS[field]
    before = bob_bytes()
    for forged in forgeries(mine[kind], bob.id, alice.id):
        act(client, mine, Ref(forged, mine[kind].change_key)).error("ErrorInvalidIdMalformed")
    assert bob_bytes() == before


def test_reads_never_show_another_mailbox(two, client, alice, bob):
    _, bobs, _ = two
    foreign = [bobs["contact"], bobs["group"], bobs["dg"]]
    forged = [Ref(f) for ref in foreign for f in forgeries(ref, bob.id, alice.id)]
    listing = get_items(client, contacts=[bobs["contact"], *forged], groups=[bobs["group"], bobs["dg"], *forged]).ok()
    assert len(listing.find("m:ImItemList")) == 0


def test_impersonation_of_one_mailbox_gives_no_reach_into_another(service, store, two, bob):
    mine, bobs, bob_bytes = two
    svc = make_user(store, "svc@example.com")
    alice_id = store_user_id(store, "alice@example.com")
    with store.transaction(write=True) as tx:
        tx.grants.grant(svc.id, alice_id)
    header = (
        "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>alice@example.com</t:PrimarySmtpAddress>"
        "</t:ConnectingSID></t:ExchangeImpersonation>"
    )

    class AsAlice(InProcessClient):
        def call(self, operation_xml: str, **kwargs):
            return super().call(operation_xml, headers=header)

    as_alice = AsAlice(service, svc)
    before = bob_bytes()
    for act, kind, code in ID_FIELDS.values():
        act(as_alice, mine, bobs[kind]).error(code)
    for operation, act in MUTATIONS.items():
        if operation not in ("RemoveImGroup", "RemoveContactFromImList", "RemoveDistributionGroupFromImList"):
            act(as_alice, mine).ok()
    assert bob_bytes() == before


def store_user_id(store, email: str) -> int:
    with store.transaction(write=False) as tx:
        return tx.accounts.by_email(email).id
