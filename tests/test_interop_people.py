"""Against a real server over HTTP: Autodiscover in both dialects, the REST and SOAP photo
paths, a Pidgin-SIPE-shaped session from Autodiscover to photos, zeep running FindPeople and
GetUserPhoto from Microsoft's services.wsdl and from the served WSDL, and PHP's SoapClient
(Debian's php-cli + php-soap) generated from Microsoft's WSDL and from ours.

Every SOAP response is validated against Microsoft's product schema (tests.support)."""

import base64
import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from lxml import etree
from PIL import Image
from zeep import Client
from zeep.transports import Transport

from openucs.photos import normalise
from openucs.store.open import open_store
from openucs.store.sql import utc_now
from tests.conftest import PASSWORD, make_user
from tests.helpers_ops import fast_password_hashes
from tests.support import MS_SCHEMA_DIR, NS, HttpClient, ServerProcess, envelope, validate_envelope
from tests.test_sipe_flow import CONTENT_TYPE, SipeClient
from tests.test_zeep_client import BINDING, EX2013, Captured, LocalXmlXsd

POX_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
BASE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
AD_NS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
PHP_SCRIPT = Path(__file__).parent / "php" / "imlist_flow.php"


def pox_request(email: str, schema: str = POX_NS) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
        f"<Request><EMailAddress>{email}</EMailAddress><AcceptableResponseSchema>{schema}"
        "</AcceptableResponseSchema></Request></Autodiscover>"
    ).encode()


def png(colour=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 160), colour).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One server for the module: alice (a user), bob and zoe (directory users; zoe has a photo)."""
    directory = tmp_path_factory.mktemp("people")
    url = f"sqlite:///{directory / 'openucs.db'}"
    with fast_password_hashes():
        store = open_store(url)
        try:
            make_user(store, "alice@example.com", "Alice Example")
            bob = make_user(store, "bob@example.com", "Bob Builder")
            zoe = make_user(store, "zoe@example.com", "Zoë Ng")
            with store.transaction(write=True) as tx:
                tx.accounts.update_directory(zoe.id, {"im_address": "sip:zoe@example.com", "company_name": "Contoso"})
                tx.accounts.update_directory(bob.id, {"im_address": "sip:bob@example.com"})
                tx.people.set_photo(zoe.id, normalise(png()), utc_now())
        finally:
            store.close()
    public = "https://mail.example.com"
    proc = ServerProcess(url).start()
    public_proc = ServerProcess(url, "--public-url", public).start()
    try:
        yield proc, public_proc, public
    finally:
        proc.stop()
        public_proc.stop()


def http(base_url: str, auth=("alice@example.com", PASSWORD)) -> httpx.Client:
    return httpx.Client(base_url=base_url, auth=auth, timeout=30)


# -- Autodiscover -----------------------------------------------------------------------------


def test_pox_autodiscover_names_the_ews_url(served):
    proc, public_proc, public = served
    for base, expected in ((proc.base_url, proc.base_url), (public_proc.base_url, public)):
        with http(base) as c:
            r = c.post(
                "/Autodiscover/Autodiscover.xml",
                content=pox_request("Zoe@Example.com"),
                headers={"Content-Type": "text/xml", "Accept": "text/xml"},
            )
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
        root = etree.fromstring(r.content)
        ns = {"r": POX_NS}
        assert root.findtext("r:Response/r:User/r:DisplayName", namespaces=ns) == "Zoë Ng"
        assert root.findtext("r:Response/r:User/r:AutoDiscoverSMTPAddress", namespaces=ns) == "zoe@example.com"
        protocols = root.findall("r:Response/r:Account/r:Protocol", namespaces=ns)
        assert [p.findtext("r:Type", namespaces=ns) for p in protocols] == ["EXCH", "EXPR"]
        for p in protocols:
            assert p.findtext("r:EwsUrl", namespaces=ns) == expected + "/EWS/Exchange.asmx"
            assert p.findtext("r:ASUrl", namespaces=ns) == expected + "/EWS/Exchange.asmx"


def pox_error(r: httpx.Response) -> str:
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml"), r.text
    return etree.fromstring(r.content).findtext(f"{{{BASE_NS}}}Response/{{{BASE_NS}}}Error/{{{BASE_NS}}}ErrorCode")


def test_pox_autodiscover_errors_auth_and_get(served):
    proc, public_proc, public = served
    with http(proc.base_url) as c:
        assert pox_error(c.post("/autodiscover/autodiscover.xml", content=pox_request("nobody@example.com"))) == "500"
        assert pox_error(c.post("/autodiscover/autodiscover.xml", content=b"<not xml")) == "600"
        other = pox_request("zoe@example.com", schema="http://example.com/other")
        assert pox_error(c.post("/autodiscover/autodiscover.xml", content=other)) == "601"
    with httpx.Client(base_url=proc.base_url, timeout=30) as anonymous:
        r = anonymous.post("/autodiscover/autodiscover.xml", content=pox_request("zoe@example.com"))
        assert r.status_code == 401 and r.headers["www-authenticate"].lower().startswith("basic")
        # No HTTPS public URL: a GET gets error 600, not a redirect.
        assert pox_error(anonymous.get("/autodiscover/autodiscover.xml")) == "600"
    with httpx.Client(base_url=public_proc.base_url, timeout=30) as anonymous:
        r = anonymous.get("/AutoDiscover/AutoDiscover.xml")
        assert r.status_code == 302 and r.headers["location"] == public + "/autodiscover/autodiscover.xml"
        # Already HTTPS (a proxy says so): never redirected again.
        assert (
            pox_error(anonymous.get("/autodiscover/autodiscover.xml", headers={"X-Forwarded-Proto": "https"})) == "600"
        )


def test_soap_autodiscover_get_user_settings(served):
    proc, _, _ = served
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" '
        f'xmlns:a="{AD_NS}" xmlns:wsa="http://www.w3.org/2005/08/addressing"><soap:Header>'
        "<a:RequestedServerVersion>Exchange2013</a:RequestedServerVersion>"
        f"<wsa:Action>{AD_NS}/Autodiscover/GetUserSettings</wsa:Action></soap:Header><soap:Body>"
        "<a:GetUserSettingsRequestMessage><a:Request><a:Users><a:User><a:Mailbox>zoe@example.com</a:Mailbox>"
        "</a:User><a:User><a:Mailbox>ghost@example.com</a:Mailbox></a:User></a:Users><a:RequestedSettings>"
        + "".join(
            f"<a:Setting>{s}</a:Setting>"
            for s in (
                "UserDisplayName",
                "UserDeploymentId",
                "InternalEwsUrl",
                "ExternalEwsUrl",
                "CasVersion",
                "EwsSupportedSchemas",
                "MailboxDN",
            )
        )
        + "</a:RequestedSettings></a:Request></a:GetUserSettingsRequestMessage></soap:Body></soap:Envelope>"
    ).encode()
    with http(proc.base_url) as c:
        r = c.post("/autodiscover/autodiscover.svc", content=body, headers={"Content-Type": "text/xml"})
        fault = c.post("/autodiscover/autodiscover.svc", content=b"<x/>", headers={"Content-Type": "text/xml"})
    assert r.status_code == 200, r.text
    ns = {"a": AD_NS}
    zoe, ghost = etree.fromstring(r.content).findall(".//a:UserResponse", namespaces=ns)
    settings = {
        s.findtext("a:Name", namespaces=ns): s.findtext("a:Value", namespaces=ns)
        for s in zoe.findall("a:UserSettings/a:UserSetting", namespaces=ns)
    }
    assert settings["UserDisplayName"] == "Zoë Ng"
    assert settings["InternalEwsUrl"] == settings["ExternalEwsUrl"] == proc.base_url + "/EWS/Exchange.asmx"
    assert settings["CasVersion"].startswith("15.")
    assert "Exchange2013" in settings["EwsSupportedSchemas"]
    assert len(settings["UserDeploymentId"]) == 36
    assert zoe.findtext("a:UserSettingErrors/a:UserSettingError/a:SettingName", namespaces=ns) == "MailboxDN"
    assert ghost.findtext("a:ErrorCode", namespaces=ns) == "InvalidUser"
    assert fault.status_code == 500 and b"Fault" in fault.content


def test_served_wsdl_advertises_the_public_url(served):
    _, public_proc, public = served
    wsdl = httpx.get(public_proc.base_url + "/EWS/Services.wsdl", timeout=30).text
    assert f'location="{public}/EWS/Exchange.asmx"' in wsdl


# -- photos over HTTP --------------------------------------------------------------------------


def test_rest_photo_with_etag_and_304(served):
    proc, _, _ = served
    with http(proc.base_url) as c:
        r = c.get("/EWS/Exchange.asmx/s/GetUserPhoto", params={"email": "zoe@example.com", "size": "HR64x64"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert Image.open(io.BytesIO(r.content)).size == (64, 64)
        etag = r.headers["etag"]
        again = c.get(
            "/EWS/Exchange.asmx/s/GetUserPhoto",
            params={"email": "zoe@example.com", "size": "hr64x64"},
            headers={"If-None-Match": etag},
        )
        assert again.status_code == 304 and again.content == b""
        assert c.get("/EWS/Exchange.asmx/s/GetUserPhoto", params={"email": "bob@example.com"}).status_code == 404
        assert (
            c.get("/EWS/Exchange.asmx/s/GetUserPhoto", params={"email": "zoe@example.com", "size": "HR7x7"}).status_code
            == 400
        )
    assert httpx.get(proc.base_url + "/EWS/Exchange.asmx/s/GetUserPhoto?email=zoe@example.com").status_code == 401


def test_soap_photo_etag_and_if_none_match(served):
    proc, _, _ = served
    client = HttpClient(proc.base_url, "alice@example.com", PASSWORD)
    try:
        request = (
            "<m:GetUserPhoto><m:Email>zoe@example.com</m:Email>"
            "<m:SizeRequested>HR48x48</m:SizeRequested></m:GetUserPhoto>"
        )
        first = client.post_raw(envelope(request))
        validate_envelope(first.content)
        assert first.status_code == 200 and first.headers["etag"]
        second = client.post_raw(envelope(request), headers={"If-None-Match": first.headers["etag"]})
        root = validate_envelope(second.content)
        assert root.findtext(".//m:HasChanged", namespaces=NS) == "false"
        missing = client.post_raw(envelope(request.replace("zoe@", "bob@")))
        assert missing.status_code == 404
        assert validate_envelope(missing.content).findtext(".//m:ResponseCode", namespaces=NS) == "ErrorItemNotFound"
    finally:
        client.close()


# -- a SIPE-shaped session -----------------------------------------------------------------------


def test_sipe_session_from_autodiscover_to_photos(served):
    proc, _, _ = served
    # 1. POX Autodiscover, as sipe-ews-autodiscover.c sends it; the first EXCH/EXPR EwsUrl wins.
    with http(proc.base_url) as c:
        r = c.post(
            "/Autodiscover/Autodiscover.xml",
            content=pox_request("alice@example.com"),
            headers={"Content-Type": "text/xml", "Accept": "text/xml"},
        )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    root = etree.fromstring(r.content)
    ews_url = next(
        p.findtext(f"{{{POX_NS}}}EwsUrl")
        for p in root.iter(f"{{{POX_NS}}}Protocol")
        if p.findtext(f"{{{POX_NS}}}Type") in ("EXCH", "EXPR") and p.findtext(f"{{{POX_NS}}}EwsUrl")
    )
    assert ews_url.startswith(proc.base_url)
    sipe = SipeClient(proc.base_url, "alice@example.com", PASSWORD)
    try:
        sipe.handshake()
        # 2. GetImItemList first.
        listing = sipe.get_im_item_list()
        assert listing.find("m:ImItemList") is not None
        groups = {
            g.findtext("t:DisplayName", namespaces=NS): g for g in listing.findall("m:ImItemList/t:Groups/t:ImGroup")
        }
        other = groups["Other Contacts"].find("t:ExchangeStoreId", namespaces=NS)
        other_key = (other.get("Id"), other.get("ChangeKey"))
        # 3. Contact search: FindPeople on the directory, read as sipe reads it.
        found = sipe.send(
            '<m:FindPeople> <m:IndexedPageItemView BasePoint="Beginning" MaxEntriesReturned="100" Offset="0"/>'
            ' <m:ParentFolderId> <t:DistinguishedFolderId Id="directory"/> </m:ParentFolderId>'
            " <m:QueryString>zo</m:QueryString> </m:FindPeople>"
        )
        hits = [
            (
                p.findtext("t:ImAddress", namespaces=NS),
                p.findtext("t:DisplayName", namespaces=NS),
                p.findtext("t:CompanyName", namespaces=NS),
                p.findtext("t:EmailAddress/t:EmailAddress", namespaces=NS),
            )
            for p in found.findall("m:People/t:Persona")
        ]
        assert hits == [("sip:zoe@example.com", "Zoë Ng", "Contoso", "zoe@example.com")]
        # 4. Add the hits as buddies (sipe strips "sip:"), plus bob.
        for address in ("zoe@example.com", "bob@example.com"):
            added = sipe.add_new_im_contact_to_group(address, other_key)
            assert added.find("m:Persona/t:Attributions/t:Attribution/t:SourceId") is not None
        buddies = [
            p.findtext("t:ImAddress", namespaces=NS)
            for p in sipe.get_im_item_list().findall("m:ImItemList/t:Personas/t:Persona")
        ]
        assert sorted(buddies) == ["bob@example.com", "zoe@example.com"]
        # 5. One GetUserPhoto per buddy; sipe reads Body/GetUserPhotoResponse/PictureData on HTTP 200.
        photos = {}
        for buddy in buddies:
            response = sipe.http.post_raw(
                b'<?xml version="1.0"?>\r\n<soap:Envelope xmlns:m="http://schemas.microsoft.com/exchange/services/2006/'
                b'messages" xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:t="http://schemas.microsoft.'
                b'com/exchange/services/2006/types" > <soap:Header> <t:RequestServerVersion Version="Exchange2013" />'
                b" </soap:Header> <soap:Body> <m:GetUserPhoto> <m:Email>"
                + buddy.encode()
                + b"</m:Email> <m:SizeRequested>HR48x48</m:SizeRequested> </m:GetUserPhoto> </soap:Body>"
                b" </soap:Envelope>",
                headers={"Content-Type": CONTENT_TYPE},
            )
            validate_envelope(response.content)
            if response.status_code == 200:
                data = etree.fromstring(response.content).findtext(".//m:PictureData", namespaces=NS)
                photos[buddy] = Image.open(io.BytesIO(base64.b64decode(data))).size
        assert photos == {"zoe@example.com": (48, 48)}
    finally:
        sipe.close()


# -- zeep ----------------------------------------------------------------------------------------


def test_zeep_from_microsoft_wsdl_runs_find_people_and_get_user_photo(served):
    proc, _, _ = served
    captured = Captured("alice@example.com", PASSWORD)
    client = Client(str(Path(MS_SCHEMA_DIR) / "services.wsdl"), transport=LocalXmlXsd(session=captured.session))
    service = client.create_service(BINDING, proc.base_url + "/EWS/Exchange.asmx")
    result = service.FindPeople(
        IndexedPageItemView={"BasePoint": "Beginning", "Offset": 0, "MaxEntriesReturned": 10},
        ParentFolderId={"DistinguishedFolderId": {"Id": "directory"}},
        QueryString="zoe",
        _soapheaders=EX2013,
    )
    assert captured.validated() == 1
    body = result.body
    assert body.ResponseClass == "Success" and body.TotalNumberOfPeopleInView == 1
    persona = body.People._value_1[0]["Persona"]
    assert (persona.DisplayName, persona.ImAddress, persona.CompanyName) == ("Zoë Ng", "sip:zoe@example.com", "Contoso")
    assert persona.EmailAddress.EmailAddress == "zoe@example.com"
    photo = service.GetUserPhoto(Email="zoe@example.com", SizeRequested="HR96x96", _soapheaders=EX2013).body
    assert captured.validated() == 1
    assert photo.HasChanged is True and Image.open(io.BytesIO(photo.PictureData)).size == (96, 96)


def test_zeep_from_served_wsdl_runs_find_people_and_get_user_photo(served):
    proc, _, _ = served
    captured = Captured("bob@example.com", PASSWORD)
    client = Client(proc.base_url + "/EWS/Services.wsdl", transport=Transport(session=captured.session))
    result = client.service.FindPeople(
        IndexedPageItemView={"BasePoint": "Beginning", "Offset": 0},
        ParentFolderId={"DistinguishedFolderId": {"Id": "directory"}},
        QueryString="bob",
        _soapheaders=EX2013,
    ).body
    assert captured.validated() == 1
    assert [p["Persona"].DisplayName for p in result.People._value_1] == ["Bob Builder"]
    photo = client.service.GetUserPhoto(Email="zoe@example.com", SizeRequested="HR48x48", _soapheaders=EX2013).body
    assert captured.validated() == 1
    assert Image.open(io.BytesIO(photo.PictureData)).size == (48, 48)


# -- PHP SoapClient ------------------------------------------------------------------------------


def php() -> str:
    """The php binary with the soap extension; a skip without it, a failure in CI (OPENUCS_REQUIRE_PHP=1)."""
    binary = shutil.which("php")
    ok = (
        binary is not None
        and "soap" in subprocess.run([binary, "-m"], capture_output=True, text=True, check=False).stdout.split()
    )
    if not ok:
        if os.environ.get("OPENUCS_REQUIRE_PHP") == "1":
            pytest.fail("OPENUCS_REQUIRE_PHP=1 but no php with the soap extension (php-cli, php-soap)", pytrace=False)
        pytest.skip("no php with the soap extension (apt-get install php-cli php-soap)")
    assert binary is not None
    return binary


@pytest.mark.parametrize("source", ["microsoft", "served"])
def test_php_soapclient_creates_adds_and_lists(served, source, tmp_path):
    binary = php()
    proc, _, _ = served
    if source == "microsoft":
        wsdl = str(Path(MS_SCHEMA_DIR) / "php_service.wsdl")
        user, group, contact = "alice@example.com", "PHP from Microsoft", "php.ms@example.com"
    else:
        # PHP reads the served WSDL and its schemas over HTTP, as a generated client would.
        wsdl = proc.base_url + "/EWS/Services.wsdl"
        user, group, contact = "bob@example.com", "PHP from openucs", "php.own@example.com"
    run = subprocess.run(
        [binary, str(PHP_SCRIPT), wsdl, proc.base_url + "/EWS/Exchange.asmx", user, PASSWORD, group, contact],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(run.stdout)
    for response in result.pop("responses"):
        validate_envelope(response.encode())
    assert result["added_group"] == group and result["added_class"] == "Success"
    assert result["groups"][group] == [result["contact_source"]]
    assert {"Favorites", "Other Contacts", "Tagged", group} <= set(result["groups"])
    mine = [p for p in result["personas"] if p["ImAddress"] == contact]
    assert mine == [{"ImAddress": contact, "DisplayName": contact, "SourceId": result["contact_source"]}]
