"""Shared helpers for the operation, envelope, HTTP, SIPE and zeep tests: request builders
that work with any client of tests.support (InProcessClient or HttpClient), and a running
server on a fresh database for module-scoped fixtures.

Every builder goes through ``client.call``, so every response is validated against
Microsoft's product schema before a test reads it.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import pytest
from lxml import etree

from openucs.auth.passwords import hash_password
from openucs.store.open import open_store
from tests.conftest import make_user
from tests.support import NS, Ref, Reply, ServerProcess, envelope, validate_envelope

M_ACTION = "http://schemas.microsoft.com/exchange/services/2006/messages/"

GROUP_CHANGE_KEY = "EgAAAA=="
MEMBER_CHANGE_KEY = "EQAAAA=="

SYSTEM_GROUPS = {
    "Favorites": "IPM.DistList.MOC.Favorites",
    "Other Contacts": "IPM.DistList.MOC.OtherContacts",
    "Tagged": "IPM.DistList.MOC.Tagged",
}
USER_GROUP = "IPM.DistList.MOC.UserGroup"
DG_GROUP = "IPM.DistList.MOC.DG"

# Exchange 2013 CU23 texts (shared/reference/exchange-behaviour.md).
TEXT = {
    "ErrorImGroupDisplayNameAlreadyExists": "An IM group with the specified display name already exists.",
    "ErrorInvalidImContactId": "The specified Im Contact Id is invalid.",
    "ErrorInvalidImGroupId": "The specified Im Group Id is invalid.",
    "ErrorInvalidImDistributionGroupSmtpAddress": "The specified Im Distribution Group SMTP address is invalid.",
    "ErrorInvalidIdMalformed": "Id is malformed.",
    "ErrorInvalidIdEmpty": "Id must be non-empty.",
}


def contact_limit_text(n: int) -> str:
    return f"IM contact cannot be added. A maximum of {n} IM contacts is allowed."


def group_limit_text(n: int) -> str:
    return f"IM group cannot be added. A maximum of {n} IM groups is allowed."


def expect_error(reply: Reply, code: str, text: str | None = None) -> Reply:
    """An error response with Exchange's exact MessageText and no payload."""
    reply.error(code)
    assert reply.message_text == (text if text is not None else TEXT[code]), etree.tostring(reply.body)
    payload = [el.tag for el in reply.body if etree.QName(el).localname in ("ImGroup", "Persona", "ImItemList")]
    assert payload == [], payload
    return reply


def ref_xml(tag: str, ref: Ref | None, change_key: str | None = None) -> str:
    """``<m:{tag} Id=... ChangeKey=.../>``; ``change_key`` overrides the ref's one."""
    if ref is None:
        return ""
    key = ref.change_key if change_key is None else change_key
    key_attr = "" if key is None else f" ChangeKey={quoteattr(key)}"
    return f"<m:{tag} Id={quoteattr(ref.id)}{key_attr}/>"


def text_el(tag: str, value: str | None) -> str:
    return "" if value is None else f"<m:{tag}>{escape(value)}</m:{tag}>"


# -- operations ------------------------------------------------------------------------------


def add_group(client, name: str) -> Reply:
    return client.call(f"<m:AddImGroup>{text_el('DisplayName', name)}</m:AddImGroup>")


def new_group(client, name: str) -> Ref:
    return add_group(client, name).ok().group_ref()


def set_group(client, group: Ref, name: str, change_key: str | None = None) -> Reply:
    return client.call(
        f"<m:SetImGroup>{ref_xml('GroupId', group, change_key)}{text_el('NewDisplayName', name)}</m:SetImGroup>"
    )


def remove_group(client, group: Ref) -> Reply:
    return client.call(f"<m:RemoveImGroup>{ref_xml('GroupId', group)}</m:RemoveImGroup>")


def add_new_contact(
    client, address: str, group: Ref | None = None, display_name: str | None = None, change_key: str | None = None
) -> Reply:
    return client.call(
        f"<m:AddNewImContactToGroup>{text_el('ImAddress', address)}{text_el('DisplayName', display_name)}"
        f"{ref_xml('GroupId', group, change_key)}</m:AddNewImContactToGroup>"
    )


def new_contact(client, address: str, group: Ref | None = None, display_name: str | None = None) -> Ref:
    return add_new_contact(client, address, group, display_name).ok().persona_ref()


def add_tel_contact(client, tel: str, sip: str, number: str, group: Ref | None = None) -> Reply:
    return client.call(
        f"<m:AddNewTelUriContactToGroup>{text_el('TelUriAddress', tel)}{text_el('ImContactSipUriAddress', sip)}"
        f"{text_el('ImTelephoneNumber', number)}{ref_xml('GroupId', group)}</m:AddNewTelUriContactToGroup>"
    )


def add_to_group(client, contact: Ref, group: Ref | None = None, change_key: str | None = None) -> Reply:
    return client.call(
        f"<m:AddImContactToGroup>{ref_xml('ContactId', contact, change_key)}"
        f"{ref_xml('GroupId', group, change_key)}</m:AddImContactToGroup>"
    )


def remove_from_group(client, contact: Ref, group: Ref, change_key: str | None = None) -> Reply:
    return client.call(
        f"<m:RemoveImContactFromGroup>{ref_xml('ContactId', contact, change_key)}"
        f"{ref_xml('GroupId', group, change_key)}</m:RemoveImContactFromGroup>"
    )


def remove_contact(client, contact: Ref) -> Reply:
    return client.call(f"<m:RemoveContactFromImList>{ref_xml('ContactId', contact)}</m:RemoveContactFromImList>")


def add_dg(client, smtp: str, name: str) -> Reply:
    return client.call(
        f"<m:AddDistributionGroupToImList>{text_el('SmtpAddress', smtp)}{text_el('DisplayName', name)}"
        "</m:AddDistributionGroupToImList>"
    )


def remove_dg(client, group: Ref) -> Reply:
    return client.call(
        f"<m:RemoveDistributionGroupFromImList>{ref_xml('GroupId', group)}</m:RemoveDistributionGroupFromImList>"
    )


def _ids(tag: str, refs) -> str:
    if not refs:
        return ""
    inner = "".join(f"<t:ItemId Id={quoteattr(r.id)} ChangeKey={quoteattr(r.change_key or '')}/>" for r in refs)
    return f"<m:{tag}>{inner}</m:{tag}>"


def get_items(client, contacts=(), groups=(), extended: str = "") -> Reply:
    return client.call(
        f"<m:GetImItems>{_ids('ContactIds', contacts)}{_ids('GroupIds', groups)}{extended}</m:GetImItems>"
    )


def get_item_list(client, extended: str = "") -> Reply:
    return client.call(f"<m:GetImItemList>{extended}</m:GetImItemList>" if extended else "<m:GetImItemList/>")


def set_migration(client, value: str) -> Reply:
    return client.call(
        f"<m:SetImListMigrationCompleted><m:ImListMigrationCompleted>{value}</m:ImListMigrationCompleted>"
        "</m:SetImListMigrationCompleted>"
    )


def raw_item_list(service, user) -> bytes:
    """The exact bytes of a GetImItemList response (validated like every other response)."""
    outcome = service.handle(envelope("<m:GetImItemList/>"), user, "raw-item-list")
    assert outcome.status == 200
    validate_envelope(outcome.body)
    return outcome.body


def group_names(reply: Reply, path: str = "m:ImItemList/t:Groups/t:ImGroup") -> list[str]:
    return [g.findtext("t:DisplayName", namespaces=NS) for g in reply.findall(path)]


def tampered(value: str) -> str:
    """The same id with one character changed (still base64)."""
    i = len(value) // 2
    return value[:i] + ("B" if value[i] != "B" else "C") + value[i + 1 :]


# -- speed ---------------------------------------------------------------------------------


@contextmanager
def fast_password_hashes() -> Iterator[None]:
    """``make_user`` hashes each password once per session instead of once per account: the
    same real argon2id hash (so logins still verify), without ~0.1 s of hashing per user."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("tests.conftest.hash_password", _cached_hash)
        yield


@cache
def _cached_hash(password: str) -> str:
    return hash_password(password)


# sqlite only: for checks that do not depend on the storage backend (ids, envelopes, wire
# format), so the PostgreSQL matrix is spent where storage matters.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# -- servers ---------------------------------------------------------------------------------


@contextmanager
def running_server(
    directory: Path, *emails: str, env: dict[str, str] | None = None
) -> Iterator[tuple[ServerProcess, str]]:
    """``openucs serve`` on a fresh SQLite database in ``directory`` with the given accounts."""
    database_url = f"sqlite:///{directory / 'openucs.db'}"
    store = open_store(database_url)
    try:
        for email in emails:
            make_user(store, email)
    finally:
        store.close()
    proc = ServerProcess(database_url, env=env).start()
    try:
        yield proc, database_url
    finally:
        proc.stop()
