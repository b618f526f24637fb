"""An ``HttpApp`` driven in process through httpx's ASGI transport, with a gate that holds
chosen requests inside the server: how the throttling and authentication tests fill budgets
and queues deterministically, without timing anything."""

import asyncio
import time
from collections.abc import Callable

import httpx

from openucs.auth.passwords import PasswordAuthenticator
from openucs.http import HttpApp
from tests.conftest import PASSWORD
from tests.support import envelope

GENEROUS = 30.0  # seconds: a guard against a hang, never a measurement


def make_app(service, **kwargs) -> HttpApp:
    kwargs.setdefault("threads", 4)
    return HttpApp(service, PasswordAuthenticator(service.store), **kwargs)


def client(app: HttpApp, address: str = "192.0.2.10") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://openucs.test", timeout=GENEROUS)


async def post(c: httpx.AsyncClient, operation_xml: str, user: str, password: str = PASSWORD) -> httpx.Response:
    return await c.post(
        "/EWS/Exchange.asmx",
        content=envelope(operation_xml),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        auth=(user, password),
    )


def add_group_xml(name: str) -> str:
    return f"<m:AddImGroup><m:DisplayName>{name}</m:DisplayName></m:AddImGroup>"


class Gate:
    """Holds every request of ``operation`` in the store's writer until ``open()`` (SQLite: the
    writes run on the event loop, so the gate waits there, without blocking it)."""

    def __init__(self, service, operation: str = "AddImGroup") -> None:
        self._event = asyncio.Event()
        self._writer = service.store.writer()
        real = self._writer.run

        async def gated(fn, *args):
            if getattr(args[0], "operation", None) == operation:
                await asyncio.wait_for(self._event.wait(), GENEROUS)
            return await real(fn, *args)

        self._writer.run = gated

    def open(self) -> None:
        self._event.set()

    def restore(self) -> None:
        self._event.set()
        del self._writer.run  # back to the class's method


async def until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + GENEROUS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the server never reached the expected state")
        await asyncio.sleep(0.005)
