"""Scale: where the limits are, on SQLite and PostgreSQL, from one run.

  ./run bench bench/scale.py --postgres postgresql://...    (without --postgres: SQLite only)

1. Sign-in storm: many mailboxes of realistic size (50-200 contacts) each doing GetImItemList,
   then a few writes, from many connections at once.
2. Per-request cost against store size: GetImItemList latency of one 100-contact mailbox with
   1 000 and with 100 000 mailboxes in the database (target: within 1.2x).
3. Throughput with 1 and 2 workers, on PostgreSQL and SQLite; the gain from the second worker set
   against the gain a bare fixed-response app gets from a second worker on the same machine in
   the same run (target: >= 0.8 of it).
4. GetImItemList(1000 contacts) against the in-process string-template floor (target <= 1.5x).
"""

import argparse
import base64
import random
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench import imitemlist
from bench.common import PASSWORD, add_user, load, populate, soap, start_bare, start_openucs, stop
from bench.loadgen import build_request
from bench.small_requests import prepare
from openucs.auth.passwords import hash_password
from openucs.store.open import open_store
from openucs.store.port import Store

SYSTEM = (
    ("IPM.DistList.MOC.Favorites", "Favorites"),
    ("IPM.DistList.MOC.OtherContacts", "Other Contacts"),
    ("IPM.DistList.MOC.Tagged", "Tagged"),
)


def bulk_mailboxes(store: Store, count: int, contacts_each: int, prefix: str) -> None:
    """``count`` mailboxes with the system groups and ``contacts_each`` contacts in Other Contacts,
    inserted set-wise (a recursive CTE) so 100 000 mailboxes take seconds, not hours."""
    password_hash = hash_password(PASSWORD)
    now = "2026-01-01T00:00:00Z"
    domain = f"{prefix}.bulk.example"
    with store.transaction(write=True) as tx:
        db = tx.db
        db.run(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO users (email, display_name, password_hash, created) "
            "SELECT 'user' || i || '@' || ?, 'User ' || i, ?, ? FROM n",
            (count, domain, password_hash, now),
        )
        for kind, name in SYSTEM:
            db.run(
                "INSERT INTO im_groups (mailbox_id, kind, display_name, created) "
                "SELECT id, ?, ?, ? FROM users WHERE email LIKE ?",
                (kind, name, now, f"%@{domain}"),
            )
        db.run(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
            "INSERT INTO im_contacts (mailbox_id, im_address, im_address_key, display_name, email_address, created) "
            "SELECT u.id, 'c' || n.i || '-' || u.id || '@example.com', 'c' || n.i || '-' || u.id || '@example.com', "
            "'Contact ' || n.i, 'c' || n.i || '-' || u.id || '@example.com', ? FROM users u CROSS JOIN n "
            "WHERE u.email LIKE ?",
            (contacts_each, now, f"%@{domain}"),
        )
        db.run(
            "INSERT INTO im_members (mailbox_id, group_id, contact_id) "
            "SELECT c.mailbox_id, g.id, c.id FROM im_contacts c "
            "JOIN im_groups g ON g.mailbox_id = c.mailbox_id AND g.kind = 'IPM.DistList.MOC.OtherContacts' "
            "JOIN users u ON u.id = c.mailbox_id WHERE u.email LIKE ?",
            (f"%@{domain}",),
        )
    with store.transaction(write=True) as tx:  # fresh planner statistics after a bulk load
        tx.db.run("ANALYZE")


def auth_header(email: str) -> dict[str, str]:
    token = base64.b64encode(f"{email}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "text/xml; charset=utf-8"}


def latency_ms(url: str, email: str, body: bytes, repeat: int = 200) -> float:
    with httpx.Client(base_url=url, headers=auth_header(email)) as client:
        for _ in range(20):
            assert client.post("/EWS/Exchange.asmx", content=body).status_code == 200
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            client.post("/EWS/Exchange.asmx", content=body)
            samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def store_size(database: str) -> dict[str, float]:
    """Latency of one 100-contact mailbox's GetImItemList at 1 000 and at 100 000 mailboxes."""
    store = open_store(database)
    mailbox = add_user(store, "probe@example.com")
    populate(store, mailbox, contacts=100, groups=8)
    bulk_mailboxes(store, 999, 5, "small")
    store.close()
    body = soap("<m:GetImItemList/>")
    # Measure the queries, not the per-process caches (the rendered answer, the kept list).
    no_cache = {"OPENUCS_LIST_CACHE_MB": "0", "OPENUCS_MODEL_CACHE_MB": "0"}
    proc, url = start_openucs(database, extra_env=no_cache)
    try:
        small = latency_ms(url, "probe@example.com", body)
    finally:
        stop(proc)
    store = open_store(database)
    bulk_mailboxes(store, 99_000, 5, "large")
    store.close()
    proc, url = start_openucs(database, extra_env=no_cache)
    try:
        large = latency_ms(url, "probe@example.com", body)
    finally:
        stop(proc)
    return {"1k_ms": small, "100k_ms": large, "ratio": large / small}


def sign_in_storm(database: str, mailboxes: int, seconds: float) -> dict:
    """Every user signs in at once (first request: argon2 once, GetImItemList of 50-200
    contacts), then keeps working: GetImItemList and three writes each, in turn."""
    store = open_store(database)
    password_hash = hash_password(PASSWORD)
    rng = random.Random(7)
    cycles: list[list[bytes]] = []
    for m in range(mailboxes):
        email = f"storm{m:04d}@example.com"
        mailbox = add_user(store, email, password_hash=password_hash)
        populate(store, mailbox, contacts=rng.randint(50, 200), groups=rng.randint(3, 12))
        headers = auth_header(email)
        url = "http://x/EWS/Exchange.asmx"
        group = f"Storm {m}"
        cycles.append(
            [
                build_request(url, soap("<m:GetImItemList/>"), headers),
                build_request(
                    url, soap(f"<m:AddImGroup><m:DisplayName>{group}</m:DisplayName></m:AddImGroup>"), headers
                ),
                build_request(
                    url,
                    soap(
                        f"<m:AddNewImContactToGroup><m:ImAddress>new{m}@example.com</m:ImAddress>"
                        "</m:AddNewImContactToGroup>"
                    ),
                    headers,
                ),
                build_request(
                    url,
                    soap(
                        "<m:SetImListMigrationCompleted><m:ImListMigrationCompleted>true"
                        "</m:ImListMigrationCompleted></m:SetImListMigrationCompleted>"
                    ),
                    headers,
                ),
            ]
        )
    store.close()
    proc, url = start_openucs(database, workers=2)
    try:
        started = time.perf_counter()
        sign_in = load(url + "/EWS/Exchange.asmx", [[c[0]] for c in cycles], 120.0, once=True)
        sign_in["wall_s"] = time.perf_counter() - started
        # Each worker process verifies a password once; make sure both have before the steady phase.
        load(url + "/EWS/Exchange.asmx", [[c[0]] for c in cycles], 120.0, once=True)
        steady = load(url + "/EWS/Exchange.asmx", cycles, seconds)
    finally:
        stop(proc)
    return {"sign_in": sign_in, "steady": steady}


def worker_gain(database: str, seconds: float) -> dict[str, float]:
    workload = prepare(database, 16)["mixed"]
    rps: dict[str, float] = {}
    for workers in (1, 2):
        bare, bare_url = start_bare(workers=workers)
        ours, ours_url = start_openucs(database, workers=workers)
        try:
            load(ours_url + "/EWS/Exchange.asmx", workload, 2.0)  # warm: argon2 per user and worker
            rps[f"bare{workers}"] = load(bare_url + "/", workload, seconds)["rps"]
            rps[f"openucs{workers}"] = load(ours_url + "/EWS/Exchange.asmx", workload, seconds)["rps"]
        finally:
            stop(bare)
            stop(ours)
    bare_gain = rps["bare2"] / rps["bare1"]
    ours_gain = rps["openucs2"] / rps["openucs1"]
    return {**rps, "bare_gain": bare_gain, "openucs_gain": ours_gain, "ratio": ours_gain / bare_gain}


def fresh_postgres(url: str, name: str) -> str:
    """A new empty database ``name`` on the server of ``url``; returns its URL."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--postgres", help="URL of a PostgreSQL database the benchmark may create databases with")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--storm-mailboxes", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        backends = {"sqlite": lambda name: f"sqlite:///{Path(tmp) / name}.db"}
        if args.postgres:
            backends["postgresql"] = lambda name: fresh_postgres(args.postgres, f"openucs_bench_{name}")
        for backend, make in backends.items():
            print(f"== {backend}")
            storm = sign_in_storm(make("storm"), args.storm_mailboxes, args.seconds)
            first, steady = storm["sign_in"], storm["steady"]
            print(
                f"  sign-in storm, {args.storm_mailboxes} mailboxes of 50-200 contacts, 2 workers: all signed in "
                f"within {first['wall_s']:.2f} s (p50 {first['p50_ms']} ms, p99 {first['p99_ms']} ms, "
                f"statuses {first['status']}); then {steady['rps']:.0f} req/s of GetImItemList + 3 writes, "
                f"p50 {steady['p50_ms']} ms, p99 {steady['p99_ms']} ms, statuses {steady['status']}"
            )
            size = store_size(make("size"))
            print(
                f"  GetImItemList (100 contacts) with 1 000 mailboxes: {size['1k_ms']:.2f} ms; with 100 000: "
                f"{size['100k_ms']:.2f} ms; ratio {size['ratio']:.2f}x (target <= 1.2x)"
            )
            gain = worker_gain(make("gain"), args.seconds)
            print(
                f"  mixed small requests: bare {gain['bare1']:.0f} -> {gain['bare2']:.0f} req/s "
                f"(x{gain['bare_gain']:.2f}), "
                f"openucs {gain['openucs1']:.0f} -> {gain['openucs2']:.0f} req/s (x{gain['openucs_gain']:.2f}); "
                f"second-worker gain ratio {gain['ratio']:.2f} (target >= 0.8)"
            )
            floor = imitemlist.measure(make("floor"))
            print(
                f"  GetImItemList(1000) in process: floor {floor['floor_ms']:.2f} ms, "
                f"openucs {floor['openucs_ms']:.2f} ms, "
                f"ratio {floor['ratio']:.2f}x (target <= 1.5x)"
            )


if __name__ == "__main__":
    main()
