"""Groups, contacts and their extended properties, as the IM list holds them.

A mailbox's IM list is a set of groups (Exchange's "PDLs" in the ImContactList folder) and a set
of contacts (the QuickContacts folder). Groups refer to contacts by membership. Invariants the
rules in ``imlist`` keep, and the store enforces again where it can:

* exactly one group of each system kind (Favorites, Other Contacts, Tagged);
* group display names are unique within a mailbox (exact comparison);
* every member is an existing contact of the same mailbox, once per group;
* every contact is a member of at least one group (a contact left in none is deleted);
* at most ``Limits.contacts`` contacts and ``Limits.groups`` user + distribution groups.
"""

from dataclasses import dataclass, field
from enum import StrEnum


class GroupKind(StrEnum):
    """A group's class (its GroupType on the wire)."""

    FAVORITES = "IPM.DistList.MOC.Favorites"
    OTHER_CONTACTS = "IPM.DistList.MOC.OtherContacts"
    TAGGED = "IPM.DistList.MOC.Tagged"
    USER = "IPM.DistList.MOC.UserGroup"
    DISTRIBUTION = "IPM.DistList.MOC.DG"

    @property
    def is_system(self) -> bool:
        return self in SYSTEM_GROUP_NAMES


# Fixed, non-localized names, as Exchange creates them.
SYSTEM_GROUP_NAMES: dict[GroupKind, str] = {
    GroupKind.FAVORITES: "Favorites",
    GroupKind.OTHER_CONTACTS: "Other Contacts",
    GroupKind.TAGGED: "Tagged",
}


@dataclass(frozen=True, slots=True)
class Limits:
    contacts: int = 1000
    groups: int = 64  # user and distribution groups together; system groups are not counted


@dataclass(frozen=True, slots=True)
class PropertyKey:
    """Identifies an extended property the way MAPI does (a PathToExtendedField)."""

    property_type: str
    distinguished_property_set_id: str | None = None
    property_set_id: str | None = None
    property_tag: str | None = None
    property_name: str | None = None
    property_id: int | None = None

    def canonical(self) -> str:
        """One string per property, whatever spelling (GUID case, tag format) names it."""
        tag = self.property_tag
        if tag is not None:
            try:
                number = int(tag, 16) if tag.lower().startswith("0x") else int(tag)
                tag = f"0x{number:04x}"
            except ValueError:
                pass
        set_id = self.property_set_id.lower() if self.property_set_id else None
        parts = (
            self.property_type,
            self.distinguished_property_set_id,
            set_id,
            tag,
            self.property_name,
            self.property_id,
        )
        return "|".join("" if part is None else str(part) for part in parts)


@dataclass(frozen=True, slots=True)
class ExtendedProperty:
    key: PropertyKey
    values: tuple[str, ...]
    multi_valued: bool = False


# Not frozen: built once per item of every list read, and frozen dataclasses cost ~6x more to build.
@dataclass(slots=True)
class Group:
    id: int
    kind: GroupKind
    display_name: str
    created: str  # ISO 8601 UTC, e.g. 2026-11-27T16:37:03Z
    smtp_address: str | None = None
    members: tuple[int, ...] = ()  # contact ids, in the order they were added
    extended_properties: tuple[ExtendedProperty, ...] = ()


# Not frozen: built once per item of every list read, and frozen dataclasses cost ~6x more to build.
@dataclass(slots=True)
class ContactCard:
    """What a contact shows besides its IM address: the directory fills it when it can."""

    display_name: str
    email_address: str | None = None
    given_name: str | None = None
    surname: str | None = None
    title: str | None = None
    department: str | None = None
    company_name: str | None = None
    business_phone: str | None = None
    mobile_phone: str | None = None


# Not frozen: built once per item of every list read, and frozen dataclasses cost ~6x more to build.
@dataclass(slots=True)
class Contact:
    id: int
    im_address: str
    card: ContactCard
    created: str
    extended_properties: tuple[ExtendedProperty, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ImList:
    """The whole list, as GetImItemList shows it."""

    groups: tuple[Group, ...]
    contacts: tuple[Contact, ...]
