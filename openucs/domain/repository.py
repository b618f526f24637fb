"""The storage port: what the IM-list rules need from a store, for one mailbox, inside one
transaction. A store implements it (``openucs.store``); the rules never see SQL.

A write transaction is exclusive per mailbox (the store locks the mailbox first), so checks
such as "is there room for one more group" and the insert that follows cannot interleave with
another request's on any process or node.
"""

from collections.abc import Iterable, Sequence
from typing import Protocol

from openucs.domain.model import Contact, ContactCard, ExtendedProperty, Group, GroupKind


class ImListReader(Protocol):
    """What reading a list needs (GetImItemList, GetImItems): a store may answer it without a
    transaction, from a list it keeps at a version the request knows to be current."""

    mailbox_id: int

    def groups(self, group_ids: Iterable[int] | None = None) -> list[Group]:
        """The given groups (all when None) that exist, with members, system groups included,
        in listing order."""
        ...

    def contacts(self, contact_ids: Iterable[int] | None = None) -> list[Contact]:
        """The given contacts (all when None) that exist, in creation order."""
        ...

    def member_contacts(self, contact_ids: Iterable[int]) -> list[Contact]:
        """The given contacts that exist and are a member of some group, in creation order."""
        ...


class ImListRepository(ImListReader, Protocol):
    # -- groups

    def group_kind(self, group_id: int) -> GroupKind | None:
        """Whether the group exists, and its kind, without reading its members."""
        ...

    def group_by_name(self, display_name: str) -> Group | None: ...

    def group_by_smtp_address(self, smtp_address: str) -> Group | None: ...

    def system_group(self, kind: GroupKind) -> Group | None: ...

    def system_group_id(self, kind: GroupKind) -> int | None: ...

    def count_limited_groups(self) -> int:
        """User and distribution groups: the ones the group limit counts."""
        ...

    def create_group(self, kind: GroupKind, display_name: str, smtp_address: str | None = None) -> Group: ...

    def create_missing_system_groups(self) -> None:
        """Create whichever system groups do not exist yet (race-safe)."""
        ...

    def rename_group(self, group_id: int, display_name: str) -> None: ...

    def delete_group(self, group_id: int) -> None:
        """Deletes the group and its memberships, not the contacts."""
        ...

    # -- contacts
    def contact_by_im_address(self, im_address: str) -> Contact | None: ...

    def count_contacts(self) -> int: ...

    def create_contact(self, im_address: str, card: ContactCard) -> Contact: ...

    def delete_contact(self, contact_id: int) -> bool:
        """Deletes the contact and its memberships; False when there was no such contact."""
        ...

    def delete_contacts(self, contact_ids: Sequence[int]) -> None: ...

    # -- membership
    def memberships(self, contact_id: int) -> dict[int, GroupKind] | None:
        """The groups the contact is a member of, with their kinds; None when there is no such contact."""
        ...

    def sole_members(self, group_id: int, *, besides: GroupKind) -> list[int]:
        """The group's members that are in no other group, except groups of kind ``besides``."""
        ...

    def add_member(self, group_id: int, contact_id: int) -> bool:
        """Add the contact to the group; False (and nothing changed) when it is a member already
        or either of them is not this mailbox's."""
        ...

    def remove_memberships(self, contact_id: int, group_ids: Iterable[int]) -> None: ...

    # -- extended properties
    def set_extended_properties(
        self,
        *,
        group_id: int | None = None,
        contact_id: int | None = None,
        properties: Sequence[ExtendedProperty] = (),
    ) -> None:
        """Store (replace by key) extended properties on a group or a contact."""
        ...


class Directory(Protocol):
    """Looks up what the organisation knows about an IM address (issue: directory)."""

    def card_for(self, im_address: str) -> ContactCard | None: ...
