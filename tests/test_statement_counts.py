"""What the common operations cost in statements: a fixed few, whatever the size of the list,
and the paths those few statements take (an add that adds nothing, an id list longer than one
statement takes). Counted where every query passes (``SqlSession.run``), on both backends; a
transaction's BEGIN, version bump and COMMIT are the store's and not counted.

With the process's snapshot of the list (store/snapshots.py), a read of one's own list this
process has read or written before, at the version the request read to authenticate, needs no
statement at all, and a write's checks need none; without, they go to the tables."""

import pytest

from openucs.domain.model import ContactCard
from openucs.ops.ids import IdKind
from openucs.store.sql import BUMP_LIST_VERSION, BUMP_LIST_VERSION_FROM, SqlSession
from tests.helpers_ops import (
    add_to_group,
    expect_error,
    get_items,
    new_contact,
    new_group,
    remove_contact,
    remove_group,
)
from tests.support import NS, Ref, envelope, validate_envelope


@pytest.fixture
def statements(monkeypatch) -> list[str]:
    seen: list[str] = []
    run = SqlSession.run

    def counted(self, sql, params=()):
        if sql not in (BUMP_LIST_VERSION, BUMP_LIST_VERSION_FROM):
            seen.append(sql)
        return run(self, sql, params)

    monkeypatch.setattr(SqlSession, "run", counted)
    return seen


@pytest.fixture
def count(service, store, alice, statements):
    """Statements one request runs, after checking it succeeded."""

    def run(operation_xml: str) -> int:
        with store.transaction(write=False) as tx:
            user = tx.accounts.by_id(alice.id)  # current list version, as the HTTP layer reads it
        statements.clear()
        outcome = service.handle(envelope(operation_xml), user, "count")
        body = validate_envelope(outcome.body)
        assert b'ResponseClass="Success"' in outcome.body, body
        return len(statements)

    return run


def op(name: str, *parts: str) -> str:
    return f"<m:{name}>{''.join(parts)}</m:{name}>"


def ref(tag: str, item: Ref) -> str:
    return f'<{tag} Id="{item.id}"/>'


def filled_list(client, members: int) -> tuple[Ref, Ref, Ref]:
    """Work with ``members`` contacts (the first also in Home and Favorites), Home, the first contact."""
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    contacts = [new_contact(client, f"c{i}@example.com", work) for i in range(members)]
    add_to_group(client, contacts[0], home).ok()
    add_to_group(client, contacts[0], client.item_list().groups["Favorites"]["id"]).ok()
    return work, home, contacts[0]


def costs(client, count, members: int) -> dict[str, int]:
    work, home, carol = filled_list(client, members)
    contact, group = ref("m:ContactId", carol), ref("m:GroupId", home)
    return {
        "GetImItems contact": count(op("GetImItems", op("ContactIds", ref("t:ItemId", carol)))),
        "GetImItems group": count(op("GetImItems", op("GroupIds", ref("t:ItemId", work)))),
        "GetImItemList": count(op("GetImItemList")),
        "RemoveImContactFromGroup": count(op("RemoveImContactFromGroup", contact, group)),
        "AddImContactToGroup": count(op("AddImContactToGroup", contact, group)),
        "AddImContactToGroup, a member already": count(op("AddImContactToGroup", contact, group)),
        "RemoveImGroup": count(op("RemoveImGroup", ref("m:GroupId", work))),
        "RemoveContactFromImList": count(op("RemoveContactFromImList", contact)),
    }


@pytest.mark.parametrize("members", [2, 20])
def test_the_common_operations_take_a_few_statements_whatever_the_lists_size(client, count, members):
    assert costs(client, count, members) == {
        "GetImItems contact": 0,  # the snapshot at the version read to authenticate has the contact
        "GetImItems group": 0,
        "GetImItemList": 0,
        # A write's checks are answered from its copy of the list: only the changes are statements.
        "RemoveImContactFromGroup": 1,
        "AddImContactToGroup": 1,
        "AddImContactToGroup, a member already": 0,  # the copy knows it is a member: nothing to insert
        "RemoveImGroup": 2,  # deleting the members only it holds, deleting the group
        "RemoveContactFromImList": 1,
    }


@pytest.mark.parametrize("members", [2, 20])
def test_without_snapshots_the_reads_take_a_few_statements_too(client, count, store, members):
    store.snapshots = None
    assert costs(client, count, members) == {
        "GetImItems contact": 1,
        "GetImItems group": 2,
        "GetImItemList": 3,
        "RemoveImContactFromGroup": 2,
        "AddImContactToGroup": 1,
        "AddImContactToGroup, a member already": 2,
        "RemoveImGroup": 4,  # its kind, the members only it holds, deleting those, deleting the group
        "RemoveContactFromImList": 1,
    }


def test_an_add_that_adds_nothing_still_reports_the_contact_first(client):
    work = new_group(client, "Work")
    gone_group = new_group(client, "Gone")
    gone_contact = new_contact(client, "gone@example.com", work)
    remove_contact(client, gone_contact).ok()
    remove_group(client, gone_group).ok()
    expect_error(add_to_group(client, gone_contact, gone_group), "ErrorInvalidImContactId")
    expect_error(add_to_group(client, gone_contact), "ErrorInvalidImContactId")


def test_adding_a_member_of_other_contacts_there_again_changes_nothing(client):
    carol = new_contact(client, "carol@example.com")
    add_to_group(client, carol).ok()
    assert client.item_list().groups["Other Contacts"]["members"] == [carol.id]


def test_get_im_items_takes_more_ids_than_one_statement_does(client, service, alice):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    dave = new_contact(client, "dave@example.com", work)
    unknown = [Ref(service.codec.encode(alice.id, IdKind.CONTACT, n)) for n in range(10_000, 11_200)]
    reply = get_items(client, contacts=[dave, *unknown, carol, dave]).ok()
    personas = reply.findall("m:ImItemList/t:Personas/t:Persona")
    assert [p.findtext("t:ImAddress", namespaces=NS) for p in personas] == ["carol@example.com", "dave@example.com"]


def test_get_im_items_lists_a_contact_named_twice_once_and_skips_one_in_no_group(client, store, alice, service):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    with store.transaction(write=True, lock_mailbox=alice.id) as tx:
        lonely = tx.imlist(alice.id).create_contact("lonely@example.com", ContactCard(display_name="Lonely"))
    persona = Ref(service.codec.encode(alice.id, IdKind.PERSONA, service.codec.decode(carol.id).item_id))
    lonely_ref = Ref(service.codec.encode(alice.id, IdKind.CONTACT, lonely.id))
    reply = get_items(client, contacts=[carol, persona, lonely_ref]).ok()
    personas = reply.findall("m:ImItemList/t:Personas/t:Persona")
    assert [p.findtext("t:ImAddress", namespaces=NS) for p in personas] == ["carol@example.com"]
