"""Typed EWS requests: one dataclass per operation, named after its schema element.

Each mirrors the operation's request type in messages.xsd ([MS-OXWSCOS] section 3.1.4.x);
the reader fills them, the operation handlers consume them (and never change them). Not frozen:
several are built for every request, and a frozen dataclass costs three times as much to build.
"""

from dataclasses import dataclass, field


@dataclass(slots=True)
class ItemRef:
    """t:ItemIdType: an opaque Id and a ChangeKey (which these operations ignore)."""

    id: str
    change_key: str | None = None


@dataclass(frozen=True, slots=True)
class PropertyPath:
    """t:PathToExtendedFieldType: which extended property, identified as MAPI does."""

    property_type: str
    distinguished_property_set_id: str | None = None
    property_set_id: str | None = None
    property_tag: str | None = None
    property_name: str | None = None
    property_id: int | None = None


@dataclass(frozen=True, slots=True)
class Impersonation:
    """t:ExchangeImpersonation/t:ConnectingSID: exactly one of the four identifiers."""

    kind: str  # PrincipalName | SID | PrimarySmtpAddress | SmtpAddress
    value: str


@dataclass(frozen=True, slots=True)
class Headers:
    """The SOAP headers these operations read. Frozen: the reader hands every plain request of a
    version the same one."""

    request_server_version: str | None = None
    mailbox_culture: str | None = None
    impersonation: Impersonation | None = None


@dataclass(slots=True)
class AddImGroup:
    display_name: str


@dataclass(slots=True)
class SetImGroup:
    group_id: ItemRef
    new_display_name: str


@dataclass(slots=True)
class RemoveImGroup:
    group_id: ItemRef


@dataclass(slots=True)
class AddNewImContactToGroup:
    im_address: str
    display_name: str | None = None
    group_id: ItemRef | None = None


@dataclass(slots=True)
class AddNewTelUriContactToGroup:
    tel_uri_address: str
    im_contact_sip_uri_address: str
    im_telephone_number: str
    group_id: ItemRef | None = None


@dataclass(slots=True)
class AddImContactToGroup:
    contact_id: ItemRef
    group_id: ItemRef | None = None


@dataclass(slots=True)
class RemoveImContactFromGroup:
    contact_id: ItemRef
    group_id: ItemRef


@dataclass(slots=True)
class RemoveContactFromImList:
    contact_id: ItemRef


@dataclass(slots=True)
class GetImItemList:
    extended_properties: tuple[PropertyPath, ...] = ()


@dataclass(slots=True)
class GetImItems:
    contact_ids: tuple[ItemRef, ...] = ()
    group_ids: tuple[ItemRef, ...] = ()
    extended_properties: tuple[PropertyPath, ...] = ()


@dataclass(slots=True)
class AddDistributionGroupToImList:
    smtp_address: str
    display_name: str


@dataclass(slots=True)
class RemoveDistributionGroupFromImList:
    group_id: ItemRef


@dataclass(slots=True)
class SetImListMigrationCompleted:
    im_list_migration_completed: bool


@dataclass(slots=True)
class FindPeople:
    """m:FindPeople on the directory: a query, a page, and which persona properties to return."""

    query_string: str | None
    offset: int = 0
    max_entries: int | None = None  # IndexedPageItemView@MaxEntriesReturned
    from_end: bool = False  # IndexedPageItemView@BasePoint="End"
    folder: str | None = None  # ParentFolderId/DistinguishedFolderId@Id ("directory"), None when absent
    base_shape: str = "Default"  # PersonaShape/BaseShape
    additional_properties: tuple[str, ...] = ()  # PersonaShape/AdditionalProperties/FieldURI@FieldURI


@dataclass(slots=True)
class GetUserPhoto:
    """m:GetUserPhoto. ``if_none_match`` is not in the body: it is the HTTP request's If-None-Match
    header, which decides HasChanged (the transport sets it, see ops.people.with_if_none_match)."""

    email: str
    size_requested: str
    type_requested: str | None = None
    if_none_match: str | None = None


Request = (
    AddImGroup
    | SetImGroup
    | RemoveImGroup
    | AddNewImContactToGroup
    | AddNewTelUriContactToGroup
    | AddImContactToGroup
    | RemoveImContactFromGroup
    | RemoveContactFromImList
    | GetImItemList
    | GetImItems
    | AddDistributionGroupToImList
    | RemoveDistributionGroupFromImList
    | SetImListMigrationCompleted
    | FindPeople
    | GetUserPhoto
)


@dataclass(slots=True)
class Envelope:
    """A decoded request: its SOAP headers and its one operation."""

    operation: str
    request: Request
    headers: Headers = field(default_factory=Headers)
