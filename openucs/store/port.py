"""The store as the rest of the server sees it: transactions, nothing else."""

from concurrent.futures import Executor
from contextlib import AbstractContextManager
from typing import Protocol

from openucs.store.sql import SqlTransaction


class Store(Protocol):
    url: str
    inline: bool  # true when calls are fast enough to run on the event loop (no network waits)

    def transaction(self, *, write: bool, lock_mailbox: int | None = None) -> AbstractContextManager[SqlTransaction]:
        """One transaction. ``write`` takes the write path; ``lock_mailbox`` serialises it with every
        other write to that mailbox, on every process and node, until it ends."""
        ...

    def writer(self) -> Executor | None:
        """Where the server runs write transactions, or None for its own thread pool."""
        ...

    def schema_version(self) -> int: ...

    def close(self) -> None: ...
