"""The HTTP surface over a real ``openucs serve`` process (issue 2 §2, §5): authentication,
routing, the served WSDL/XSD, limits on the body, content types, and durability across a
restart and a ``kill -9``.

Most tests share one server per module (state does not leak: each uses its own group
names); the durability tests start their own, on every storage backend."""

import base64
import json
import signal
import threading

import httpx
import pytest
from lxml import etree

from openucs.ews.reader import OPERATIONS
from tests.conftest import PASSWORD
from tests.helpers_ops import (
    M_ACTION,
    add_group,
    add_new_contact,
    fast_password_hashes,
    new_group,
    running_server,
)
from tests.support import HttpClient, M, ServerProcess, T, envelope, run_in_threads, validate_envelope

WSDL = "http://schemas.xmlsoap.org/wsdl/"
WSDL_SOAP = "http://schemas.xmlsoap.org/wsdl/soap/"
XS = "http://www.w3.org/2001/XMLSchema"
ONE_MIB = 1024 * 1024


@pytest.fixture(autouse=True, scope="module")
def _fast_hashes():
    with fast_password_hashes():
        yield


@pytest.fixture(scope="module")
def shared(tmp_path_factory, _fast_hashes):
    with running_server(tmp_path_factory.mktemp("http"), "alice@example.com", "bob@example.com") as (proc, _):
        yield proc


@pytest.fixture(scope="module")
def alice_http(shared):
    c = HttpClient(shared.base_url, "alice@example.com", PASSWORD)
    yield c
    c.close()


@pytest.fixture
def anonymous(shared):
    with httpx.Client(base_url=shared.base_url, timeout=30) as c:
        yield c


def user_groups(client) -> set[str]:
    return {n for n, g in client.item_list().groups.items() if g["type"] == "IPM.DistList.MOC.UserGroup"}


# -- authentication --------------------------------------------------------------------------


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


BAD_CREDENTIALS = {
    "missing": None,
    "wrong password": _basic("alice@example.com", "not the password"),
    "unknown user": _basic("mallory@example.com", PASSWORD),
    "empty password": _basic("alice@example.com", ""),
    "not base64": "Basic !!!not-base64!!!",
    "no colon": "Basic " + base64.b64encode(b"alice@example.com").decode(),
    "other scheme": "Bearer abc.def.ghi",
    "scheme only": "Basic",
}


@pytest.mark.parametrize("case", BAD_CREDENTIALS)
def test_bad_credentials_get_401_with_a_basic_challenge(anonymous, alice_http, case):
    headers = {"Content-Type": "text/xml; charset=utf-8"}
    if BAD_CREDENTIALS[case] is not None:
        headers["Authorization"] = BAD_CREDENTIALS[case]
    name = f"Intruder {case}"
    body = envelope(f"<m:AddImGroup><m:DisplayName>{name}</m:DisplayName></m:AddImGroup>")
    response = anonymous.post("/EWS/Exchange.asmx", content=body, headers=headers)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.lower().startswith("basic ")
    assert "realm=" in challenge
    assert name not in user_groups(alice_http)


def test_of_repeated_authorization_headers_the_first_counts(anonymous):
    good, bad = _basic("bob@example.com", PASSWORD), _basic("bob@example.com", "not the password")
    body = envelope("<m:GetImItemList/>")

    def post(*authorizations: str) -> int:
        headers = [("Content-Type", "text/xml; charset=utf-8"), *(("Authorization", a) for a in authorizations)]
        return anonymous.post("/EWS/Exchange.asmx", content=body, headers=headers).status_code

    assert post(good, bad) == 200
    assert post(bad, good) == 401


def test_login_is_case_insensitive_in_the_address(shared):
    c = HttpClient(shared.base_url, "Alice@Example.COM", PASSWORD)
    try:
        c.call("<m:GetImItemList/>").ok()
    finally:
        c.close()


def test_each_user_sees_only_their_own_list(shared, alice_http):
    bob = HttpClient(shared.base_url, "bob@example.com", PASSWORD)
    try:
        new_group(alice_http, "Alice only")
        new_group(bob, "Bob only")
        assert "Alice only" in user_groups(alice_http) and "Bob only" not in user_groups(alice_http)
        assert "Bob only" in user_groups(bob) and "Alice only" not in user_groups(bob)
    finally:
        bob.close()


# -- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/EWS/Exchange.asmx", "/ews/exchange.asmx", "/EWS/EXCHANGE.ASMX", "/Ews/Exchange.ASMX"]
)
def test_endpoint_path_is_case_insensitive(shared, path):
    name = f"Path {path}"
    with httpx.Client(base_url=shared.base_url, auth=("alice@example.com", PASSWORD), timeout=30) as c:
        response = c.post(
            path,
            content=envelope(f"<m:AddImGroup><m:DisplayName>{name}</m:DisplayName></m:AddImGroup>"),
            headers={"Content-Type": "text/xml; charset=utf-8"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    root = validate_envelope(response.content)
    assert root.findtext(f".//{{{M}}}ImGroup/{{{T}}}DisplayName") == name


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_other_methods_on_the_endpoint_are_405(shared, method):
    with httpx.Client(base_url=shared.base_url, auth=("alice@example.com", PASSWORD), timeout=30) as c:
        response = c.request(method, "/EWS/Exchange.asmx")
    assert response.status_code == 405
    assert "POST" in response.headers.get("allow", "")


def test_unknown_paths_are_404(anonymous):
    assert anonymous.get("/EWS/Nothing.asmx").status_code == 404
    assert anonymous.post("/", content=b"x").status_code == 404


@pytest.mark.parametrize(
    "soap_action",
    [None, f'"{M_ACTION}AddImGroup"', f"{M_ACTION}AddImGroup", '""'],
)
def test_soap_action_is_optional(alice_http, soap_action):
    name = f"Action {soap_action}"
    headers = {} if soap_action is None else {"SOAPAction": soap_action}
    reply = alice_http.post(
        envelope(f"<m:AddImGroup><m:DisplayName>{name}</m:DisplayName></m:AddImGroup>"), headers=headers
    ).ok()
    assert reply.find("m:ImGroup/t:DisplayName").text == name


@pytest.mark.parametrize("content_type", ["text/xml; charset=utf-8", "text/xml; charset=UTF-8", "text/xml"])
def test_content_types_of_requests(alice_http, content_type):
    alice_http.post(envelope("<m:GetImItemList/>"), headers={"Content-Type": content_type}).ok()


# -- documents -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/EWS/Services.wsdl", "/ews/services.wsdl"])
def test_wsdl_names_this_server(shared, anonymous, path):
    response = anonymous.get(path)
    assert response.status_code == 200
    assert "xml" in response.headers["content-type"]
    wsdl = etree.fromstring(response.content)
    assert wsdl.tag == f"{{{WSDL}}}definitions"
    services = wsdl.findall(f"{{{WSDL}}}service")
    assert len(services) == 1
    addresses = [a.get("location") for a in services[0].iter(f"{{{WSDL_SOAP}}}address")]
    assert addresses == [shared.base_url + "/EWS/Exchange.asmx"]
    operations = {op.get("name") for op in wsdl.iter(f"{{{WSDL}}}operation")}
    assert operations == set(OPERATIONS)


def test_served_schemas_compile_side_by_side(anonymous, tmp_path):
    for name in ("messages.xsd", "types.xsd"):
        response = anonymous.get(f"/EWS/{name}")
        assert response.status_code == 200, name
        assert "xml" in response.headers["content-type"]
        (tmp_path / name).write_bytes(response.content)
        assert etree.fromstring(response.content).tag == f"{{{XS}}}schema"
    schema = etree.XMLSchema(etree.parse(str(tmp_path / "messages.xsd")))
    good = etree.fromstring(f'<m:AddImGroup xmlns:m="{M}"><m:DisplayName>x</m:DisplayName></m:AddImGroup>')
    bad = etree.fromstring(f'<m:AddImGroup xmlns:m="{M}"><m:DisplayName></m:DisplayName></m:AddImGroup>')
    assert schema.validate(good)
    assert not schema.validate(bad)


def test_schema_paths_are_case_insensitive(anonymous):
    assert anonymous.get("/ews/MESSAGES.XSD").status_code == 200
    assert anonymous.get("/EWS/Types.Xsd").status_code == 200


def test_healthz(anonymous):
    response = anonymous.get("/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["status"] == "ok"


# -- bodies and content types ----------------------------------------------------------------


def _padded(size: int, name: str) -> bytes:
    body = envelope(f"<m:AddImGroup><m:DisplayName>{name}</m:DisplayName></m:AddImGroup>")
    head, tail = body.split(b"<soap:Body>")
    padding = size - len(body)
    assert padding >= 0
    return head + b"<soap:Body>" + b" " * padding + tail


def test_a_body_of_exactly_one_mib_is_served(alice_http):
    body = _padded(ONE_MIB, "Exactly one MiB")
    assert len(body) == ONE_MIB
    assert alice_http.post(body).ok().find("m:ImGroup/t:DisplayName").text == "Exactly one MiB"


def test_a_body_over_one_mib_is_413(alice_http):
    body = _padded(ONE_MIB + 1, "Too big")
    response = alice_http.post_raw(body)
    assert response.status_code == 413
    assert "Too big" not in user_groups(alice_http)


def test_a_chunked_body_over_one_mib_is_413(alice_http):
    body = _padded(ONE_MIB + 4096, "Too big chunked")

    def chunks():
        for i in range(0, len(body), 65536):
            yield body[i : i + 65536]

    response = alice_http.post_raw(chunks())
    assert response.status_code == 413
    assert "Too big chunked" not in user_groups(alice_http)


def test_responses_are_text_xml(alice_http):
    cases = [
        (envelope("<m:GetImItemList/>"), 200),
        (envelope('<m:RemoveImGroup><m:GroupId Id="garbage"/></m:RemoveImGroup>'), 200),
        (envelope("<m:AddImGroup/>"), 500),
        (b"<not xml", 500),
        (envelope("<m:GetImItemList/>", version="Exchange2010_SP2"), 500),
    ]
    for body, status in cases:
        reply = alice_http.post(body)  # asserts text/xml and validates the envelope
        assert reply.status == status, etree.tostring(reply.root)
        response = alice_http.post_raw(body)
        validate_envelope(response.content)
        assert response.headers["content-type"].startswith("text/xml")
        assert "charset=utf-8" in response.headers["content-type"].lower()


def test_faults_over_http_are_500_and_business_errors_200(alice_http):
    alice_http.post(envelope("<m:AddImGroup/>")).fault("ErrorSchemaValidation")
    alice_http.post(envelope("<m:GetImItemList/>", version="Exchange2010")).fault("ErrorIncorrectSchemaVersion")
    alice_http.call('<m:RemoveImGroup><m:GroupId Id=""/></m:RemoveImGroup>').error("ErrorInvalidIdEmpty")


# -- concurrency -----------------------------------------------------------------------------


def test_limits_hold_under_concurrent_http_requests(tmp_path):
    limits = {"OPENUCS_MAX_GROUPS": "3", "OPENUCS_MAX_CONTACTS": "4"}
    with running_server(tmp_path, "carol@example.com", env=limits) as (proc, _):
        codes: list[str] = []
        lock = threading.Lock()

        def worker(i: int) -> None:
            c = HttpClient(proc.base_url, "carol@example.com", PASSWORD)
            try:
                got = [add_group(c, f"G{i}").code, add_new_contact(c, f"u{i}@example.com").code]
            finally:
                c.close()
            with lock:
                codes.extend(got)

        run_in_threads(worker, 10)
        assert codes.count("ErrorImGroupLimitReached") == 7, codes
        assert codes.count("ErrorImContactLimitReached") == 6, codes
        c = HttpClient(proc.base_url, "carol@example.com", PASSWORD)
        try:
            state = c.item_list()
        finally:
            c.close()
        assert len(user_groups_of(state)) == 3
        assert len(state.personas) == 4


def user_groups_of(state) -> set[str]:
    return {n for n, g in state.groups.items() if g["type"] == "IPM.DistList.MOC.UserGroup"}


# -- durability (every backend) --------------------------------------------------------------


def _populate(base_url: str) -> None:
    c = HttpClient(base_url, "alice@example.com", PASSWORD)
    try:
        group = new_group(c, "Durable")
        add_new_contact(c, "carol@example.com", group).ok()
    finally:
        c.close()


def _check(base_url: str) -> None:
    c = HttpClient(base_url, "alice@example.com", PASSWORD)
    try:
        state = c.item_list()
    finally:
        c.close()
    assert state.groups["Durable"]["type"] == "IPM.DistList.MOC.UserGroup"
    assert state.members_of("Durable") == {"carol@example.com"}


def test_data_survives_a_restart(server, alice, database_url):
    _populate(server.base_url)
    server.stop()
    again = ServerProcess(database_url).start()
    try:
        _check(again.base_url)
    finally:
        again.stop()


def test_data_survives_kill_9_right_after_success(server, alice, database_url):
    _populate(server.base_url)
    server.stop(signal.SIGKILL)
    again = ServerProcess(database_url).start()
    try:
        _check(again.base_url)
    finally:
        again.stop()


def test_healthz_reports_json_schema_version(anonymous):
    data = json.loads(anonymous.get("/healthz").content)
    assert isinstance(data.get("schema_version"), int) and data["schema_version"] >= 1
