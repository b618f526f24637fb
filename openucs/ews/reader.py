"""Bytes → typed request, or a SoapFault.

The envelope is parsed with a parser that never loads DTDs, expands entities or touches the
network. Namespace prefixes are irrelevant: everything is matched by namespace URI.

Every request returned is one the project's own schema (the one it serves at /EWS/messages.xsd)
accepts, by one of two paths:

- the plain path (_read_plain) takes what clients send all day: an Envelope holding a Header of
  RequestServerVersion only and a Body of one operation, every element in a shape the schema
  certainly accepts, checked as it is read. Calling the validator costs more than such a read.
- everything else, valid or not, takes the general path (_read_any): the depth limit, the
  envelope, each known header and the operation validated against the schema, then read. The
  faults all come from here.

For any document the plain path accepts, both give the same request (tests/test_reader_paths.py).
"""

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeAlias

from lxml import etree

from openucs.ews import requests as rq
from openucs.ews.codes import ResponseCode
from openucs.ews.faults import SoapFault, schema_fault, version_fault
from openucs.ews.namespaces import SOAP, m, t
from openucs.ews.people import read_find_people, read_get_user_photo
from openucs.ews.versions import SUPPORTED_VERSIONS

SCHEMA_DIR = Path(str(resources.files("openucs.ews") / "schema"))

_ENVELOPE = f"{{{SOAP}}}Envelope"
_HEADER = f"{{{SOAP}}}Header"
_BODY = f"{{{SOAP}}}Body"
_MUST_UNDERSTAND = f"{{{SOAP}}}mustUnderstand"
_ITEM_ID = t("ItemId")
_EXTENDED_PROPERTY = t("ExtendedProperty")
_REQUEST_SERVER_VERSION = t("RequestServerVersion")
_MAILBOX_CULTURE = t("MailboxCulture")
_EXCHANGE_IMPERSONATION = t("ExchangeImpersonation")
_CONNECTING_SID = t("ConnectingSID")

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


def _validate(el: _Element) -> None:
    schema = _local.schema
    if not schema.validate(el):
        error = next(iter(schema.error_log))  # the first violation is the one to fix first
        raise schema_fault(error.message, error.line, error.column)


# -- the values of an operation's child elements ---------------------------------------------
#
# Each kind of child has two readers. ``read`` takes any element the schema has accepted.
# ``read_plain`` runs before any validation: it returns the same value, or None unless the
# schema certainly accepts the element. It knows only the shapes clients send and declines
# everything else (an attribute it does not expect, text where none belongs, ...), leaving it
# to the validator. The facets it checks are messages.xsd's; tests/test_reader_paths.py
# mutates requests around them and compares both paths.
#
# The plain readers run for nearly every request, and each call costs more than the work around
# it, in lxml as in Python, so they make few: a loop takes an element's children as ``el[:]``,
# one call that lists them (iterating over the element itself first builds an iterator object,
# which costs more than a short list); attributes come as one ``el.items()``; and the test for
# white space is written out where it is needed.

_XML_SPACE = " \t\r\n"  # what XML calls white space; str.isspace() knows more
# Element-only content may hold white space beside its children: a text or tail ``s`` holds
# anything else exactly when ``s and s.strip(_XML_SPACE)`` is true. (The parser keeps CDATA
# sections as plain text, so the validator sees no difference either.)


def _item_ref(el: _Element) -> rq.ItemRef:
    return rq.ItemRef(id=el.get("Id", ""), change_key=el.get("ChangeKey"))


def _plain_item_ref(el: _Element) -> rq.ItemRef | None:
    """t:ItemIdType: empty content, Id required, ChangeKey optional, both any string."""
    if el.text is not None or len(el):
        return None
    ident = change_key = None
    for name, value in el.items():
        if name == "Id":
            ident = value
        elif name == "ChangeKey":
            change_key = value
        else:
            return None
    return None if ident is None else rq.ItemRef(ident, change_key)  # by position: keywords cost more


def _item_refs(el: _Element) -> tuple[rq.ItemRef, ...]:
    return tuple(_item_ref(child) for child in el.iterchildren(_ITEM_ID))


def _plain_item_refs(el: _Element) -> tuple[rq.ItemRef, ...] | None:
    """t:NonEmptyArrayOfBaseItemIdsType: one or more t:ItemId."""
    children = el[:]
    text = el.text
    if not children or el.keys() or (text and text.strip(_XML_SPACE)):
        return None
    refs = []
    for child in children:
        tail = child.tail
        if child.tag != _ITEM_ID or (tail and tail.strip(_XML_SPACE)):
            return None
        ref = _plain_item_ref(child)
        if ref is None:
            return None
        refs.append(ref)
    return tuple(refs)


def _property_paths(el: _Element) -> tuple[rq.PropertyPath, ...]:
    paths = []
    for path in el.iterchildren(_EXTENDED_PROPERTY):
        prop_id = path.get("PropertyId")
        paths.append(
            rq.PropertyPath(
                property_type=path.get("PropertyType", ""),
                distinguished_property_set_id=path.get("DistinguishedPropertySetId"),
                property_set_id=path.get("PropertySetId"),
                property_tag=path.get("PropertyTag"),
                property_name=path.get("PropertyName"),
                property_id=int(prop_id) if prop_id is not None else None,
            )
        )
    return tuple(paths)


def _unsure(el: _Element) -> None:
    """For what only the validator judges (extended property paths: enumerations, patterns)."""
    return None


def _text(el: _Element) -> str:
    return el.text or ""


def _plain_text(max_length: int) -> Callable[[_Element], str | None]:
    """A t:NonEmptyStringType restricted to ``max_length`` characters, as in messages.xsd."""

    def read_plain(el: _Element) -> str | None:
        text: str | None = el.text
        if text is None or not 0 < len(text) <= max_length or len(el) or el.keys():
            return None
        return text

    return read_plain


def _bool(el: _Element) -> bool:
    return (el.text or "").strip() in ("true", "1")


def _plain_bool(el: _Element) -> bool | None:
    text = el.text
    if text not in ("true", "false", "1", "0") or len(el) or el.keys():
        return None
    return text in ("true", "1")


@dataclass(frozen=True, slots=True)
class _Kind:
    """How one kind of child element is read (see above)."""

    read: Callable[[_Element], object]
    read_plain: Callable[[_Element], object | None]
    absent: object = None  # the value of an optional element that is not there


_ITEM_REF = _Kind(_item_ref, _plain_item_ref)
_ITEM_REFS = _Kind(_item_refs, _plain_item_refs, ())
_PROPERTY_PATHS = _Kind(_property_paths, _unsure, ())
_NAME = _Kind(_text, _plain_text(256))  # display names and telephone numbers (maxLength 256)
_ADDRESS = _Kind(_text, _plain_text(320))  # SMTP, SIP and TEL addresses (maxLength 320)
_BOOLEAN = _Kind(_bool, _plain_bool)


@dataclass(frozen=True, slots=True)
class _Field:
    """One child element of an operation: messages-namespace name, kind, minOccurs 0 or 1."""

    name: str
    kind: _Kind
    optional: bool = False


# -- operations -------------------------------------------------------------------------------


class _Operation:
    """Reads one operation element into its request record, whose fields are the operation's
    child elements in schema order (each at most once)."""

    def __init__(self, name: str, build: Callable[..., rq.Request], *fields: _Field) -> None:
        self.name = name
        self.fields = fields
        self._build = build
        self._index = {m(f.name): i for i, f in enumerate(fields)}
        self._absent = [f.kind.absent for f in fields]
        self._required = sum(not f.optional for f in fields)

    def read(self, el: _Element) -> rq.Request:
        """Read an operation element the schema has accepted."""
        values = list(self._absent)
        for child in el:
            i = self._index.get(child.tag)
            if i is not None:
                values[i] = self.fields[i].kind.read(child)
        for field, value in zip(self.fields, values, strict=True):
            if value is None and not field.optional:  # the schema makes this unreachable
                raise schema_fault(f"The element '{field.name}' is missing.", _line(el), None)
        return self._build(*values)

    def read_plain(self, el: _Element) -> rq.Request | None:
        """The request if the schema certainly accepts the element, else None: no attributes,
        only white space beside the children, the children in order, none twice, none missing,
        each one certain."""
        text = el.text
        if el.keys() or (text and text.strip(_XML_SPACE)):
            return None
        values = list(self._absent)
        after = required = 0  # children must come at index ``after`` or later
        for child in el[:]:
            i = self._index.get(child.tag)
            tail = child.tail
            if i is None or i < after or (tail and tail.strip(_XML_SPACE)):
                return None
            field = self.fields[i]
            value = field.kind.read_plain(child)
            if value is None:
                return None
            values[i] = value
            after = i + 1
            required += not field.optional
        return self._build(*values) if required == self._required else None


class _AlwaysValidated(_Operation):
    """FindPeople and GetUserPhoto: rarer, with richer shapes, read by their own functions
    (ews/people.py) and always validated first."""

    def __init__(self, name: str, read: Callable[[_Element], rq.Request]) -> None:
        super().__init__(name, read)
        self._read = read

    def read(self, el: _Element) -> rq.Request:
        return self._read(el)

    def read_plain(self, el: _Element) -> rq.Request | None:
        return None


_OPERATION_LIST = (
    _Operation("AddImGroup", rq.AddImGroup, _Field("DisplayName", _NAME)),
    _Operation("SetImGroup", rq.SetImGroup, _Field("GroupId", _ITEM_REF), _Field("NewDisplayName", _NAME)),
    _Operation("RemoveImGroup", rq.RemoveImGroup, _Field("GroupId", _ITEM_REF)),
    _Operation(
        "AddNewImContactToGroup",
        rq.AddNewImContactToGroup,
        _Field("ImAddress", _ADDRESS),
        _Field("DisplayName", _NAME, optional=True),
        _Field("GroupId", _ITEM_REF, optional=True),
    ),
    _Operation(
        "AddNewTelUriContactToGroup",
        rq.AddNewTelUriContactToGroup,
        _Field("TelUriAddress", _ADDRESS),
        _Field("ImContactSipUriAddress", _ADDRESS),
        _Field("ImTelephoneNumber", _NAME),
        _Field("GroupId", _ITEM_REF, optional=True),
    ),
    _Operation(
        "AddImContactToGroup",
        rq.AddImContactToGroup,
        _Field("ContactId", _ITEM_REF),
        _Field("GroupId", _ITEM_REF, optional=True),
    ),
    _Operation(
        "RemoveImContactFromGroup",
        rq.RemoveImContactFromGroup,
        _Field("ContactId", _ITEM_REF),
        _Field("GroupId", _ITEM_REF),
    ),
    _Operation("RemoveContactFromImList", rq.RemoveContactFromImList, _Field("ContactId", _ITEM_REF)),
    _Operation("GetImItemList", rq.GetImItemList, _Field("ExtendedProperties", _PROPERTY_PATHS, optional=True)),
    _Operation(
        "GetImItems",
        rq.GetImItems,
        _Field("ContactIds", _ITEM_REFS, optional=True),
        _Field("GroupIds", _ITEM_REFS, optional=True),
        _Field("ExtendedProperties", _PROPERTY_PATHS, optional=True),
    ),
    _Operation(
        "AddDistributionGroupToImList",
        rq.AddDistributionGroupToImList,
        _Field("SmtpAddress", _ADDRESS),
        _Field("DisplayName", _NAME),
    ),
    _Operation("RemoveDistributionGroupFromImList", rq.RemoveDistributionGroupFromImList, _Field("GroupId", _ITEM_REF)),
    _Operation(
        "SetImListMigrationCompleted", rq.SetImListMigrationCompleted, _Field("ImListMigrationCompleted", _BOOLEAN)
    ),
    _AlwaysValidated("FindPeople", read_find_people),
    _AlwaysValidated("GetUserPhoto", read_get_user_photo),
)

_OPERATIONS: dict[str, _Operation] = {m(op.name): op for op in _OPERATION_LIST}

OPERATIONS: frozenset[str] = frozenset(op.name for op in _OPERATION_LIST)


# -- SOAP headers ------------------------------------------------------------------------------

# SOAP headers of requests that these operations define; anything else is ignored unless it
# demands to be understood.
_KNOWN_HEADERS = frozenset((_REQUEST_SERVER_VERSION, _MAILBOX_CULTURE, t("TimeZoneContext"), _EXCHANGE_IMPERSONATION))


def _headers(header: _Element | None) -> rq.Headers:
    if header is None:
        return rq.Headers()
    version = culture = None
    impersonation = None
    for el in header:
        tag = el.tag
        if not isinstance(tag, str):
            continue
        if tag not in _KNOWN_HEADERS:
            if el.get(_MUST_UNDERSTAND) in ("1", "true"):
                raise SoapFault(
                    ResponseCode.INVALID_REQUEST,
                    f"The SOAP header '{etree.QName(el).localname}' is not understood by this server.",
                )
            continue
        _validate(el)
        if tag == _REQUEST_SERVER_VERSION:
            version = el.get("Version")
        elif tag == _MAILBOX_CULTURE:
            culture = (el.text or "").strip()
        elif tag == _EXCHANGE_IMPERSONATION:
            sid = el.find(_CONNECTING_SID)
            target = sid[0] if sid is not None and len(sid) else None
            if target is not None:
                impersonation = rq.Impersonation(etree.QName(target).localname, (target.text or "").strip())
    return rq.Headers(request_server_version=version, mailbox_culture=culture, impersonation=impersonation)


# The headers of a plain request by the version it names (None: none), one (frozen) object each
# rather than one per request; a version not here is not plain. Every supported version is in the
# schema's enumeration.
_PLAIN_HEADERS: dict[str | None, rq.Headers] = {
    version: rq.Headers(version) for version in (None, *sorted(SUPPORTED_VERSIONS))
}


def _plain_headers(header: _Element) -> rq.Headers | None:
    """The headers if there is none but one ``<t:RequestServerVersion Version="..."/>``, exactly
    so, naming a supported version; else None."""
    count = len(header)
    if count > 1 or header.tag != _HEADER:
        return None
    if not count:
        return _PLAIN_HEADERS[None]
    el = header[0]
    if el.tag != _REQUEST_SERVER_VERSION or el.text is not None or len(el):
        return None
    attributes = el.items()
    if len(attributes) != 1 or attributes[0][0] != "Version":
        return None
    return _PLAIN_HEADERS.get(attributes[0][1])


# -- the envelope -----------------------------------------------------------------------------

# True when some element sits deeper than MAX_DEPTH: evaluated in C, one pass over the levels.
_TOO_DEEP = etree.XPath("boolean(" + "/*" * (MAX_DEPTH + 1) + ")")


# The tag and attribute counts in _parse hold only where "<" and "=" are the bytes counted:
# UTF-8 (what clients send), the ASCII-compatible encodings, UTF-16. UTF-7 can write "<" as
# "+ADw-", so a declaration naming an encoding outside these is refused before parsing.
_DECLARED_ENCODING = re.compile(rb"""\A(?:\xef\xbb\xbf)?<\?xml\b[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")
_COUNTABLE_ENCODING = re.compile(r"utf-?8|utf-?16(le|be)?|(us-)?ascii|iso-?8859-\d+|windows-125\d|latin-?1", re.I)
# Declarations clients send, each naming UTF-8 or no encoding: a body opening with one passes the
# check without the regular expressions, which cost more than the rest of _parse's own checks.
_UTF8_DECLARATIONS = (
    b'<?xml version="1.0" encoding="utf-8"?>',
    b'<?xml version="1.0" encoding="UTF-8"?>',
    b"<?xml version='1.0' encoding='utf-8'?>",
    b'<?xml version="1.0"?>',
)


def _check_encoding(body: bytes) -> None:
    declared = _DECLARED_ENCODING.match(body)
    if declared is not None:
        name = declared.group(1).decode("ascii", "replace")
        if not _COUNTABLE_ENCODING.fullmatch(name):
            raise schema_fault(f"The encoding '{name[:40]}' is not supported; send UTF-8.", 1, 1)


def _parse(body: bytes) -> _Element:
    if not body or body.isspace():  # what body.strip() would empty, without copying the body
        raise schema_fault("The request body is empty.", None, None)
    if not body.startswith(_UTF8_DECLARATIONS):
        _check_encoding(body)
    # Counting bytes costs microseconds and bounds the tree before it is built: parse time and
    # memory grow with the number of nodes, not only with the body's size. A body no longer than
    # a limit cannot pass it, and is not counted.
    if (len(body) > MAX_TAGS and body.count(b"<") > MAX_TAGS) or (
        len(body) > MAX_ATTRIBUTES and body.count(b"=") > MAX_ATTRIBUTES
    ):
        raise schema_fault("The request has too many elements or attributes.", None, None)
    try:
        root = etree.fromstring(body, _local.parser)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise schema_fault(exc.msg or "The request is not well-formed XML.", line, column) from None
    docinfo = etree.DocInfo(root)
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        # DTDs buy an attacker entity expansion and external fetches; SOAP forbids them anyway.
        raise schema_fault("A document type declaration is not allowed in a SOAP message.", 1, 1)
    return root


def _read_plain(root: _Element) -> rq.Envelope | None:
    """The request if the document is an Envelope holding an optional Header of at most one
    plain RequestServerVersion and a Body of one operation the schema certainly accepts; else None.
    Every element of such a document has been looked at, and it is at most five deep."""
    parts = len(root)
    if not 0 < parts <= 2 or root.tag != _ENVELOPE:
        return None
    headers = _plain_headers(root[0]) if parts == 2 else _PLAIN_HEADERS[None]
    body = root[parts - 1]
    if headers is None or body.tag != _BODY or len(body) != 1:
        return None
    op_el = body[0]
    operation = _OPERATIONS.get(op_el.tag)
    if operation is None:
        return None
    request = operation.read_plain(op_el)
    return None if request is None else rq.Envelope(operation.name, request, headers)


def _read_any(root: _Element) -> rq.Envelope:
    """Any document: the request, or the fault for the first thing wrong with it."""
    if _TOO_DEEP(root):
        raise schema_fault(f"Elements are nested more than {MAX_DEPTH} deep.", None, None)
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
    operation = _OPERATIONS.get(op_el.tag)
    if operation is None:
        qname = etree.QName(op_el)
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
    return rq.Envelope(operation.name, operation.read(op_el), headers)


# Every client of a kind sends the same bytes for a request that names no ids — every SIPE
# client's GetImItemList is one envelope — so such requests are decoded once per process.
# Requests that name ids are seldom repeated and are not kept. Decoded requests are never
# modified (with_if_none_match copies), so one may answer many.
_REPEATED_OPERATIONS = frozenset({"GetImItemList"})
_REPEATED_MAX = 256  # envelopes kept; at most 4 KiB each
_REPEATED_MAX_BYTES = 4096
_repeated: dict[bytes, rq.Envelope] = {}


def read_request(body: bytes) -> rq.Envelope:
    """Decode one SOAP 1.1 request, or raise SoapFault."""
    envelope = _repeated.get(body)
    if envelope is not None:
        return envelope
    root = _parse(body)
    envelope = _read_plain(root)
    if envelope is None:
        return _read_any(root)
    if envelope.operation in _REPEATED_OPERATIONS and len(body) <= _REPEATED_MAX_BYTES:
        if len(_repeated) >= _REPEATED_MAX:  # a client varying its bytes cannot grow this
            _repeated.clear()
        _repeated[body] = envelope
    return envelope
