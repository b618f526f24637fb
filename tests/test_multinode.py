"""Many processes, one database: two ``openucs serve`` nodes on one PostgreSQL database (on
SQLite: one server with two worker processes), hammered at once by concurrent clients on the
same mailboxes. The limits, unique names and one-of-each-system-group must hold across
processes, and the database must satisfy every invariant afterwards.

Races are started together on a barrier; the checks count outcomes, never time them.
"""

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from openucs.store.open import open_store
from tests.conftest import PASSWORD, make_user
from tests.support import HttpClient, Ref, ServerProcess

pytestmark = pytest.mark.slow

MAX_GROUPS = 5
MAX_CONTACTS = 8
THREADS = 8
SYSTEM_KINDS = ("IPM.DistList.MOC.Favorites", "IPM.DistList.MOC.OtherContacts", "IPM.DistList.MOC.Tagged")
LIMITED_KINDS = ("IPM.DistList.MOC.UserGroup", "IPM.DistList.MOC.DG")


def ref_xml(tag: str, ref: Ref | None) -> str:
    return "" if ref is None else f'<m:{tag} Id="{ref.id}" ChangeKey="{ref.change_key}"/>'


def add_group(c: HttpClient, name: str):
    return c.call(f"<m:AddImGroup><m:DisplayName>{name}</m:DisplayName></m:AddImGroup>")


def add_contact(c: HttpClient, address: str, group: Ref | None = None):
    return c.call(
        f"<m:AddNewImContactToGroup><m:ImAddress>{address}</m:ImAddress>{ref_xml('GroupId', group)}"
        "</m:AddNewImContactToGroup>"
    )


def remove_from_group(c: HttpClient, contact: Ref, group: Ref):
    return c.call(
        f"<m:RemoveImContactFromGroup>{ref_xml('ContactId', contact)}{ref_xml('GroupId', group)}"
        "</m:RemoveImContactFromGroup>"
    )


def remove_group(c: HttpClient, group: Ref):
    return c.call(f"<m:RemoveImGroup>{ref_xml('GroupId', group)}</m:RemoveImGroup>")


class Cluster:
    """The nodes, one HTTP client per (thread, node), and a direct line to the database."""

    def __init__(self, urls: list[str], store) -> None:
        self.urls = urls
        self.store = store
        self._clients: list[HttpClient] = []

    def client(self, email: str, node: int) -> HttpClient:
        c = HttpClient(self.urls[node % len(self.urls)], email, PASSWORD)
        self._clients.append(c)
        return c

    def race(self, task, count: int = THREADS) -> list:
        """Run ``task(i)`` on ``count`` threads released together; return the results in order."""
        barrier = threading.Barrier(count)

        def run(i: int):
            barrier.wait(timeout=120)  # a guard against a hang, not a measurement
            return task(i)

        with ThreadPoolExecutor(max_workers=count) as pool:
            return list(pool.map(run, range(count)))

    def close(self) -> None:
        for c in self._clients:
            c.close()

    def rows(self, sql: str, params=()) -> list:
        with self.store.transaction(write=False) as tx:
            return tx.db.all(sql, params)


@pytest.fixture
def cluster(database_url):
    store = open_store(database_url)
    for email in ("alice@example.com", "bob@example.com", "carol@example.com"):
        make_user(store, email)
    env = {
        "OPENUCS_MAX_GROUPS": str(MAX_GROUPS),
        "OPENUCS_MAX_CONTACTS": str(MAX_CONTACTS),
        "OPENUCS_LOG_LEVEL": "warning",  # no access log: nobody drains the servers' output pipes
    }
    if database_url.startswith("postgresql"):
        servers = [ServerProcess(database_url, env=env), ServerProcess(database_url, env=env)]
    else:
        servers = [ServerProcess(database_url, "--workers", "2", env=env)]
    started = []
    try:
        for server in servers:
            started.append(server.start())
        c = Cluster([s.base_url for s in started], store)
        yield c
        c.close()
    finally:
        for server in started:
            server.stop()
        store.close()


def codes(replies) -> Counter:
    return Counter(r.code for r in replies)


def check_invariants(cluster: Cluster) -> None:
    """The model's invariants, read straight from the database."""
    rows = cluster.rows
    orphans = rows(
        "SELECT m.id FROM im_members m "
        "LEFT JOIN im_contacts c ON c.id = m.contact_id AND c.mailbox_id = m.mailbox_id "
        "LEFT JOIN im_groups g ON g.id = m.group_id AND g.mailbox_id = m.mailbox_id "
        "WHERE c.id IS NULL OR g.id IS NULL"
    )
    assert orphans == [], "a member that is not a contact of its group's mailbox"
    alone = rows("SELECT id FROM im_contacts c WHERE NOT EXISTS (SELECT 1 FROM im_members m WHERE m.contact_id = c.id)")
    assert alone == [], "a contact in no group"
    twice = rows("SELECT group_id, contact_id FROM im_members GROUP BY group_id, contact_id HAVING COUNT(*) > 1")
    assert twice == [], "a contact twice in one group"
    for (mailbox,) in rows("SELECT id FROM users"):
        kinds = Counter(k for (k,) in rows("SELECT kind FROM im_groups WHERE mailbox_id = ?", (mailbox,)))
        assert [kinds[k] for k in SYSTEM_KINDS] == [1, 1, 1], (mailbox, kinds)
        assert sum(kinds[k] for k in LIMITED_KINDS) <= MAX_GROUPS, (mailbox, kinds)
        names = Counter(n for (n,) in rows("SELECT display_name FROM im_groups WHERE mailbox_id = ?", (mailbox,)))
        assert [n for n, count in names.items() if count > 1] == [], mailbox
        contacts = rows("SELECT im_address_key FROM im_contacts WHERE mailbox_id = ?", (mailbox,))
        assert len(contacts) <= MAX_CONTACTS, (mailbox, len(contacts))
        assert len(set(contacts)) == len(contacts), mailbox


def user_groups(cluster: Cluster, email: str) -> list[str]:
    return [
        name
        for (name,) in cluster.rows(
            "SELECT g.display_name FROM im_groups g JOIN users u ON u.id = g.mailbox_id "
            "WHERE u.email = ? AND g.kind = 'IPM.DistList.MOC.UserGroup' ORDER BY g.id",
            (email,),
        )
    ]


def test_limits_names_and_system_groups_hold_across_processes(cluster):
    email = "alice@example.com"
    clients = [cluster.client(email, i) for i in range(THREADS)]

    # Many distinct names at once: exactly the limit's worth of groups is created.
    replies = cluster.race(lambda i: [add_group(clients[i], f"G{i}-{k}") for k in range(2)])
    outcome = codes(r for pair in replies for r in pair)
    assert outcome == {"NoError": MAX_GROUPS, "ErrorImGroupLimitReached": 2 * THREADS - MAX_GROUPS}, outcome
    assert len(user_groups(cluster, email)) == MAX_GROUPS
    check_invariants(cluster)

    # The same name on every node at once: one group, and everybody is handed that one.
    for name in user_groups(cluster, email):
        state = clients[0].item_list()
        remove_group(clients[0], state.groups[name]["id"]).ok()
    replies = cluster.race(lambda i: add_group(clients[i], "Shared"))
    assert codes(replies) == {"NoError": THREADS}
    assert len({r.group_ref().id for r in replies}) == 1
    assert user_groups(cluster, email) == ["Shared"]
    shared = replies[0].group_ref()

    # Distinct contacts at once: exactly the limit's worth is created.
    replies = cluster.race(lambda i: [add_contact(clients[i], f"c{i}-{k}@example.org", shared) for k in range(2)])
    outcome = codes(r for pair in replies for r in pair)
    assert outcome == {"NoError": MAX_CONTACTS, "ErrorImContactLimitReached": 2 * THREADS - MAX_CONTACTS}, outcome
    check_invariants(cluster)

    # Every node now shows the same list.
    views = {(c.base_url, tuple(sorted(c.item_list().personas))) for c in clients}
    assert len({personas for _, personas in views}) == 1
    assert len(next(iter(views))[1]) == MAX_CONTACTS


def test_missing_system_groups_are_created_once_under_a_race(cluster):
    email = "carol@example.com"
    with cluster.store.transaction(write=True) as tx:
        carol = tx.accounts.by_email(email)
        tx.db.run("DELETE FROM im_groups WHERE mailbox_id = ?", (carol.id,))
    clients = [cluster.client(email, i) for i in range(THREADS)]

    def task(i: int):
        # Half list (which creates missing system groups), half add into Other Contacts.
        if i % 2:
            return clients[i].call("<m:GetImItemList/>")
        return add_contact(clients[i], f"x{i}@example.org")

    assert codes(cluster.race(task)) == {"NoError": THREADS}
    kinds = Counter(k for (k,) in cluster.rows("SELECT kind FROM im_groups WHERE mailbox_id = ?", (carol.id,)))
    assert kinds == dict.fromkeys(SYSTEM_KINDS, 1)
    assert clients[0].item_list().members_of("Other Contacts") == {f"x{i}@example.org" for i in range(0, THREADS, 2)}
    check_invariants(cluster)


EXPECTED_UNDER_CHURN = {
    "NoError",
    "ErrorImGroupLimitReached",
    "ErrorImContactLimitReached",
    "ErrorInvalidImGroupId",  # another client removed the group first
    "ErrorInvalidImContactId",  # ... or the contact
}


def test_concurrent_churn_on_two_mailboxes_keeps_every_invariant(cluster):
    """Adds and removes of groups, contacts and memberships, from many clients on every node,
    over two mailboxes, with stale ids on purpose; nothing may fail in an unexpected way."""
    mailboxes = ("alice@example.com", "bob@example.com")
    clients = [cluster.client(mailboxes[i % 2], i // 2) for i in range(THREADS)]

    def churn(i: int) -> Counter:
        c, rnd, seen = clients[i], random.Random(i), Counter()
        state = c.item_list()
        for _ in range(16):
            groups = [g["id"] for g in state.groups.values()]
            user = [g["id"] for g in state.groups.values() if g["type"] == "IPM.DistList.MOC.UserGroup"]
            contacts = [p["id"] for p in state.personas.values()]
            action = rnd.choice(("group", "contact", "contact", "unmember", "ungroup"))
            if action == "group":
                reply = add_group(c, f"N{rnd.randrange(8)}")
            elif action == "contact":
                reply = add_contact(c, f"p{rnd.randrange(12)}@example.org", rnd.choice(groups))
            elif action == "unmember" and contacts:
                reply = remove_from_group(c, rnd.choice(contacts), rnd.choice(groups))
            elif action == "ungroup" and user:
                reply = remove_group(c, rnd.choice(user))
            else:
                continue
            seen[reply.code] += 1
            if rnd.random() < 0.5:
                state = c.item_list()  # otherwise keep acting on a stale view
        return seen

    outcome = sum(cluster.race(churn), Counter())
    assert set(outcome) <= EXPECTED_UNDER_CHURN, outcome
    assert outcome["NoError"] > 0
    check_invariants(cluster)
    for email in mailboxes:
        listed = [cluster.client(email, node).item_list() for node in range(len(cluster.urls))]
        assert len({tuple(sorted(s.groups)) for s in listed}) == 1
        assert len({tuple(sorted(s.personas)) for s in listed}) == 1
