"""Small reads and writes under load, against the same HTTP server (uvicorn, same flags) serving a
bare app that returns a fixed response, side by side in one run.

  ./run bench bench/small_requests.py [--seconds 2.5] [--rounds 5] [--connections 16] [--workers 1 2]

Each connection is its own user with a small list (2 groups, 5 contacts) and loops over its
cycle of requests; the load generator runs in a separate process. Target: openucs reaches at
least 25 % of the bare app's requests per second. Both servers run with the same number of
worker processes: one, and one per core (what a deployment would use); each figure is printed.
"""

import argparse
import base64
import os
import statistics
import tempfile
from pathlib import Path

from bench.common import PASSWORD, add_user, load, populate, soap, start_bare, start_openucs, stop
from bench.loadgen import build_request
from openucs.app import build_service
from openucs.auth.passwords import hash_password
from openucs.config import Settings
from openucs.domain.model import GroupKind
from openucs.ops.ids import IdKind
from openucs.store.open import open_store


def prepare(database: str, users: int) -> dict[str, list[bytes]]:
    """Users with small lists; returns the request bodies of each workload, per user."""
    store = open_store(database)
    service = build_service(store, Settings(database=database))
    encode = service.codec.encode
    password_hash = hash_password(PASSWORD)
    reads, writes, mixed = [], [], []
    for u in range(users):
        email = f"user{u:03d}@example.com"
        mailbox = add_user(store, email, password_hash=password_hash)
        populate(store, mailbox, contacts=5, groups=2)
        with store.transaction(write=False) as tx:
            repo = tx.imlist(mailbox)
            contact = repo.contacts()[1]  # not in Favorites (populate tags every tenth)
            favorites = repo.system_group(GroupKind.FAVORITES)
        assert favorites is not None
        cid = encode(mailbox, IdKind.CONTACT, contact.id)
        gid = encode(mailbox, IdKind.GROUP, favorites.id)
        auth = {
            "Authorization": "Basic " + base64.b64encode(f"{email}:{PASSWORD}".encode()).decode(),
            "Content-Type": "text/xml; charset=utf-8",
        }

        def req(xml: str, auth: dict[str, str] = auth) -> bytes:
            return build_request("http://x/EWS/Exchange.asmx", soap(xml), auth)

        get_list = req("<m:GetImItemList/>")
        get_item = req(f'<m:GetImItems><m:ContactIds><t:ItemId Id="{cid}"/></m:ContactIds></m:GetImItems>')
        add = req(f'<m:AddImContactToGroup><m:ContactId Id="{cid}"/><m:GroupId Id="{gid}"/></m:AddImContactToGroup>')
        remove = req(
            f'<m:RemoveImContactFromGroup><m:ContactId Id="{cid}"/><m:GroupId Id="{gid}"/></m:RemoveImContactFromGroup>'
        )
        reads.append([get_list, get_item])
        writes.append([add, remove])
        mixed.append([get_list, add, get_item, remove])
    store.close()
    return {"reads": reads, "writes": writes, "mixed": mixed}  # type: ignore[dict-item]


def main() -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    args = parser.parse_args()
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        database = f"sqlite:///{Path(tmp) / 'bench.db'}"
        workloads = prepare(database, args.connections)
        for workers in dict.fromkeys(args.workers):  # in order, once each
            for name, ratio in run(database, workloads, workers, args).items():
                results[f"{name}, {workers} worker{'s' if workers > 1 else ''}"] = ratio
    return results


def run(database: str, workloads: dict[str, list[bytes]], workers: int, args: argparse.Namespace) -> dict[str, float]:
    results: dict[str, float] = {}
    ours, ours_url = start_openucs(database, workers=workers)
    bare, bare_url = start_bare(workers=workers)
    try:
        # Warm up: each user's first request pays argon2 once per worker process (then the
        # credential cache answers); that is sign-in cost, not per-request cost. Each run opens
        # new connections, which the kernel spreads over the workers: warm up several times.
        for _ in range(3 * workers):
            load(ours_url + "/EWS/Exchange.asmx", workloads["reads"], 0.7)
        print(
            f"small requests, {workers} worker process(es) each, {args.connections} connections, "
            f"{args.seconds:g} s per run, median of {args.rounds} rounds' ratios"
        )
        for name, cycles in workloads.items():
            bare_rps, ours_rps, ratios, statuses = [], [], [], {}
            for _ in range(args.rounds):
                # Each round measures both, back to back, and its own ratio: this machine's speed
                # drifts by a third between runs, and a pair measured together shares the drift.
                bare_rps.append(load(bare_url + "/EWS/Exchange.asmx", cycles, args.seconds)["rps"])
                r = load(ours_url + "/EWS/Exchange.asmx", cycles, args.seconds)
                ours_rps.append(r["rps"])
                ratios.append(ours_rps[-1] / bare_rps[-1])
                statuses = r["status"]
            b, o, ratio = statistics.median(bare_rps), statistics.median(ours_rps), statistics.median(ratios)
            results[name] = ratio
            print(
                f"  {name:7s} bare {b:8.0f} req/s   openucs {o:7.0f} req/s   ratio {ratio:6.1%}"
                f" (rounds {min(ratios):.1%} - {max(ratios):.1%})   (target >= 25%)   statuses {statuses}"
            )
    finally:
        stop(ours)
        stop(bare)
    return results


if __name__ == "__main__":
    main()
