"""SOAP 1.1 as Exchange does it (issue 2 §3), in process: versions, headers, namespaces,
whitespace, faults, schema validation and unexpected exceptions.

The envelope layer does not depend on the storage backend, so these run on SQLite only."""

import logging

import pytest
from lxml import etree

from openucs.domain.model import GroupKind
from openucs.ews import requests as rq
from openucs.ops import registry
from tests.helpers_ops import expect_error, fast_password_hashes, get_item_list, group_names, new_group
from tests.support import MS_SCHEMA_DIR, SOAP, E, M, Reply, T, envelope, validate_envelope

XS = "http://www.w3.org/2001/XMLSchema"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite only: nothing here depends on the storage backend."""
    return f"sqlite:///{tmp_path / 'openucs.db'}"


@pytest.fixture(autouse=True, scope="module")
def _fast_hashes():
    with fast_password_hashes():
        yield


def _ms_versions() -> list[str]:
    """ExchangeVersionType from Microsoft's product schema, in order."""
    types = etree.parse(str(MS_SCHEMA_DIR / "types.xsd"))
    (simple,) = types.xpath("//xs:simpleType[@name='ExchangeVersionType']", namespaces={"xs": XS})
    return [e.get("value") for e in simple.iter(f"{{{XS}}}enumeration")]


VERSIONS = _ms_versions()
SUPPORTED = VERSIONS[VERSIONS.index("Exchange2013") :]
TOO_OLD = VERSIONS[: VERSIONS.index("Exchange2013")]


def server_version(reply: Reply) -> etree._Element:
    info = reply.root.find(f"{{{SOAP}}}Header/{{{T}}}ServerVersionInfo")
    assert info is not None, etree.tostring(reply.root)
    return info


def user_groups(client) -> set[str]:
    return {n for n, g in client.item_list().groups.items() if g["type"] == "IPM.DistList.MOC.UserGroup"}


def test_the_version_list_is_complete():
    assert SUPPORTED[0] == "Exchange2013"
    assert SUPPORTED[-1] == "V2018_01_08"
    assert "Exchange2010_SP2" in TOO_OLD


# -- RequestServerVersion --------------------------------------------------------------------


def test_no_request_server_version_is_exchange2013(client):
    reply = client.call("<m:GetImItemList/>", version=None).ok()
    info = server_version(reply)
    assert info.get("Version") == "Exchange2013"
    assert info.get("MajorVersion") == "15"


def test_no_soap_header_at_all(client):
    body = (
        f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Body>'
        f'<m:AddImGroup xmlns:m="{M}"><m:DisplayName>Headless</m:DisplayName></m:AddImGroup>'
        "</soap:Body></soap:Envelope>"
    ).encode()
    reply = client.post(body).ok()
    assert server_version(reply).get("Version") == "Exchange2013"
    assert "Headless" in user_groups(client)


@pytest.mark.parametrize("version", SUPPORTED)
def test_supported_versions_are_accepted_and_echoed(client, version):
    reply = client.call("<m:AddImGroup><m:DisplayName>V</m:DisplayName></m:AddImGroup>", version=version).ok()
    info = server_version(reply)
    assert info.get("Version") == version
    assert info.get("MajorVersion") == "15"


def test_answers_without_a_payload_echo_each_version(client):
    """Such an answer is the same bytes every time for an operation and a version: made once and
    kept, the version of one request never answers another's."""
    migrated = "<m:SetImListMigrationCompleted><m:ImListMigrationCompleted>true</m:ImListMigrationCompleted>"
    for version in [*SUPPORTED, *SUPPORTED[::-1]]:
        reply = client.call(migrated + "</m:SetImListMigrationCompleted>", version=version).ok()
        assert server_version(reply).get("Version") == version


@pytest.mark.parametrize("version", TOO_OLD)
def test_versions_older_than_exchange2013_are_refused(client, version):
    reply = client.call("<m:AddImGroup><m:DisplayName>Old</m:DisplayName></m:AddImGroup>", version=version)
    reply.fault("ErrorIncorrectSchemaVersion")
    assert "Old" not in user_groups(client)


@pytest.mark.parametrize("version", ["Exchange2099", "exchange2013", "Exchange 2013", "", "V2019_01_01"])
def test_unknown_versions_fail_schema_validation(client, version):
    body = envelope("<m:GetImItemList/>", version=None, headers=f'<t:RequestServerVersion Version="{version}"/>')
    client.post(body).fault("ErrorSchemaValidation")


def test_request_server_version_without_version_attribute(client):
    client.post(envelope("<m:GetImItemList/>", version=None, headers="<t:RequestServerVersion/>")).fault(
        "ErrorSchemaValidation"
    )


# -- other headers ---------------------------------------------------------------------------

TIME_ZONE = '<t:TimeZoneContext><t:TimeZoneDefinition Id="W. Europe Standard Time"/></t:TimeZoneContext>'


@pytest.mark.parametrize(
    "headers",
    [
        "<t:MailboxCulture>en-US</t:MailboxCulture>",
        TIME_ZONE,
        f"<t:MailboxCulture>de-DE</t:MailboxCulture>{TIME_ZONE}",
    ],
)
def test_mailbox_culture_and_time_zone_context_are_accepted(client, headers):
    reply = client.call("<m:AddImGroup><m:DisplayName>H</m:DisplayName></m:AddImGroup>", headers=headers).ok()
    assert reply.find("m:ImGroup/t:DisplayName").text == "H"
    assert "H" in user_groups(client)


def test_unknown_header_is_ignored(client):
    reply = client.call("<m:GetImItemList/>", headers='<x:Trace xmlns:x="urn:example:trace">1</x:Trace>')
    reply.ok()


def test_unknown_header_that_must_be_understood_is_a_fault(client):
    reply = client.call(
        "<m:AddImGroup><m:DisplayName>MU</m:DisplayName></m:AddImGroup>",
        headers='<x:Trace xmlns:x="urn:example:trace" soap:mustUnderstand="1">1</x:Trace>',
    )
    assert reply.status == 500 and reply.is_fault
    assert "MU" not in user_groups(client)


IMPERSONATION = {
    "PrimarySmtpAddress": "bob@example.com",
    "SmtpAddress": "bob@example.com",
    "PrincipalName": "bob@example.com",
    "SID": "S-1-5-21-1-2-3-1001",
}


# Without an impersonation grant (tests/test_impersonation.py has the rest): refused as
# Exchange refuses it, with a SOAP fault, and nothing happens to either mailbox.
@pytest.mark.parametrize("kind", IMPERSONATION)
def test_impersonation_is_denied_and_changes_nothing(client, bob_client, kind):
    header = (
        f"<t:ExchangeImpersonation><t:ConnectingSID><t:{kind}>{IMPERSONATION[kind]}</t:{kind}>"
        "</t:ConnectingSID></t:ExchangeImpersonation>"
    )
    reply = client.call("<m:AddImGroup><m:DisplayName>Sneaky</m:DisplayName></m:AddImGroup>", headers=header)
    reply.fault("ErrorImpersonateUserDenied")
    assert "Sneaky" not in user_groups(client)
    assert "Sneaky" not in user_groups(bob_client)
    client.call("<m:GetImItemList/>", headers=header).fault("ErrorImpersonateUserDenied")


def test_impersonating_oneself_is_denied_too(client):
    header = (
        "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>alice@example.com"
        "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
    )
    client.call("<m:AddImGroup><m:DisplayName>Self</m:DisplayName></m:AddImGroup>", headers=header).fault(
        "ErrorImpersonateUserDenied"
    )
    assert "Self" not in user_groups(client)


# -- namespaces and whitespace ---------------------------------------------------------------

NAMESPACE_STYLES = {
    "other prefixes": (
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:ews="{M}" xmlns:typ="{T}"><s:Header>'
        '<typ:RequestServerVersion Version="Exchange2013"/></s:Header><s:Body>'
        "<ews:AddImGroup><ews:DisplayName>{name}</ews:DisplayName></ews:AddImGroup></s:Body></s:Envelope>"
    ),
    "default namespace on the operation": (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>'
        f'<AddImGroup xmlns="{M}"><DisplayName>{{name}}</DisplayName></AddImGroup>'
        "</soapenv:Body></soapenv:Envelope>"
    ),
    "default namespace everywhere": (
        f'<Envelope xmlns="{SOAP}"><Header><RequestServerVersion xmlns="{T}" Version="Exchange2013"/></Header>'
        f'<Body><AddImGroup xmlns="{M}"><DisplayName>{{name}}</DisplayName></AddImGroup></Body></Envelope>'
    ),
    "declarations on inner elements": (
        f'<a:Envelope xmlns:a="{SOAP}"><a:Header><b:RequestServerVersion xmlns:b="{T}" Version="Exchange2013"/>'
        f'</a:Header><a:Body><c:AddImGroup xmlns:c="{M}"><c:DisplayName>{{name}}</c:DisplayName></c:AddImGroup>'
        "</a:Body></a:Envelope>"
    ),
    "prefix rebound on the way down": (
        f'<m:Envelope xmlns:m="{SOAP}"><m:Body><m:AddImGroup xmlns:m="{M}"><m:DisplayName>{{name}}'
        "</m:DisplayName></m:AddImGroup></m:Body></m:Envelope>"
    ),
}


@pytest.mark.parametrize("style", NAMESPACE_STYLES)
def test_any_namespace_prefixes_work(client, style):
    body = NAMESPACE_STYLES[style].replace("{name}", "Styled")
    reply = client.post(body.encode()).ok()
    assert reply.find("m:ImGroup/t:DisplayName").text == "Styled"
    assert "Styled" in user_groups(client)


def test_whitespace_text_nodes_everywhere(client):
    group = new_group(client, "Work")
    pretty = (
        '<?xml version="1.0" encoding="utf-8"?>\r\n'
        f'<soap:Envelope xmlns:soap="{SOAP}"\n   xmlns:m="{M}"\n   xmlns:t="{T}">\n'
        '  <soap:Header>\n    <t:RequestServerVersion Version="Exchange2013" />\n  </soap:Header>\n'
        "  <soap:Body>\n\t<m:AddNewImContactToGroup>\n\t\t<m:ImAddress>carol@example.com</m:ImAddress>\n"
        f'\t\t<m:GroupId Id="{group.id}" ChangeKey="{group.change_key}" />\n\t</m:AddNewImContactToGroup>\n'
        "  </soap:Body>\n</soap:Envelope>\n"
    )
    reply = client.post(pretty.encode()).ok()
    assert reply.find("m:Persona/t:ImAddress").text == "carol@example.com"
    assert client.item_list().members_of("Work") == {"carol@example.com"}


def test_whitespace_inside_an_operation_in_sipe_style(client):
    reply = client.call(" <m:AddImGroup> <m:DisplayName>Spaced</m:DisplayName> </m:AddImGroup> ").ok()
    assert reply.find("m:ImGroup/t:DisplayName").text == "Spaced"
    assert "Spaced" in user_groups(client)


def test_comments_and_processing_instructions_are_ignored(client):
    reply = client.call("<m:AddImGroup><!-- note --><?app x?><m:DisplayName>Commented</m:DisplayName></m:AddImGroup>")
    assert reply.ok().find("m:ImGroup/t:DisplayName").text == "Commented"


@pytest.mark.parametrize("declaration", ["", '<?xml version="1.0"?>\r\n', '<?xml version="1.0" encoding="UTF-8"?>\n'])
def test_xml_declarations(client, declaration):
    body = declaration.encode() + envelope(
        "<m:AddImGroup><m:DisplayName>Caf\u00e9 \u4e2d</m:DisplayName></m:AddImGroup>", declaration=False
    )
    assert client.post(body).ok().find("m:ImGroup/t:DisplayName").text == "Caf\u00e9 \u4e2d"


def test_utf16_request(client):
    text = envelope("<m:AddImGroup><m:DisplayName>Sixteen \u00e9</m:DisplayName></m:AddImGroup>").decode()
    body = text.replace('encoding="utf-8"', 'encoding="utf-16"').encode("utf-16")
    assert client.post(body).ok().find("m:ImGroup/t:DisplayName").text == "Sixteen \u00e9"


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "us-ascii", "windows-1252"])
def test_ascii_compatible_encodings_are_read(client, encoding):
    text = envelope("<m:AddImGroup><m:DisplayName>Caf\u00e9</m:DisplayName></m:AddImGroup>").decode()
    body = text.replace('encoding="utf-8"', f'encoding="{encoding}"').encode(encoding, "xmlcharrefreplace")
    assert client.post(body).ok().find("m:ImGroup/t:DisplayName").text == "Caf\u00e9"


def test_utf7_cannot_smuggle_tags_past_the_tag_count(client):
    """UTF-7 writes "<" as "+ADw-": the tag count before parsing would not see the tags."""
    tags = "".join(f"<m:DisplayName>x{i}</m:DisplayName>" for i in range(30))
    declaration, _, rest = envelope(f"<m:AddImGroup>{tags}</m:AddImGroup>").decode().partition("?>")
    body = (declaration.replace('encoding="utf-8"', 'encoding="UTF-7"') + "?>" + rest.replace("<", "+ADw-")).encode()
    assert body.count(b"<") == 1  # what the count sees: the declaration's
    reply = client.post(body)
    assert_fault_shape(reply, "ErrorSchemaValidation")
    assert "UTF-7" in message_xml(reply)["Violation"]
    assert not user_groups(client)


# -- faults ----------------------------------------------------------------------------------


def assert_fault_shape(reply: Reply, code: str) -> None:
    reply.fault(code)
    fault = reply.body
    faultcode = fault.find("faultcode")
    assert faultcode.text == f"a:{code}"
    assert faultcode.nsmap.get("a") == T
    assert fault.findtext("faultstring")
    detail = fault.find("detail")
    assert detail is not None
    assert detail.find(f"{{{E}}}ResponseCode").text == code
    assert detail.find(f"{{{E}}}Message").text
    body = etree.tostring(reply.root)
    assert b"Traceback" not in body
    assert b'File "' not in body
    assert reply.root.find(f"{{{SOAP}}}Body") is not None


def message_xml(reply: Reply) -> dict[str, str]:
    container = reply.body.find(f"detail/{{{T}}}MessageXml")
    assert container is not None, etree.tostring(reply.root)
    return {etree.QName(el).localname: el.text for el in container}


@pytest.mark.parametrize(
    ("document", "line", "position"),
    [
        (b"<not xml", 1, 9),
        (b'<?xml version="1.0"?>\n<soap:Envelope xmlns:soap="x">\n  <soap:Body>\n  </soap:Bdy>\n', 4, 14),
        (envelope("<m:AddImGroup><m:DisplayName>x</m:AddImGroup>"), 2, None),
        (envelope("<m:GetImItemList/>").replace(b"<soap:Body>", b"<soap:Body>&undefined;"), 2, None),
        (b"\x00\x01\x02garbage", 1, None),
    ],
)
def test_malformed_xml_is_a_schema_validation_fault_with_a_location(client, document, line, position):
    reply = client.post(document)
    assert_fault_shape(reply, "ErrorSchemaValidation")
    details = message_xml(reply)
    assert list(details) == ["LineNumber", "LinePosition", "Violation"]
    assert int(details["LineNumber"]) == line
    if position is not None:
        assert int(details["LinePosition"]) == position
    assert int(details["LinePosition"]) >= 0
    assert details["Violation"]
    assert "None" not in details["Violation"]


STRUCTURAL = {
    "empty request": b"",
    "only whitespace": b" \r\n ",
    "not an envelope": b'<?xml version="1.0"?><GetImItemList xmlns="' + M.encode() + b'"/>',
    "SOAP 1.2 envelope": (
        f'<e:Envelope xmlns:e="{SOAP12}"><e:Body><m:GetImItemList xmlns:m="{M}"/></e:Body></e:Envelope>'
    ).encode(),
    "no body": f'<soap:Envelope xmlns:soap="{SOAP}"><soap:Header/></soap:Envelope>'.encode(),
    "empty body": envelope(""),
    "text in body": envelope("hello"),
    "two operations": envelope("<m:GetImItemList/><m:GetImItemList/>"),
    "unknown operation": envelope("<m:FindPeople/>"),
    "operation in the types namespace": envelope("<t:GetImItemList/>"),
    "operation in no namespace": envelope('<GetImItemList xmlns=""/>'),
    "doctype": b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e "boom">]>\n'
    + envelope("<m:AddImGroup><m:DisplayName>&e;</m:DisplayName></m:AddImGroup>", declaration=False),
    "external entity": b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
    + envelope("<m:AddImGroup><m:DisplayName>&e;</m:DisplayName></m:AddImGroup>", declaration=False),
}


@pytest.mark.parametrize("case", STRUCTURAL)
def test_requests_that_are_not_one_soap_operation_are_faults(client, case):
    reply = client.post(STRUCTURAL[case])
    assert_fault_shape(reply, "ErrorSchemaValidation")
    violation = message_xml(reply)["Violation"]
    assert violation
    assert "None" not in violation
    text = etree.tostring(reply.root)
    assert b"root:" not in text and b"boom" not in text
    assert user_groups(client) == set()


SCHEMA_VIOLATIONS = {
    "empty DisplayName": "<m:AddImGroup><m:DisplayName></m:DisplayName></m:AddImGroup>",
    "missing DisplayName": "<m:AddImGroup/>",
    "unknown child": "<m:AddImGroup><m:DisplayName>x</m:DisplayName><m:Colour>red</m:Colour></m:AddImGroup>",
    "boolean maybe": (
        "<m:SetImListMigrationCompleted><m:ImListMigrationCompleted>maybe</m:ImListMigrationCompleted>"
        "</m:SetImListMigrationCompleted>"
    ),
    "GroupId without Id": "<m:SetImGroup><m:GroupId/><m:NewDisplayName>x</m:NewDisplayName></m:SetImGroup>",
    "missing GroupId": "<m:RemoveImGroup/>",
    "elements out of order": (
        '<m:AddNewImContactToGroup><m:GroupId Id="x"/><m:ImAddress>a@example.com</m:ImAddress>'
        "</m:AddNewImContactToGroup>"
    ),
    "empty ContactIds": "<m:GetImItems><m:ContactIds/></m:GetImItems>",
    "ItemId in the wrong namespace": '<m:GetImItems><m:ContactIds><m:ItemId Id="x"/></m:ContactIds></m:GetImItems>',
    "bad extended property type": (
        '<m:GetImItemList><m:ExtendedProperties><t:ExtendedProperty PropertyName="x" PropertyType="Nope" '
        'DistinguishedPropertySetId="PublicStrings"/></m:ExtendedProperties></m:GetImItemList>'
    ),
    "text where elements go": "<m:RemoveContactFromImList>id</m:RemoveContactFromImList>",
}


@pytest.mark.parametrize("case", SCHEMA_VIOLATIONS)
def test_schema_violations_are_faults(client, case):
    reply = client.call(SCHEMA_VIOLATIONS[case])
    assert_fault_shape(reply, "ErrorSchemaValidation")
    details = message_xml(reply)
    assert details["Violation"]
    assert int(details["LineNumber"]) >= 1
    assert user_groups(client) == set()


def test_version_fault_shape(client):
    reply = client.call("<m:GetImItemList/>", version="Exchange2010_SP2")
    assert_fault_shape(reply, "ErrorIncorrectSchemaVersion")


def test_fault_envelopes_validate_against_the_soap_schema(client):
    for document in (b"<oops", envelope("<m:AddImGroup/>"), envelope("<m:GetImItemList/>", version="Exchange2010")):
        outcome = client.service.handle(document, client.user, "fault-check")
        assert outcome.status == 500
        root = validate_envelope(outcome.body)
        assert root.find(f"{{{SOAP}}}Header") is None or len(root.find(f"{{{SOAP}}}Header")) == 0


# -- business errors and unexpected exceptions ----------------------------------------------


def test_business_errors_are_http_200_with_descriptive_link_key_zero(client):
    reply = client.call('<m:RemoveImGroup><m:GroupId Id="garbage"/></m:RemoveImGroup>')
    expect_error(reply, "ErrorInvalidIdMalformed")
    assert reply.status == 200
    assert reply.find("m:DescriptiveLinkKey").text == "0"
    assert server_version(reply).get("Version") == "Exchange2013"
    names = [etree.QName(el).localname for el in reply.body]
    assert names == ["MessageText", "ResponseCode", "DescriptiveLinkKey"]


def test_unexpected_exception_is_an_internal_error_without_details(client, monkeypatch, caplog):
    def explode(request, ctx):
        raise RuntimeError("secret-detail")

    monkeypatch.setitem(registry.HANDLERS, rq.AddImGroup, explode)
    caplog.set_level(logging.ERROR, logger="openucs")
    outcome = client.service.handle(
        envelope("<m:AddImGroup><m:DisplayName>Boom</m:DisplayName></m:AddImGroup>"), client.user, "req-4711"
    )
    reply = Reply(outcome.status, validate_envelope(outcome.body))
    reply.error("ErrorInternalServerError")
    assert reply.find("m:ImGroup") is None
    assert b"secret-detail" not in outcome.body
    assert b"RuntimeError" not in outcome.body and b"Traceback" not in outcome.body
    assert "secret-detail" not in reply.message_text
    records = [r for r in caplog.records if "req-4711" in r.getMessage()]
    assert records, caplog.text
    assert any(r.exc_info and "secret-detail" in str(r.exc_info[1]) for r in records)
    assert "secret-detail" in caplog.text


def test_a_failing_request_leaves_nothing_behind(client, monkeypatch):
    """One transaction per request: a handler that fails after writing changes nothing."""

    def half_done(request, ctx):
        with ctx.write() as tx:
            tx.imlist(ctx.mailbox_id).create_group(GroupKind.USER, request.display_name)
            raise RuntimeError("after the insert")

    monkeypatch.setitem(registry.HANDLERS, rq.AddImGroup, half_done)
    client.call("<m:AddImGroup><m:DisplayName>Half</m:DisplayName></m:AddImGroup>").error("ErrorInternalServerError")
    monkeypatch.undo()
    assert "Half" not in group_names(get_item_list(client).ok())
