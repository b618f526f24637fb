"""Every MS-OXWSCOS operation, in process: success paths, error paths, and the Exchange 2013
semantics issue 2 §4 lists. Each response is validated against Microsoft's product schema by
the client (tests.support) before it is read here."""

import threading
from datetime import datetime

import pytest
from lxml import etree

from openucs.domain.model import ExtendedProperty, Limits, PropertyKey
from openucs.ops.ids import IdCodec
from openucs.ops.service import Service
from tests.conftest import make_user
from tests.helpers_ops import (
    DG_GROUP,
    GROUP_CHANGE_KEY,
    MEMBER_CHANGE_KEY,
    SYSTEM_GROUPS,
    USER_GROUP,
    add_dg,
    add_group,
    add_new_contact,
    add_tel_contact,
    add_to_group,
    contact_limit_text,
    expect_error,
    fast_password_hashes,
    get_item_list,
    get_items,
    group_limit_text,
    group_names,
    new_contact,
    new_group,
    raw_item_list,
    remove_contact,
    remove_dg,
    remove_from_group,
    remove_group,
    set_group,
    set_migration,
    sqlite_only,
    tampered,
)
from tests.support import NS, InProcessClient, Ref, run_cli, run_in_threads


@pytest.fixture(autouse=True, scope="module")
def _fast_hashes():
    with fast_password_hashes():
        yield


def local(el) -> str:
    return etree.QName(el).localname


# =============================================================================================
# GetImItemList
# =============================================================================================


def test_empty_mailbox_lists_three_system_groups_and_an_empty_personas(client):
    reply = get_item_list(client).ok()
    groups = reply.findall("m:ImItemList/t:Groups/t:ImGroup")
    assert {g.findtext("t:DisplayName", namespaces=NS): g.findtext("t:GroupType", namespaces=NS) for g in groups} == (
        SYSTEM_GROUPS
    )
    assert len(groups) == 3
    for g in groups:
        assert g.find("t:MemberCorrelationKey", namespaces=NS) is None
        assert g.find("t:SmtpAddress", namespaces=NS) is None
        assert g.find("t:ExchangeStoreId", namespaces=NS).get("ChangeKey") == GROUP_CHANGE_KEY
    personas = reply.find("m:ImItemList/t:Personas")
    assert personas is not None, "Personas must be present even when empty"
    assert len(personas) == 0


def test_system_groups_are_recreated_on_first_use(client, store, alice, service):
    with store.transaction(write=True) as tx:
        repo = tx.imlist(alice.id)
        for g in repo.groups():
            repo.delete_group(g.id)
    state = client.item_list()
    assert {n: g["type"] for n, g in state.groups.items()} == SYSTEM_GROUPS
    # and only once: a second read does not add more
    assert len(get_item_list(client).ok().findall("m:ImItemList/t:Groups/t:ImGroup")) == 3


def test_item_list_shows_groups_members_and_personas(client):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    dave = new_contact(client, "dave@example.com")
    state = client.item_list()
    assert set(state.groups) == {*SYSTEM_GROUPS, "Work"}
    assert state.groups["Work"]["type"] == USER_GROUP
    assert state.groups["Work"]["id"] == work
    assert state.members_of("Work") == {"carol@example.com"}
    assert state.members_of("Other Contacts") == {"dave@example.com"}
    assert state.members_of("Favorites") == set()
    assert state.personas["carol@example.com"]["id"].id == carol.id
    assert state.personas["dave@example.com"]["id"].id == dave.id
    for name in ("Favorites", "Tagged"):
        assert state.groups[name]["element"].find("t:MemberCorrelationKey", namespaces=NS) is None


# =============================================================================================
# AddImGroup
# =============================================================================================


def test_add_im_group_creates_a_user_group(client):
    reply = add_group(client, "Work").ok()
    group = reply.find("m:ImGroup")
    assert group.findtext("t:DisplayName", namespaces=NS) == "Work"
    assert group.findtext("t:GroupType", namespaces=NS) == USER_GROUP
    store_id = group.find("t:ExchangeStoreId", namespaces=NS)
    assert store_id.get("Id")
    assert store_id.get("ChangeKey") == GROUP_CHANGE_KEY
    assert group.find("t:MemberCorrelationKey", namespaces=NS) is None
    assert group.find("t:SmtpAddress", namespaces=NS) is None
    state = client.item_list()
    assert state.groups["Work"]["id"].id == store_id.get("Id")
    assert state.groups["Work"]["type"] == USER_GROUP


def test_add_im_group_keeps_markup_characters_in_the_name(client):
    name = 'R&D <lab> "east" \u00e9\u4e2d'
    assert add_group(client, name).ok().find("m:ImGroup/t:DisplayName").text == name
    assert name in client.item_list().groups


@sqlite_only
@pytest.mark.parametrize("existing", ["Work", "Favorites", "Other Contacts", "Tagged", "Team list"])
def test_add_im_group_with_a_taken_name_returns_that_group(client, existing):
    new_group(client, "Work")
    add_dg(client, "team@example.com", "Team list").ok()
    before = client.item_list()
    reply = add_group(client, existing).ok()
    assert reply.group_ref() == before.groups[existing]["id"]
    assert reply.find("m:ImGroup/t:GroupType").text == before.groups[existing]["type"]
    after = client.item_list()
    assert len(after.groups) == len(before.groups)
    assert group_names(get_item_list(client)).count(existing) == 1


def test_add_im_group_names_compare_exactly(client):
    work = new_group(client, "Work")
    other = new_group(client, "work")
    assert other.id != work.id
    assert {"Work", "work"} <= set(client.item_list().groups)


# =============================================================================================
# SetImGroup
# =============================================================================================


def test_set_im_group_renames_a_user_group(client):
    work = new_group(client, "Work")
    new_contact(client, "carol@example.com", work)
    set_group(client, work, "Office").ok()
    state = client.item_list()
    assert "Work" not in state.groups
    assert state.groups["Office"]["id"] == work
    assert state.members_of("Office") == {"carol@example.com"}


@sqlite_only
def test_set_im_group_ignores_the_change_key(client):
    work = new_group(client, "Work")
    set_group(client, work, "Office", change_key="garbage-change-key").ok()
    set_group(client, Ref(work.id), "Home", change_key="").ok()
    assert client.item_list().groups["Home"]["id"] == work


@sqlite_only
@pytest.mark.parametrize("taken", ["Work", "Home", "Favorites", "Other Contacts", "Tagged", "Team list"])
def test_set_im_group_to_any_existing_name_is_refused(client, taken):
    work = new_group(client, "Work")
    new_group(client, "Home")
    add_dg(client, "team@example.com", "Team list").ok()
    before = client.item_list()
    expect_error(set_group(client, work, taken), "ErrorImGroupDisplayNameAlreadyExists")
    after = client.item_list()
    assert after.groups["Work"]["id"] == work
    assert set(after.groups) == set(before.groups)


@sqlite_only
@pytest.mark.parametrize("target", ["Favorites", "Other Contacts", "Tagged", "Team list"])
def test_set_im_group_only_renames_user_groups(client, target):
    add_dg(client, "team@example.com", "Team list").ok()
    group = client.item_list().groups[target]["id"]
    expect_error(set_group(client, group, "Renamed"), "ErrorInvalidImGroupId")
    assert target in client.item_list().groups
    assert "Renamed" not in client.item_list().groups


def test_set_im_group_on_a_removed_group(client):
    work = new_group(client, "Work")
    remove_group(client, work).ok()
    expect_error(set_group(client, work, "Again"), "ErrorInvalidImGroupId")
    assert "Again" not in client.item_list().groups


# =============================================================================================
# RemoveImGroup
# =============================================================================================


def test_remove_im_group_deletes_the_group_and_its_only_members(client):
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    only_work = new_contact(client, "carol@example.com", work)
    both = new_contact(client, "dave@example.com", work)
    add_to_group(client, both, home).ok()
    tagged_only = new_contact(client, "erin@example.com", work)
    add_to_group(client, tagged_only, client.item_list().groups["Tagged"]["id"]).ok()

    remove_group(client, work).ok()

    state = client.item_list()
    assert "Work" not in state.groups
    assert set(state.personas) == {"dave@example.com"}
    assert state.members_of("Home") == {"dave@example.com"}
    assert state.members_of("Tagged") == set()  # the tagged member was deleted, so untagged too
    # the deleted contacts are gone for good
    expect_error(add_to_group(client, only_work, home), "ErrorInvalidImContactId")
    expect_error(add_to_group(client, tagged_only, home), "ErrorInvalidImContactId")
    assert get_items(client, contacts=[only_work, tagged_only]).ok().find("m:ImItemList/t:Personas") is None


@sqlite_only
@pytest.mark.parametrize("target", ["Favorites", "Other Contacts", "Tagged", "Team list"])
def test_remove_im_group_refuses_system_and_distribution_groups(client, target):
    add_dg(client, "team@example.com", "Team list").ok()
    new_contact(client, "carol@example.com")
    before = client.item_list()
    expect_error(remove_group(client, before.groups[target]["id"]), "ErrorInvalidImGroupId")
    after = client.item_list()
    assert set(after.groups) == set(before.groups)
    assert set(after.personas) == {"carol@example.com"}


def test_remove_im_group_twice(client):
    work = new_group(client, "Work")
    remove_group(client, work).ok()
    expect_error(remove_group(client, work), "ErrorInvalidImGroupId")


# =============================================================================================
# AddNewImContactToGroup
# =============================================================================================


def test_add_new_contact_without_group_goes_to_other_contacts(client):
    reply = add_new_contact(client, "carol@example.com").ok()
    persona = reply.find("m:Persona")
    assert persona.findtext("t:ImAddress", namespaces=NS) == "carol@example.com"
    assert persona.findtext("t:DisplayName", namespaces=NS) == "carol@example.com"  # defaults to the address
    state = client.item_list()
    assert state.members_of("Other Contacts") == {"carol@example.com"}
    assert state.personas["carol@example.com"]["id"] == reply.persona_ref()
    for name in ("Favorites", "Tagged"):
        assert state.members_of(name) == set()


def test_add_new_contact_into_a_named_group_with_a_display_name(client):
    work = new_group(client, "Work")
    reply = add_new_contact(client, "carol@example.com", work, display_name="Carol C.").ok()
    assert reply.find("m:Persona/t:DisplayName").text == "Carol C."
    state = client.item_list()
    assert state.members_of("Work") == {"carol@example.com"}
    assert state.members_of("Other Contacts") == set()
    assert state.personas["carol@example.com"]["name"] == "Carol C."


@sqlite_only
@pytest.mark.parametrize("target", ["Favorites", "Tagged", "Team list"])
def test_add_new_contact_into_any_kind_of_group(client, target):
    add_dg(client, "team@example.com", "Team list").ok()
    group = client.item_list().groups[target]["id"]
    new_contact(client, "carol@example.com", group)
    state = client.item_list()
    assert state.members_of(target) == {"carol@example.com"}
    assert state.members_of("Other Contacts") == set()


@sqlite_only
@pytest.mark.parametrize(
    "variant", ["carol@example.com", "Carol@Example.COM", "sip:carol@example.com", "SIP:CAROL@EXAMPLE.COM"]
)
def test_add_new_contact_reuses_the_contact_with_the_same_im_address(client, variant):
    work = new_group(client, "Work")
    first = new_contact(client, "carol@example.com", display_name="Carol")
    reply = add_new_contact(client, variant, work, display_name="Another name").ok()
    assert reply.persona_ref().id == first.id
    assert reply.find("m:Persona/t:DisplayName").text == "Carol"  # not updated on reuse
    state = client.item_list()
    assert len(state.personas) == 1
    assert state.members_of("Work") == {"carol@example.com"}
    assert state.members_of("Other Contacts") == {"carol@example.com"}


def test_add_new_contact_already_a_member_changes_nothing(client):
    work = new_group(client, "Work")
    first = new_contact(client, "carol@example.com", work)
    second = new_contact(client, "carol@example.com", work)
    assert second == first
    assert client.item_list().groups["Work"]["members"] == [first.id]


@sqlite_only
def test_add_new_contact_response_is_the_full_persona(client):
    persona = add_new_contact(client, "carol@example.com").ok().find("m:Persona")
    names = [local(c) for c in persona]
    required = [
        "PersonaId",
        "PersonaType",
        "CreationTime",
        "DisplayName",
        "DisplayNameFirstLast",
        "DisplayNameLastFirst",
        "EmailAddress",
        "ImAddress",
        "RelevanceScore",
        "Attributions",
    ]
    positions = [names.index(n) for n in required]
    assert positions == sorted(positions), names
    assert persona.find("t:PersonaId", namespaces=NS).get("Id")
    assert persona.findtext("t:PersonaType", namespaces=NS) == "Person"
    assert datetime.fromisoformat(persona.findtext("t:CreationTime", namespaces=NS)).tzinfo is not None
    for tag in ("DisplayName", "DisplayNameFirstLast", "DisplayNameLastFirst"):
        assert persona.findtext(f"t:{tag}", namespaces=NS) == "carol@example.com"
    assert persona.findtext("t:RelevanceScore", namespaces=NS).isdigit()
    attributions = persona.findall("t:Attributions/t:Attribution", namespaces=NS)
    assert len(attributions) >= 1
    quick = attributions[0]
    assert quick.findtext("t:IsQuickContact", namespaces=NS) == "true"
    assert quick.findtext("t:IsHidden", namespaces=NS) == "false"
    assert quick.findtext("t:IsWritable", namespaces=NS) == "true"
    source = quick.find("t:SourceId", namespaces=NS)
    assert source.get("Id") and source.get("ChangeKey")


@sqlite_only
def test_persona_source_id_is_the_member_id_string(client):
    work = new_group(client, "Work")
    new_contact(client, "carol@example.com", work)
    new_contact(client, "dave@example.com", work)
    reply = get_item_list(client).ok()
    members = [
        i.get("Id")
        for g in reply.findall("m:ImItemList/t:Groups/t:ImGroup")
        for i in g.findall("t:MemberCorrelationKey/t:ItemId", namespaces=NS)
    ]
    sources = [
        p.find("t:Attributions/t:Attribution/t:SourceId", namespaces=NS).get("Id")
        for p in reply.findall("m:ImItemList/t:Personas/t:Persona")
    ]
    assert sorted(members) == sorted(sources)
    assert len(set(sources)) == 2
    for p in reply.findall("m:ImItemList/t:Personas/t:Persona"):
        attribution = p.find("t:Attributions/t:Attribution", namespaces=NS)
        assert attribution.findtext("t:IsQuickContact", namespaces=NS) == "true"
        assert attribution.findtext("t:IsHidden", namespaces=NS) == "false"
        assert attribution.findtext("t:IsWritable", namespaces=NS) == "true"
        assert p.findtext("t:PersonaType", namespaces=NS) == "Person"


def test_smtp_im_address_gets_an_email_address(client):
    persona = add_new_contact(client, "carol@example.com").ok().find("m:Persona")
    assert persona.findtext("t:EmailAddress/t:EmailAddress", namespaces=NS) == "carol@example.com"
    assert persona.findtext("t:EmailAddress/t:RoutingType", namespaces=NS) == "SMTP"


@sqlite_only
@pytest.mark.parametrize("address", ["tel:+15551234567", "+15551234567", "sip:operator", "carol"])
def test_non_smtp_im_address_has_no_email_address(client, address):
    persona = add_new_contact(client, address).ok().find("m:Persona")
    assert persona.findtext("t:ImAddress", namespaces=NS) == address
    assert persona.find("t:EmailAddress", namespaces=NS) is None
    listed = client.item_list().personas[address]["element"]
    assert listed.find("t:EmailAddress", namespaces=NS) is None


def test_server_user_is_filled_from_the_directory(client, store):
    make_user(store, "carol@example.com", "Carol Cooper")
    persona = add_new_contact(client, "sip:Carol@Example.com").ok().find("m:Persona")
    assert persona.findtext("t:DisplayName", namespaces=NS) == "Carol Cooper"
    assert persona.findtext("t:EmailAddress/t:EmailAddress", namespaces=NS) == "carol@example.com"
    assert client.item_list().personas["sip:Carol@Example.com"]["name"] == "Carol Cooper"


def test_server_user_directory_fields_reach_the_persona(client, store):
    carol = make_user(store, "carol@example.com", "Carol Cooper")
    with store.transaction(write=True) as tx:
        tx.accounts.update_directory(
            carol.id,
            {"given_name": "Carol", "surname": "Cooper", "im_address": "sip:cc@example.com", "title": "Engineer"},
        )
    persona = add_new_contact(client, "cc@example.com").ok().find("m:Persona")
    assert persona.findtext("t:DisplayName", namespaces=NS) == "Carol Cooper"
    assert persona.findtext("t:GivenName", namespaces=NS) == "Carol"
    assert persona.findtext("t:Surname", namespaces=NS) == "Cooper"
    assert persona.findtext("t:DisplayNameLastFirst", namespaces=NS) == "Cooper Carol"
    assert persona.findtext("t:Title", namespaces=NS) == "Engineer"


def test_add_new_contact_into_a_bad_group_creates_nothing(client):
    work = new_group(client, "Work")
    remove_group(client, work).ok()
    expect_error(add_new_contact(client, "carol@example.com", work), "ErrorInvalidImGroupId")
    assert client.item_list().personas == {}


# =============================================================================================
# AddNewTelUriContactToGroup
# =============================================================================================


def test_add_new_tel_uri_contact(client):
    work = new_group(client, "Work")
    reply = add_tel_contact(client, "tel:+15551234567", "sip:+15551234567@example.com", "+15551234567", work).ok()
    persona = reply.find("m:Persona")
    assert persona.findtext("t:ImAddress", namespaces=NS) == "sip:+15551234567@example.com"
    numbers = persona.findall("t:BusinessPhoneNumbers/t:PhoneNumberAttributedValue/t:Value/t:Number", namespaces=NS)
    assert [n.text for n in numbers] == ["+15551234567"]
    state = client.item_list()
    assert state.members_of("Work") == {"sip:+15551234567@example.com"}
    assert state.personas["sip:+15551234567@example.com"]["id"] == reply.persona_ref()


def test_add_new_tel_uri_contact_defaults_to_other_contacts(client):
    add_tel_contact(client, "tel:+15550000001", "sip:+15550000001@example.com", "+15550000001").ok()
    assert client.item_list().members_of("Other Contacts") == {"sip:+15550000001@example.com"}


def test_add_new_tel_uri_contact_with_a_bad_group(client):
    expect_error(
        add_tel_contact(client, "tel:+1555", "sip:+1555@example.com", "+1555", Ref("not-an-id")),
        "ErrorInvalidIdMalformed",
    )
    assert client.item_list().personas == {}


# =============================================================================================
# AddImContactToGroup
# =============================================================================================


def test_add_im_contact_to_group_copies_the_contact(client):
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    carol = new_contact(client, "carol@example.com", work)
    add_to_group(client, carol, home).ok()
    state = client.item_list()
    assert state.members_of("Work") == {"carol@example.com"}
    assert state.members_of("Home") == {"carol@example.com"}
    assert len(state.personas) == 1


def test_add_im_contact_to_group_without_group_means_other_contacts(client):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    add_to_group(client, carol).ok()
    assert client.item_list().members_of("Other Contacts") == {"carol@example.com"}


@sqlite_only
@pytest.mark.parametrize("target", ["Favorites", "Tagged", "Team list", "Other Contacts"])
def test_add_im_contact_to_any_kind_of_group(client, target):
    work = new_group(client, "Work")
    add_dg(client, "team@example.com", "Team list").ok()
    carol = new_contact(client, "carol@example.com", work)
    add_to_group(client, carol, client.item_list().groups[target]["id"]).ok()
    state = client.item_list()
    assert state.members_of(target) == {"carol@example.com"}
    assert state.members_of("Work") == {"carol@example.com"}


def test_add_im_contact_to_group_twice_is_a_no_op(client):
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    carol = new_contact(client, "carol@example.com", work)
    add_to_group(client, carol, home).ok()
    add_to_group(client, carol, home).ok()
    assert client.item_list().groups["Home"]["members"] == [carol.id]


@sqlite_only
def test_add_im_contact_to_group_ignores_change_keys(client):
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    carol = new_contact(client, "carol@example.com", work)
    add_to_group(client, carol, home, change_key="AAAA-stale-BBBB").ok()
    assert client.item_list().members_of("Home") == {"carol@example.com"}


def test_add_im_contact_to_group_needs_an_existing_contact(client):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    remove_contact(client, carol).ok()
    expect_error(add_to_group(client, carol, work), "ErrorInvalidImContactId")
    assert client.item_list().personas == {}


def test_add_im_contact_to_group_with_a_group_id_as_contact(client):
    work = new_group(client, "Work")
    expect_error(add_to_group(client, work, work), "ErrorInvalidImContactId")


def test_add_im_contact_to_a_removed_group(client):
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    carol = new_contact(client, "carol@example.com", work)
    remove_group(client, home).ok()
    expect_error(add_to_group(client, carol, home), "ErrorInvalidImGroupId")
    assert client.item_list().members_of("Work") == {"carol@example.com"}


# =============================================================================================
# RemoveImContactFromGroup
# =============================================================================================


def test_remove_contact_from_one_of_its_groups(client):
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    carol = new_contact(client, "carol@example.com", work)
    add_to_group(client, carol, home).ok()
    remove_from_group(client, carol, work).ok()
    state = client.item_list()
    assert state.members_of("Work") == set()
    assert state.members_of("Home") == {"carol@example.com"}
    assert state.personas["carol@example.com"]["id"] == carol


def test_remove_contact_from_a_group_that_does_not_hold_it(client):
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    carol = new_contact(client, "carol@example.com", work)
    before = client.item_list()
    expect_error(remove_from_group(client, carol, home), "ErrorInvalidImGroupId")
    after = client.item_list()
    assert after.members_of("Work") == before.members_of("Work") == {"carol@example.com"}


def test_remove_contact_from_group_also_untags_it(client):
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    carol = new_contact(client, "carol@example.com", work)
    add_to_group(client, carol, home).ok()
    add_to_group(client, carol, client.item_list().groups["Tagged"]["id"]).ok()
    remove_from_group(client, carol, work).ok()
    state = client.item_list()
    assert state.members_of("Home") == {"carol@example.com"}
    assert state.members_of("Tagged") == set()
    assert state.members_of("Work") == set()


def test_remove_contact_from_tagged_keeps_its_other_groups(client):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    tagged = client.item_list().groups["Tagged"]["id"]
    add_to_group(client, carol, tagged).ok()
    remove_from_group(client, carol, tagged).ok()
    state = client.item_list()
    assert state.members_of("Work") == {"carol@example.com"}
    assert state.members_of("Tagged") == set()


@pytest.mark.parametrize("also_tagged", [False, True])
def test_remove_contact_from_its_last_group_deletes_it(client, also_tagged):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    if also_tagged:
        add_to_group(client, carol, client.item_list().groups["Tagged"]["id"]).ok()
    remove_from_group(client, carol, work).ok()
    state = client.item_list()
    assert state.personas == {}
    assert all(not g["members"] for g in state.groups.values())
    expect_error(add_to_group(client, carol, work), "ErrorInvalidImContactId")
    # a new contact with the same address is a new contact, with a new id
    again = new_contact(client, "carol@example.com", work)
    assert again.id != carol.id


def test_remove_unknown_contact_from_group(client):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    remove_contact(client, carol).ok()
    expect_error(remove_from_group(client, carol, work), "ErrorInvalidImContactId")


# =============================================================================================
# RemoveContactFromImList
# =============================================================================================


def test_remove_contact_from_im_list_removes_it_everywhere(client):
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    carol = new_contact(client, "carol@example.com", work)
    new_contact(client, "dave@example.com", work)
    for group in (home, client.item_list().groups["Favorites"]["id"], client.item_list().groups["Tagged"]["id"]):
        add_to_group(client, carol, group).ok()
    remove_contact(client, carol).ok()
    state = client.item_list()
    assert set(state.personas) == {"dave@example.com"}
    for name in state.groups:
        assert "carol@example.com" not in state.members_of(name)
    assert state.members_of("Work") == {"dave@example.com"}
    assert get_items(client, contacts=[carol]).ok().find("m:ImItemList/t:Personas") is None


def test_remove_contact_from_im_list_twice(client):
    carol = new_contact(client, "carol@example.com")
    remove_contact(client, carol).ok()
    expect_error(remove_contact(client, carol), "ErrorInvalidImContactId")


def test_remove_contact_from_im_list_with_a_group_id(client):
    work = new_group(client, "Work")
    expect_error(remove_contact(client, work), "ErrorInvalidImContactId")
    assert "Work" in client.item_list().groups


# =============================================================================================
# GetImItems
# =============================================================================================


def test_get_im_items_returns_the_requested_items(client):
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    carol = new_contact(client, "carol@example.com", work)
    new_contact(client, "dave@example.com", home)
    reply = get_items(client, contacts=[carol], groups=[work]).ok()
    assert group_names(reply) == ["Work"]
    group = reply.find("m:ImItemList/t:Groups/t:ImGroup")
    assert [i.get("Id") for i in group.findall("t:MemberCorrelationKey/t:ItemId", namespaces=NS)] == [carol.id]
    personas = reply.findall("m:ImItemList/t:Personas/t:Persona")
    assert [p.findtext("t:ImAddress", namespaces=NS) for p in personas] == ["carol@example.com"]
    assert personas[0].find("t:Attributions/t:Attribution/t:SourceId", namespaces=NS).get("Id") == carol.id


def test_get_im_items_omits_empty_arrays(client):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    only_groups = get_items(client, groups=[work]).ok()
    assert only_groups.find("m:ImItemList/t:Groups") is not None
    assert only_groups.find("m:ImItemList/t:Personas") is None
    only_contacts = get_items(client, contacts=[carol]).ok()
    assert only_contacts.find("m:ImItemList/t:Groups") is None
    assert only_contacts.find("m:ImItemList/t:Personas") is not None
    nothing = get_items(client).ok()
    assert nothing.find("m:ImItemList") is not None
    assert len(nothing.find("m:ImItemList")) == 0


def test_get_im_items_skips_bad_ids_silently(client, bob_client):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    gone_group = new_group(client, "Gone")
    gone_contact = new_contact(client, "gone@example.com", gone_group)
    remove_group(client, gone_group).ok()
    bob_group = new_group(bob_client, "Bob's")
    bob_contact = new_contact(bob_client, "zed@example.com", bob_group)
    junk = [Ref(""), Ref("garbage"), Ref("!!!"), Ref(tampered(carol.id)), Ref(tampered(work.id))]
    reply = get_items(
        client,
        contacts=[*junk, gone_contact, bob_contact, work, carol],
        groups=[*junk, gone_group, bob_group, carol, work],
    ).ok()
    assert group_names(reply) == ["Work"]
    personas = reply.findall("m:ImItemList/t:Personas/t:Persona")
    assert [p.findtext("t:ImAddress", namespaces=NS) for p in personas] == ["carol@example.com"]


def test_get_im_items_with_only_unknown_ids(client, bob_client):
    bob_group = new_group(bob_client, "Bob's")
    reply = get_items(client, contacts=[Ref("garbage")], groups=[bob_group]).ok()
    assert len(reply.find("m:ImItemList")) == 0


# =============================================================================================
# AddDistributionGroupToImList / RemoveDistributionGroupFromImList
# =============================================================================================


def test_add_distribution_group(client):
    reply = add_dg(client, "team@example.com", "Team list").ok()
    group = reply.find("m:ImGroup")
    assert group.findtext("t:DisplayName", namespaces=NS) == "Team list"
    assert group.findtext("t:GroupType", namespaces=NS) == DG_GROUP
    assert group.findtext("t:SmtpAddress", namespaces=NS) == "team@example.com"
    assert group.find("t:ExchangeStoreId", namespaces=NS).get("ChangeKey") == GROUP_CHANGE_KEY
    assert group.find("t:MemberCorrelationKey", namespaces=NS) is None  # the DG's own address is no member
    state = client.item_list()
    assert state.groups["Team list"]["type"] == DG_GROUP
    assert state.groups["Team list"]["smtp"] == "team@example.com"
    assert state.groups["Team list"]["id"] == reply.group_ref()
    assert state.groups["Team list"]["members"] == []
    for name in SYSTEM_GROUPS:
        assert state.groups[name]["smtp"] is None


@pytest.mark.parametrize("again", ["team@example.com", "TEAM@Example.Com"])
def test_add_distribution_group_is_idempotent_by_address(client, again):
    first = add_dg(client, "team@example.com", "Team list").ok().group_ref()
    reply = add_dg(client, again, "Another name").ok()
    assert reply.group_ref() == first
    assert reply.find("m:ImGroup/t:DisplayName").text == "Team list"  # not updated
    state = client.item_list()
    assert [n for n, g in state.groups.items() if g["type"] == DG_GROUP] == ["Team list"]


@sqlite_only
@pytest.mark.parametrize(
    "address",
    [
        "not-an-address",
        "team@",
        "@example.com",
        "team example@example.com",
        "team@@example.com",
        "team@example..com",
        "team@-example.com",
        "<team@example.com>",
        "team@example.com, other@example.com",
    ],
)
def test_add_distribution_group_checks_the_address_syntax(client, address):
    expect_error(add_dg(client, address, "Team list"), "ErrorInvalidImDistributionGroupSmtpAddress")
    assert "Team list" not in client.item_list().groups


def test_distribution_group_members_are_contacts(client):
    team = add_dg(client, "team@example.com", "Team list").ok().group_ref()
    carol = new_contact(client, "carol@example.com", team)
    dave = new_contact(client, "dave@example.com")
    add_to_group(client, dave, team).ok()
    state = client.item_list()
    assert state.groups["Team list"]["members"] == [carol.id, dave.id]
    assert state.members_of("Team list") == {"carol@example.com", "dave@example.com"}


def test_remove_distribution_group(client):
    team = add_dg(client, "team@example.com", "Team list").ok().group_ref()
    new_contact(client, "carol@example.com", team)
    dave = new_contact(client, "dave@example.com", team)
    add_to_group(client, dave).ok()
    remove_dg(client, team).ok()
    state = client.item_list()
    assert "Team list" not in state.groups
    assert set(state.personas) == {"dave@example.com"}
    assert state.members_of("Other Contacts") == {"dave@example.com"}
    expect_error(remove_dg(client, team), "ErrorInvalidImGroupId")
    # the address can be added again, as a new group
    assert add_dg(client, "team@example.com", "Team list").ok().group_ref() != team


@sqlite_only
@pytest.mark.parametrize("target", ["Work", "Favorites", "Other Contacts", "Tagged"])
def test_remove_distribution_group_only_removes_distribution_groups(client, target):
    new_group(client, "Work")
    before = client.item_list()
    expect_error(remove_dg(client, before.groups[target]["id"]), "ErrorInvalidImGroupId")
    assert set(client.item_list().groups) == set(before.groups)


# =============================================================================================
# SetImListMigrationCompleted
# =============================================================================================


def _migrated(store, user) -> bool:
    with store.transaction(write=False) as tx:
        return tx.accounts.by_id(user.id).im_list_migration_completed


def _cli_migrated(database_url: str, email: str) -> str:
    out = run_cli("user", "list", database=database_url).stdout.splitlines()
    header = out[0].split("  ")
    header = [h.strip() for h in header if h.strip()]
    column = header.index("IM LIST MIGRATED")
    rows = [[c.strip() for c in line.split("  ") if c.strip()] for line in out[1:]]
    (row,) = [r for r in rows if r[0] == email]
    return row[column]


def test_set_im_list_migration_completed(client, store, alice, bob, database_url):
    assert _migrated(store, alice) is False
    set_migration(client, "true").ok()
    assert _migrated(store, alice) is True
    assert _migrated(store, bob) is False
    assert _cli_migrated(database_url, "alice@example.com") == "yes"
    assert _cli_migrated(database_url, "bob@example.com") == "no"
    set_migration(client, "false").ok()
    assert _migrated(store, alice) is False
    assert _cli_migrated(database_url, "alice@example.com") == "no"


def test_set_im_list_migration_completed_without_an_account(service, store):
    gone = make_user(store, "gone@example.com")
    with store.transaction(write=True) as tx:
        tx.accounts.remove(gone.id)
    reply = set_migration(InProcessClient(service, gone), "true")
    expect_error(reply, "ErrorInvalidOperation", "Im list migration can't be completed.")


@sqlite_only
@pytest.mark.parametrize(("value", "expected"), [("1", True), ("0", False), (" true ", True)])
def test_set_im_list_migration_completed_takes_any_xs_boolean(client, store, alice, value, expected):
    set_migration(client, "false" if expected else "true").ok()
    set_migration(client, value).ok()
    assert _migrated(store, alice) is expected


def test_set_im_list_migration_completed_does_not_touch_the_list(client, service, alice):
    new_contact(client, "carol@example.com")
    before = raw_item_list(service, alice)
    set_migration(client, "true").ok()
    assert raw_item_list(service, alice) == before


# =============================================================================================
# Limits
# =============================================================================================


@pytest.fixture
def small(store, alice) -> InProcessClient:
    return InProcessClient(Service(store, IdCodec(b"k" * 32), Limits(contacts=3, groups=2)), alice)


def test_group_limit_counts_user_groups_not_system_groups(small):
    new_group(small, "One")
    new_group(small, "Two")
    expect_error(add_group(small, "Three"), "ErrorImGroupLimitReached", group_limit_text(2))
    state = small.item_list()
    assert set(state.groups) == {*SYSTEM_GROUPS, "One", "Two"}
    # a taken name still returns its group, even at the limit
    assert add_group(small, "One").ok().group_ref() == state.groups["One"]["id"]
    assert add_group(small, "Favorites").ok().group_ref() == state.groups["Favorites"]["id"]


def test_group_limit_counts_distribution_groups(small):
    new_group(small, "One")
    team = add_dg(small, "team@example.com", "Team list").ok().group_ref()
    expect_error(add_group(small, "Three"), "ErrorImGroupLimitReached", group_limit_text(2))
    expect_error(add_dg(small, "other@example.com", "Other list"), "ErrorImGroupLimitReached", group_limit_text(2))
    assert add_dg(small, "Team@example.com", "Team list").ok().group_ref() == team  # existing: fine
    assert set(small.item_list().groups) == {*SYSTEM_GROUPS, "One", "Team list"}
    remove_dg(small, team).ok()
    new_group(small, "Three")


def test_group_limit_frees_up_after_removal(small):
    one = new_group(small, "One")
    new_group(small, "Two")
    remove_group(small, one).ok()
    new_group(small, "Three")
    assert set(small.item_list().groups) == {*SYSTEM_GROUPS, "Two", "Three"}


def test_contact_limit_applies_only_to_new_contacts(small):
    work = new_group(small, "Work")
    refs = [new_contact(small, f"c{i}@example.com", work) for i in range(3)]
    expect_error(add_new_contact(small, "c4@example.com", work), "ErrorImContactLimitReached", contact_limit_text(3))
    expect_error(
        add_tel_contact(small, "tel:+1555", "sip:+1555@example.com", "+1555"),
        "ErrorImContactLimitReached",
        contact_limit_text(3),
    )
    # existing contacts can still be added anywhere
    again = add_new_contact(small, "SIP:C0@example.com").ok().persona_ref()
    assert again == refs[0]
    add_to_group(small, refs[1], small.item_list().groups["Favorites"]["id"]).ok()
    state = small.item_list()
    assert set(state.personas) == {"c0@example.com", "c1@example.com", "c2@example.com"}
    assert state.members_of("Other Contacts") == {"c0@example.com"}
    assert state.members_of("Favorites") == {"c1@example.com"}
    remove_contact(small, refs[2]).ok()
    new_contact(small, "c4@example.com", work)


def test_limits_hold_under_concurrent_requests(store, alice):
    service = Service(store, IdCodec(b"k" * 32), Limits(contacts=3, groups=2))
    results: list[str] = []
    lock = threading.Lock()

    def worker(i: int) -> None:
        c = InProcessClient(service, alice)
        codes = [add_group(c, f"G{i}").code, add_new_contact(c, f"u{i}@example.com").code]
        with lock:
            results.extend(codes)

    run_in_threads(worker, 8)
    assert results.count("ErrorImGroupLimitReached") == 6, results
    assert results.count("ErrorImContactLimitReached") == 5, results
    assert results.count("NoError") == 5, results
    state = InProcessClient(service, alice).item_list()
    assert len([g for g in state.groups.values() if g["type"] == USER_GROUP]) == 2
    assert len(state.personas) == 3


# =============================================================================================
# Ids and ChangeKeys
# =============================================================================================


@pytest.fixture
def world(client):
    """A group, a contact in it, and a distribution group."""
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    team = add_dg(client, "team@example.com", "Team list").ok().group_ref()
    return {"group": work, "contact": carol, "dg": team}


# (operation, call(client, world, bad_ref)) for every id-taking request field
ID_FIELDS = {
    "SetImGroup/GroupId": lambda c, w, r: set_group(c, r, "Renamed"),
    "RemoveImGroup/GroupId": lambda c, w, r: remove_group(c, r),
    "AddNewImContactToGroup/GroupId": lambda c, w, r: add_new_contact(c, "new@example.com", r),
    "AddNewTelUriContactToGroup/GroupId": lambda c, w, r: add_tel_contact(c, "tel:+1", "sip:+1@example.com", "+1", r),
    "AddImContactToGroup/ContactId": lambda c, w, r: add_to_group(c, r, w["group"]),
    "AddImContactToGroup/GroupId": lambda c, w, r: add_to_group(c, w["contact"], r),
    "RemoveImContactFromGroup/ContactId": lambda c, w, r: remove_from_group(c, r, w["group"]),
    "RemoveImContactFromGroup/GroupId": lambda c, w, r: remove_from_group(c, w["contact"], r),
    "RemoveContactFromImList/ContactId": lambda c, w, r: remove_contact(c, r),
    "RemoveDistributionGroupFromImList/GroupId": lambda c, w, r: remove_dg(c, r),
}
UNKNOWN_CODE = {
    "ContactId": "ErrorInvalidImContactId",
    "GroupId": "ErrorInvalidImGroupId",
}


def _source_ref(world, field: str) -> Ref:
    op, name = field.split("/")
    if name == "ContactId":
        return world["contact"]
    return world["dg"] if op == "RemoveDistributionGroupFromImList" else world["group"]


def _assert_unchanged(client, before) -> None:
    after = client.item_list()
    assert {n: (g["id"], g["members"]) for n, g in after.groups.items()} == {
        n: (g["id"], g["members"]) for n, g in before.groups.items()
    }
    assert set(after.personas) == set(before.personas)


@sqlite_only
@pytest.mark.parametrize("field", ID_FIELDS)
def test_empty_id_is_refused(client, world, field):
    before = client.item_list()
    expect_error(ID_FIELDS[field](client, world, Ref("")), "ErrorInvalidIdEmpty")
    _assert_unchanged(client, before)


@sqlite_only
@pytest.mark.parametrize("field", ID_FIELDS)
def test_malformed_id_is_refused(client, world, field):
    before = client.item_list()
    for garbage in ("garbage", "AAAA", "!!not base64!!", "AQEAAAAAAAAAAQAAAAAAAAAB", "=" * 36):
        expect_error(ID_FIELDS[field](client, world, Ref(garbage)), "ErrorInvalidIdMalformed")
    _assert_unchanged(client, before)


@sqlite_only
@pytest.mark.parametrize("field", ID_FIELDS)
def test_tampered_id_is_refused(client, world, field):
    genuine = _source_ref(world, field)
    before = client.item_list()
    expect_error(
        ID_FIELDS[field](client, world, Ref(tampered(genuine.id), genuine.change_key)), "ErrorInvalidIdMalformed"
    )
    _assert_unchanged(client, before)


@sqlite_only
@pytest.mark.parametrize("field", [f for f in ID_FIELDS if f.endswith("GroupId")])
def test_contact_id_used_as_group_id(client, world, field):
    before = client.item_list()
    expect_error(ID_FIELDS[field](client, world, world["contact"]), "ErrorInvalidImGroupId")
    _assert_unchanged(client, before)


@sqlite_only
@pytest.mark.parametrize("field", [f for f in ID_FIELDS if f.endswith("ContactId")])
def test_group_id_used_as_contact_id(client, world, field):
    before = client.item_list()
    expect_error(ID_FIELDS[field](client, world, world["group"]), "ErrorInvalidImContactId")
    _assert_unchanged(client, before)


@sqlite_only
@pytest.mark.parametrize("field", ID_FIELDS)
def test_ids_of_another_mailbox_never_reach_it(client, world, bob_client, service, bob, field):
    bob_group = new_group(bob_client, "Work")
    bob_contact = new_contact(bob_client, "carol@example.com", bob_group)
    bob_dg = add_dg(bob_client, "team@example.com", "Team list").ok().group_ref()
    bobs = {"group": bob_group, "contact": bob_contact, "dg": bob_dg}
    bob_before = raw_item_list(service, bob)
    alice_before = client.item_list()
    expect_error(ID_FIELDS[field](client, world, _source_ref(bobs, field)), UNKNOWN_CODE[field.split("/")[1]])
    assert raw_item_list(service, bob) == bob_before
    _assert_unchanged(client, alice_before)


def test_ids_of_another_mailbox_in_every_operation_leave_it_byte_for_byte(client, bob_client, service, bob):
    bob_group = new_group(bob_client, "Work")
    bob_contact = new_contact(bob_client, "carol@example.com", bob_group)
    bob_dg = add_dg(bob_client, "team@example.com", "Team list").ok().group_ref()
    mine = new_group(client, "Mine")
    my_contact = new_contact(client, "dave@example.com", mine)
    before = raw_item_list(service, bob)
    expect_error(set_group(client, bob_group, "Hijacked"), "ErrorInvalidImGroupId")
    expect_error(remove_group(client, bob_group), "ErrorInvalidImGroupId")
    expect_error(add_new_contact(client, "x@example.com", bob_group), "ErrorInvalidImGroupId")
    expect_error(add_to_group(client, bob_contact, mine), "ErrorInvalidImContactId")
    expect_error(add_to_group(client, my_contact, bob_group), "ErrorInvalidImGroupId")
    expect_error(remove_from_group(client, bob_contact, bob_group), "ErrorInvalidImContactId")
    expect_error(remove_contact(client, bob_contact), "ErrorInvalidImContactId")
    expect_error(remove_dg(client, bob_dg), "ErrorInvalidImGroupId")
    assert len(get_items(client, contacts=[bob_contact], groups=[bob_group, bob_dg]).ok().find("m:ImItemList")) == 0
    assert raw_item_list(service, bob) == before


@sqlite_only
def test_change_keys_are_fixed_per_kind(client):
    work = new_group(client, "Work")
    assert work.change_key == GROUP_CHANGE_KEY
    new_contact(client, "carol@example.com", work)
    reply = get_item_list(client).ok()
    for g in reply.findall("m:ImItemList/t:Groups/t:ImGroup"):
        assert g.find("t:ExchangeStoreId", namespaces=NS).get("ChangeKey") == GROUP_CHANGE_KEY
        for item in g.findall("t:MemberCorrelationKey/t:ItemId", namespaces=NS):
            assert item.get("ChangeKey") == MEMBER_CHANGE_KEY
    assert add_dg(client, "team@example.com", "Team").ok().group_ref().change_key == GROUP_CHANGE_KEY


@sqlite_only
def test_incoming_change_keys_are_ignored_everywhere(client):
    work = new_group(client, "Work")
    home = new_group(client, "Home")
    carol = new_contact(client, "carol@example.com", work)
    stale = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
    new_contact_reply = add_new_contact(client, "dave@example.com", work, change_key=stale).ok()
    add_to_group(client, carol, home, change_key=stale).ok()
    remove_from_group(client, carol, work, change_key="x").ok()
    set_group(client, home, "House", change_key="nonsense").ok()
    state = client.item_list()
    assert state.members_of("House") == {"carol@example.com"}
    assert state.members_of("Work") == {"dave@example.com"}
    assert state.personas["dave@example.com"]["id"] == new_contact_reply.persona_ref()


@sqlite_only
def test_ids_are_stable_across_reads(client):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    first, second = client.item_list(), client.item_list()
    assert first.groups["Work"]["id"] == second.groups["Work"]["id"] == work
    assert first.personas["carol@example.com"]["id"] == second.personas["carol@example.com"]["id"] == carol


# =============================================================================================
# ExtendedProperties
# =============================================================================================

EXT_X = '<t:ExtendedProperty DistinguishedPropertySetId="PublicStrings" PropertyName="x" PropertyType="String"/>'
EXT_Y = '<t:ExtendedProperty DistinguishedPropertySetId="PublicStrings" PropertyName="y" PropertyType="StringArray"/>'
EXT_Z = '<t:ExtendedProperty DistinguishedPropertySetId="PublicStrings" PropertyName="z" PropertyType="String"/>'


def _ext(*paths: str) -> str:
    return f"<m:ExtendedProperties>{''.join(paths)}</m:ExtendedProperties>"


@pytest.fixture
def with_properties(client, store, alice, service):
    work = new_group(client, "Work")
    carol = new_contact(client, "carol@example.com", work)
    new_contact(client, "dave@example.com", work)
    with store.transaction(write=True) as tx:
        repo = tx.imlist(alice.id)
        repo.set_extended_properties(
            group_id=service.codec.decode(work.id).item_id,
            properties=[ExtendedProperty(PropertyKey("String", "PublicStrings", property_name="x"), ("v",))],
        )
        repo.set_extended_properties(
            contact_id=service.codec.decode(carol.id).item_id,
            properties=[
                ExtendedProperty(PropertyKey("StringArray", "PublicStrings", property_name="y"), ("a", "b"), True),
                ExtendedProperty(PropertyKey("String", "PublicStrings", property_name="x"), ("on-contact",)),
            ],
        )
    return {"group": work, "contact": carol}


def _group_props(group) -> list[tuple[str, str | None, list[str]]]:
    out = []
    for prop in group.findall("t:ExtendedProperties/t:ExtendedProperty", namespaces=NS):
        uri = prop.find("t:ExtendedFieldURI", namespaces=NS)
        out.append(
            (
                uri.get("PropertyName"),
                prop.findtext("t:Value", namespaces=NS),
                [v.text for v in prop.findall("t:Values/t:Value", namespaces=NS)],
            )
        )
    return out


def _persona_props(persona) -> list[tuple[str, str | None, list[str]]]:
    out = []
    for attributed in persona.findall("t:ExtendedProperties/t:ExtendedPropertyAttributedValue", namespaces=NS):
        value = attributed.find("t:Value", namespaces=NS)
        uri = value.find("t:ExtendedFieldURI", namespaces=NS)
        out.append(
            (
                uri.get("PropertyName"),
                value.findtext("t:Value", namespaces=NS),
                [v.text for v in value.findall("t:Values/t:Value", namespaces=NS)],
            )
        )
    return out


def _by_name(reply, path: str, key: str) -> dict:
    return {el.findtext(key, namespaces=NS): el for el in reply.findall(path)}


@sqlite_only
def test_extended_properties_come_back_only_when_requested(client, with_properties):
    reply = get_item_list(client).ok()
    assert reply.findall(".//t:ExtendedProperties") == []


def test_extended_properties_on_groups_and_personas(client, with_properties):
    reply = get_item_list(client, _ext(EXT_X, EXT_Y)).ok()
    groups = _by_name(reply, "m:ImItemList/t:Groups/t:ImGroup", "t:DisplayName")
    assert _group_props(groups["Work"]) == [("x", "v", [])]
    for name in SYSTEM_GROUPS:
        assert groups[name].find("t:ExtendedProperties", namespaces=NS) is None
    personas = _by_name(reply, "m:ImItemList/t:Personas/t:Persona", "t:ImAddress")
    assert sorted(_persona_props(personas["carol@example.com"])) == [("x", "on-contact", []), ("y", None, ["a", "b"])]
    assert personas["dave@example.com"].find("t:ExtendedProperties", namespaces=NS) is None
    uri = groups["Work"].find("t:ExtendedProperties/t:ExtendedProperty/t:ExtendedFieldURI", namespaces=NS)
    assert uri.attrib == {"DistinguishedPropertySetId": "PublicStrings", "PropertyName": "x", "PropertyType": "String"}


@sqlite_only
def test_extended_properties_are_filtered_to_those_requested(client, with_properties):
    reply = get_item_list(client, _ext(EXT_Y)).ok()
    groups = _by_name(reply, "m:ImItemList/t:Groups/t:ImGroup", "t:DisplayName")
    assert groups["Work"].find("t:ExtendedProperties", namespaces=NS) is None
    personas = _by_name(reply, "m:ImItemList/t:Personas/t:Persona", "t:ImAddress")
    assert _persona_props(personas["carol@example.com"]) == [("y", None, ["a", "b"])]
    absent = get_item_list(client, _ext(EXT_Z)).ok()
    assert absent.findall(".//t:ExtendedProperties") == []


def test_extended_properties_in_get_im_items(client, with_properties):
    reply = get_items(client, [with_properties["contact"]], [with_properties["group"]], _ext(EXT_X, EXT_Y)).ok()
    (group,) = reply.findall("m:ImItemList/t:Groups/t:ImGroup")
    assert _group_props(group) == [("x", "v", [])]
    (persona,) = reply.findall("m:ImItemList/t:Personas/t:Persona")
    assert sorted(_persona_props(persona)) == [("x", "on-contact", []), ("y", None, ["a", "b"])]
    plain = get_items(client, [with_properties["contact"]], [with_properties["group"]]).ok()
    assert plain.findall(".//t:ExtendedProperties") == []


def test_extended_properties_match_however_the_tag_or_guid_is_spelled(client, store, alice, service):
    work = new_group(client, "Work")
    guid = "00062004-0000-0000-C000-000000000046"
    with store.transaction(write=True) as tx:
        tx.imlist(alice.id).set_extended_properties(
            group_id=service.codec.decode(work.id).item_id,
            properties=[
                ExtendedProperty(PropertyKey("Integer", property_tag="32769"), ("7",)),
                ExtendedProperty(PropertyKey("String", property_set_id=guid, property_id=32896), ("guid-prop",)),
            ],
        )
    requested = _ext(
        '<t:ExtendedProperty PropertyTag="0x8001" PropertyType="Integer"/>',
        f'<t:ExtendedProperty PropertySetId="{guid.lower()}" PropertyId="32896" PropertyType="String"/>',
    )
    reply = get_items(client, groups=[work], extended=requested).ok()
    (group,) = reply.findall("m:ImItemList/t:Groups/t:ImGroup")
    values = sorted(
        p.findtext("t:Value", namespaces=NS)
        for p in group.findall("t:ExtendedProperties/t:ExtendedProperty", namespaces=NS)
    )
    assert values == ["7", "guid-prop"]


# =============================================================================================
# Escaping
# =============================================================================================


def test_markup_characters_survive_in_contacts(client):
    name = 'Ann & Bob <team> "quoted" \u00e9'
    address = "a&b'c@example.com"
    reply = add_new_contact(client, address, display_name=name).ok()
    assert reply.find("m:Persona/t:DisplayName").text == name
    assert reply.find("m:Persona/t:ImAddress").text == address
    state = client.item_list()
    assert state.personas[address]["name"] == name
    assert state.members_of("Other Contacts") == {address}
