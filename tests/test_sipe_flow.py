"""The Pidgin-SIPE client, over real HTTP, in its exact wire format and read the way it reads
(shared/reference/client-sipe.md).

Requests: an XML declaration without encoding, CRLF, then the whole envelope on one line with
the m, soap and t prefixes, a Header holding only RequestServerVersion Exchange2013, whitespace
text nodes between elements, no SOAPAction, ``Content-Type: text/xml; charset=UTF-8``, Basic
authentication after a 401, AddNewImContactToGroup without DisplayName and always with GroupId,
ids and ChangeKeys sent back exactly as received.

Responses are read by ``SipeView``: namespace-agnostic (local names, case-sensitive), contact
keys from the first quick-contact attribution, group keys from ExchangeStoreId, members matched
by byte-identical SourceId@Id. Each response is also validated against Microsoft's schema by
tests.support.HttpClient before the SIPE reader sees it.
"""

from dataclasses import dataclass, field

import httpx
import pytest
from lxml import etree

from tests.conftest import PASSWORD
from tests.helpers_ops import fast_password_hashes
from tests.support import SOAP, HttpClient, M, Reply, T

CONTENT_TYPE = "text/xml; charset=UTF-8"


@pytest.fixture(autouse=True, scope="module")
def _fast_hashes():
    with fast_password_hashes():
        yield


# -- SIPE's requests -------------------------------------------------------------------------


def sipe_envelope(body: str) -> bytes:
    return (
        '<?xml version="1.0"?>\r\n'
        f'<soap:Envelope xmlns:m="{M}" xmlns:soap="{SOAP}" xmlns:t="{T}" >'
        ' <soap:Header> <t:RequestServerVersion Version="Exchange2013" /> </soap:Header>'
        f" <soap:Body> {body} </soap:Body> </soap:Envelope>"
    ).encode()


Key = tuple[str, str]  # (Id, ChangeKey) exactly as received


def _id(tag: str, key: Key) -> str:
    return f'<m:{tag} Id="{key[0]}" ChangeKey="{key[1]}"/>'


class SipeClient:
    """Sends what sipe-ucs.c sends, one request at a time."""

    def __init__(self, base_url: str, email: str, password: str) -> None:
        self.http = HttpClient(base_url, email, password)
        self.http.http.event_hooks["request"].append(self._check_headers)
        self.base_url = base_url
        self.requests: list[bytes] = []

    @staticmethod
    def _check_headers(request: httpx.Request) -> None:
        assert "soapaction" not in {k.lower() for k in request.headers}
        assert request.headers["content-type"] == CONTENT_TYPE
        assert request.method == "POST"

    def close(self) -> None:
        self.http.close()

    def handshake(self) -> None:
        """SIPE sends its first request without credentials and picks Basic from the 401."""
        with httpx.Client(base_url=self.base_url, timeout=30) as anonymous:
            response = anonymous.post(
                "/EWS/Exchange.asmx",
                content=sipe_envelope("<m:GetImItemList/>"),
                headers={"Content-Type": CONTENT_TYPE},
            )
        assert response.status_code == 401
        assert response.headers["www-authenticate"].lower().startswith("basic")

    def send(self, body: str) -> Reply:
        data = sipe_envelope(body)
        self.requests.append(data)
        reply = self.http.post(data, headers={"Content-Type": CONTENT_TYPE})
        assert reply.status == 200, etree.tostring(reply.root)
        return reply

    # the operations, as sipe-ucs.c builds them
    def get_im_item_list(self) -> Reply:
        return self.send("<m:GetImItemList/>")

    def add_im_group(self, name: str) -> Reply:
        return self.send(f"<m:AddImGroup> <m:DisplayName>{name}</m:DisplayName> </m:AddImGroup>")

    def set_im_group(self, group: Key, name: str) -> Reply:
        return self.send(
            f"<m:SetImGroup> {_id('GroupId', group)} <m:NewDisplayName>{name}</m:NewDisplayName> </m:SetImGroup>"
        )

    def remove_im_group(self, group: Key) -> Reply:
        return self.send(f"<m:RemoveImGroup> {_id('GroupId', group)} </m:RemoveImGroup>")

    def add_new_im_contact_to_group(self, uri: str, group: Key) -> Reply:
        address = uri.removeprefix("sip:")
        return self.send(
            f"<m:AddNewImContactToGroup> <m:ImAddress>{address}</m:ImAddress> {_id('GroupId', group)}"
            " </m:AddNewImContactToGroup>"
        )

    def add_im_contact_to_group(self, contact: Key, group: Key) -> Reply:
        return self.send(
            f"<m:AddImContactToGroup> {_id('ContactId', contact)} {_id('GroupId', group)} </m:AddImContactToGroup>"
        )

    def remove_im_contact_from_group(self, contact: Key, group: Key) -> Reply:
        return self.send(
            f"<m:RemoveImContactFromGroup> {_id('ContactId', contact)} {_id('GroupId', group)}"
            " </m:RemoveImContactFromGroup>"
        )


# -- SIPE's reading --------------------------------------------------------------------------


def kids(el: etree._Element | None, name: str) -> list[etree._Element]:
    if el is None:
        return []
    return [c for c in el if isinstance(c.tag, str) and etree.QName(c).localname == name]


def first(el: etree._Element | None, *path: str) -> etree._Element | None:
    for name in path:
        found = kids(el, name)
        if not found:
            return None
        el = found[0]
    return el


def text(el: etree._Element | None) -> str:
    return "" if el is None else "".join(el.itertext())


def sip_uri(address: str) -> str:
    return (address if "sip:" in address else f"sip:{address}").lower()


def quick_contact_key(persona: etree._Element) -> Key | None:
    for attribution in kids(first(persona, "Attributions"), "Attribution"):
        hidden = text(first(attribution, "IsHidden")).lower()
        quick = text(first(attribution, "IsQuickContact")).lower()
        source = first(attribution, "SourceId")
        if hidden == "false" and quick == "true" and source is not None:
            return (source.get("Id", ""), source.get("ChangeKey", ""))
    return None


def body_of(reply: Reply) -> etree._Element:
    body = first(reply.root, "Body")
    assert body is not None
    return body


@dataclass
class Buddy:
    key: Key
    alias: str
    groups: set[str] = field(default_factory=set)


@dataclass
class Group:
    key: Key
    members: set[str] = field(default_factory=set)


class UcsInitFailed(AssertionError):
    """SIPE would show "UCS initialization failed!"."""


class SipeView:
    """The contact list Pidgin shows after sipe processed one GetImItemList response."""

    def __init__(self, reply: Reply) -> None:
        item_list = first(body_of(reply), "GetImItemListResponse", "ImItemList")
        if item_list is None:
            raise UcsInitFailed(etree.tostring(reply.root))
        self.buddies: dict[str, Buddy] = {}
        by_key: dict[str, str] = {}
        for persona in kids(first(item_list, "Personas"), "Persona"):
            address = text(first(persona, "ImAddress"))
            key = quick_contact_key(persona)
            if not address or key is None or not key[0] or not key[1]:
                continue  # silently skipped, as sipe does
            uri = sip_uri(address)
            self.buddies[uri] = Buddy(key, text(first(persona, "DisplayName")))
            by_key[key[0]] = uri
        self.groups: dict[str, Group] = {}
        for im_group in kids(first(item_list, "Groups"), "ImGroup"):
            store_id = first(im_group, "ExchangeStoreId")
            if store_id is None or not store_id.get("Id") or not store_id.get("ChangeKey"):
                continue
            name = text(first(im_group, "DisplayName"))
            if not name:
                continue
            group = self.groups.setdefault(name, Group((store_id.get("Id"), store_id.get("ChangeKey"))))
            for item in kids(first(im_group, "MemberCorrelationKey"), "ItemId"):
                uri = by_key.get(item.get("Id", ""))
                if uri is not None:
                    group.members.add(uri)
                    self.buddies[uri].groups.add(name)

    def groups_of(self, uri: str) -> set[str]:
        return self.buddies[uri].groups

    def shown(self) -> dict[str, set[str]]:
        """Pidgin's buddy list: group name -> buddies."""
        return {name: set(g.members) for name, g in self.groups.items()}


def group_key_from_add_im_group(reply: Reply) -> Key:
    store_id = first(body_of(reply), "AddImGroupResponse", "ImGroup", "ExchangeStoreId")
    assert store_id is not None, etree.tostring(reply.root)
    key = (store_id.get("Id", ""), store_id.get("ChangeKey", ""))
    assert key[0] and key[1]
    return key


def contact_key_from_add_new(reply: Reply) -> Key:
    persona = first(body_of(reply), "AddNewImContactToGroupResponse", "Persona")
    assert persona is not None, etree.tostring(reply.root)
    key = quick_contact_key(persona)
    assert key is not None and key[0] and key[1], etree.tostring(persona)
    return key


# -- the flow --------------------------------------------------------------------------------

SYSTEM = {"Favorites", "Other Contacts", "Tagged"}
CAROL, DAVE, ERIN = "sip:carol@example.com", "sip:dave@example.com", "sip:erin@example.com"


@pytest.fixture
def sipe(server, alice):
    c = SipeClient(server.base_url, "alice@example.com", PASSWORD)
    yield c
    c.close()


def test_sipe_session(sipe):
    # UCS init: 401, then GetImItemList first
    sipe.handshake()
    view = SipeView(sipe.get_im_item_list())
    assert view.shown() == {name: set() for name in SYSTEM}
    assert view.buddies == {}
    other = view.groups["Other Contacts"].key
    assert other[1] == "EgAAAA=="

    # add buddy (not yet known to Exchange) to an existing group
    carol = contact_key_from_add_new(sipe.add_new_im_contact_to_group(CAROL, other).ok())
    view = SipeView(sipe.get_im_item_list())
    assert view.groups_of(CAROL) == {"Other Contacts"}
    assert view.buddies[CAROL].key == carol
    assert view.buddies[CAROL].alias == "carol@example.com"

    # add buddy to a NEW group: AddImGroup, then the group id from that response
    work = group_key_from_add_im_group(sipe.add_im_group("Work").ok())
    dave = contact_key_from_add_new(sipe.add_new_im_contact_to_group(DAVE, work).ok())
    view = SipeView(sipe.get_im_item_list())
    assert view.groups["Work"].key == work
    assert view.shown()["Work"] == {DAVE}
    assert view.buddies[DAVE].key == dave

    # copy a buddy that has keys to another group
    sipe.add_im_contact_to_group(carol, work).ok()
    view = SipeView(sipe.get_im_item_list())
    assert view.groups_of(CAROL) == {"Other Contacts", "Work"}
    assert view.buddies[CAROL].key == carol  # keys never change

    # a third buddy, in another new group
    friends = group_key_from_add_im_group(sipe.add_im_group("Friends").ok())
    contact_key_from_add_new(sipe.add_new_im_contact_to_group(ERIN, friends).ok())

    # move A -> B: AddImContactToGroup(B) then RemoveImContactFromGroup(A), same transaction
    sipe.add_im_contact_to_group(carol, friends).ok()
    sipe.remove_im_contact_from_group(carol, other).ok()
    view = SipeView(sipe.get_im_item_list())
    assert view.groups_of(CAROL) == {"Work", "Friends"}
    assert view.shown()["Other Contacts"] == set()
    assert view.shown()["Friends"] == {CAROL, ERIN}

    # move a buddy from its only group to a NEW group: Remove (server deletes) -> AddImGroup
    # -> AddNewImContactToGroup (the buddy is gone locally)
    sipe.remove_im_contact_from_group(dave, work).ok()
    view = SipeView(sipe.get_im_item_list())
    assert DAVE not in view.buddies  # deleted by the server, as sipe relies on
    team = group_key_from_add_im_group(sipe.add_im_group("Team").ok())
    new_dave = contact_key_from_add_new(sipe.add_new_im_contact_to_group(DAVE, team).ok())
    view = SipeView(sipe.get_im_item_list())
    assert view.groups_of(DAVE) == {"Team"}
    assert view.buddies[DAVE].key == new_dave != dave
    assert view.shown()["Work"] == {CAROL}

    # remove a buddy from one group while it stays in another
    sipe.remove_im_contact_from_group(carol, work).ok()
    view = SipeView(sipe.get_im_item_list())
    assert view.groups_of(CAROL) == {"Friends"}

    # remove a buddy from its last group: the server deletes the contact
    sipe.remove_im_contact_from_group(carol, friends).ok()
    view = SipeView(sipe.get_im_item_list())
    assert CAROL not in view.buddies
    assert all(CAROL not in members for members in view.shown().values())

    # rename a group: same keys, new name
    sipe.set_im_group(team, "Squad").ok()
    view = SipeView(sipe.get_im_item_list())
    assert "Team" not in view.groups
    assert view.groups["Squad"].key == team
    assert view.shown()["Squad"] == {DAVE}

    # delete a group: its only-here buddies go with it
    sipe.remove_im_group(friends).ok()
    view = SipeView(sipe.get_im_item_list())
    assert "Friends" not in view.groups
    assert ERIN not in view.buddies
    assert view.shown() == {
        "Favorites": set(),
        "Other Contacts": set(),
        "Tagged": set(),
        "Work": set(),
        "Squad": {DAVE},
    }
    assert set(view.buddies) == {DAVE}

    # every request went out in SIPE's one-line format
    for data in sipe.requests:
        declaration, _, rest = data.partition(b"\r\n")
        assert declaration == b'<?xml version="1.0"?>'
        assert b"\n" not in rest and b"\r" not in rest
        assert b"DisplayName" not in rest or b"AddNewImContactToGroup" not in rest


def test_sipe_reads_every_persona_of_a_busy_list(sipe):
    """Every contact must come out with usable keys, and every member id must match a persona:
    sipe skips silently what it cannot match, so a mismatch would lose buddies."""
    view = SipeView(sipe.get_im_item_list())
    groups = {view.groups["Other Contacts"].key, view.groups["Favorites"].key, view.groups["Tagged"].key}
    for name in ("A", "B", "C"):
        groups.add(group_key_from_add_im_group(sipe.add_im_group(name).ok()))
    keys = {}
    for i, group in enumerate(sorted(groups)):
        uri = f"sip:user{i}@example.com"
        keys[uri] = contact_key_from_add_new(sipe.add_new_im_contact_to_group(uri, group).ok())
    a = SipeView(sipe.get_im_item_list()).groups["A"].key
    for key in keys.values():
        sipe.add_im_contact_to_group(key, a).ok()
    reply = sipe.get_im_item_list()
    view = SipeView(reply)
    assert set(view.buddies) == set(keys)
    for uri, key in keys.items():
        assert view.buddies[uri].key == key
        assert "A" in view.groups_of(uri)
    member_ids = [
        item.get("Id")
        for g in kids(first(body_of(reply), "GetImItemListResponse", "ImItemList", "Groups"), "ImGroup")
        for item in kids(first(g, "MemberCorrelationKey"), "ItemId")
    ]
    persona_ids = {b.key[0] for b in view.buddies.values()}
    assert set(member_ids) == persona_ids


def test_sipe_error_responses_carry_no_payload(sipe):
    """SIPE decides by the payload's presence: an error must not carry one."""
    view = SipeView(sipe.get_im_item_list())
    bogus = ("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "EgAAAA==")
    reply = sipe.add_new_im_contact_to_group("sip:nobody@example.com", bogus)
    assert first(body_of(reply), "AddNewImContactToGroupResponse", "Persona") is None
    reply.error("ErrorInvalidIdMalformed")
    assert SipeView(sipe.get_im_item_list()).buddies == {}
    assert view.groups.keys() == SYSTEM
