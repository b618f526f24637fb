"""GetImItemList of a 1000-contact, 64-group mailbox against the floor of merely rendering the
same response with string templates, in the same process, side by side.

  ./run bench bench/imitemlist.py

The floor gets everything pre-computed (ids already encoded, rows already in memory) and only
fills str.format templates; openucs pays for parsing the request, the database transaction,
the rules and the rendering (openucs' own writer uses compiled f-strings, which are faster than
templates: its share is printed too). The floor's output is checked to be byte-identical to
openucs' response, so both sides produce the same thing. openucs is measured with all its
caches off (the list cache, the rendered-item cache and the kept lists); the cached figures are
printed apart: a list whose items were rendered before; a list this process kept, as after its
own write (no read of the tables); an unchanged list asked for again.
"""

import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import PASSWORD, add_user, populate, soap, start_openucs, stop
from openucs.app import build_service
from openucs.config import Settings
from openucs.domain.accounts import User
from openucs.ews.requests import GetImItemList
from openucs.ews.writer import esc, write_response
from openucs.ops.context import Context
from openucs.ops.ids import QUICK_CONTACTS_FOLDER, IdKind
from openucs.ops.lists import get_im_item_list
from openucs.ops.service import Service
from openucs.store.open import open_store

REQUEST = soap("<m:GetImItemList/>")

# --- the floor: the same envelope from string templates -------------------------------------
HEAD = (
    '<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
    'xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" '
    'xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><s:Header><t:ServerVersionInfo '
    'MajorVersion="15" MinorVersion="0" MajorBuildNumber="1497" MinorBuildNumber="0" Version="Exchange2013"/>'
    '</s:Header><s:Body><m:GetImItemListResponse ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>'
    "<m:ImItemList><t:Groups>"
)
GROUP = (
    "<t:ImGroup><t:DisplayName>{name}</t:DisplayName><t:GroupType>{kind}</t:GroupType>"
    '<t:ExchangeStoreId Id="{id}" ChangeKey="EgAAAA=="/>{members}</t:ImGroup>'
)
MEMBER = '<t:ItemId Id="{}" ChangeKey="EQAAAA=="/>'
A0 = "<t:Attributions><t:Attribution>0</t:Attribution></t:Attributions>"
PERSONA = (
    '<t:Persona><t:PersonaId Id="{pid}"/><t:PersonaType>Person</t:PersonaType><t:CreationTime>{created}'
    "</t:CreationTime><t:DisplayName>{name}</t:DisplayName><t:DisplayNameFirstLast>{name}</t:DisplayNameFirstLast>"
    "<t:DisplayNameLastFirst>{name}</t:DisplayNameLastFirst><t:FileAs>{name}</t:FileAs><t:EmailAddress>"
    "<t:Name>{name}</t:Name><t:EmailAddress>{email}</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType>"
    "</t:EmailAddress><t:EmailAddresses><t:Address><t:Name>{name}</t:Name><t:EmailAddress>{email}</t:EmailAddress>"
    "<t:RoutingType>SMTP</t:RoutingType></t:Address></t:EmailAddresses><t:ImAddress>{im}</t:ImAddress>"
    "<t:RelevanceScore>2147483647</t:RelevanceScore><t:Attributions><t:Attribution><t:Id>0</t:Id>"
    '<t:SourceId Id="{sid}" ChangeKey="EQAAAA=="/><t:DisplayName>Lync Contacts</t:DisplayName>'
    "<t:IsWritable>true</t:IsWritable><t:IsQuickContact>true</t:IsQuickContact><t:IsHidden>false</t:IsHidden>"
    '<t:FolderId Id="{folder}" ChangeKey="AQAAAA=="/></t:Attribution></t:Attributions><t:DisplayNames>'
    "<t:StringAttributedValue><t:Value>{name}</t:Value>" + A0 + "</t:StringAttributedValue></t:DisplayNames>"
    "<t:Emails1><t:EmailAddressAttributedValue><t:Value><t:Name>{name}</t:Name><t:EmailAddress>{email}"
    "</t:EmailAddress><t:RoutingType>SMTP</t:RoutingType></t:Value>" + A0 + "</t:EmailAddressAttributedValue>"
    "</t:Emails1><t:ImAddresses><t:StringAttributedValue><t:Value>{im}</t:Value>" + A0 + "</t:StringAttributedValue>"
    "</t:ImAddresses></t:Persona>"
)
TAIL = "</t:Personas></m:ImItemList></m:GetImItemListResponse></s:Body></s:Envelope>"


def floor_data(service: Service, user: User) -> tuple[list[tuple], list[tuple]]:
    """Everything the floor needs, fetched and encoded up front (not timed)."""
    encode = service.codec.encode
    mailbox = user.id
    with service.store.transaction(write=False) as tx:
        repo = tx.imlist(mailbox)
        groups = repo.groups()
        contacts = repo.contacts()
    folder = encode(mailbox, IdKind.FOLDER, QUICK_CONTACTS_FOLDER)
    g = [
        (
            g.display_name,
            g.kind.value,
            encode(mailbox, IdKind.GROUP, g.id),
            [encode(mailbox, IdKind.CONTACT, m) for m in g.members],
        )
        for g in groups
    ]
    p = [
        (
            encode(mailbox, IdKind.PERSONA, c.id),
            c.created,
            c.card.display_name,
            c.card.email_address,
            c.im_address,
            encode(mailbox, IdKind.CONTACT, c.id),
            folder,
        )
        for c in contacts
    ]
    return g, p


def render_floor(groups: list[tuple], personas: list[tuple]) -> bytes:
    parts = [HEAD]
    for name, kind, gid, members in groups:
        member_xml = (
            "<t:MemberCorrelationKey>" + "".join(MEMBER.format(m) for m in members) + "</t:MemberCorrelationKey>"
            if members
            else ""
        )
        parts.append(GROUP.format(name=esc(name), kind=kind, id=gid, members=member_xml))
    parts.append("</t:Groups><t:Personas>")
    for pid, created, name, email, im, sid, folder in personas:
        parts.append(
            PERSONA.format(
                pid=pid, created=created, name=esc(name), email=esc(email), im=esc(im), sid=sid, folder=folder
            )
        )
    parts.append(TAIL)
    return "".join(parts).encode()


def timed(fn, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def side_by_side(a, b, repeat: int) -> tuple[float, float]:
    """Median times of ``a`` and ``b``, sampled alternately so that both see the same machine
    (a shared 2-core machine drifts by tens of percent within a minute)."""
    samples_a, samples_b = [], []
    for _ in range(repeat):
        for fn, samples in ((a, samples_a), (b, samples_b)):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
    return statistics.median(samples_a), statistics.median(samples_b)


def measure(database: str, repeat: int = 60) -> dict:
    # A store each: the kept lists belong to the store. Without the caches: this measures
    # building the answer, not finding it again.
    store, items_store, kept_store, cached_store = (open_store(database) for _ in range(4))
    service = build_service(store, Settings(database=database, list_cache_mb=0, render_cache_mb=0, model_cache_mb=0))
    items_service = build_service(items_store, Settings(database=database, list_cache_mb=0, model_cache_mb=0))
    kept_service = build_service(kept_store, Settings(database=database, list_cache_mb=0))
    cached_service = build_service(cached_store, Settings(database=database))
    mailbox = add_user(store, "big@example.com")
    populate(store, mailbox, contacts=1000, groups=64)
    with store.transaction(write=False) as tx:
        user = tx.accounts.by_id(mailbox)
    assert user is not None
    groups, personas = floor_data(service, user)
    ours = service.handle(REQUEST, user, "bench").body
    floor = render_floor(groups, personas)
    if ours != floor:
        sys.exit("the floor does not render the same response as openucs: the comparison would be unfair")
    for _ in range(3):  # warm caches on both sides
        service.handle(REQUEST, user, "bench")
        render_floor(groups, personas)
    t_floor, t_ours = side_by_side(
        lambda: render_floor(groups, personas), lambda: service.handle(REQUEST, user, "bench"), repeat
    )
    ctx = Context(store, service.codec, service.limits, user, user.id, "bench")
    response = get_im_item_list(GetImItemList(), ctx)
    t_writer = timed(lambda: write_response(response, "Exchange2013"), repeat)
    assert items_service.handle(REQUEST, user, "bench").body == ours
    t_floor_items, t_items = side_by_side(
        lambda: render_floor(groups, personas), lambda: items_service.handle(REQUEST, user, "bench"), repeat
    )
    assert kept_service.handle(REQUEST, user, "bench").body == ours
    t_kept = timed(lambda: kept_service.handle(REQUEST, user, "bench"), repeat)
    assert cached_service.handle(REQUEST, user, "bench").body == ours
    t_cached = timed(lambda: cached_service.handle(REQUEST, user, "bench"), repeat)
    for s in (store, items_store, kept_store, cached_store):
        s.close()
    return {
        "bytes": len(ours),
        "floor_ms": t_floor * 1000,
        "openucs_ms": t_ours * 1000,
        "ratio": t_ours / t_floor,
        "items_cached_ms": t_items * 1000,
        "items_cached_ratio": t_items / t_floor_items,
        "kept_ms": t_kept * 1000,
        "cached_ms": t_cached * 1000,
        "writer_ms": t_writer * 1000,
    }


def measure_http(database: str, repeat: int = 30) -> float:
    proc, url = start_openucs(database)
    try:
        with httpx.Client(base_url=url, auth=("big@example.com", PASSWORD)) as client:
            post = lambda: client.post("/EWS/Exchange.asmx", content=REQUEST, headers={"Content-Type": "text/xml"})  # noqa: E731
            for _ in range(3):
                assert post().status_code == 200
            return timed(post, repeat) * 1000
    finally:
        stop(proc)


def main(database: str | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        database = database or f"sqlite:///{Path(tmp) / 'bench.db'}"
        result = measure(database)
        result["http_ms"] = measure_http(database)
    print(
        f"GetImItemList, 1000 contacts in 64 groups ({result['bytes'] / 1024:.0f} KiB response)\n"
        f"  string-template floor, in process : {result['floor_ms']:7.2f} ms\n"
        f"  openucs, in process (parse, SQL, rules, render): {result['openucs_ms']:7.2f} ms\n"
        f"  ratio openucs / floor              : {result['ratio']:7.2f}x   (target <= 2x)\n"
        f"  of which openucs' f-string writer  : {result['writer_ms']:7.2f} ms\n"
        f"  openucs, items rendered before (item cache): {result['items_cached_ms']:7.2f} ms"
        f" ({result['items_cached_ratio']:.2f}x the floor)\n"
        f"  openucs, list kept by this process, items rendered before: {result['kept_ms']:7.2f} ms\n"
        f"  openucs, unchanged list (cached)   : {result['cached_ms']:7.2f} ms\n"
        f"  openucs over HTTP, one client, list unchanged (cached): {result['http_ms']:7.2f} ms"
    )
    return result


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
