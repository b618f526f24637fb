"""Throttling like EWS (issue 4 §5), on the real ASGI app in process: a per-user concurrency
budget (ErrorExceededConnectionCount), a busy server (ErrorServerBusy with
BackOffMilliseconds), and a bounded queue (503 with Retry-After).

Requests are held inside the server by a gate until the budget under test is full, so every
check counts requests, never times them."""

import asyncio
import json

import pytest

from openucs.admission import Admission
from openucs.audit import AuditLog
from tests.asgi_support import Gate, add_group_xml, client, make_app, post, until
from tests.conftest import make_user
from tests.helpers_ops import fast_password_hashes, sqlite_only
from tests.support import NS, Reply, validate_envelope


@pytest.fixture(autouse=True)
def _fast_hashes():
    with fast_password_hashes():
        yield


@pytest.fixture
def users(store):
    return {name: make_user(store, f"{name}@example.com") for name in ("alice", "bob", "carol")}


@pytest.fixture
def gate(service):
    g = Gate(service)
    yield g
    g.restore()


def fault(response) -> Reply:
    assert response.status_code == 500, response.text
    assert response.headers["content-type"].startswith("text/xml")
    return Reply(500, validate_envelope(response.content))


@sqlite_only
def test_per_user_concurrency_budget(service, users, gate, tmp_path):
    audit_path = tmp_path / "audit.log"
    admission = Admission(max_per_user=3, busy_at=100, max_queue=100)
    app = make_app(service, admission=admission, audit=AuditLog(str(audit_path)))
    alice = users["alice"]

    async def scenario():
        async with client(app) as c:
            held = [asyncio.create_task(post(c, add_group_xml(f"Held {i}"), "alice@example.com")) for i in range(3)]
            await until(lambda: admission.user_in_flight(alice.id) == 3)
            over = await post(c, "<m:GetImItemList/>", "alice@example.com")
            other_user = await post(c, "<m:GetImItemList/>", "bob@example.com")
            gate.open()
            done = await asyncio.gather(*held)
            after = await post(c, "<m:GetImItemList/>", "alice@example.com")
            return over, other_user, done, after

    over, other_user, done, after = asyncio.run(scenario())
    reply = fault(over).fault("ErrorExceededConnectionCount")
    assert reply.body.findtext("detail/e:Message", namespaces=NS).startswith("You have exceeded the available")
    assert other_user.status_code == 200  # the budget is per user
    assert [r.status_code for r in done] == [200, 200, 200]
    assert after.status_code == 200  # slots come back when requests end
    assert admission.user_in_flight(alice.id) == 0 and admission.in_flight == 0
    events = [json.loads(line) for line in audit_path.read_text().splitlines()]
    throttled = [e for e in events if e["event"] == "throttled"]
    assert [(e["caller"], e["result"]) for e in throttled] == [("alice@example.com", "ErrorExceededConnectionCount")]


@sqlite_only
def test_exchange_default_budget_is_27(service, users, gate):
    admission = Admission(busy_at=1000, max_queue=1000)
    assert admission.max_per_user == 27
    app = make_app(service, admission=admission)
    alice = users["alice"]

    async def scenario():
        async with client(app) as c:
            held = [asyncio.create_task(post(c, add_group_xml(f"G{i}"), "alice@example.com")) for i in range(27)]
            await until(lambda: admission.user_in_flight(alice.id) == 27)
            over = await post(c, "<m:GetImItemList/>", "alice@example.com")
            gate.open()
            return over, await asyncio.gather(*held)

    over, done = asyncio.run(scenario())
    fault(over).fault("ErrorExceededConnectionCount")
    assert {r.status_code for r in done} == {200}


@sqlite_only
def test_busy_server_answers_error_server_busy_with_a_back_off(service, users, gate, tmp_path):
    admission = Admission(max_per_user=27, busy_at=2, max_queue=100)
    app = make_app(service, admission=admission)

    async def scenario():
        async with client(app) as c:
            held = [
                asyncio.create_task(post(c, add_group_xml("Held"), f"{name}@example.com")) for name in ("alice", "bob")
            ]
            # Both past authentication (and so past the busy check), held in the service.
            await until(lambda: all(admission.user_in_flight(users[n].id) == 1 for n in ("alice", "bob")))
            busy = await post(c, "<m:GetImItemList/>", "carol@example.com")
            gate.open()
            await asyncio.gather(*held)
            calm = await post(c, "<m:GetImItemList/>", "carol@example.com")
            return busy, calm

    busy, calm = asyncio.run(scenario())
    reply = fault(busy).fault("ErrorServerBusy")
    back_off = reply.body.find("detail/t:MessageXml/t:Value[@Name='BackOffMilliseconds']", namespaces=NS)
    assert back_off is not None and int(back_off.text) >= 100
    assert calm.status_code == 200


@sqlite_only
def test_full_queue_is_503_with_retry_after_before_authentication(service, users, gate):
    admission = Admission(max_per_user=27, busy_at=100, max_queue=2)
    app = make_app(service, admission=admission)

    async def scenario():
        async with client(app) as c:
            held = [
                asyncio.create_task(post(c, add_group_xml("Held"), f"{name}@example.com")) for name in ("alice", "bob")
            ]
            await until(lambda: admission.in_flight == 2)
            full = await post(c, "<m:GetImItemList/>", "carol@example.com")
            anonymous = await c.post("/EWS/Exchange.asmx", content=b"<x/>")
            gate.open()
            await asyncio.gather(*held)
            return full, anonymous, await post(c, "<m:GetImItemList/>", "carol@example.com")

    full, anonymous, later = asyncio.run(scenario())
    for response in (full, anonymous):
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1
    assert later.status_code == 200


@sqlite_only
def test_budgets_are_returned_when_a_request_fails(service, users, monkeypatch):
    admission = Admission(max_per_user=1, busy_at=100, max_queue=100)
    app = make_app(service, admission=admission)

    def broken(*args):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(service, "execute", broken)

    async def scenario():
        async with client(app) as c:
            return [await post(c, add_group_xml("Broken"), "alice@example.com") for _ in range(3)]

    replies = asyncio.run(scenario())
    codes = [Reply(r.status_code, validate_envelope(r.content)).code for r in replies]
    assert codes == ["ErrorInternalServerError"] * 3  # never ErrorExceededConnectionCount
    assert admission.in_flight == 0 and admission.user_in_flight(users["alice"].id) == 0


def test_admission_arithmetic():
    a = Admission(max_per_user=2, busy_at=3, max_queue=4, parallelism=2)
    assert a.enter_user(1) and a.enter_user(1) and not a.enter_user(1)
    a.leave_user(1)
    assert a.enter_user(1)
    assert all(a.enter() for _ in range(4))
    assert a.busy() and not a.enter()  # the queue is full: nothing taken
    assert a.in_flight == 4
    assert 100 <= a.back_off_ms() <= 30_000
    assert a.retry_after_s() >= 1
    for _ in range(4):
        a.leave(10.0)  # slow requests raise the estimate, up to the cap
    for _ in range(4):
        a.enter()
    assert a.back_off_ms() > 100
    with pytest.raises(ValueError):
        Admission(max_per_user=0)
