"""The storage port: what the IM-list rules need from a store, for one mailbox, inside one
transaction. A store implements it (``openucs.store``); the rules never see SQL.

A write transaction is exclusive per mailbox (the store locks the mailbox first), so checks
such as "is there room for one more group" and the insert that follows cannot interleave with
another request's on any process or node.
"""

from collections.abc import Iterable, Sequence
from typing import Protocol

from openucs.domain.model import Contact, ContactCard, ExtendedProperty, Group, GroupKind


class ImListRepository(Protocol):
    mailbox_id: int

    # -- groups
    def groups(self) -> list[Group]:
        """All groups with members, system groups included, in listing order."""
        ...

    def group(self, group_id: int) -> Group | None: ...

    def group_by_name(self, display_name: str) -> Group | None: ...

    def group_by_smtp_address(self, smtp_address: str) -> Group | None: ...

    def system_group(self, kind: GroupKind) -> Group | None: ...

    def count_limited_groups(self) -> int:
        """User and distribution groups: the ones the group limit counts."""
        ...

    def create_group(self, kind: GroupKind, display_name: str, smtp_address: str | None = None) -> Group: ...

    def create_missing_system_groups(self) -> None:
        """Create whichever system groups do not exist yet (race-safe)."""
        ...

    def rename_group(self, group_id: int, display_name: str) -> None: ...

    def delete_group(self, group_id: int) -> None: ...

    # -- contacts
    def contacts(self, contact_ids: Iterable[int] | None = None) -> list[Contact]:
        """The given contacts (all when None) that exist, in creation order."""
        ...

    def contact(self, contact_id: int) -> Contact | None: ...

    def contact_by_im_address(self, im_address: str) -> Contact | None: ...

    def count_contacts(self) -> int: ...

    def create_contact(self, im_address: str, card: ContactCard) -> Contact: ...

    def delete_contact(self, contact_id: int) -> None: ...

    # -- membership
    def groups_of_contact(self, contact_id: int) -> list[int]: ...

    def add_member(self, group_id: int, contact_id: int) -> None:
        """Add unless already a member."""
        ...

    def remove_member(self, group_id: int, contact_id: int) -> None: ...

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
