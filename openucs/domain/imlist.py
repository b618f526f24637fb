"""The rules of the IM list, operation by operation, as Exchange 2013 applies them.

Each function acts on one mailbox through an ``ImListRepository`` inside the caller's
transaction and raises an ``ImListError`` to refuse. Where Exchange's behaviour would break an
invariant (it creates a contact before it validates the target group, leaving an orphan when
the group is bad) the rule validates first; one transaction per request makes the refusal
leave nothing behind either way.
"""

import re
from collections.abc import Iterable
from dataclasses import replace

from openucs.domain.errors import (
    ContactLimitReached,
    GroupLimitReached,
    GroupNameExists,
    InvalidContact,
    InvalidGroup,
    InvalidSmtpAddress,
)
from openucs.domain.model import (
    SYSTEM_GROUP_NAMES,
    Contact,
    ContactCard,
    Group,
    GroupKind,
    ImList,
    Limits,
)
from openucs.domain.repository import Directory, ImListReader, ImListRepository

# The longest names and addresses accepted where they enter: the EWS request schema
# (messages.xsd), ``openucs user`` and CSV import. Stored names and addresses are indexed, and
# PostgreSQL refuses an index entry over about 2700 bytes (SQLite takes it): bounded in characters,
# even four-byte ones stay far below that, so a value is refused the same way on every backend.
MAX_NAME_CHARS = 256  # display names, directory fields
MAX_ADDRESS_CHARS = 320  # SMTP and IM addresses: 64 (local part) + "@" + 255 (domain)

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SMTP = re.compile(
    rf"(?:{_ATOM}(?:\.{_ATOM})*|\"(?:[^\"\\\r\n]|\\.)+\")@(?:{_LABEL}(?:\.{_LABEL})+|\[[0-9.:A-Fa-f]+\])"
)


def is_smtp_address(address: str) -> bool:
    """Syntax only, as Exchange checks a distribution group's address (no directory lookup)."""
    return len(address) <= MAX_ADDRESS_CHARS and _SMTP.fullmatch(address) is not None


def strip_sip(address: str) -> str:
    return address[4:] if address[:4].lower() == "sip:" else address


def im_address_key(address: str) -> str:
    """Two IM addresses name the same contact when they differ only in case or a ``sip:`` prefix."""
    return strip_sip(address.strip()).lower()


def missing_system_groups(groups: Iterable[Group]) -> bool:
    present = {g.kind for g in groups}
    return not all(kind in present for kind in SYSTEM_GROUP_NAMES)


def item_list(repo: ImListReader) -> ImList:
    """Every group, and every contact that is a member of one (GetImItemList)."""
    groups = repo.groups()
    member_ids = {cid for g in groups for cid in g.members}
    contacts = tuple([c for c in repo.contacts() if c.id in member_ids])
    return ImList(tuple(groups), contacts)


def items(repo: ImListReader, contact_ids: Iterable[int], group_ids: Iterable[int]) -> ImList:
    """The requested items that exist; unknown ids are skipped, not refused (GetImItems). As in
    the whole list, a contact shows only while it is a member of some group."""
    wanted_groups = set(group_ids)
    wanted_contacts = set(contact_ids)
    groups = repo.groups(wanted_groups) if wanted_groups else []
    contacts = repo.member_contacts(wanted_contacts) if wanted_contacts else []
    return ImList(tuple(groups), tuple(contacts))


def add_group(repo: ImListRepository, limits: Limits, display_name: str) -> Group:
    """AddImGroup: a name any group already has returns that group, with success."""
    existing = repo.group_by_name(display_name)
    if existing is not None:
        return existing
    _check_group_room(repo, limits)
    return repo.create_group(GroupKind.USER, display_name)


def rename_group(repo: ImListRepository, group_id: int, new_display_name: str) -> None:
    """SetImGroup: user groups only; any group's name (its own included) is taken."""
    _check_kind(repo, group_id, GroupKind.USER)
    if repo.group_by_name(new_display_name) is not None:
        raise GroupNameExists(new_display_name)
    repo.rename_group(group_id, new_display_name)


def remove_group(repo: ImListRepository, group_id: int) -> None:
    """RemoveImGroup: deletes the group and the members that are in no other group."""
    _check_kind(repo, group_id, GroupKind.USER)
    _delete_group_and_orphans(repo, group_id)


def add_distribution_group(repo: ImListRepository, limits: Limits, smtp_address: str, display_name: str) -> Group:
    """AddDistributionGroupToImList: idempotent by address; the name is not updated."""
    if not is_smtp_address(smtp_address):
        raise InvalidSmtpAddress(smtp_address)
    existing = repo.group_by_smtp_address(smtp_address)
    if existing is not None:
        return existing
    if repo.group_by_name(display_name) is not None:
        raise GroupNameExists(display_name)
    _check_group_room(repo, limits)
    return repo.create_group(GroupKind.DISTRIBUTION, display_name, smtp_address)


def remove_distribution_group(repo: ImListRepository, group_id: int) -> None:
    """RemoveDistributionGroupFromImList: distribution groups only."""
    _check_kind(repo, group_id, GroupKind.DISTRIBUTION)
    _delete_group_and_orphans(repo, group_id)


def add_new_contact(
    repo: ImListRepository,
    limits: Limits,
    directory: Directory,
    im_address: str,
    *,
    display_name: str | None,
    group_id: int | None,
    phone: str | None = None,
) -> Contact:
    """AddNewImContactToGroup (and its TEL URI variant): reuse the contact with that IM address,
    else create one (filled from the directory when the address is known there), then add it to
    the group (Other Contacts when none is named). Adding an existing member changes nothing."""
    target = _other_contacts_id(repo) if group_id is None else _existing_group_id(repo, group_id)
    contact = repo.contact_by_im_address(im_address)
    if contact is None:
        if repo.count_contacts() >= limits.contacts:
            raise ContactLimitReached(limits.contacts)
        contact = repo.create_contact(im_address, _new_card(directory, im_address, display_name, phone))
    repo.add_member(target, contact.id)
    return contact


def add_contact_to_group(repo: ImListRepository, contact_id: int, group_id: int | None) -> None:
    """AddImContactToGroup: an existing IM contact into any group (Other Contacts by default).
    Adding an existing member changes nothing."""
    target = _other_contacts_id(repo) if group_id is None else group_id
    if repo.add_member(target, contact_id):
        return
    # Nothing added: a member already, or an unknown id (the contact's is reported first).
    member_of = repo.memberships(contact_id)
    if member_of is None:
        raise InvalidContact(contact_id)
    if target not in member_of:
        raise InvalidGroup(group_id)


def remove_contact_from_group(repo: ImListRepository, contact_id: int, group_id: int) -> None:
    """RemoveImContactFromGroup: also untags the contact; a contact left in no group is deleted."""
    member_of = repo.memberships(contact_id)
    if member_of is None:
        raise InvalidContact(contact_id)
    if group_id not in member_of:
        raise InvalidGroup(group_id)
    leaving = {group_id} | {g for g, kind in member_of.items() if kind is GroupKind.TAGGED}
    if member_of.keys() <= leaving:
        repo.delete_contact(contact_id)  # its memberships go with it
    else:
        repo.remove_memberships(contact_id, leaving)


def remove_contact(repo: ImListRepository, contact_id: int) -> None:
    """RemoveContactFromImList: out of every group, then deleted."""
    if not repo.delete_contact(contact_id):
        raise InvalidContact(contact_id)


def _check_group_room(repo: ImListRepository, limits: Limits) -> None:
    if repo.count_limited_groups() >= limits.groups:
        raise GroupLimitReached(limits.groups)


def _check_kind(repo: ImListRepository, group_id: int, kind: GroupKind) -> None:
    if repo.group_kind(group_id) is not kind:
        raise InvalidGroup(group_id)


def _existing_group_id(repo: ImListRepository, group_id: int) -> int:
    if repo.group_kind(group_id) is None:
        raise InvalidGroup(group_id)
    return group_id


def _other_contacts_id(repo: ImListRepository) -> int:
    """Where a contact goes when no group is named; the system groups are created on first use."""
    group_id = repo.system_group_id(GroupKind.OTHER_CONTACTS)
    if group_id is None:
        repo.create_missing_system_groups()
        group_id = repo.system_group_id(GroupKind.OTHER_CONTACTS)
    if group_id is None:
        raise InvalidGroup(None)
    return group_id


def _delete_group_and_orphans(repo: ImListRepository, group_id: int) -> None:
    # Tagged alone keeps no contact: a member left only there goes too.
    repo.delete_contacts(repo.sole_members(group_id, besides=GroupKind.TAGGED))
    repo.delete_group(group_id)


def _new_card(directory: Directory, im_address: str, display_name: str | None, phone: str | None) -> ContactCard:
    known = directory.card_for(im_address)
    if known is not None:
        return replace(known, display_name=display_name) if display_name else known
    bare = strip_sip(im_address)
    return ContactCard(
        display_name=display_name or im_address,
        email_address=bare if is_smtp_address(bare) else None,
        business_phone=phone,
    )
