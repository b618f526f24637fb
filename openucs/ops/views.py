"""Domain objects → response views: ids encoded, extended properties filtered to those asked."""

from openucs.domain.model import Contact, ExtendedProperty, Group, ImList, PropertyKey
from openucs.ews.requests import ItemRef, PropertyPath
from openucs.ews.responses import (
    ExtendedPropertyValue,
    ImGroupView,
    ImItemListView,
    PersonaView,
    PhoneView,
)
from openucs.ops.ids import QUICK_CONTACTS_FOLDER, IdCodec, IdKind


def property_key(path: PropertyPath) -> PropertyKey:
    return PropertyKey(
        property_type=path.property_type,
        distinguished_property_set_id=path.distinguished_property_set_id,
        property_set_id=path.property_set_id,
        property_tag=path.property_tag,
        property_name=path.property_name,
        property_id=path.property_id,
    )


def wanted_keys(paths: tuple[PropertyPath, ...]) -> frozenset[str]:
    return frozenset(property_key(p).canonical() for p in paths)


def _properties(props: tuple[ExtendedProperty, ...], wanted: frozenset[str]) -> tuple[ExtendedPropertyValue, ...]:
    if not wanted or not props:
        return ()
    return tuple(
        ExtendedPropertyValue(
            PropertyPath(
                property_type=p.key.property_type,
                distinguished_property_set_id=p.key.distinguished_property_set_id,
                property_set_id=p.key.property_set_id,
                property_tag=p.key.property_tag,
                property_name=p.key.property_name,
                property_id=p.key.property_id,
            ),
            p.values,
            p.multi_valued,
        )
        for p in props
        if p.key.canonical() in wanted
    )


class ViewMaker:
    def __init__(self, codec: IdCodec, mailbox_id: int, wanted: frozenset[str] = frozenset()) -> None:
        self._codec = codec
        self._mailbox = mailbox_id
        self._wanted = wanted
        self._folder = codec.encode(mailbox_id, IdKind.FOLDER, QUICK_CONTACTS_FOLDER)

    def group(self, group: Group) -> ImGroupView:
        encode = self._codec.encode
        mailbox = self._mailbox
        return ImGroupView(
            display_name=group.display_name,
            group_type=group.kind.value,
            exchange_store_id=ItemRef(encode(mailbox, IdKind.GROUP, group.id)),
            members=tuple([encode(mailbox, IdKind.CONTACT, c) for c in group.members]),
            extended_properties=_properties(group.extended_properties, self._wanted),
            smtp_address=group.smtp_address,
        )

    def persona(self, contact: Contact) -> PersonaView:
        encode = self._codec.encode
        card = contact.card
        phones: tuple[PhoneView, ...] = ()
        if card.business_phone or card.mobile_phone:
            phones = tuple(
                PhoneView(number, kind)
                for number, kind in ((card.business_phone, "Business"), (card.mobile_phone, "Mobile"))
                if number
            )
        # Positional, in PersonaView's field order: this runs once per contact of the list.
        return PersonaView(
            encode(self._mailbox, IdKind.PERSONA, contact.id),
            contact.created,
            card.display_name,
            encode(self._mailbox, IdKind.CONTACT, contact.id),
            self._folder,
            contact.im_address,
            card.email_address,
            card.given_name,
            card.surname,
            card.title,
            card.department,
            card.company_name,
            phones,
            _properties(contact.extended_properties, self._wanted) if contact.extended_properties else (),
        )

    def item_list(self, items: ImList, *, omit_empty: bool) -> ImItemListView:
        groups = tuple([self.group(g) for g in items.groups])
        personas = tuple([self.persona(c) for c in items.contacts])
        if omit_empty:  # GetImItems leaves out empty arrays; GetImItemList always writes both
            return ImItemListView(groups or None, personas or None)
        return ImItemListView(groups, personas)
