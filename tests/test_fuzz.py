"""Fuzz smoke run (issue 4 §7): valid requests of every operation, mutated at random (bytes
flipped, dropped, inserted, sliced, duplicated; names, ids and values swapped), sent to a real
server. Every answer is a valid SOAP response, a SOAP fault or a 4xx — never another 5xx,
never ErrorInternalServerError — and the server serves on. Seeded, and bounded in count."""

import random

import pytest

from tests.conftest import PASSWORD
from tests.helpers_ops import add_dg, fast_password_hashes, new_contact, new_group, running_server
from tests.support import HttpClient, Reply, envelope, validate_envelope

pytestmark = pytest.mark.slow

SEED = 20240611
MUTANTS = 1000
SNIPPETS = [
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"&#0;",
    b"&#x10FFFF;",
    b"]]>",
    b"<![CDATA[x]]>",
    b"<!--",
    b"<?pi?>",
    b"<!DOCTYPE x>",
    b'"',
    b"'",
    b"=",
    b"xmlns:m='urn:x'",
    b"\x00",
    b"\xff",
    b"\xc3",
    b"\xe2\x80\xa8",
    b"\r\n",
    b"<m:GetImItemList/>",
    b"<t:ItemId Id='AAAA'/>",
    b"A" * 300,
]


def seeds(c: HttpClient) -> list[bytes]:
    group = new_group(c, "Fuzz")
    contact = new_contact(c, "fuzz@example.com", group)
    dg = add_dg(c, "fuzzlist@example.com", "Fuzz list").ok().group_ref()
    g, p, d = (f'Id="{r.id}" ChangeKey="{r.change_key}"' for r in (group, contact, dg))
    impersonate = (
        "<t:ExchangeImpersonation><t:ConnectingSID><t:PrimarySmtpAddress>alice@example.com"
        "</t:PrimarySmtpAddress></t:ConnectingSID></t:ExchangeImpersonation>"
    )
    ops = [
        "<m:GetImItemList/>",
        f"<m:GetImItems><m:ContactIds><t:ItemId {p}/></m:ContactIds>"
        f"<m:GroupIds><t:ItemId {g}/></m:GroupIds></m:GetImItems>",
        "<m:AddImGroup><m:DisplayName>F</m:DisplayName></m:AddImGroup>",
        f"<m:SetImGroup><m:GroupId {g}/><m:NewDisplayName>F2</m:NewDisplayName></m:SetImGroup>",
        f"<m:RemoveImGroup><m:GroupId {g}/></m:RemoveImGroup>",
        f"<m:AddNewImContactToGroup><m:ImAddress>x@example.com</m:ImAddress><m:GroupId {g}/>"
        "</m:AddNewImContactToGroup>",
        "<m:AddNewTelUriContactToGroup><m:TelUriAddress>tel:+1</m:TelUriAddress><m:ImContactSipUriAddress>"
        "sip:+1@example.com</m:ImContactSipUriAddress><m:ImTelephoneNumber>+1</m:ImTelephoneNumber>"
        "</m:AddNewTelUriContactToGroup>",
        f"<m:AddImContactToGroup><m:ContactId {p}/><m:GroupId {g}/></m:AddImContactToGroup>",
        f"<m:RemoveImContactFromGroup><m:ContactId {p}/><m:GroupId {g}/></m:RemoveImContactFromGroup>",
        f"<m:RemoveContactFromImList><m:ContactId {p}/></m:RemoveContactFromImList>",
        "<m:AddDistributionGroupToImList><m:SmtpAddress>l@example.com</m:SmtpAddress><m:DisplayName>L"
        "</m:DisplayName></m:AddDistributionGroupToImList>",
        f"<m:RemoveDistributionGroupFromImList><m:GroupId {d}/></m:RemoveDistributionGroupFromImList>",
        "<m:SetImListMigrationCompleted><m:ImListMigrationCompleted>true</m:ImListMigrationCompleted>"
        "</m:SetImListMigrationCompleted>",
        "<m:GetImItemList><m:ExtendedProperties><t:ExtendedProperty PropertyTag='0x3001' PropertyType='String'/>"
        "</m:ExtendedProperties></m:GetImItemList>",
    ]
    bodies = [envelope(op) for op in ops]
    bodies += [envelope(op, headers=impersonate) for op in ops[:3]]
    return bodies


def mutate(rnd: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rnd.randint(1, 4)):
        if not data:
            break
        i = rnd.randrange(len(data))
        kind = rnd.randrange(7)
        if kind == 0:
            data[i] ^= 1 << rnd.randrange(8)
        elif kind == 1:
            del data[i : i + rnd.randint(1, 16)]
        elif kind == 2:
            data[i:i] = rnd.choice(SNIPPETS)
        elif kind == 3:
            j = rnd.randrange(len(data))
            a, b = sorted((i, j))
            data[b:b] = data[a:b][:2048]  # duplicate a slice
        elif kind == 4:
            del data[i:]  # truncate
        elif kind == 5:
            names = [b"GetImItemList", b"AddImGroup", b"RemoveImGroup", b"GroupId", b"ContactId", b"ItemId", b"Body"]
            data = bytearray(bytes(data).replace(rnd.choice(names), rnd.choice(names), 1))
        else:
            data[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
    return bytes(data)


def test_mutated_requests_never_crash_the_server(tmp_path):
    rnd = random.Random(SEED)
    with (
        fast_password_hashes(),
        running_server(
            tmp_path, "alice@example.com", env={"OPENUCS_ACCESS_LOG": "false", "OPENUCS_AUDIT_LOG": "off"}
        ) as (proc, _),
    ):
        c = HttpClient(proc.base_url, "alice@example.com", PASSWORD)
        try:
            bodies = seeds(c)
            statuses: dict[int, int] = {}
            for n in range(MUTANTS):
                body = mutate(rnd, rnd.choice(bodies))
                response = c.post_raw(body)
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
                where = f"mutant {n}: {body[:300]!r}"
                if 400 <= response.status_code < 500:
                    continue
                assert response.status_code in (200, 500), where
                reply = Reply(response.status_code, validate_envelope(response.content))
                assert reply.code != "ErrorInternalServerError", where
                if response.status_code == 500:
                    assert reply.is_fault, where
            assert statuses.get(500, 0) > 0 and statuses.get(200, 0) > 0, statuses
            c.call("<m:GetImItemList/>").ok()  # still serving
        finally:
            c.close()
