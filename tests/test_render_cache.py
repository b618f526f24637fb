"""Rendered list items reused between answers (openucs/ews/fragments.py): every response is the
same bytes with the cache cold, warm, or holding items that have since changed."""

import dataclasses
import hashlib
import threading

import pytest

from openucs.domain.model import (
    Contact,
    ContactCard,
    ExtendedProperty,
    Group,
    GroupKind,
    ImList,
    PropertyKey,
)
from openucs.ews.fragments import FragmentCache
from openucs.ews.requests import PropertyPath
from openucs.ews.responses import (
    ExtendedPropertyValue,
    ImGroupView,
    ImItemListView,
    PersonaView,
    PhoneView,
    Response,
)
from openucs.ews.writer import write_response
from openucs.ops.ids import IdCodec
from openucs.ops.views import ViewMaker
from tests.support import validate_envelope

CODEC = IdCodec(b"g" * 32)
MAILBOX = 7
ODD = "A&B <C> \"D\" 'E'\r\n\tF\x01G\ufffeH é 漢字 😀"  # markup, controls, XML-invalid and non-ASCII text

NAMED = PropertyKey("String", distinguished_property_set_id="PublicStrings", property_name="Ucs&Note")
TAGGED = PropertyKey("StringArray", property_tag="0x3A4F")
NUMBERED = PropertyKey("Integer", property_set_id="00062004-0000-0000-C000-000000000046", property_id=32794)
UNWANTED = PropertyKey("String", property_tag="0x1000")
WANTED = frozenset(k.canonical() for k in (NAMED, TAGGED, NUMBERED))

# SHA-256 of each response of ``responses()`` as the writer rendered them before it cached items
# (commit a10efb5): the cache must not change a byte.
GOLDEN = (
    "4ae6beebc114b06c2faf3aa34d639fea025b552915025e0bc59431105d6aeffa",
    "d779a7a88b98de109dc921e31179e759d2d481ed92767c70dd205e21d411e40b",
    "f6ab37d292e6eaf58d3c383f4770c45ccfb53344b7adc2c227892b981db4e513",
    "34fda6a3698acfa5087ed1bc4578181dc90a7747f85df9ff5cdeca62edea3fa9",
    "4ac88dde03c7198c2c0f07270ddcd7caa77d28c9dd752dab717a127deb0a3a1b",
    "042a3e2398ea002a43f41695433c0acfde40fd48ac9bf10591afd83c33313bb7",
    "ca940552434a67532a2269b599f439d1497dfe8b8d0589848ca3af0d320b1752",
    "18ec9860d7bfd711af12b4325b0928673c37f5a8fbfc4b0c975aa6c11eef2cb5",
    "6bab66c188798a33c334ec77b0bdb606cad59807486bbf3e30b383db9100c932",
    "dd8bc9ea694e3021e0be57ba9516b0c9017dc1ea842ce428fb8c2a0120035b3c",
    "418e4f297deb34ead6db3de66c9ccbbd717371ac2d48e08dc304e0bd686b0349",
    "4ac88dde03c7198c2c0f07270ddcd7caa77d28c9dd752dab717a127deb0a3a1b",
    "54dcc2fb6eb0fddf55c423830f5ca392258bc61bdcdf1e5dff63f253fe933532",
    "127227d2240e29639c313d1cf75de6b5b06f5ff0a7db65d9cb62f5dadf08b7c9",
)


def rich_list() -> ImList:
    """Every optional part of a group and a persona, present and absent."""
    single = ExtendedProperty(NAMED, (ODD,))
    multi = ExtendedProperty(TAGGED, ("one", "<two>", ODD), multi_valued=True)
    empty_single = ExtendedProperty(NUMBERED, ())
    unwanted = ExtendedProperty(UNWANTED, ("never shown",))
    contacts = (
        Contact(11, "sip:bare@example.org", ContactCard("bare@example.org"), "2026-01-02T03:04:05Z"),
        Contact(
            12,
            "full@example.org",
            ContactCard(
                display_name="Full Name",
                email_address="full@example.org",
                given_name="Full",
                surname="Name",
                title="Boss",
                department="R&D",
                company_name="Acme <Ltd>",
                business_phone="+1 555 0100",
                mobile_phone="+1 555 0199",
            ),
            "2026-01-02T03:04:06Z",
            (single, multi, unwanted),
        ),
        Contact(13, "given@example.org", ContactCard("Given Only", given_name="Given"), "2026-01-02T03:04:07Z"),
        Contact(
            14,
            "sur@example.org",
            ContactCard("Surname Only", surname="Sur", mobile_phone="+44 20 7946 0000"),
            "2026-01-02T03:04:08Z",
            (empty_single,),
        ),
        Contact(
            15,
            ODD,
            ContactCard(
                display_name=ODD,
                email_address="odd&<x>@example.org",
                given_name=ODD,
                surname=ODD,
                title=ODD,
                department=ODD,
                company_name=ODD,
                business_phone=ODD,
                mobile_phone=ODD,
            ),
            "2026-01-02T03:04:09Z",
            (multi,),
        ),
        Contact(16, "tel:+15550123", ContactCard("+1 555 0123", business_phone="+1 555 0123"), "2026-01-02T03:04:10Z"),
    )
    groups = (
        Group(1, GroupKind.FAVORITES, "Favorites", "2026-01-01T00:00:00Z", members=(12, 15)),
        Group(2, GroupKind.OTHER_CONTACTS, "Other Contacts", "2026-01-01T00:00:00Z", members=(11, 16)),
        Group(3, GroupKind.TAGGED, "Tagged", "2026-01-01T00:00:00Z", members=(15,)),
        Group(4, GroupKind.USER, ODD, "2026-01-01T00:00:01Z", members=(13, 14, 12), extended_properties=(single,)),
        Group(5, GroupKind.USER, "Empty", "2026-01-01T00:00:02Z", extended_properties=(multi, unwanted)),
        Group(6, GroupKind.DISTRIBUTION, "All Staff", "2026-01-01T00:00:03Z", "all&staff@example.org"),
        Group(
            7, GroupKind.DISTRIBUTION, "DG <members>", "2026-01-01T00:00:04Z", "dg@example.org", (11,), (single, multi)
        ),
    )
    return ImList(groups, contacts)


def responses(fragments: FragmentCache | None, items: ImList | None = None) -> list[bytes]:
    """GetImItemList, GetImItems (all, groups only, personas only, nothing), and a single group
    and persona, without and with extended properties asked for."""
    items = items or rich_list()
    out = []
    for wanted in (frozenset(), WANTED):
        views = ViewMaker(CODEC, MAILBOX, wanted)
        listed = views.item_list(items, omit_empty=False)
        out.append(write_response(Response("GetImItemList", payload=listed), "Exchange2013", fragments))
        for part in (items, ImList(items.groups[3:5], ()), ImList((), items.contacts[1:3]), ImList((), ())):
            payload = views.item_list(part, omit_empty=True)
            out.append(write_response(Response("GetImItems", payload=payload), "V2018_01_08", fragments))
        group = Response("AddImGroup", payload=views.group(items.groups[3]))
        persona = Response("AddNewImContactToGroup", payload=views.persona(items.contacts[4]))
        out.append(write_response(group, "Exchange2013", fragments))
        out.append(write_response(persona, "Exchange2013", fragments))
    return out


def digests(bodies: list[bytes]) -> tuple[str, ...]:
    return tuple(hashlib.sha256(b).hexdigest() for b in bodies)


def test_the_uncached_writer_renders_what_it_always_did():
    bodies = responses(None)
    assert digests(bodies) == GOLDEN
    for body in bodies:
        validate_envelope(body)


def test_cold_and_warm_caches_render_the_same_bytes():
    cache = FragmentCache(1 << 20)
    cold = responses(cache)
    size = cache.size
    assert size > 0
    warm = responses(cache)
    assert cache.size == size  # the second pass found every item
    assert digests(cold) == digests(warm) == GOLDEN


def test_items_changed_since_they_were_cached_are_rendered_anew():
    cache = FragmentCache(1 << 20)
    responses(cache)
    items = rich_list()
    contacts = list(items.contacts)
    contacts[1] = dataclasses.replace(
        contacts[1], card=dataclasses.replace(contacts[1].card, display_name="Renamed", mobile_phone=None)
    )
    groups = list(items.groups)
    groups[0] = dataclasses.replace(groups[0], members=(15, 12, 13))
    groups[3] = dataclasses.replace(groups[3], display_name="Renamed group")
    changed = ImList(tuple(groups), tuple(contacts))
    assert responses(cache, changed) == responses(None, changed)
    assert responses(cache, changed) != responses(None)


def _group_view() -> ImGroupView:
    path = PropertyPath("String", property_tag="0x1000")
    return ImGroupView(
        "Group",
        GroupKind.DISTRIBUTION.value,
        "group-id",
        ("member-1", "member-2"),
        (ExtendedPropertyValue(path, ("value",)),),
        "dg@example.org",
    )


def _persona_view() -> PersonaView:
    path = PropertyPath("String", property_tag="0x1000")
    return PersonaView(
        "persona-id",
        "2026-01-02T03:04:05Z",
        "Display Name",
        "source-id",
        "folder-id",
        "im@example.org",
        "email@example.org",
        "Given",
        "Surname",
        "Title",
        "Department",
        "Company",
        (PhoneView("+1 555 0100", "Business"), PhoneView("+1 555 0199", "Mobile")),
        (ExtendedPropertyValue(path, ("value",)),),
    )


# A different value, that renders differently, for every field of the cached views: a field the
# cache key left out would let the cache answer with the item as it was.
GROUP_CHANGES = {
    "display_name": "Other group",
    "group_type": GroupKind.USER.value,
    "exchange_store_id": "other-group-id",
    "members": ("member-2", "member-1"),
    "extended_properties": (ExtendedPropertyValue(PropertyPath("String", property_tag="0x1000"), ("other",)),),
    "smtp_address": "other@example.org",
}
PERSONA_CHANGES = {
    "persona_id": "other-persona-id",
    "creation_time": "2026-01-02T03:04:06Z",
    "display_name": "Other Name",
    "source_id": "other-source-id",
    "folder_id": "other-folder-id",
    "im_address": "other@example.org",
    "email_address": None,
    "given_name": "Other",
    "surname": None,
    "title": "Other title",
    "department": None,
    "company_name": "Other company",
    "phones": (PhoneView("+1 555 0100", "Business"),),
    "extended_properties": (
        ExtendedPropertyValue(PropertyPath("String", property_tag="0x1000"), ("value", "other"), multi_valued=True),
    ),
}


@pytest.mark.parametrize(
    ("view", "changes"), [(_group_view, GROUP_CHANGES), (_persona_view, PERSONA_CHANGES)], ids=["group", "persona"]
)
def test_every_field_of_a_view_is_part_of_its_cache_key(view, changes):
    base = view()
    assert set(changes) == {f.name for f in dataclasses.fields(base)}, "a new field needs a change here"

    def listed(v: ImGroupView | PersonaView) -> Response:
        if isinstance(v, ImGroupView):
            return Response("GetImItems", payload=ImItemListView((v,), None))
        return Response("GetImItems", payload=ImItemListView(None, (v,)))

    cache = FragmentCache(1 << 20)
    before = write_response(listed(base), "Exchange2013", cache)
    for name, value in changes.items():
        changed = dataclasses.replace(base, **{name: value})
        uncached = write_response(listed(changed), "Exchange2013")
        assert uncached != before, f"the change of {name} does not show"
        assert write_response(listed(changed), "Exchange2013", cache) == uncached, name


def test_the_cache_keeps_to_its_byte_budget_and_keeps_recent_items():
    cache = FragmentCache(max_bytes=64 * 1024)
    for i in range(2000):
        cache.add([(("item", i), f"<t:Persona>{i:04d}{'x' * 500}</t:Persona>")])
        assert cache.size <= cache.max_bytes
    assert cache.get(("item", 1999)) is not None
    assert cache.get(("item", 0)) is None  # dropped with an old generation
    cache.add([(("big",), "x" * cache.max_bytes)])  # more than a generation's budget: not kept
    assert cache.get(("big",)) is None


def test_an_item_found_in_the_old_generation_moves_to_the_young_one():
    cache = FragmentCache(max_bytes=16 * 1024)
    cache.add([("kept", "k" * 1000)])
    n = 0
    while cache.lookup("kept") is not None:  # until "kept" is in the old generation
        cache.add([(n, "f" * 1000)])
        n += 1
    assert cache.get("kept") == "k" * 1000  # promoted...
    assert cache.lookup("kept") == "k" * 1000
    for i in range(n, n + 2 * n):  # ...so it outlives the generation it was found in
        cache.add([(i, "f" * 1000)])
        if cache.lookup("kept") is None:
            assert cache.get("kept") == "k" * 1000
    assert cache.get(n) is None


def test_threads_sharing_a_small_cache_render_the_same_bytes():
    # A budget of a few items: generations turn over while other threads look items up.
    cache = FragmentCache(max_bytes=24 * 1024)
    lists = [rich_list(), ImList(rich_list().groups[::-1], rich_list().contacts[::-1])]
    expected = [responses(None, items) for items in lists]
    failures: list[str] = []

    def render(k: int) -> None:
        for n in range(30):
            i = (k + n) % 2
            if responses(cache, lists[i]) != expected[i]:
                failures.append(f"thread {k}, round {n}")

    threads = [threading.Thread(target=render, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures
