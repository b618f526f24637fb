"""Typed EWS responses: what the writer renders. Plain data, already in wire vocabulary
(opaque id strings, group class names), so the writer needs no knowledge of the domain."""

from dataclasses import dataclass, field

from openucs.ews.codes import ResponseCode
from openucs.ews.faults import XmlDetail
from openucs.ews.requests import PropertyPath


@dataclass(frozen=True, slots=True)
class ExtendedPropertyValue:
    """t:ExtendedPropertyType: a path with one Value, or Values when multi-valued."""

    path: PropertyPath
    values: tuple[str, ...]
    multi_valued: bool = False


# Not frozen: built once per item of every list read, and frozen dataclasses cost ~6x more to build.
@dataclass(slots=True)
class ImGroupView:
    display_name: str
    group_type: str
    exchange_store_id: str  # the group's ItemId Id (its ChangeKey is fixed)
    members: tuple[str, ...] = ()  # the members' contact ids (ItemId Id), in the order they were added
    extended_properties: tuple[ExtendedPropertyValue, ...] = ()
    smtp_address: str | None = None


# Not frozen: built once per item of every list read, and frozen dataclasses cost ~6x more to build.
@dataclass(slots=True)
class PhoneView:
    number: str
    type: str  # Business | Mobile | Home ...


# Not frozen: built once per item of every list read, and frozen dataclasses cost ~6x more to build.
@dataclass(slots=True)
class PersonaView:
    """The subset of t:PersonaType openucs fills, for one quick contact."""

    persona_id: str
    creation_time: str  # xs:dateTime, UTC
    display_name: str
    source_id: str  # the quick contact's id: equals its MemberCorrelationKey ItemId
    folder_id: str
    im_address: str
    email_address: str | None = None
    given_name: str | None = None
    surname: str | None = None
    title: str | None = None
    department: str | None = None
    company_name: str | None = None
    phones: tuple[PhoneView, ...] = ()
    extended_properties: tuple[ExtendedPropertyValue, ...] = ()


# Not frozen: one per list read, and a frozen dataclass costs ~3x more to build.
@dataclass(slots=True)
class ImItemListView:
    """t:ImItemListType. ``None`` omits the array; an empty tuple writes an empty element."""

    groups: tuple[ImGroupView, ...] | None
    personas: tuple[PersonaView, ...] | None


@dataclass(frozen=True, slots=True)
class DirectoryPersonaView:
    """A directory entry as FindPeople returns it. ``fields`` names the PersonaType elements the
    request's PersonaShape asked for (PersonaId is always written)."""

    persona_id: str
    display_name: str
    email_address: str
    im_address: str | None
    fields: frozenset[str]
    given_name: str | None = None
    surname: str | None = None
    title: str | None = None
    department: str | None = None
    company_name: str | None = None
    business_phone: str | None = None


@dataclass(frozen=True, slots=True)
class PeopleView:
    """m:FindPeopleResponse's payload: one page and the size of the whole result."""

    people: tuple[DirectoryPersonaView, ...]
    total: int
    first_loaded: int


@dataclass(frozen=True, slots=True)
class UserPhotoView:
    """m:GetUserPhotoResponse's payload. No picture when it has not changed (or there is none)."""

    has_changed: bool
    picture: bytes | None = None


Payload = ImGroupView | ImItemListView | PersonaView | PeopleView | UserPhotoView


# Not frozen: one per request, and a frozen dataclass costs ~3x more to build.
@dataclass(slots=True)
class Response:
    """m:<Operation>Response: ResponseClass, ResponseCode, MessageText and the payload."""

    operation: str
    code: ResponseCode = ResponseCode.NO_ERROR
    message_text: str | None = None
    payload: Payload | None = None
    message_xml: tuple[XmlDetail, ...] = field(default=())
    # What the transport adds: GetUserPhoto answers a missing photo with 404, as Exchange does,
    # and labels photos with an entity tag for conditional requests.
    http_status: int = 200
    etag: str | None = None

    @property
    def is_error(self) -> bool:
        return self.code is not ResponseCode.NO_ERROR
