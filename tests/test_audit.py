"""The audit log (issue 4 §6) over a real server: one JSON line per write and per security
event — time, request id, caller, mailbox, operation, result — written so a log shipper can
take it as it is: one object per line, lines never split, control characters escaped."""

import asyncio
import json
import time
from datetime import UTC, datetime

import httpx

from openucs.audit import AuditLog
from openucs.store.open import open_store
from tests.asgi_support import add_group_xml, client, make_app, post
from tests.conftest import PASSWORD, make_user
from tests.helpers_ops import add_group, fast_password_hashes, running_server
from tests.support import HttpClient, envelope

FIELDS = {"time", "event", "request_id", "client", "caller", "mailbox", "operation", "result"}


def impersonating(target: str) -> str:
    return (
        f"<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>{target}</t:PrimarySmtpAddress>"
        "</t:ConnectingSID></t:ExchangeImpersonation>"
    )


def test_writes_and_security_events_are_audited(tmp_path):
    audit = tmp_path / "audit.log"
    env = {"OPENUCS_AUDIT_LOG": str(audit)}
    with (
        fast_password_hashes(),
        running_server(tmp_path, "alice@example.com", "svc@example.com", "bob@example.com", env=env) as (
            proc,
            database_url,
        ),
    ):
        store = open_store(database_url)
        try:
            with store.transaction(write=True) as tx:
                svc, alice = tx.accounts.by_email("svc@example.com"), tx.accounts.by_email("alice@example.com")
                tx.grants.grant(svc.id, alice.id)
        finally:
            store.close()
        a = HttpClient(proc.base_url, "alice@example.com", PASSWORD)
        s = HttpClient(proc.base_url, "svc@example.com", PASSWORD)
        try:
            a.call("<m:GetImItemList/>").ok()  # reads of one's own list are not audited
            add_group(a, 'Audited\n{"event": "forged"}').ok()
            add_group(a, "").fault("ErrorSchemaValidation")  # never ran: nothing to audit
            s.call("<m:GetImItemList/>", headers=impersonating("alice@example.com")).ok()
            s.call(
                "<m:AddImGroup><m:DisplayName>By service</m:DisplayName></m:AddImGroup>",
                headers=impersonating("bob@example.com"),
            ).fault("ErrorImpersonateUserDenied")
            request = httpx.post(
                proc.base_url + "/EWS/Exchange.asmx",
                content=envelope("<m:GetImItemList/>"),
                auth=("bob@example.com", "x"),
            )
            assert request.status_code == 401
        finally:
            a.close()
            s.close()
    lines = audit.read_text("utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    assert all(set(e) >= FIELDS for e in events)
    for e in events:
        datetime.fromisoformat(e["time"].replace("Z", "+00:00"))
    summary = [(e["event"], e["caller"], e["mailbox"], e["operation"], e["result"]) for e in events]
    assert summary == [
        ("write", "alice@example.com", "alice@example.com", "AddImGroup", "NoError"),
        ("impersonation", "svc@example.com", "alice@example.com", "GetImItemList", "NoError"),
        ("impersonation", "svc@example.com", "bob@example.com", "AddImGroup", "ErrorImpersonateUserDenied"),
        ("login_failure", "bob@example.com", None, None, "401"),
    ]
    assert len({e["request_id"] for e in events}) == len(events)
    assert all(e["client"] == "127.0.0.1" for e in events)


def test_audit_lines_are_whole_and_bounded(tmp_path):
    log = AuditLog(str(tmp_path / "a.log"))
    log.event(
        "login_failure",
        request_id="r1",
        client="c",
        caller="x" * 10_000 + "\n\x00",
        mailbox=None,
        operation=None,
        result="401",
    )
    log.close()
    (line,) = (tmp_path / "a.log").read_text().splitlines()
    assert len(json.loads(line)["caller"]) == 512
    assert (tmp_path / "a.log").stat().st_mode & 0o777 == 0o600
    AuditLog("off").event("write", request_id="r", client="c", caller="c", mailbox="m", operation="o", result="r")


# Values a line must carry as they are: a quote, a backslash, a line separator, control characters.
AWKWARD = {"request_id": 'r"1\\', "client": "::1", "caller": "zoë \u2028 \x01\ttab@example.com"}


def json_line(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def test_audit_lines_are_what_json_dumps_writes(tmp_path):
    path = tmp_path / "a.log"
    log = AuditLog(str(path))
    values = {**AWKWARD, "mailbox": None, "operation": "AddImGroup", "result": "ErrorServerBusy"}
    log.event("throttled", **values, in_flight=27, delay_ms=None, reason="x" * 600, auth="basic")
    log.close()
    line = path.read_text("utf-8")
    record = json.loads(line)
    expected = {"time": record["time"], "event": "throttled", **values}
    expected.update(in_flight=27, delay_ms=None, reason="x" * 512, auth="basic")
    assert line == json_line(expected) + "\n"
    stamp = datetime.strptime(record["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(stamp.timestamp() - time.time()) < 5


def test_a_request_line_is_what_json_dumps_writes(tmp_path):
    path = tmp_path / "a.log"
    log = AuditLog(str(path))
    fields = {"event": "impersonation", **AWKWARD, "mailbox": "m" * 600, "operation": "AddImGroup"}
    fields.update(result="NoError", auth="bearer")
    log.request(**fields)
    log.request(**{**fields, "operation": None})
    log.close()
    lines = path.read_text("utf-8").split("\n")  # not splitlines(): U+2028 is inside a line
    assert lines.pop() == ""
    for line, operation in zip(lines, ("AddImGroup", None), strict=True):
        record = json.loads(line)
        expected = {"time": record["time"], **fields, "mailbox": "m" * 512, "operation": operation}
        assert line == json_line(expected)
    AuditLog("off").request(**fields)  # a log that is off writes nothing, and does not fail


def test_a_log_that_is_off_is_never_handed_an_event(service, monkeypatch):
    app = make_app(service)  # the audit log is off unless one is given
    assert not app.audit.enabled

    def refuse(*args, **kwargs):
        raise AssertionError("an event was built for a log that is off")

    monkeypatch.setattr(app.audit, "event", refuse)
    with fast_password_hashes():
        make_user(service.store, "alice@example.com")

        async def write():
            async with client(app) as c:
                return await post(c, add_group_xml("Not audited"), "alice@example.com")

        assert asyncio.run(write()).status_code == 200


def test_a_closed_log_is_off(tmp_path):
    log = AuditLog(str(tmp_path / "a.log"))
    assert log.enabled and not AuditLog("off").enabled
    log.close()
    assert not log.enabled


def test_times_are_utc_to_the_millisecond(monkeypatch):
    log = AuditLog("off")
    for now, text in [
        (1_700_000_000.0456, "2023-11-14T22:13:20.045Z"),
        (1_700_000_000.9999, "2023-11-14T22:13:20.999Z"),
        (1_700_000_001.0, "2023-11-14T22:13:21.000Z"),
        (1_700_000_000.5, "2023-11-14T22:13:20.500Z"),  # the second made before is made again
    ]:
        monkeypatch.setattr(time, "time", lambda now=now: now)
        assert log._now() == text
