"""What a handler gets besides its request: who asks, on which mailbox, and the server's parts."""

from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from types import TracebackType

from openucs.domain import errors as de
from openucs.domain.accounts import User
from openucs.domain.model import Limits
from openucs.domain.repository import ImListReader
from openucs.ews.requests import ItemRef
from openucs.ops.ids import IdCodec, IdKind
from openucs.store.port import Store
from openucs.store.snapshots import KeptList
from openucs.store.sql import SqlTransaction


class WriteNeeded(Exception):
    """A read found it must write (a mailbox's missing system groups) where it may not: the
    server runs the request again on its write path."""


# Not frozen (handlers never change it): one per request, and a frozen dataclass costs ~3x more to build.
@dataclass(slots=True)
class Context:
    store: Store
    codec: IdCodec
    limits: Limits
    caller: User  # the authenticated account
    mailbox_id: int  # whose IM list the request acts on
    request_id: str
    # Set where a write transaction would wait on the event loop that runs it: the embedded
    # store's group commit may hold the write lock until the loop runs its batch.
    read_only: bool = False

    def read(self) -> AbstractContextManager[SqlTransaction]:
        return self.store.transaction(write=False)

    def read_list(self, *, with_properties: bool = False) -> AbstractContextManager[ImListReader]:
        """The mailbox's list, to read. The caller's own list is at the version read to
        authenticate this request: when this process keeps it at that version, that is the
        answer, with no transaction (the list cache trusts that version the same way)."""
        snapshots = self.store.snapshots
        if snapshots is not None and self.mailbox_id == self.caller.id:
            kept = snapshots.get(self.mailbox_id, self.caller.list_version)
            if kept is not None:
                return nullcontext(KeptList(kept))
        return _ListRead(self.store.transaction(write=False), self.mailbox_id, with_properties)

    def write(self) -> AbstractContextManager[SqlTransaction]:
        if self.read_only:
            raise WriteNeeded
        return self.store.transaction(write=True, lock_mailbox=self.mailbox_id)

    def _item(self, ref: ItemRef, kind: IdKind, unknown: type[de.ImListError]) -> int:
        decoded = self.codec.decode(ref.id)  # IdEmpty / IdMalformed propagate
        if decoded.mailbox_id != self.mailbox_id or decoded.kind is not kind:
            raise unknown(ref.id)  # a genuine id, but not of this mailbox or not of this kind
        return decoded.item_id

    def group_id(self, ref: ItemRef) -> int:
        return self._item(ref, IdKind.GROUP, de.InvalidGroup)

    def contact_id(self, ref: ItemRef) -> int:
        return self._item(ref, IdKind.CONTACT, de.InvalidContact)

    def optional_group_id(self, ref: ItemRef | None) -> int | None:
        return None if ref is None else self.group_id(ref)

    def lenient_ids(self, refs: tuple[ItemRef, ...], *kinds: IdKind) -> list[int]:
        """GetImItems: the items of this mailbox that ``refs`` name as one of ``kinds``; ids that
        fail to decode, or name another mailbox or kind, are skipped silently."""
        found = []
        for ref in refs:
            try:
                decoded = self.codec.decode(ref.id)
            except Exception:  # noqa: S112 - Exchange drops ids it cannot convert
                continue
            if decoded.mailbox_id == self.mailbox_id and decoded.kind in kinds:
                found.append(decoded.item_id)
        return found


class _ListRead:
    """A read transaction, entered as the mailbox's list."""

    __slots__ = ("_mailbox_id", "_transaction", "_with_properties")

    def __init__(
        self, transaction: AbstractContextManager[SqlTransaction], mailbox_id: int, with_properties: bool
    ) -> None:
        self._transaction = transaction
        self._mailbox_id = mailbox_id
        self._with_properties = with_properties

    def __enter__(self) -> ImListReader:
        tx = self._transaction.__enter__()
        return tx.imlist(self._mailbox_id, with_properties=self._with_properties)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        return self._transaction.__exit__(exc_type, exc, tb)
