"""Item ids: opaque base64 strings that name a mailbox, a kind of item and the item.

An id carries a keyed MAC (BLAKE2b with the server's secret, shared by every node through the
database), so an id cannot be forged or altered into another mailbox's or another item's; a
genuine id of another mailbox is refused by the handler as an unknown id. ChangeKeys are
separate and fixed per kind, as Exchange's version-less ids have them.
"""

import base64
import binascii
import hashlib
import hmac
import struct
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache

_FORMAT = struct.Struct(">BBQQ")
_VERSION = 1
_MAC_SIZE = 9  # 18 payload + 9 MAC bytes = 27 bytes = 36 base64 characters, no padding


class IdKind(IntEnum):
    GROUP = 1
    CONTACT = 2
    PERSONA = 3
    FOLDER = 4
    DIRECTORY = 5  # a directory entry (FindPeople persona): mailbox 0, item = the account's id


QUICK_CONTACTS_FOLDER = 1


class IdEmpty(Exception):
    """The Id attribute was empty."""


class IdMalformed(Exception):
    """The Id is not one this server issued."""


@dataclass(frozen=True, slots=True)
class ItemId:
    mailbox_id: int
    kind: IdKind
    item_id: int


class IdCodec:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("id secret must be at least 16 bytes")
        self._key = secret[:64]
        # Rendering a 1000-contact list encodes ~3000 ids; most repeat between requests. The
        # caches are the public methods themselves: a method around them adds a Python call to
        # every hit, which costs about as much as the hit.
        self.encode: Callable[[int, IdKind, int], str] = lru_cache(maxsize=1 << 16)(self._encode)
        # Checking an id's MAC costs more than the query the id leads to, and clients send the
        # same ids again and again. Refused ids raise, and lru_cache keeps no exceptions.
        self.decode: Callable[[str], ItemId] = lru_cache(maxsize=1 << 13)(self._decode)

    def _mac(self, payload: bytes) -> bytes:
        return hashlib.blake2b(payload, key=self._key, digest_size=_MAC_SIZE).digest()

    def _encode(self, mailbox_id: int, kind: IdKind, item_id: int) -> str:
        payload = _FORMAT.pack(_VERSION, kind, mailbox_id, item_id)
        return base64.b64encode(payload + self._mac(payload)).decode("ascii")

    def _decode(self, value: str) -> ItemId:
        value = value.strip()
        if not value:
            raise IdEmpty
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise IdMalformed from None
        if len(raw) != _FORMAT.size + _MAC_SIZE:
            raise IdMalformed
        payload, mac = raw[: _FORMAT.size], raw[_FORMAT.size :]
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise IdMalformed
        version, kind, mailbox_id, item_id = _FORMAT.unpack(payload)
        if version != _VERSION or kind not in IdKind._value2member_map_:
            raise IdMalformed
        return ItemId(mailbox_id, IdKind(kind), item_id)
