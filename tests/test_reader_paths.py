"""The reader's two paths agree (openucs/ews/reader.py). The plain path reads the requests
clients send without the schema validator; for every document it accepts, it must return exactly
what the general path (depth check, schema validation, then reading) returns, and it must decline
every document the schema rejects. Seed requests of every operation, built from messages.xsd,
are mutated one step at a time (attributes, text, CDATA, tails, elements added, removed,
duplicated, swapped, renamed) and then at random, and both paths read each mutant."""

import copy
import random
from collections.abc import Callable, Iterator
from dataclasses import FrozenInstanceError
from functools import cache

import pytest
from lxml import etree

from openucs.ews import reader
from openucs.ews import requests as rq
from openucs.ews.faults import SoapFault
from openucs.ews.versions import ALL_VERSIONS, SUPPORTED_VERSIONS
from tests.support import SOAP, M, T

XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XS_NS = {"xs": XS}

# One valid sample of every child element an operation may have, by name.
SAMPLES = {
    "DisplayName": "<m:DisplayName>Work</m:DisplayName>",
    "NewDisplayName": "<m:NewDisplayName>Play</m:NewDisplayName>",
    "GroupId": '<m:GroupId Id="AAMkAGdyb3Vw" ChangeKey="EgAAAA=="/>',
    "ContactId": '<m:ContactId Id="AAMkAGNvbnRhY3Q="/>',
    "ImAddress": "<m:ImAddress>sip:bob@example.com</m:ImAddress>",
    "TelUriAddress": "<m:TelUriAddress>tel:+15550100</m:TelUriAddress>",
    "ImContactSipUriAddress": "<m:ImContactSipUriAddress>sip:+15550100@example.com</m:ImContactSipUriAddress>",
    "ImTelephoneNumber": "<m:ImTelephoneNumber>+1 555 0100</m:ImTelephoneNumber>",
    "SmtpAddress": "<m:SmtpAddress>team@example.com</m:SmtpAddress>",
    "ContactIds": '<m:ContactIds><t:ItemId Id="a"/><t:ItemId Id="b" ChangeKey="c"/></m:ContactIds>',
    "GroupIds": '<m:GroupIds><t:ItemId Id="g"/></m:GroupIds>',
    "ExtendedProperties": (
        '<m:ExtendedProperties><t:ExtendedProperty DistinguishedPropertySetId="PublicStrings" PropertyName="x" '
        'PropertyType="String"/></m:ExtendedProperties>'
    ),
    "ImListMigrationCompleted": "<m:ImListMigrationCompleted>true</m:ImListMigrationCompleted>",
}
PLAIN_OPERATIONS = [
    name for name in sorted(reader.OPERATIONS) if name not in ("FindPeople", "GetUserPhoto")
]  # the other two are always validated


@cache
def messages_xsd() -> etree._Element:
    return etree.parse(str(reader.SCHEMA_DIR / "messages.xsd")).getroot()


def children_of(operation: str) -> list[tuple[str, bool]]:
    """(name, optional) of the operation's child elements, in schema order."""
    (sequence,) = messages_xsd().xpath(
        f"xs:complexType[@name='{operation}Type']/xs:complexContent/xs:extension/xs:sequence", namespaces=XS_NS
    )
    return [(el.get("name"), el.get("minOccurs") == "0") for el in sequence.iterchildren(f"{{{XS}}}element")]


def max_lengths() -> list[int]:
    return sorted({int(f.get("value")) for f in messages_xsd().iter(f"{{{XS}}}maxLength")})


def envelope(operation: str, style: str, version: str = "Exchange2013") -> bytes:
    if style == "sipe":  # tests/test_sipe_flow.py: spaces everywhere, one line
        return (
            f'<?xml version="1.0"?>\r\n<soap:Envelope xmlns:m="{M}" xmlns:soap="{SOAP}" xmlns:t="{T}" >'
            f' <soap:Header> <t:RequestServerVersion Version="{version}" /> </soap:Header>'
            f" <soap:Body> {operation} </soap:Body> </soap:Envelope>"
        ).encode()
    header = "" if style == "headless" else f'<soap:Header><t:RequestServerVersion Version="{version}"/></soap:Header>'
    return (
        f'<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="{SOAP}" xmlns:m="{M}" xmlns:t="{T}">'
        f"{header}<soap:Body>{operation}</soap:Body></soap:Envelope>"
    ).encode()


def seeds() -> list[bytes]:
    """Every operation with its required children and each combination of optional ones (at
    most three), in three styles."""
    bodies = []
    for operation in PLAIN_OPERATIONS:
        children = children_of(operation)
        optional = [name for name, is_optional in children if is_optional]
        for mask in range(2 ** len(optional)):
            chosen = {name for bit, name in enumerate(optional) if mask >> bit & 1}
            inner = "".join(SAMPLES[name] for name, is_optional in children if not is_optional or name in chosen)
            operation_xml = f"<m:{operation}>{inner}</m:{operation}>"
            bodies += [
                envelope(operation_xml, "compact", "V2018_01_08"),
                envelope(operation_xml, "sipe"),
                envelope(operation_xml, "headless"),
            ]
    return bodies


# -- mutations: each changes one element of a parsed copy, or raises Skip ------------------------


class Skip(Exception):
    pass


Mutation = Callable[[etree._Element], None]

ATTRIBUTES = {
    "Id": "x",
    "ChangeKey": "",
    "Version": "Exchange2013",
    "Other": "1",
    f"{{{XSI}}}nil": "true",
    f"{{{XSI}}}type": "t:ItemIdType",
    f"{{{SOAP}}}mustUnderstand": "1",
    "{http://www.w3.org/XML/1998/namespace}lang": "en",
}
ATTRIBUTE_VALUES = ["", " ", "x", "Exchange2010", "Exchange2013 ", "V2018_01_08", "Exchange2013_SP1"]
TEXTS = [None, "", " ", "\n\t ", "x", "\u00a0", "\u2003", "true", "false", "1", "0", " true", "TRUE", "yes", "2"]
TAILS = [" ", "\r\n", "x", "\u00a0"]
NEW_CHILDREN = [f"{{{M}}}ItemId", f"{{{T}}}ItemId", f"{{{M}}}DisplayName", "{urn:x}Other", f"{{{M}}}GroupId"]


def long_texts() -> list[str]:
    texts = []
    for length in max_lengths():
        for n in (length, length + 1):
            texts += ["a" * n, "\U0001f600" * n]
    return texts


def set_attribute(name: str, value: str) -> Mutation:
    return lambda el: el.set(name, value)


def drop_attribute(name: str) -> Mutation:
    def mutate(el: etree._Element) -> None:
        if name not in el.attrib:
            raise Skip
        del el.attrib[name]

    return mutate


def change_attributes(value: str) -> Mutation:
    def mutate(el: etree._Element) -> None:
        if not el.attrib:
            raise Skip
        for name in el.attrib:
            el.set(name, value)

    return mutate


def set_text(text: str | None, cdata: bool = False) -> Mutation:
    def mutate(el: etree._Element) -> None:
        el.text = etree.CDATA(text) if cdata and text is not None else text

    return mutate


def set_tail(tail: str) -> Mutation:
    def mutate(el: etree._Element) -> None:
        if el.getparent() is None:
            raise Skip
        el.tail = tail

    return mutate


def remove(el: etree._Element) -> None:
    parent = el.getparent()
    if parent is None:
        raise Skip
    parent.remove(el)


def duplicate(el: etree._Element) -> None:
    if el.getparent() is None:
        raise Skip
    el.addnext(copy.deepcopy(el))


def swap_with_previous(el: etree._Element) -> None:
    previous = el.getprevious()
    if previous is None:
        raise Skip
    previous.addprevious(el)


def add_child(tag: str) -> Mutation:
    def mutate(el: etree._Element) -> None:
        child = etree.SubElement(el, tag)
        child.set("Id", "x")

    return mutate


def rename(namespace: str | None) -> Mutation:
    def mutate(el: etree._Element) -> None:
        local = etree.QName(el).localname
        el.tag = f"{{{namespace}}}{local}" if namespace else local

    return mutate


def add_deep_child(el: etree._Element) -> None:
    """Past the depth limit, which only the general path checks."""
    for _ in range(reader.MAX_DEPTH):
        el = etree.SubElement(el, f"{{{T}}}Deep")


def add_comment(el: etree._Element) -> None:
    el.insert(0, etree.Comment("c"))


def add_pi(el: etree._Element) -> None:
    el.append(etree.ProcessingInstruction("app", "x"))


def mutations() -> list[Mutation]:
    found: list[Mutation] = [set_attribute(name, value) for name, value in ATTRIBUTES.items()]
    found += [drop_attribute(name) for name in ("Id", "ChangeKey", "Version")]
    found += [change_attributes(value) for value in ATTRIBUTE_VALUES]
    found += [set_text(text) for text in [*TEXTS, *long_texts()]]
    found += [set_text(text, cdata=True) for text in ("", " ", "x", "true")]
    found += [set_tail(tail) for tail in TAILS]
    found += [remove, duplicate, swap_with_previous, add_deep_child, add_comment, add_pi]
    found += [add_child(tag) for tag in NEW_CHILDREN]
    found += [rename(namespace) for namespace in (M, T, SOAP, None)]
    return found


def mutants(body: bytes, rnd: random.Random | None = None, steps: int = 1) -> Iterator[bytes]:
    """With ``rnd``, one mutant of ``steps`` random mutations; without, every single mutation."""
    original = etree.fromstring(body)
    count = sum(1 for _ in original.iter(etree.Element))
    plan = (
        [[(rnd.randrange(count), rnd.choice(mutations())) for _ in range(steps)]]
        if rnd
        else [[(i, mutation)] for i in range(count) for mutation in mutations()]
    )
    for steps_to_take in plan:
        root = copy.deepcopy(original)
        try:
            for index, mutation in steps_to_take:
                elements = list(root.iter(etree.Element))
                mutation(elements[index % len(elements)])
        except Skip:
            continue
        yield etree.tostring(root, xml_declaration=True, encoding="utf-8")


# -- the comparison ------------------------------------------------------------------------------


def outcome(read: Callable[[bytes], rq.Envelope], body: bytes) -> object:
    try:
        return read(body)
    except SoapFault as fault:
        return (fault.code, fault.fault_string, fault.message_xml)


def general(body: bytes) -> rq.Envelope:
    return reader._read_any(reader._parse(body))


def plain(body: bytes) -> rq.Envelope | None:
    return reader._read_plain(reader._parse(body))


def compare(body: bytes, schema: etree.XMLSchema) -> bool:
    """Assert that both paths agree on ``body``; True if the plain path read it."""
    expected = outcome(general, body)
    assert outcome(reader.read_request, body) == expected, body
    try:
        taken = plain(body)
    except SoapFault:
        return False
    if taken is None:
        return False
    assert taken == expected, body
    # Read plainly, so valid: every element below the Body validates.
    root = reader._parse(body)
    assert schema.validate(root.find(f"{{{SOAP}}}Body")[0]), body
    return True


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    return etree.XMLSchema(messages_xsd())


def test_the_seeds_are_valid_and_read_plainly(schema):
    """All but extended property paths, whose many facets only the validator checks."""
    for body in seeds():
        assert isinstance(general(body), rq.Envelope)
        assert compare(body, schema) == (b"ExtendedProperties" not in body), body


def test_every_single_mutation_reads_the_same_on_both_paths(schema):
    read_plainly = total = 0
    for seed in seeds():
        for body in mutants(seed):
            total += 1
            read_plainly += compare(body, schema)
    # Both kinds occur in numbers: the comparison is not vacuous either way.
    assert read_plainly > 5000 and total - read_plainly > 10000, (read_plainly, total)


def test_random_mutations_read_the_same_on_both_paths(schema):
    rnd = random.Random(20240611)
    bodies = seeds()
    read_plainly = 0
    for _ in range(3000):
        for body in mutants(rnd.choice(bodies), rnd, steps=rnd.randint(2, 4)):
            read_plainly += compare(body, schema)
    assert read_plainly > 100


@pytest.mark.parametrize("version", [*ALL_VERSIONS, "", "exchange2013", "Exchange2099"])
def test_every_version_reads_the_same_on_both_paths(schema, version):
    for style in ("compact", "sipe"):
        assert compare(envelope("<m:GetImItemList/>", style, version), schema) == (version in SUPPORTED_VERSIONS)


def test_the_version_list_is_the_schemas():
    """The plain path takes a supported version for valid without asking types.xsd."""
    types = etree.parse(str(reader.SCHEMA_DIR / "types.xsd"))
    (simple,) = types.xpath("//xs:simpleType[@name='ExchangeVersionType']", namespaces=XS_NS)
    assert [e.get("value") for e in simple.iter(f"{{{XS}}}enumeration")] == list(ALL_VERSIONS)


def test_the_plain_readers_follow_the_schema():
    """Field order and optionality come from messages.xsd (the mutations prove the rest)."""
    for operation in PLAIN_OPERATIONS:
        fields = reader._OPERATIONS[f"{{{M}}}{operation}"].fields
        assert [(f.name, f.optional) for f in fields] == children_of(operation), operation


@pytest.mark.parametrize("operation", ["FindPeople", "GetUserPhoto"])
def test_people_operations_are_always_validated(operation):
    el = etree.fromstring(f'<m:{operation} xmlns:m="{M}"/>')
    assert reader._OPERATIONS[el.tag].read_plain(el) is None


# -- requests that name no ids are decoded once per process


def _list_body(spacing: str = "") -> bytes:
    return (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:m="{M}" xmlns:t="{T}">{spacing}'
        '<s:Header><t:RequestServerVersion Version="Exchange2013"/></s:Header>'
        "<s:Body><m:GetImItemList/></s:Body></s:Envelope>"
    ).encode()


def test_a_repeated_get_im_item_list_is_decoded_once():
    reader._repeated.clear()
    body = _list_body()
    first = reader.read_request(body)
    assert reader.read_request(bytes(body)) is first  # equal bytes, another object: same answer
    assert first == reader._read_any(reader._parse(body))


def test_requests_naming_ids_are_not_kept():
    reader._repeated.clear()
    body = (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:m="{M}" xmlns:t="{T}"><s:Body><m:GetImItems>'
        '<m:ContactIds><t:ItemId Id="AAA="/></m:ContactIds></m:GetImItems></s:Body></s:Envelope>'
    ).encode()
    assert reader.read_request(body) is not reader.read_request(body)
    assert reader._repeated == {}


def test_a_refused_request_is_refused_every_time():
    reader._repeated.clear()
    body = _list_body().replace(b"Exchange2013", b"Exchange2007")
    for _ in range(2):
        with pytest.raises(SoapFault):
            reader.read_request(body)
    assert reader._repeated == {}


def test_varied_bytes_cannot_grow_the_kept_requests():
    reader._repeated.clear()
    for n in range(3 * reader._REPEATED_MAX):
        reader.read_request(_list_body(" " * n))
        assert len(reader._repeated) <= reader._REPEATED_MAX
    big = _list_body(" " * reader._REPEATED_MAX_BYTES)
    reader.read_request(big)
    assert big not in reader._repeated


# -- _parse's own checks, and the shortcuts they take


def refusal(body: bytes) -> str:
    with pytest.raises(SoapFault) as refused:
        reader._parse(body)
    return refused.value.fault_string


@pytest.mark.parametrize("body", [b"", b" ", b" \t\r\n\x0b\x0c "])
def test_an_empty_or_blank_body_is_refused_as_empty(body):
    assert "The request body is empty." in refusal(body)


def test_the_declarations_that_skip_the_encoding_check_would_pass_it():
    """A body opening with one of them is not matched against the regular expressions."""
    for declaration in reader._UTF8_DECLARATIONS:
        reader._check_encoding(declaration + b"<a/>")  # refuses by raising
        declared = reader._DECLARED_ENCODING.match(declaration)
        assert declared is None or declared.group(1).lower() == b"utf-8", declaration
    # ... and the check refuses what it must, whatever declaration it is handed
    with pytest.raises(SoapFault, match="UTF-7"):
        reader._check_encoding(b'<?xml version="1.0" encoding="UTF-7"?><a/>')


@pytest.mark.parametrize(("character", "limit"), [(b"<", "MAX_TAGS"), (b"=", "MAX_ATTRIBUTES")])
def test_the_tag_and_attribute_limits_hold_at_every_length(monkeypatch, character, limit):
    """Only a body longer than a limit is counted, as one no longer cannot exceed it: one over
    the limit is refused however short."""
    monkeypatch.setattr(reader, "MAX_TAGS", 8)
    monkeypatch.setattr(reader, "MAX_ATTRIBUTES", 12)
    most = getattr(reader, limit)
    assert "too many elements or attributes" in refusal(character * (most + 1))
    assert "too many elements or attributes" not in refusal(character * most)  # malformed, no more


@pytest.mark.parametrize(
    "doctype",
    [
        b"<!DOCTYPE soap:Envelope>",
        b'<!DOCTYPE soap:Envelope SYSTEM "envelope.dtd">',
        b'<!DOCTYPE soap:Envelope PUBLIC "-//X//Y//EN" "envelope.dtd">',
        b"<!DOCTYPE soap:Envelope []>",
        b'<!DOCTYPE soap:Envelope [<!ENTITY e "x">]>',
    ],
)
def test_every_document_type_declaration_is_refused(doctype):
    body = envelope("<m:GetImItemList/>", "compact")
    declaration, _, rest = body.partition(b"?>")
    assert "document type declaration is not allowed" in refusal(declaration + b"?>" + doctype + rest)


def test_plain_requests_share_their_headers_which_cannot_change():
    first, second = (
        reader.read_request(envelope(f'<m:RemoveImGroup><m:GroupId Id="{ident}"/></m:RemoveImGroup>', "sipe"))
        for ident in ("a", "b")
    )
    assert first.headers is second.headers
    assert first.headers == rq.Headers("Exchange2013")
    with pytest.raises(FrozenInstanceError):
        first.headers.request_server_version = "Exchange2016"
