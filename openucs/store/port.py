"""The store as the rest of the server sees it: transactions, nothing else."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol, TypeVar

from openucs.store.snapshots import SnapshotCache
from openucs.store.sql import SqlTransaction

T = TypeVar("T")


class Writer(Protocol):
    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` inside a write transaction of the store's choosing; returns once durable."""
        ...


class Store(Protocol):
    url: str
    inline: bool  # true when calls are fast enough to run on the event loop (no network waits)
    snapshots: SnapshotCache | None  # the IM lists this process keeps (snapshots.py); None: none

    def transaction(self, *, write: bool, lock_mailbox: int | None = None) -> AbstractContextManager[SqlTransaction]:
        """One transaction. ``write`` takes the write path; ``lock_mailbox`` serialises it with every
        other write to that mailbox, on every process and node, until it ends."""
        ...

    def autocommit(self) -> AbstractContextManager[SqlTransaction]:
        """No transaction: each statement runs alone, in a snapshot of its own. For a read of one
        statement (BEGIN and COMMIT would cost as much again; on PostgreSQL, two more round trips)."""
        ...

    def account_versions(self, user_id: int) -> tuple[int, int] | None:
        """``(list_version, account_version)`` of the account with that id, by one statement outside
        any transaction: all a request whose credentials this process verified before reads to know
        whether what it kept of the account is still current (any change to the row but its list
        version raises ``account_version``, its address included)."""
        ...

    def writer(self) -> Writer | None:
        """How the server runs write transactions, or None for its own thread pool."""
        ...

    def schema_version(self) -> int: ...

    def close(self) -> None: ...
