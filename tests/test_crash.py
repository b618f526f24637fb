"""Crash safety (issue 4 §7), on every backend: clients write as fast as they can, the server
is killed with SIGKILL in the middle of it, and after a restart every write the server had
acknowledged is there. Writes that were in flight may or may not have landed; none may be
half there (every invariant of the list still holds)."""

import signal
import threading

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.helpers_ops import USER_GROUP
from tests.support import HttpClient, ServerProcess

pytestmark = pytest.mark.slow

WRITERS = 6
MAX_REQUESTS_PER_WRITER = 400  # bounds the storm whatever happens
KILL_AFTER_ACKS = 120
GENEROUS = 60.0  # a guard against a hang, never a measurement


def test_every_acknowledged_write_survives_sigkill(database_url, alice):
    env = {"OPENUCS_MAX_GROUPS": "100000", "OPENUCS_ACCESS_LOG": "false"}
    server = ServerProcess(database_url, env=env).start()
    acked: list[str] = []
    lock = threading.Lock()
    enough = threading.Event()

    def writer(w: int) -> None:
        c = HttpClient(server.base_url, "alice@example.com", PASSWORD)
        try:
            for k in range(MAX_REQUESTS_PER_WRITER):
                name = f"W{w}-{k}"
                try:
                    reply = c.call(f"<m:AddImGroup><m:DisplayName>{name}</m:DisplayName></m:AddImGroup>")
                except (httpx.HTTPError, OSError):
                    return  # the server is gone: this write was never acknowledged
                if reply.code == "NoError":
                    with lock:
                        acked.append(name)
                        if len(acked) >= KILL_AFTER_ACKS:
                            enough.set()
        finally:
            c.close()

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    try:
        assert enough.wait(GENEROUS), f"only {len(acked)} writes acknowledged"
        server.stop(signal.SIGKILL)  # while the writers are still writing
    finally:
        server.stop(signal.SIGKILL)
        for t in threads:
            t.join(GENEROUS)
    with lock:
        acknowledged = set(acked)
    assert len(acknowledged) >= KILL_AFTER_ACKS

    again = ServerProcess(database_url, env=env).start()
    try:
        c = HttpClient(again.base_url, "alice@example.com", PASSWORD)
        try:
            state = c.item_list()
        finally:
            c.close()
    finally:
        again.stop()
    present = {name for name, g in state.groups.items() if g["type"] == USER_GROUP}
    assert acknowledged <= present, f"lost {len(acknowledged - present)} acknowledged writes"
    # Nothing beyond what was sent, and every system group once (ImListState keys by name).
    assert present <= {f"W{w}-{k}" for w in range(WRITERS) for k in range(MAX_REQUESTS_PER_WRITER)}
    assert {"Favorites", "Other Contacts", "Tagged"} <= set(state.groups)
