"""Bytes → typed request, or a SoapFault.

The envelope is parsed with a parser that never loads DTDs, expands entities or touches the
network; the operation element is validated against the project's own schema (the one it
serves at /EWS/messages.xsd) before any field is read, so the readers below can rely on the
structure. Namespace prefixes are irrelevant: everything is matched by namespace URI.
"""

import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

from lxml import etree

from openucs.ews import requests as rq
from openucs.ews.codes import ResponseCode
from openucs.ews.faults import SoapFault, schema_fault, version_fault
from openucs.ews.namespaces import MESSAGES, SOAP, m, t
from openucs.ews.people import read_find_people, read_get_user_photo
from openucs.ews.versions import SUPPORTED_VERSIONS

SCHEMA_DIR = Path(str(resources.files("openucs.ews") / "schema"))

_ENVELOPE = f"{{{SOAP}}}Envelope"
_HEADER = f"{{{SOAP}}}Header"
_BODY = f"{{{SOAP}}}Body"
_MUST_UNDERSTAND = f"{{{SOAP}}}mustUnderstand"

# lxml has no type information: elements are Any to mypy.
_Element: TypeAlias = Any


# Input limits, checked before the parser sees a byte (see _parse). A real request is a few
# dozen tags; GetImItems naming every contact of a full list is about 1 100.
MAX_TAGS = 20_000  # '<' characters: every element, comment or declaration needs one
MAX_ATTRIBUTES = 40_000  # '=' characters: every attribute (and namespace declaration) needs one
MAX_DEPTH = 32  # element nesting; the deepest request the schema allows is under 10


class _RefuseExternal(etree.Resolver):  # type: ignore[misc]
    """Never load anything named by a document. Without a resolver of its own, libxml2 opens
    local files named as an external DTD subset or an external parameter entity even with
    load_dtd=False and no_network=True (a request naming /dev/zero or a FIFO hangs the parser);
    with one registered, lxml does not open them. Should it ever ask, the answer is empty."""

    def resolve(self, url: str, pubid: str, context: Any) -> Any:
        return self.resolve_string("", context)


class _PerThread(threading.local):
    """lxml parsers and schema validators keep per-call state: one of each per thread."""

    def __init__(self) -> None:
        self.parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        self.parser.resolvers.add(_RefuseExternal())
        self.schema = etree.XMLSchema(etree.parse(str(SCHEMA_DIR / "messages.xsd")))


_local = _PerThread()


def _line(el: _Element) -> int | None:
    line = el.sourceline
    return line if isinstance(line, int) else None


def _item_ref(el: _Element) -> rq.ItemRef:
    return rq.ItemRef(id=el.get("Id", ""), change_key=el.get("ChangeKey"))


def _opt_ref(parent: _Element, name: str) -> rq.ItemRef | None:
    el = parent.find(m(name))
    return None if el is None else _item_ref(el)


def _ref(parent: _Element, name: str) -> rq.ItemRef:
    ref = _opt_ref(parent, name)
    if ref is None:  # the schema makes this unreachable; keep the reader total anyway
        raise schema_fault(f"The element '{name}' is missing.", _line(parent), None)
    return ref


def _text(parent: _Element, name: str) -> str:
    el = parent.find(m(name))
    return "" if el is None else (el.text or "")


def _opt_text(parent: _Element, name: str) -> str | None:
    el = parent.find(m(name))
    return None if el is None else (el.text or "")


def _paths(parent: _Element) -> tuple[rq.PropertyPath, ...]:
    container = parent.find(m("ExtendedProperties"))
    if container is None:
        return ()
    paths = []
    for el in container.iterchildren(t("ExtendedProperty")):
        prop_id = el.get("PropertyId")
        paths.append(
            rq.PropertyPath(
                property_type=el.get("PropertyType", ""),
                distinguished_property_set_id=el.get("DistinguishedPropertySetId"),
                property_set_id=el.get("PropertySetId"),
                property_tag=el.get("PropertyTag"),
                property_name=el.get("PropertyName"),
                property_id=int(prop_id) if prop_id is not None else None,
            )
        )
    return tuple(paths)


def _ids(parent: _Element, name: str) -> tuple[rq.ItemRef, ...]:
    container = parent.find(m(name))
    if container is None:
        return ()
    return tuple(_item_ref(el) for el in container.iterchildren(t("ItemId")))


def _bool(value: str) -> bool:
    return value.strip() in ("true", "1")


_READERS: dict[str, Callable[[_Element], rq.Request]] = {
    "AddImGroup": lambda e: rq.AddImGroup(_text(e, "DisplayName")),
    "SetImGroup": lambda e: rq.SetImGroup(_ref(e, "GroupId"), _text(e, "NewDisplayName")),
    "RemoveImGroup": lambda e: rq.RemoveImGroup(_ref(e, "GroupId")),
    "AddNewImContactToGroup": lambda e: rq.AddNewImContactToGroup(
        _text(e, "ImAddress"), _opt_text(e, "DisplayName"), _opt_ref(e, "GroupId")
    ),
    "AddNewTelUriContactToGroup": lambda e: rq.AddNewTelUriContactToGroup(
        _text(e, "TelUriAddress"),
        _text(e, "ImContactSipUriAddress"),
        _text(e, "ImTelephoneNumber"),
        _opt_ref(e, "GroupId"),
    ),
    "AddImContactToGroup": lambda e: rq.AddImContactToGroup(_ref(e, "ContactId"), _opt_ref(e, "GroupId")),
    "RemoveImContactFromGroup": lambda e: rq.RemoveImContactFromGroup(_ref(e, "ContactId"), _ref(e, "GroupId")),
    "RemoveContactFromImList": lambda e: rq.RemoveContactFromImList(_ref(e, "ContactId")),
    "GetImItemList": lambda e: rq.GetImItemList(_paths(e)),
    "GetImItems": lambda e: rq.GetImItems(_ids(e, "ContactIds"), _ids(e, "GroupIds"), _paths(e)),
    "AddDistributionGroupToImList": lambda e: rq.AddDistributionGroupToImList(
        _text(e, "SmtpAddress"), _text(e, "DisplayName")
    ),
    "RemoveDistributionGroupFromImList": lambda e: rq.RemoveDistributionGroupFromImList(_ref(e, "GroupId")),
    "SetImListMigrationCompleted": lambda e: rq.SetImListMigrationCompleted(
        _bool(_text(e, "ImListMigrationCompleted"))
    ),
    "FindPeople": read_find_people,
    "GetUserPhoto": read_get_user_photo,
}

OPERATIONS: frozenset[str] = frozenset(_READERS)

# SOAP headers of requests that these operations define; anything else is ignored unless it
# demands to be understood.
_KNOWN_HEADERS = frozenset(
    t(name) for name in ("RequestServerVersion", "MailboxCulture", "TimeZoneContext", "ExchangeImpersonation")
)


def _validate(el: _Element) -> None:
    schema = _local.schema
    if not schema.validate(el):
        error = next(iter(schema.error_log))  # the first violation is the one to fix first
        raise schema_fault(error.message, error.line, error.column)


def _headers(header: _Element | None) -> rq.Headers:
    if header is None:
        return rq.Headers()
    version = culture = None
    impersonation = None
    for el in header:
        if not isinstance(el.tag, str):
            continue
        if el.tag not in _KNOWN_HEADERS:
            if el.get(_MUST_UNDERSTAND) in ("1", "true"):
                raise SoapFault(
                    ResponseCode.INVALID_REQUEST,
                    f"The SOAP header '{etree.QName(el).localname}' is not understood by this server.",
                )
            continue
        _validate(el)
        local = etree.QName(el).localname
        if local == "RequestServerVersion":
            version = el.get("Version")
        elif local == "MailboxCulture":
            culture = (el.text or "").strip()
        elif local == "ExchangeImpersonation":
            sid = el.find(t("ConnectingSID"))
            target = sid[0] if sid is not None and len(sid) else None
            if target is not None:
                impersonation = rq.Impersonation(etree.QName(target).localname, (target.text or "").strip())
    return rq.Headers(request_server_version=version, mailbox_culture=culture, impersonation=impersonation)


# True when some element sits deeper than MAX_DEPTH: evaluated in C, one pass over the levels.
_TOO_DEEP = etree.XPath("boolean(" + "/*" * (MAX_DEPTH + 1) + ")")


def _parse(body: bytes) -> _Element:
    if not body.strip():
        raise schema_fault("The request body is empty.", None, None)
    # Counting bytes costs microseconds and bounds the tree before it is built: parse time and
    # memory grow with the number of nodes, not only with the body's size.
    if body.count(b"<") > MAX_TAGS or body.count(b"=") > MAX_ATTRIBUTES:
        raise schema_fault("The request has too many elements or attributes.", None, None)
    try:
        root = etree.fromstring(body, parser=_local.parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise schema_fault(exc.msg or "The request is not well-formed XML.", line, column) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        # DTDs buy an attacker entity expansion and external fetches; SOAP forbids them anyway.
        raise schema_fault("A document type declaration is not allowed in a SOAP message.", 1, 1)
    if _TOO_DEEP(root):
        raise schema_fault(f"Elements are nested more than {MAX_DEPTH} deep.", None, None)
    return root


def read_request(body: bytes) -> rq.Envelope:
    """Decode one SOAP 1.1 request, or raise SoapFault."""
    root = _parse(body)
    if root.tag != _ENVELOPE:
        raise schema_fault(
            f"The root element '{etree.QName(root).localname}' is not a SOAP 1.1 Envelope (namespace '{SOAP}').",
            _line(root),
            None,
        )
    header = root.find(_HEADER)
    soap_body = root.find(_BODY)
    if soap_body is None:
        raise schema_fault("The SOAP Envelope has no Body element.", _line(root), None)
    children = [el for el in soap_body if isinstance(el.tag, str)]
    if len(children) != 1:
        raise schema_fault(
            f"The SOAP Body must hold exactly one operation element, not {len(children)}.",
            _line(soap_body),
            None,
        )
    op_el = children[0]
    qname = etree.QName(op_el)
    if qname.namespace != MESSAGES or qname.localname not in _READERS:
        where = f"namespace '{qname.namespace}'" if qname.namespace else "no namespace"
        raise schema_fault(
            f"The element '{qname.localname}' in {where} is not an operation this server provides.",
            _line(op_el),
            None,
        )
    headers = _headers(header)
    version = headers.request_server_version
    if version is not None and version not in SUPPORTED_VERSIONS:
        raise version_fault()
    _validate(op_el)
    return rq.Envelope(qname.localname, _READERS[qname.localname](op_el), headers)
