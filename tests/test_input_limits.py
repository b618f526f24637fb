"""Over-long names and addresses are refused where they enter, the same way on every backend.

PostgreSQL cannot index a value of more than about 2700 bytes, and names and addresses are
indexed: unbounded, a long one was an ErrorInternalServerError on PostgreSQL and stored on
SQLite. Now the request schema bounds them (ErrorSchemaValidation), so do ``openucs user`` and
CSV import (a message), and the directory's search terms are cut short whatever a name holds.
"""

import string

import pytest
from lxml import etree

from openucs.cli.directory import FIELDS
from openucs.domain.directory import MAX_TERM_CHARS
from openucs.domain.imlist import MAX_ADDRESS_CHARS, MAX_NAME_CHARS, is_smtp_address
from openucs.ews.reader import SCHEMA_DIR
from tests.conftest import make_user
from tests.helpers_ops import DG_GROUP, add_dg, add_group, add_new_contact, add_tel_contact, new_group, set_group
from tests.support import NS, run_cli

XS = "http://www.w3.org/2001/XMLSchema"
FAR_TOO_LONG = 3000  # characters; 6000 bytes of "é": more than PostgreSQL could ever index
EMOJI = "\U0001f600"  # four bytes of UTF-8: the most one character can cost


def sip_address(length: int) -> str:
    """A valid ``sip:`` address of exactly ``length`` characters (labels of at most 63)."""
    domain = ".".join(["d" * 63] * 3 + ["example"])  # 199 characters
    return "sip:" + "a" * (length - len("sip:@") - len(domain)) + "@" + domain


def smtp_address(length: int) -> str:
    return sip_address(length + len("sip:"))[len("sip:") :]


def test_the_schema_bounds_are_the_domains():
    """messages.xsd cannot import Python: its numbers must be the ones the CLI uses."""
    root = etree.parse(str(SCHEMA_DIR / "messages.xsd")).getroot()
    limits = {int(f.get("value")) for f in root.iter(f"{{{XS}}}maxLength")}
    assert limits == {MAX_NAME_CHARS, MAX_ADDRESS_CHARS}


# -- EWS requests, on both backends ----------------------------------------------------------

LONG = "é" * FAR_TOO_LONG
REQUESTS = {
    # The case the limit is for: a group name over 256 characters.
    "AddImGroup-300": lambda client, group: add_group(client, "g" * 300),
    "AddImGroup": lambda client, group: add_group(client, LONG),
    "SetImGroup": lambda client, group: set_group(client, group, LONG),
    "AddNewImContactToGroup-ImAddress": lambda client, group: add_new_contact(client, sip_address(FAR_TOO_LONG)),
    "AddNewImContactToGroup-DisplayName": lambda client, group: add_new_contact(
        client, "sip:bob@example.com", group, LONG
    ),
    "AddNewTelUriContactToGroup": lambda client, group: add_tel_contact(
        client, "tel:+15550100", sip_address(FAR_TOO_LONG), "+1 555 0100"
    ),
    "AddDistributionGroupToImList-SmtpAddress": lambda client, group: add_dg(
        client, smtp_address(FAR_TOO_LONG), "Team"
    ),
    "AddDistributionGroupToImList-DisplayName": lambda client, group: add_dg(client, "team@example.com", LONG),
}


@pytest.mark.parametrize("case", list(REQUESTS))
def test_an_over_long_name_or_address_is_a_schema_fault_on_every_backend(client, case):
    group = new_group(client, "Work")
    before = client.call("<m:GetImItemList/>").root
    reply = REQUESTS[case](client, group).fault("ErrorSchemaValidation")
    assert "maxLength" in reply.body.findtext("faultstring"), reply.body.findtext("faultstring")
    assert etree.tostring(client.call("<m:GetImItemList/>").root) == etree.tostring(before)  # nothing written


def test_the_longest_accepted_values_are_stored_on_every_backend(client):
    """At the limits, in the costliest characters, everything is written and read back."""
    name = EMOJI * MAX_NAME_CHARS
    group = new_group(client, name)
    set_group(client, group, name[:-1] + "x").ok()
    address = sip_address(MAX_ADDRESS_CHARS)
    add_new_contact(client, address, group, name).ok()
    add_tel_contact(client, "tel:+15550100", sip_address(MAX_ADDRESS_CHARS - 1), "9" * MAX_NAME_CHARS).ok()
    dg = smtp_address(MAX_ADDRESS_CHARS)
    assert is_smtp_address(dg)
    add_dg(client, dg, name).ok()
    state = client.item_list()
    assert state.groups[name[:-1] + "x"]["members"]
    assert state.groups[name]["type"] == DG_GROUP and state.groups[name]["smtp"] == dg
    assert state.personas[address]["name"] == name


# -- the command line, on both backends -------------------------------------------------------


@pytest.mark.parametrize(
    "flag,value,message",
    [
        ("--display-name", "n" * FAR_TOO_LONG, f"the display name is longer than {MAX_NAME_CHARS} characters (3000)"),
        ("--title", "t" * (MAX_NAME_CHARS + 1), f"the title is longer than {MAX_NAME_CHARS} characters (257)"),
        ("--im-address", sip_address(FAR_TOO_LONG), f"the IM address is longer than {MAX_ADDRESS_CHARS} characters"),
        # Without "sip:" it fits; with the "sip:" the directory adds, it would not.
        (
            "--im-address",
            smtp_address(MAX_ADDRESS_CHARS - 1),
            f"the IM address is longer than {MAX_ADDRESS_CHARS} characters ({MAX_ADDRESS_CHARS + 3})",
        ),
    ],
)
def test_user_set_refuses_an_over_long_value_with_a_message(database_url, store, flag, value, message):
    user = make_user(store, "alice@example.com", "Alice Example")
    result = run_cli("user", "set", "alice@example.com", flag, value, "--company", "Contoso", database=database_url,
                     check=False)  # fmt: skip
    assert result.returncode == 1
    assert message in result.stderr, result.stderr
    assert len(result.stderr) < 200  # a message, not the value
    with store.transaction(write=False) as tx:
        assert tx.accounts.by_id(user.id) == user  # nothing of it written, not even the company


def test_user_set_accepts_every_field_at_its_limit(database_url, store):
    make_user(store, "alice@example.com")
    values = [v for name in FIELDS for v in (f"--{name.replace('_', '-')}", EMOJI * MAX_NAME_CHARS)]
    values[values.index("--im-address") + 1] = sip_address(MAX_ADDRESS_CHARS)
    run_cli("user", "set", "alice@example.com", *values, database=database_url)
    with store.transaction(write=False) as tx:
        alice = tx.accounts.by_email("alice@example.com")
    assert alice.display_name == EMOJI * MAX_NAME_CHARS and alice.im_address == sip_address(MAX_ADDRESS_CHARS)


def test_user_add_refuses_an_over_long_display_name_or_address(database_url, store):
    result = run_cli("user", "add", "bob@example.com", "--display-name", "n" * FAR_TOO_LONG, "--password-stdin",
                     database=database_url, stdin="a long secret\n", check=False)  # fmt: skip
    assert result.returncode == 1
    assert f"--display-name is longer than {MAX_NAME_CHARS} characters (3000)" in result.stderr
    result = run_cli("user", "add", "a" * FAR_TOO_LONG + "@example.com", "--display-name", "Bob", "--password-stdin",
                     database=database_url, stdin="a long secret\n", check=False)  # fmt: skip
    assert result.returncode == 1
    assert f"the e-mail address is longer than {MAX_ADDRESS_CHARS} characters (3012)" in result.stderr
    with store.transaction(write=False) as tx:
        assert tx.accounts.count() == 0


def test_user_import_refuses_an_over_long_row_and_keeps_the_others(tmp_path, database_url, store):
    csv = tmp_path / "people.csv"
    csv.write_text(
        "email,display_name,department\n"
        f"zoe@example.com,Zoë Ng,{'d' * FAR_TOO_LONG}\n"
        "max@example.com,Max Mustermann,Sales\n"
        f"{'a' * FAR_TOO_LONG}@example.com,Long,Sales\n",
        encoding="utf-8",
    )
    result = run_cli("user", "import", str(csv), database=database_url, check=False)
    assert result.returncode == 1
    assert f"line 2: the department is longer than {MAX_NAME_CHARS} characters (3000)" in result.stderr
    assert f"line 4: the e-mail address is longer than {MAX_ADDRESS_CHARS} characters (3012)" in result.stderr
    assert "1 accounts created" in result.stdout
    with store.transaction(write=False) as tx:
        assert [u.email for u in tx.accounts.all()] == ["max@example.com"]


def test_a_sid_longer_than_any_sid_is_refused(database_url, store):
    make_user(store, "alice@example.com")
    result = run_cli("impersonation", "sid", "alice@example.com", "S-1-5-21-" + "1" * FAR_TOO_LONG,
                     database=database_url, check=False)  # fmt: skip
    assert result.returncode == 1 and "is not a SID in SDDL form" in result.stderr
    longest = "S-1-281474976710655" + "-4294967295" * 15
    run_cli("impersonation", "sid", "alice@example.com", longest, database=database_url)
    with store.transaction(write=False) as tx:
        assert tx.grants.sid_of(tx.accounts.by_email("alice@example.com").id) == longest


# -- the directory's search terms, on both backends ------------------------------------------

FIND = (
    '<m:FindPeople><m:IndexedPageItemView BasePoint="Beginning" MaxEntriesReturned="10" Offset="0"/>'
    '<m:ParentFolderId><t:DistinguishedFolderId Id="directory"/></m:ParentFolderId>'
    "<m:QueryString>{query}</m:QueryString></m:FindPeople>"
)


def found(client, query: str) -> list[str]:
    reply = client.call(FIND.format(query=query)).ok()
    return [p.findtext("t:EmailAddress/t:EmailAddress", namespaces=NS) for p in reply.findall("m:People/t:Persona")]


def longest_term(store) -> int:
    with store.transaction(write=False) as tx:
        return int(tx.db.one("SELECT MAX(LENGTH(term)) FROM directory_terms")[0])  # bytes, on both


def test_a_200_character_single_word_name_is_indexed_and_found_by_prefix(client, store, database_url):
    word = (string.ascii_lowercase * 8)[:200]
    make_user(store, "long@example.com")
    run_cli("user", "set", "long@example.com", "--display-name", word, database=database_url)
    for length in (3, 64, MAX_TERM_CHARS - 1, MAX_TERM_CHARS, MAX_TERM_CHARS + 1, 200):
        assert found(client, word[:length].upper()) == ["long@example.com"], length
    # Exact up to the term length: a query that differs in its last indexed character finds nothing.
    for length in (64, MAX_TERM_CHARS):
        assert found(client, word[: length - 1] + "#") == [], length
    assert longest_term(store) == MAX_TERM_CHARS


def test_no_word_makes_an_index_entry_the_database_refuses(client, store, alice):
    """Behind the input limits too (a name stored before them, a version-1 import): a word of
    9000 bytes is indexed by its first characters, and found by them."""
    # Ideographs in no repeating order: PostgreSQL compresses an index entry before it measures
    # it, and a repetitive word would fit.
    word = "".join(chr(0x4E00 + i * 7919 % 20000) for i in range(FAR_TOO_LONG))
    with store.transaction(write=True) as tx:
        tx.accounts.update_directory(alice.id, {"display_name": word, "surname": EMOJI * FAR_TOO_LONG})
    assert longest_term(store) == 4 * MAX_TERM_CHARS  # the surname's, the costliest characters
    assert found(client, word[:5]) == ["alice@example.com"]
    assert found(client, word) == ["alice@example.com"]
    assert found(client, EMOJI * 5) == ["alice@example.com"]
