"""openucs.server: uvicorn's protocol, with a response's head and its first body write leaving
in one send. Driven here through a recording transport, so each send is visible."""

import asyncio
import gc
import weakref
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.server import ServerState

from openucs import server
from openucs.server import HttpProtocol, ServingProtocol


class RecordingTransport(asyncio.Transport):
    """What the protocol sends, one entry per write()/writelines() call."""

    def __init__(self) -> None:
        super().__init__()
        self.sends: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.sends.append(bytes(data))

    def writelines(self, list_of_data: Any) -> None:
        self.sends.append(b"".join(bytes(d) for d in list_of_data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name, default)

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


BODY = b"<s:Envelope/>"


async def fixed(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"%d" % len(BODY))]})
    await send({"type": "http.response.body", "body": BODY})


async def streamed(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})  # chunked
    await send({"type": "http.response.body", "body": b"one", "more_body": True})
    await send({"type": "http.response.body", "body": b"two", "more_body": False})


async def fails_midway(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"10")]})
    raise RuntimeError("boom")


async def exchange(app: Any, *requests: bytes, protocol_class: type[HttpProtocol] = HttpProtocol) -> RecordingTransport:
    """Feed ``requests`` to one connection; return what it sent once the app is idle."""
    config = Config(app=app, http=protocol_class, lifespan="off", log_level="critical")
    config.load()
    state = ServerState()
    protocol = protocol_class(config, state, {}, asyncio.get_running_loop())
    transport = RecordingTransport()
    protocol.connection_made(transport)
    for request in requests:
        protocol.data_received(request)
        for _ in range(50):  # let the app's task (and a pipelined successor) run to the end
            await asyncio.sleep(0)
    protocol.connection_lost(None)
    return transport


POST = b"POST /EWS/Exchange.asmx HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nbody"


def test_a_response_leaves_in_one_send():
    sent = asyncio.run(exchange(fixed, POST)).sends
    assert len(sent) == 1
    head, _, body = sent[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 13" in head
    assert body == BODY


def test_pipelined_requests_get_one_send_each_in_order():
    sent = asyncio.run(exchange(fixed, POST + POST)).sends
    assert len(sent) == 2
    assert all(s.startswith(b"HTTP/1.1 200 OK\r\n") and s.endswith(BODY) for s in sent)


def test_keep_alive_connection_sends_each_response_whole():
    sent = asyncio.run(exchange(fixed, POST, POST, POST)).sends
    assert len(sent) == 3 and all(s.endswith(BODY) for s in sent)


def test_head_request_sends_the_head_alone():
    sent = asyncio.run(exchange(fixed, b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")).sends
    assert len(sent) == 1
    assert sent[0].startswith(b"HTTP/1.1 200 OK\r\n") and sent[0].endswith(b"\r\n\r\n")


def test_100_continue_goes_out_before_the_response():
    request = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n"

    async def run() -> RecordingTransport:
        config = Config(app=fixed, http=HttpProtocol, lifespan="off", log_level="critical")
        config.load()
        protocol = HttpProtocol(config, ServerState(), {}, asyncio.get_running_loop())
        transport = RecordingTransport()
        protocol.connection_made(transport)
        protocol.data_received(request)
        for _ in range(20):
            await asyncio.sleep(0)
        # The client sends its body only once it has read the 100: it must be out already.
        assert transport.sends == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        protocol.data_received(b"body")
        for _ in range(20):
            await asyncio.sleep(0)
        return transport

    sent = asyncio.run(run()).sends
    assert len(sent) == 2 and sent[1].startswith(b"HTTP/1.1 200 OK\r\n") and sent[1].endswith(BODY)


def test_chunked_response_sends_head_with_the_first_chunk():
    sent = asyncio.run(exchange(streamed, POST)).sends
    assert len(sent) == 2
    assert b"transfer-encoding: chunked" in sent[0] and sent[0].endswith(b"3\r\none\r\n")
    assert sent[1] == b"3\r\ntwo\r\n0\r\n\r\n"


def test_a_response_cut_short_still_sends_its_head_then_closes():
    transport = asyncio.run(exchange(fails_midway, POST))
    assert len(transport.sends) == 1 and transport.sends[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.closed


@pytest.mark.parametrize("status", [204, 304])
def test_bodyless_statuses_still_complete(status):
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent = asyncio.run(exchange(app, POST, POST)).sends
    assert len(sent) == 2 and all(s.startswith(f"HTTP/1.1 {status} ".encode()) for s in sent)


def test_openucs_serve_runs_on_this_protocol(tmp_path, monkeypatch):
    from openucs.cli import main as cli_main  # noqa: PLC0415

    started: dict[str, Any] = {}
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: started.update(k, app=a[0]))
    monkeypatch.setenv("OPENUCS_AUDIT_LOG", "off")
    assert cli_main.main(["--database", f"sqlite:///{tmp_path / 'o.db'}", "serve"]) == 0
    assert started["http"] is ServingProtocol and started["app"] == "openucs.app:app_from_env"


# -- the heap, settled for the garbage collector before the first request -------------------


def test_the_first_connection_settles_the_heap_once_then_serves_as_usual(monkeypatch):
    settled: list[None] = []
    monkeypatch.setattr(server, "settle_heap", lambda: settled.append(None))
    monkeypatch.setattr(ServingProtocol, "heap_settled", False)

    async def two_connections() -> list[RecordingTransport]:
        return [await exchange(fixed, POST, protocol_class=ServingProtocol) for _ in range(2)]

    first, second = asyncio.run(two_connections())
    assert len(settled) == 1
    assert first.sends == second.sends and first.sends[0].endswith(BODY)


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def test_settling_freezes_start_up_objects_and_keeps_collecting_later_garbage():
    threshold = gc.get_threshold()
    try:
        server.settle_heap()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (server.YOUNG_GENERATION_THRESHOLD, *threshold[1:])
        later = weakref.ref(_Cycle())  # a reference cycle made after start-up, already garbage
        assert later() is not None
        gc.collect()
        assert later() is None
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
