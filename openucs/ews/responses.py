"""Typed EWS responses: what the writer renders. Plain data, already in wire vocabulary
(opaque id strings, group class names), so the writer needs no knowledge of the domain."""

from dataclasses import dataclass, field

from openucs.ews.codes import ResponseCode
from openucs.ews.faults import XmlDetail
from openucs.ews.requests import ItemRef, PropertyPath


@dataclass(frozen=True, slots=True)
class ExtendedPropertyValue:
    """t:ExtendedPropertyType: a path with one Value, or Values when multi-valued."""

    path: PropertyPath
    values: tuple[str, ...]
    multi_valued: bool = False


@dataclass(frozen=True, slots=True)
class ImGroupView:
    display_name: str
    group_type: str
    exchange_store_id: ItemRef
    members: tuple[ItemRef, ...] = ()
    extended_properties: tuple[ExtendedPropertyValue, ...] = ()
    smtp_address: str | None = None


@dataclass(frozen=True, slots=True)
class PhoneView:
    number: str
    type: str  # Business | Mobile | Home ...


@dataclass(frozen=True, slots=True)
class PersonaView:
    """The subset of t:PersonaType openucs fills, for one quick contact."""

    persona_id: str
    creation_time: str  # xs:dateTime, UTC
    display_name: str
    source_id: ItemRef  # the quick contact's id: equals its MemberCorrelationKey ItemId
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


@dataclass(frozen=True, slots=True)
class ImItemListView:
    """t:ImItemListType. ``None`` omits the array; an empty tuple writes an empty element."""

    groups: tuple[ImGroupView, ...] | None
    personas: tuple[PersonaView, ...] | None


Payload = ImGroupView | ImItemListView | PersonaView


@dataclass(frozen=True, slots=True)
class Response:
    """m:<Operation>Response: ResponseClass, ResponseCode, MessageText and the payload."""

    operation: str
    code: ResponseCode = ResponseCode.NO_ERROR
    message_text: str | None = None
    payload: Payload | None = None
    message_xml: tuple[XmlDetail, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.code is not ResponseCode.NO_ERROR
