"""Typed responses → bytes.

Responses are written with string templates rather than an element tree: a GetImItemList of
1000 personas is ~40 000 elements, and building a tree for it costs several times more than
writing the text. Every element is emitted in the product schema's order (clients generated
from the WSDL are strict about it); the tests validate every rendered response against
Microsoft's schema. Values are escaped here and nowhere else.
"""

import base64
import re
from collections.abc import Callable, Hashable
from typing import TypeVar

from openucs.ews.codes import ResponseCode
from openucs.ews.faults import SoapFault, XmlDetail
from openucs.ews.fragments import FragmentCache
from openucs.ews.namespaces import ERRORS, MESSAGES, SOAP, TYPES
from openucs.ews.requests import PropertyPath
from openucs.ews.responses import (
    DirectoryPersonaView,
    ExtendedPropertyValue,
    ImGroupView,
    ImItemListView,
    PeopleView,
    PersonaView,
    Response,
    UserPhotoView,
)

GROUP_CHANGE_KEY = "EgAAAA=="  # base64 of little-endian 18 (DistributionList), as Exchange
MEMBER_CHANGE_KEY = "EQAAAA=="  # base64 of little-endian 17 (Contact)
FOLDER_CHANGE_KEY = "AQAAAA=="
QUICK_CONTACT_SOURCE = "Lync Contacts"
RELEVANCE_SCORE = "2147483647"

_XML_DECL = '<?xml version="1.0" encoding="utf-8"?>'
_ENVELOPE_OPEN = f'{_XML_DECL}<s:Envelope xmlns:s="{SOAP}" xmlns:m="{MESSAGES}" xmlns:t="{TYPES}">'
_BUILD = 'MajorVersion="15" MinorVersion="0" MajorBuildNumber="1497" MinorBuildNumber="0"'

# Characters XML 1.0 cannot carry at all; data from the directory or an import may hold them.
_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NEEDS_TEXT_ESCAPE = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_NEEDS_ATTR_ESCAPE = re.compile('[&<>"\t\n\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]')


def esc(value: str) -> str:
    """Escape character data (and drop characters XML cannot represent)."""
    if not _NEEDS_TEXT_ESCAPE.search(value):
        return value
    value = _INVALID_XML.sub("\ufffd", value)
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


def attr(value: str) -> str:
    """Escape an attribute value written between double quotes."""
    if not _NEEDS_ATTR_ESCAPE.search(value):
        return value
    value = _INVALID_XML.sub("\ufffd", value)
    return (
        value.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
        .replace("\t", "&#9;")
        .replace("\n", "&#10;")
        .replace("\r", "&#13;")
    )


def _path(path: PropertyPath) -> str:
    attrs = []
    if path.distinguished_property_set_id is not None:
        attrs.append(f' DistinguishedPropertySetId="{attr(path.distinguished_property_set_id)}"')
    if path.property_set_id is not None:
        attrs.append(f' PropertySetId="{attr(path.property_set_id)}"')
    if path.property_tag is not None:
        attrs.append(f' PropertyTag="{attr(path.property_tag)}"')
    if path.property_name is not None:
        attrs.append(f' PropertyName="{attr(path.property_name)}"')
    if path.property_id is not None:
        attrs.append(f' PropertyId="{path.property_id}"')
    attrs.append(f' PropertyType="{attr(path.property_type)}"')
    return f"<t:ExtendedFieldURI{''.join(attrs)}/>"


def _extended_property(prop: ExtendedPropertyValue) -> str:
    if prop.multi_valued:
        values = "".join(f"<t:Value>{esc(v)}</t:Value>" for v in prop.values)
        value = f"<t:Values>{values}</t:Values>"
    else:
        value = f"<t:Value>{esc(prop.values[0] if prop.values else '')}</t:Value>"
    return f"{_path(prop.path)}{value}"


def _group(group: ImGroupView, tag: str) -> str:
    parts = [
        f"<{tag}><t:DisplayName>{esc(group.display_name)}</t:DisplayName>"
        f"<t:GroupType>{group.group_type}</t:GroupType>"
        f'<t:ExchangeStoreId Id="{group.exchange_store_id}" ChangeKey="{GROUP_CHANGE_KEY}"/>'
    ]
    if group.members:
        parts.append("<t:MemberCorrelationKey>")
        parts.extend(f'<t:ItemId Id="{m}" ChangeKey="{MEMBER_CHANGE_KEY}"/>' for m in group.members)
        parts.append("</t:MemberCorrelationKey>")
    if group.extended_properties:
        parts.append("<t:ExtendedProperties>")
        parts.extend(
            f"<t:ExtendedProperty>{_extended_property(p)}</t:ExtendedProperty>" for p in group.extended_properties
        )
        parts.append("</t:ExtendedProperties>")
    if group.smtp_address is not None:
        parts.append(f"<t:SmtpAddress>{esc(group.smtp_address)}</t:SmtpAddress>")
    parts.append(f"</{tag}>")
    return "".join(parts)


_ATTRIBUTED = "<t:Attributions><t:Attribution>0</t:Attribution></t:Attributions>"


def _attributed_strings(tag: str, value: str | None) -> str:
    if value is None:
        return ""
    return (
        f"<t:{tag}><t:StringAttributedValue><t:Value>{value}</t:Value>{_ATTRIBUTED}</t:StringAttributedValue></t:{tag}>"
    )


def _optional(tag: str, value: str | None) -> str:
    return f"<t:{tag}>{value}</t:{tag}>" if value else ""


def _phones(p: PersonaView) -> str:
    out = []
    for kind, element in (("Business", "BusinessPhoneNumbers"), ("Mobile", "MobilePhones")):
        values = "".join(
            f"<t:PhoneNumberAttributedValue><t:Value><t:Number>{esc(ph.number)}</t:Number>"
            f"<t:Type>{kind}</t:Type></t:Value>{_ATTRIBUTED}</t:PhoneNumberAttributedValue>"
            for ph in p.phones
            if ph.type == kind
        )
        if values:
            out.append(f"<t:{element}>{values}</t:{element}>")
    return "".join(out)


def _persona(p: PersonaView, tag: str) -> str:
    # One template per persona; optional parts are "" when absent. This runs once per contact
    # of a list, so it avoids per-element calls on the common path (no names, no phones).
    name = esc(p.display_name)
    given = esc(p.given_name) if p.given_name else None
    surname = esc(p.surname) if p.surname else None
    if given and surname:
        first_last, last_first, file_as = f"{given} {surname}", f"{surname} {given}", f"{surname}, {given}"
    else:
        first_last = last_first = file_as = name
    im = esc(p.im_address)
    title = esc(p.title) if p.title else None
    department = esc(p.department) if p.department else None
    company = esc(p.company_name) if p.company_name else None
    details = names = organisation = ""
    if given or surname or title or department or company:
        details = (
            _optional("GivenName", given)
            + _optional("Surname", surname)
            + _optional("Title", title)
            + _optional("Department", department)
            + _optional("CompanyName", company)
        )
        names = _attributed_strings("GivenNames", given) + _attributed_strings("Surnames", surname)
        organisation = (
            _attributed_strings("Titles", title)
            + _attributed_strings("Departments", department)
            + _attributed_strings("CompanyNames", company)
        )
    email = emails = emails1 = ""
    if p.email_address:
        email = (
            f"<t:Name>{name}</t:Name><t:EmailAddress>{esc(p.email_address)}</t:EmailAddress>"
            "<t:RoutingType>SMTP</t:RoutingType>"
        )
        emails = (
            f"<t:EmailAddress>{email}</t:EmailAddress><t:EmailAddresses><t:Address>{email}</t:Address>"
            "</t:EmailAddresses>"
        )
        emails1 = (
            f"<t:Emails1><t:EmailAddressAttributedValue><t:Value>{email}</t:Value>{_ATTRIBUTED}"
            "</t:EmailAddressAttributedValue></t:Emails1>"
        )
    phones = _phones(p) if p.phones else ""
    extended = ""
    if p.extended_properties:
        extended = (
            "<t:ExtendedProperties>"
            + "".join(
                f"<t:ExtendedPropertyAttributedValue><t:Value>{_extended_property(x)}</t:Value>{_ATTRIBUTED}"
                "</t:ExtendedPropertyAttributedValue>"
                for x in p.extended_properties
            )
            + "</t:ExtendedProperties>"
        )
    return (
        f'<{tag}><t:PersonaId Id="{p.persona_id}"/><t:PersonaType>Person</t:PersonaType>'
        f"<t:CreationTime>{p.creation_time}</t:CreationTime><t:DisplayName>{name}</t:DisplayName>"
        f"<t:DisplayNameFirstLast>{first_last}</t:DisplayNameFirstLast>"
        f"<t:DisplayNameLastFirst>{last_first}</t:DisplayNameLastFirst><t:FileAs>{file_as}</t:FileAs>"
        f"{details}{emails}<t:ImAddress>{im}</t:ImAddress><t:RelevanceScore>{RELEVANCE_SCORE}</t:RelevanceScore>"
        f'<t:Attributions><t:Attribution><t:Id>0</t:Id><t:SourceId Id="{p.source_id}" '
        f'ChangeKey="{MEMBER_CHANGE_KEY}"/><t:DisplayName>{QUICK_CONTACT_SOURCE}</t:DisplayName>'
        "<t:IsWritable>true</t:IsWritable><t:IsQuickContact>true</t:IsQuickContact>"
        f'<t:IsHidden>false</t:IsHidden><t:FolderId Id="{p.folder_id}" ChangeKey="{FOLDER_CHANGE_KEY}"/>'
        f"</t:Attribution></t:Attributions>{_attributed_strings('DisplayNames', name)}{names}{phones}{emails1}"
        f"{_attributed_strings('ImAddresses', im)}{organisation}{extended}</{tag}>"
    )


def _item_list(items: ImItemListView, fragments: FragmentCache | None) -> list[str]:
    parts = ["<m:ImItemList>"]
    if items.groups is not None:
        parts.append("<t:Groups>")
        if fragments is None:
            parts.extend(_group(g, "t:ImGroup") for g in items.groups)
        else:
            parts += _cached(items.groups, _group_key, _list_group, fragments)
        parts.append("</t:Groups>")
    if items.personas is not None:
        parts.append("<t:Personas>")
        if fragments is None:
            parts.extend(_persona(p, "t:Persona") for p in items.personas)
        else:
            parts += _cached(items.personas, _persona_key, _list_persona, fragments)
        parts.append("</t:Personas>")
    parts.append("</m:ImItemList>")
    return parts


# The keys below hold every field the renderer reads (tests/test_render_cache.py checks that each
# field changes the key), led by the element's tag.
def _group_key(g: ImGroupView) -> Hashable:
    return (
        "t:ImGroup",
        g.display_name,
        g.group_type,
        g.exchange_store_id,
        g.members,
        g.extended_properties,
        g.smtp_address,
    )


def _persona_key(p: PersonaView) -> Hashable:
    return (
        "t:Persona",
        p.persona_id,
        p.creation_time,
        p.display_name,
        p.source_id,
        p.folder_id,
        p.im_address,
        p.email_address,
        p.given_name,
        p.surname,
        p.title,
        p.department,
        p.company_name,
        tuple([(ph.number, ph.type) for ph in p.phones]) if p.phones else (),
        p.extended_properties,
    )


def _list_group(g: ImGroupView) -> str:
    return _group(g, "t:ImGroup")


def _list_persona(p: PersonaView) -> str:
    return _persona(p, "t:Persona")


V = TypeVar("V", ImGroupView, PersonaView)


def _cached(
    views: tuple[V, ...], key_of: Callable[[V], Hashable], render: Callable[[V], str], fragments: FragmentCache
) -> list[str]:
    """Each view's fragment from the cache, or rendered; what was missed is added in one go."""
    lookup, lookup_old = fragments.lookup, fragments.lookup_old
    out = []
    missed: list[tuple[Hashable, str]] = []
    for view in views:
        key = key_of(view)
        fragment = lookup(key)
        if fragment is None:
            fragment = lookup_old(key)
            if fragment is None:
                fragment = render(view)
            missed.append((key, fragment))
        out.append(fragment)
    if missed:
        fragments.add(missed)
    return out


def _directory_persona(p: DirectoryPersonaView) -> str:
    """A FindPeople persona: PersonaId, then the asked-for properties that have a value, in
    PersonaType's order."""
    fields = p.fields
    name = esc(p.display_name)
    given = esc(p.given_name) if p.given_name else None
    surname = esc(p.surname) if p.surname else None
    first_last = f"{given} {surname}" if given and surname else name
    last_first = f"{surname} {given}" if given and surname else name
    file_as = f"{surname}, {given}" if given and surname else name
    optional = (
        ("PersonaType", "Person"),
        ("DisplayName", name),
        ("DisplayNameFirstLast", first_last),
        ("DisplayNameLastFirst", last_first),
        ("FileAs", file_as),
        ("GivenName", given),
        ("Surname", surname),
        ("Title", esc(p.title) if p.title else None),
        ("Department", esc(p.department) if p.department else None),
        ("CompanyName", esc(p.company_name) if p.company_name else None),
    )
    parts = [f'<t:Persona><t:PersonaId Id="{attr(p.persona_id)}"/>']
    parts.extend(f"<t:{tag}>{value}</t:{tag}>" for tag, value in optional if value and tag in fields)
    if "EmailAddress" in fields:
        parts.append(
            f"<t:EmailAddress><t:Name>{name}</t:Name><t:EmailAddress>{esc(p.email_address)}</t:EmailAddress>"
            "<t:RoutingType>SMTP</t:RoutingType><t:MailboxType>Mailbox</t:MailboxType></t:EmailAddress>"
        )
    if p.business_phone and "PhoneNumber" in fields:
        parts.append(
            f"<t:PhoneNumber><t:Number>{esc(p.business_phone)}</t:Number><t:Type>Business</t:Type></t:PhoneNumber>"
        )
    if p.im_address and "ImAddress" in fields:
        parts.append(f"<t:ImAddress>{esc(p.im_address)}</t:ImAddress>")
    parts.append("</t:Persona>")
    return "".join(parts)


def _people(view: PeopleView) -> str:
    people = "".join(_directory_persona(p) for p in view.people)
    return (
        f"<m:People>{people}</m:People><m:TotalNumberOfPeopleInView>{view.total}</m:TotalNumberOfPeopleInView>"
        f"<m:FirstMatchingRowIndex>{view.first_loaded}</m:FirstMatchingRowIndex>"
        f"<m:FirstLoadedRowIndex>{view.first_loaded}</m:FirstLoadedRowIndex>"
    )


def _user_photo(view: UserPhotoView) -> str:
    changed = "true" if view.has_changed else "false"
    # PictureData is always written, empty when there is nothing new: the EWS Managed API
    # reads the element unconditionally.
    data = base64.b64encode(view.picture).decode("ascii") if view.picture else ""
    return f"<m:HasChanged>{changed}</m:HasChanged><m:PictureData>{data}</m:PictureData>"


def _payload(response: Response, fragments: FragmentCache | None) -> list[str]:
    """The payload's text in parts, joined once with the envelope: a 1000-contact list is 2 MB,
    and each join or f-string around it would copy it again."""
    payload = response.payload
    if payload is None:
        return []
    if isinstance(payload, ImGroupView):
        return [_group(payload, "m:ImGroup")]
    if isinstance(payload, PersonaView):
        return [_persona(payload, "m:Persona")]
    if isinstance(payload, PeopleView):
        return [_people(payload)]
    if isinstance(payload, UserPhotoView):
        return [_user_photo(payload)]
    return _item_list(payload, fragments)


# Error responses carry no payload, except where the schema requires an element after the
# common ones: GetUserPhotoResponse always has HasChanged.
_ERROR_TAIL = {"GetUserPhoto": "<m:HasChanged>false</m:HasChanged>"}


def _message_xml(details: tuple[XmlDetail, ...], tag: str, declare: str = "") -> str:
    if not details:
        return ""
    inner = "".join(
        f'<t:{d.element} Name="{attr(d.name)}">{esc(d.text)}</t:{d.element}>'
        if d.name is not None
        else f"<t:{d.element}>{esc(d.text)}</t:{d.element}>"
        for d in details
    )
    return f"<{tag}{declare}>{inner}</{tag}>"


def write_response(response: Response, version: str, fragments: FragmentCache | None = None) -> bytes:
    """The whole SOAP envelope of one operation's response; list items are looked up in (and
    added to) ``fragments`` when given."""
    op = response.operation
    if response.code is ResponseCode.NO_ERROR:
        if response.payload is None:  # most writes: the same bytes every time
            key = (op, version)
            done = _BARE_SUCCESSES.get(key)
            if done is None:
                done = f"{_head(version)}{_success(op)}</m:{op}Response></s:Body></s:Envelope>".encode()
                if len(_BARE_SUCCESSES) < _KEPT:  # operations and versions are few: this bounds it anyway
                    _BARE_SUCCESSES[key] = done
            return done
        parts = [_head(version), _success(op)]
        parts += _payload(response, fragments)
        parts.append(f"</m:{op}Response></s:Body></s:Envelope>")
        return "".join(parts).encode()
    body = (
        f'<m:{op}Response ResponseClass="Error"><m:MessageText>{esc(response.message_text or "")}'
        f"</m:MessageText><m:ResponseCode>{response.code}</m:ResponseCode>"
        f"<m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>{_message_xml(response.message_xml, 'm:MessageXml')}"
        f"{_ERROR_TAIL.get(op, '')}</m:{op}Response>"
    )
    return f"{_head(version)}{body}</s:Body></s:Envelope>".encode()


def _head(version: str) -> str:
    head = _HEADS.get(version)
    if head is None:
        head = f'{_ENVELOPE_OPEN}<s:Header><t:ServerVersionInfo {_BUILD} Version="{attr(version)}"/></s:Header><s:Body>'
        if len(_HEADS) < _KEPT:
            _HEADS[version] = head
    return head


def _success(op: str) -> str:
    return f'<m:{op}Response ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'


# Made once per version, and per operation for answers without a payload (only supported versions
# and known operations reach the writer).
_KEPT = 512
_HEADS: dict[str, str] = {}
_BARE_SUCCESSES: dict[tuple[str, str], bytes] = {}


def write_fault(fault: SoapFault) -> bytes:
    """A SOAP 1.1 fault as Exchange writes them: the EWS code in faultcode and in detail."""
    details = _message_xml(fault.message_xml, "t:MessageXml", f' xmlns:t="{TYPES}"')
    return (
        f'{_XML_DECL}<s:Envelope xmlns:s="{SOAP}"><s:Body><s:Fault>'
        f'<faultcode xmlns:a="{TYPES}">a:{fault.code}</faultcode>'
        f"<faultstring>{esc(fault.fault_string)}</faultstring><detail>"
        f'<e:ResponseCode xmlns:e="{ERRORS}">{fault.code}</e:ResponseCode>'
        f'<e:Message xmlns:e="{ERRORS}">{esc(fault.message)}</e:Message>{details}'
        "</detail></s:Fault></s:Body></s:Envelope>"
    ).encode()
