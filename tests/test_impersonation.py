"""ExchangeImpersonation as ApplicationImpersonation (issue 4 §3): a service account with a
grant acts on the mailbox its header names; everyone else is refused with Exchange's faults,
and no refused request changes anything. Plus the ``openucs impersonation`` commands."""

import pytest

from openucs.ops.impersonation import ADDRESS_KINDS
from tests.conftest import make_user
from tests.helpers_ops import (
    USER_GROUP,
    add_group,
    new_contact,
    new_group,
    raw_item_list,
    remove_group,
    set_migration,
    sqlite_only,
)
from tests.support import ImListState, InProcessClient, run_cli


def header(kind: str, value: str) -> str:
    return (
        f"<t:ExchangeImpersonation><t:ConnectingSID><t:{kind}>{value}</t:{kind}></t:ConnectingSID>"
        "</t:ExchangeImpersonation>"
    )


class As:
    """A client that sends every request with the same ExchangeImpersonation header."""

    def __init__(self, client: InProcessClient, kind: str, value: str) -> None:
        self.client = client
        self.header = header(kind, value)

    def call(self, operation_xml: str, **kwargs):
        return self.client.call(operation_xml, headers=self.header + kwargs.pop("headers", ""), **kwargs)

    def item_list(self):
        return ImListState(self.call("<m:GetImItemList/>"))


@pytest.fixture
def svc(store):
    return make_user(store, "svc@example.com", "Service account")


@pytest.fixture
def svc_client(service, svc) -> InProcessClient:
    return InProcessClient(service, svc)


def grant(store, service_user, *targets) -> None:
    """``targets`` empty: every mailbox."""
    with store.transaction(write=True) as tx:
        for target in targets or (None,):
            tx.grants.grant(service_user.id, None if target is None else target.id)


def user_groups(client) -> set[str]:
    return {n for n, g in client.item_list().groups.items() if g["type"] == USER_GROUP}


@pytest.mark.parametrize("kind", sorted(ADDRESS_KINDS))
def test_a_granted_service_account_acts_on_the_named_mailbox(store, svc, svc_client, client, alice, kind):
    grant(store, svc)
    alice_as = As(svc_client, kind, "Alice@Example.com")
    work = new_group(alice_as, "Set up by the service")
    new_contact(alice_as, "carol@example.com", work)
    assert "Set up by the service" in user_groups(client)
    assert client.item_list().members_of("Set up by the service") == {"carol@example.com"}
    assert "Set up by the service" not in user_groups(svc_client)
    # Reading through impersonation shows exactly the target's list.
    assert set(alice_as.item_list().groups) == set(client.item_list().groups)


def test_ids_follow_the_impersonated_mailbox(store, svc, svc_client, client, alice):
    grant(store, svc)
    alice_as = As(svc_client, "PrimarySmtpAddress", "alice@example.com")
    alices = new_group(client, "Alice's own")
    remove_group(alice_as, alices).ok()
    assert "Alice's own" not in user_groups(client)
    svcs = new_group(svc_client, "Service's own")
    # The service account's own ids mean nothing in the impersonated mailbox, and the reverse.
    remove_group(alice_as, svcs).error("ErrorInvalidImGroupId")
    assert "Service's own" in user_groups(svc_client)
    via = new_group(alice_as, "Via")
    remove_group(svc_client, via).error("ErrorInvalidImGroupId")
    assert "Via" in user_groups(client)


def test_migration_flag_is_set_on_the_impersonated_account(store, svc, svc_client, alice):
    grant(store, svc)
    set_migration(As(svc_client, "SmtpAddress", "alice@example.com"), "true").ok()
    with store.transaction(write=False) as tx:
        assert tx.accounts.by_id(alice.id).im_list_migration_completed is True
        assert tx.accounts.by_id(svc.id).im_list_migration_completed is False


@pytest.mark.parametrize("kind", sorted(ADDRESS_KINDS))
def test_a_scoped_grant_covers_only_its_mailboxes(store, service, svc, svc_client, client, alice, bob, kind):
    grant(store, svc, alice)
    new_group(As(svc_client, kind, "alice@example.com"), "In scope")
    assert "In scope" in user_groups(client)
    before = raw_item_list(service, bob)
    bob_as = As(svc_client, kind, "bob@example.com")
    add_group(bob_as, "Out of scope").fault("ErrorImpersonateUserDenied")
    bob_as.call("<m:GetImItemList/>").fault("ErrorImpersonateUserDenied")
    assert raw_item_list(service, bob) == before


def test_an_account_without_a_grant_is_refused_before_the_target_is_looked_up(client, bob_client, service, bob):
    before = raw_item_list(service, bob)
    for target in ("bob@example.com", "nobody@example.com"):
        # The same fault whether or not the mailbox exists: nothing to enumerate.
        add_group(As(client, "PrimarySmtpAddress", target), "Sneaky").fault("ErrorImpersonateUserDenied")
    assert raw_item_list(service, bob) == before
    assert "Sneaky" not in user_groups(client)


def test_an_unknown_mailbox_is_error_non_existent_mailbox(store, svc, svc_client):
    grant(store, svc)
    reply = add_group(As(svc_client, "PrimarySmtpAddress", "nobody@example.com"), "Lost")
    reply.fault("ErrorNonExistentMailbox")
    assert reply.find("detail/t:MessageXml/t:Value[@Name='SmtpAddress']").text == "nobody@example.com"
    assert "Lost" not in user_groups(svc_client)


def test_a_sid_fails_unless_an_account_has_it(store, svc, svc_client, client, alice):
    grant(store, svc)
    sid = "S-1-5-21-1004336348-1177238915-682003330-1001"
    add_group(As(svc_client, "SID", sid), "By SID").fault("ErrorImpersonationFailed")
    with store.transaction(write=True) as tx:
        tx.grants.set_sid(alice.id, sid)
    new_group(As(svc_client, "SID", sid.lower()), "By SID")  # SIDs compare case-insensitively
    assert "By SID" in user_groups(client)
    add_group(As(svc_client, "SID", "S-1-5-21-9-9-9-9"), "Other SID").fault("ErrorImpersonationFailed")


def test_a_sid_of_a_mailbox_out_of_scope_is_refused(store, svc, svc_client, alice, bob, service):
    grant(store, svc, alice)
    with store.transaction(write=True) as tx:
        tx.grants.set_sid(bob.id, "S-1-5-21-1-2-3-1002")
    before = raw_item_list(service, bob)
    add_group(As(svc_client, "SID", "S-1-5-21-1-2-3-1002"), "No").fault("ErrorImpersonateUserDenied")
    assert raw_item_list(service, bob) == before


def test_revoking_and_removing_accounts_end_the_right(store, svc, svc_client, alice, bob):
    grant(store, svc)
    alice_as = As(svc_client, "PrimarySmtpAddress", "alice@example.com")
    new_group(alice_as, "Before")
    with store.transaction(write=True) as tx:
        assert tx.grants.revoke(svc.id, None) is True
        assert tx.grants.revoke(svc.id, None) is False
    add_group(alice_as, "After").fault("ErrorImpersonateUserDenied")
    grant(store, svc, bob)
    with store.transaction(write=True) as tx:
        tx.accounts.remove(bob.id)
        assert tx.grants.all(svc.id) == []


@sqlite_only
def test_impersonation_commands(database_url, store, svc, alice, bob):
    run_cli(
        "impersonation",
        "grant",
        "svc@example.com",
        "--scope",
        "alice@example.com",
        "bob@example.com",
        database=database_url,
    )
    listed = run_cli("impersonation", "list", database=database_url).stdout.splitlines()
    assert [line.split() for line in listed[1:]] == [
        ["svc@example.com", "alice@example.com"],
        ["svc@example.com", "bob@example.com"],
    ]
    run_cli("impersonation", "revoke", "svc@example.com", "--scope", "bob@example.com", database=database_url)
    run_cli("impersonation", "grant", "svc@example.com", "--scope", "all", database=database_url)
    listed = run_cli("impersonation", "list", "svc@example.com", database=database_url).stdout.splitlines()
    assert [line.split() for line in listed[1:]] == [
        ["svc@example.com", "all"],
        ["svc@example.com", "alice@example.com"],
    ]
    out = run_cli("impersonation", "revoke", "svc@example.com", database=database_url).stdout
    assert "revoked 2 grants" in out
    assert run_cli("impersonation", "list", database=database_url).stdout.splitlines()[1:] == []
    run_cli("impersonation", "sid", "alice@example.com", "S-1-5-21-1-2-3-1001", database=database_url)
    with store.transaction(write=False) as tx:
        assert tx.grants.user_by_sid("s-1-5-21-1-2-3-1001") == alice.id
    run_cli("impersonation", "sid", "alice@example.com", "--clear", database=database_url)
    with store.transaction(write=False) as tx:
        assert tx.grants.user_by_sid("S-1-5-21-1-2-3-1001") is None


@sqlite_only
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("grant", "nobody@example.com", "--scope", "all"), "no account nobody@example.com"),
        (("grant", "svc@example.com", "--scope", "nobody@example.com"), "no account nobody@example.com"),
        (("grant", "svc@example.com", "--scope", "all", "alice@example.com"), "--scope all stands alone"),
        (("grant", "svc@example.com", "--scope", "svc@example.com"), "needs no grant"),
        (("sid", "alice@example.com", "not-a-sid"), "not a SID"),
        (("sid", "alice@example.com"), "give a SID, or --clear"),
    ],
)
def test_impersonation_command_errors(database_url, svc, alice, args, message):
    result = run_cli("impersonation", *args, database=database_url, check=False)
    assert result.returncode == 1
    assert message in result.stderr
