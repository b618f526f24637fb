"""The HTTP server: uvicorn with its httptools protocol, changed in one respect.

uvicorn writes a response's status line and headers as soon as the app starts the response,
and the body when it comes: two sends, and with Nagle off two TCP segments — and two wakeups
of a client that is waiting for its answer. Here a request's head waits for the first write of
its body, and both leave in one send (a vectored write, no copy). Everything else is uvicorn's.

``run`` is how both `openucs serve` and the benchmark's bare app are served, so the benchmark
compares apps on the same server. It also settles each worker's heap for the cyclic garbage
collector before the worker's first request (``settle_heap``).
"""

import asyncio
import gc
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle


class _HeadHeldTransport:
    """What one request's cycle writes through: the response head is held until the next write
    (the body's first chunk), the end of the response (HEAD writes no body), or a close."""

    __slots__ = ("_cycle", "_head", "_head_written", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: RequestResponseCycle) -> None:
        self._transport = transport
        self._cycle = cycle
        self._head: bytes | None = None
        self._head_written = False

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.writelines((head, data))
        elif not self._head_written and self._cycle.response_started:
            # The first write once the response has started is its head (a "100 Continue"
            # comes before the response starts, and goes out at once).
            self._head_written = True
            self._head = data
        else:
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def flush(self) -> None:
        if self._head is not None:
            head, self._head = self._head, None
            self._transport.write(head)

    def __getattr__(self, name: str) -> Any:  # is_closing, get_extra_info, ...: the transport's
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, sending each small response in one write."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        held = _HeadHeldTransport(cycle.transport, cycle)
        cycle.transport = held  # type: ignore[assignment]
        completed = cycle.on_response

        def on_response() -> None:  # a complete response owes nothing: flush before the next
            held.flush()
            completed()

        cycle.on_response = on_response
        super()._start_asgi_task(cycle, app)


# Container allocations (net of frees) between two young-generation collections; CPython's
# default is 700. Most of a request's containers are freed by reference counting, so frequent
# young collections find little; measured per request (valgrind, 16 connections), 2 000 spares
# a few thousand instructions on writes, and larger budgets nothing more. It stays a budget, so
# garbage in reference cycles still waits for at most 2 000 allocations, not for memory to run
# short; the older generations follow at CPython's ratios (every 10 younger collections).
YOUNG_GENERATION_THRESHOLD = 2_000


def settle_heap() -> None:
    """For a process whose app is built and about to serve: collect the garbage start-up left,
    move what survives (modules, schemas, the app: all live as long as the process) to the
    permanent generation, which no collection scans again (each full collection walked them
    all), and raise the young generation's threshold."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, *gc.get_threshold()[1:])


class ServingProtocol(HttpProtocol):
    """HttpProtocol as ``run`` serves it. A worker's first connection comes after uvicorn has
    built the app and run its lifespan start-up, and before any request: where the heap is
    settled. (uvicorn runs each worker's server itself, so a connection is the first hook that
    every worker reaches with its app built.)"""

    heap_settled = False  # in this process

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # as uvicorn's
        if not ServingProtocol.heap_settled:
            ServingProtocol.heap_settled = True
            settle_heap()
        super().connection_made(transport)


def run(app: str, *, factory: bool = False, **options: Any) -> None:
    """Serve the ASGI app named ``app`` ("module:attribute") with uvicorn and this protocol;
    ``options`` are uvicorn's (host, port, workers, ssl_certfile, ...)."""
    uvicorn.run(app, factory=factory, http=ServingProtocol, **options)
