"""Generic SOAP clients generated from WSDLs, over real HTTP (issue 2 §2, §8):

(a) zeep generated from Microsoft's services.wsdl (the product schema real EWS clients are
    generated from) runs every one of the 13 operations and reads the parsed results;
(b) zeep generated from the server's own ``GET /EWS/Services.wsdl`` runs a flow through
    ``client.service``.

Every raw HTTP response zeep receives is captured and validated against Microsoft's product
schema (tests.support.validate_envelope)."""

from pathlib import Path

import pytest
import requests
from zeep import Client
from zeep.exceptions import Fault
from zeep.transports import Transport

from openucs.store.open import open_store
from tests.conftest import PASSWORD
from tests.helpers_ops import GROUP_CHANGE_KEY, MEMBER_CHANGE_KEY, fast_password_hashes, running_server
from tests.support import MS_SCHEMA_DIR, validate_envelope

BINDING = "{http://schemas.microsoft.com/exchange/services/2006/messages}ExchangeServiceBinding"
EX2013 = {"RequestVersion": {"Version": "Exchange2013"}}
SYSTEM = {"Favorites", "Other Contacts", "Tagged"}


class LocalXmlXsd(Transport):
    """services.wsdl imports the ``xml:`` namespace from w3.org: serve the local copy instead."""

    def load(self, url: str) -> bytes:
        if url.startswith(("http://", "https://")) and url.endswith("/xml.xsd"):
            return (MS_SCHEMA_DIR / "xml.xsd").read_bytes()
        return super().load(url)


class Captured:
    """A requests session with Basic auth that keeps every SOAP response it receives."""

    def __init__(self, email: str, password: str) -> None:
        self.session = requests.Session()
        self.session.auth = (email, password)
        self.responses: list[requests.Response] = []
        self.session.hooks["response"].append(self._keep)

    def _keep(self, response: requests.Response, *args, **kwargs) -> None:
        if response.request.method == "POST":
            self.responses.append(response)

    def validated(self) -> int:
        """Validate every response received since the last call; return how many."""
        count = len(self.responses)
        for response in self.responses:
            assert response.headers["content-type"].startswith("text/xml")
            validate_envelope(response.content)
        self.responses.clear()
        return count


@pytest.fixture(autouse=True, scope="module")
def _fast_hashes():
    with fast_password_hashes():
        yield


@pytest.fixture(scope="module")
def ews(tmp_path_factory, _fast_hashes):
    with running_server(tmp_path_factory.mktemp("zeep"), "alice@example.com", "bob@example.com") as served:
        yield served


@pytest.fixture(scope="module")
def ms_client(ews):
    proc, _ = ews
    captured = Captured("alice@example.com", PASSWORD)
    client = Client(str(Path(MS_SCHEMA_DIR) / "services.wsdl"), transport=LocalXmlXsd(session=captured.session))
    service = client.create_service(BINDING, proc.base_url + "/EWS/Exchange.asmx")
    return service, captured


def run(captured: Captured, operation, **kwargs):
    result = operation(**kwargs)
    assert captured.validated() == 1
    return result


def ok(result):
    body = result.body
    assert body.ResponseClass == "Success", body
    assert body.ResponseCode == "NoError"
    assert result.header.ServerVersion.MajorVersion == 15
    return body


def groups(item_list) -> dict:
    if item_list.Groups is None:
        return {}
    return {entry["ImGroup"].DisplayName: entry["ImGroup"] for entry in item_list.Groups._value_1}


def personas(item_list) -> dict:
    if item_list.Personas is None:
        return {}
    return {entry["Persona"].ImAddress: entry["Persona"] for entry in item_list.Personas._value_1}


def members(group) -> list[str]:
    if group.MemberCorrelationKey is None:
        return []
    return [item.Id for item in group.MemberCorrelationKey.ItemId]


def source_id(persona):
    attribution = persona.Attributions.Attribution[0]
    assert attribution.IsQuickContact is True
    assert attribution.IsHidden is False
    assert attribution.IsWritable is True
    return attribution.SourceId


def ref(item) -> dict:
    return {"Id": item.Id, "ChangeKey": item.ChangeKey}


def ids(*items) -> dict:
    return {"_value_1": [{"ItemId": ref(i)} for i in items]}


# -- (a) Microsoft's WSDL ---------------------------------------------------------------------


def test_microsoft_wsdl_client_runs_every_operation(ms_client, ews):
    s, cap = ms_client
    _, database_url = ews

    # GetImItemList on a fresh mailbox
    listing = ok(run(cap, s.GetImItemList, _soapheaders=EX2013)).ImItemList
    assert set(groups(listing)) == SYSTEM
    assert personas(listing) == {}
    for group in groups(listing).values():
        assert group.ExchangeStoreId.ChangeKey == GROUP_CHANGE_KEY
        assert group.MemberCorrelationKey is None

    # AddImGroup
    group = ok(run(cap, s.AddImGroup, DisplayName="Work", _soapheaders=EX2013)).ImGroup
    assert group.DisplayName == "Work"
    assert group.GroupType == "IPM.DistList.MOC.UserGroup"
    assert group.ExchangeStoreId.Id and group.ExchangeStoreId.ChangeKey == GROUP_CHANGE_KEY
    work = group.ExchangeStoreId

    # SetImGroup
    ok(run(cap, s.SetImGroup, GroupId=ref(work), NewDisplayName="Office", _soapheaders=EX2013))

    # AddNewImContactToGroup
    persona = ok(
        run(cap, s.AddNewImContactToGroup, ImAddress="carol@example.com", GroupId=ref(work), _soapheaders=EX2013)
    ).Persona
    assert persona.ImAddress == "carol@example.com"
    assert persona.DisplayName == "carol@example.com"
    assert persona.PersonaType == "Person"
    assert persona.EmailAddress.EmailAddress == "carol@example.com"
    carol = source_id(persona)
    assert carol.Id and carol.ChangeKey

    # AddNewTelUriContactToGroup (no group: Other Contacts)
    tel_persona = ok(
        run(
            cap,
            s.AddNewTelUriContactToGroup,
            TelUriAddress="tel:+15551234567",
            ImContactSipUriAddress="sip:+15551234567@example.com",
            ImTelephoneNumber="+15551234567",
            _soapheaders=EX2013,
        )
    ).Persona
    assert tel_persona.ImAddress == "sip:+15551234567@example.com"
    tel = source_id(tel_persona)

    # AddDistributionGroupToImList
    dg = ok(
        run(
            cap, s.AddDistributionGroupToImList, SmtpAddress="team@example.com", DisplayName="Team", _soapheaders=EX2013
        )
    ).ImGroup
    assert dg.GroupType == "IPM.DistList.MOC.DG"
    assert dg.SmtpAddress == "team@example.com"
    assert dg.DisplayName == "Team"
    team = dg.ExchangeStoreId

    # AddImContactToGroup
    ok(run(cap, s.AddImContactToGroup, ContactId=ref(carol), GroupId=ref(team), _soapheaders=EX2013))

    # GetImItems
    items = ok(run(cap, s.GetImItems, ContactIds=ids(carol), GroupIds=ids(work, team), _soapheaders=EX2013)).ImItemList
    assert set(groups(items)) == {"Office", "Team"}
    assert members(groups(items)["Office"]) == [carol.Id]
    assert members(groups(items)["Team"]) == [carol.Id]
    assert set(personas(items)) == {"carol@example.com"}
    assert source_id(personas(items)["carol@example.com"]).Id == carol.Id

    # GetImItemList sees all of it
    listing = ok(run(cap, s.GetImItemList, _soapheaders=EX2013)).ImItemList
    by_name = groups(listing)
    assert set(by_name) == {*SYSTEM, "Office", "Team"}
    assert members(by_name["Other Contacts"]) == [tel.Id]
    assert by_name["Office"].MemberCorrelationKey.ItemId[0].ChangeKey == MEMBER_CHANGE_KEY
    assert set(personas(listing)) == {"carol@example.com", "sip:+15551234567@example.com"}

    # RemoveImContactFromGroup, RemoveDistributionGroupFromImList, RemoveContactFromImList, RemoveImGroup
    ok(run(cap, s.RemoveImContactFromGroup, ContactId=ref(carol), GroupId=ref(team), _soapheaders=EX2013))
    ok(run(cap, s.RemoveDistributionGroupFromImList, GroupId=ref(team), _soapheaders=EX2013))
    ok(run(cap, s.RemoveContactFromImList, ContactId=ref(tel), _soapheaders=EX2013))
    ok(run(cap, s.RemoveImGroup, GroupId=ref(work), _soapheaders=EX2013))
    listing = ok(run(cap, s.GetImItemList, _soapheaders=EX2013)).ImItemList
    assert set(groups(listing)) == SYSTEM
    assert personas(listing) == {}

    # SetImListMigrationCompleted
    ok(run(cap, s.SetImListMigrationCompleted, ImListMigrationCompleted=True, _soapheaders=EX2013))
    store = open_store(database_url)
    try:
        with store.transaction(write=False) as tx:
            assert tx.accounts.by_email("alice@example.com").im_list_migration_completed is True
            assert tx.accounts.by_email("bob@example.com").im_list_migration_completed is False
    finally:
        store.close()


def test_microsoft_wsdl_client_reads_error_responses(ms_client):
    s, cap = ms_client
    body = run(cap, s.RemoveImGroup, GroupId={"Id": "garbage"}, _soapheaders=EX2013).body
    assert body.ResponseClass == "Error"
    assert body.ResponseCode == "ErrorInvalidIdMalformed"
    assert body.MessageText == "Id is malformed."
    assert body.DescriptiveLinkKey == 0
    body = run(cap, s.AddImContactToGroup, ContactId={"Id": ""}, _soapheaders=EX2013).body
    assert body.ResponseCode == "ErrorInvalidIdEmpty"


def test_microsoft_wsdl_client_gets_soap_faults(ms_client):
    s, cap = ms_client
    with pytest.raises(Fault) as caught:
        s.GetImItemList(_soapheaders={"RequestVersion": {"Version": "Exchange2010_SP2"}})
    assert cap.validated() == 1
    assert caught.value.code == "a:ErrorIncorrectSchemaVersion"
    codes = [el.text for el in caught.value.detail.iter("{*}ResponseCode")]
    assert codes == ["ErrorIncorrectSchemaVersion"]


@pytest.mark.parametrize("version", [None, "Exchange2013_SP1", "V2018_01_08"])
def test_microsoft_wsdl_client_versions(ms_client, version):
    s, cap = ms_client
    headers = {} if version is None else {"RequestVersion": {"Version": version}}
    result = run(cap, s.GetImItemList, _soapheaders=headers)
    ok(result)
    assert result.header.ServerVersion.Version == (version or "Exchange2013")


# -- (b) the server's own WSDL ----------------------------------------------------------------


def test_client_generated_from_the_served_wsdl(ews):
    proc, _ = ews
    captured = Captured("bob@example.com", PASSWORD)
    client = Client(proc.base_url + "/EWS/Services.wsdl", transport=Transport(session=captured.session))
    service = client.service

    group = ok(service.AddImGroup(DisplayName="Served", _soapheaders=EX2013)).ImGroup
    assert captured.validated() == 1
    assert group.GroupType == "IPM.DistList.MOC.UserGroup"
    assert group.ExchangeStoreId.ChangeKey == GROUP_CHANGE_KEY

    persona = ok(
        service.AddNewImContactToGroup(
            ImAddress="dave@example.com", DisplayName="Dave", GroupId=ref(group.ExchangeStoreId), _soapheaders=EX2013
        )
    ).Persona
    assert captured.validated() == 1
    assert persona.DisplayName == "Dave"
    dave = source_id(persona)

    listing = ok(service.GetImItemList(_soapheaders=EX2013)).ImItemList
    assert captured.validated() == 1
    assert set(groups(listing)) == {*SYSTEM, "Served"}
    assert members(groups(listing)["Served"]) == [dave.Id]
    assert set(personas(listing)) == {"dave@example.com"}

    items = ok(service.GetImItems(ContactIds=ids(dave), _soapheaders=EX2013)).ImItemList
    assert captured.validated() == 1
    assert set(personas(items)) == {"dave@example.com"}
    assert groups(items) == {}

    error = service.SetImGroup(GroupId=ref(group.ExchangeStoreId), NewDisplayName="Served", _soapheaders=EX2013).body
    assert captured.validated() == 1
    assert error.ResponseClass == "Error"
    assert error.ResponseCode == "ErrorImGroupDisplayNameAlreadyExists"
