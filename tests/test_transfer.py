"""``openucs db export`` / ``import``: SQLite → PostgreSQL → SQLite loses nothing (IM lists,
impersonation grants, SIDs, photos), ids issued before a move still work after it, a version-1
file still loads, and a bad file or a non-empty target writes nothing."""

import base64
import copy
import dataclasses
import functools
import io
import json

import pytest
from PIL import Image

from openucs.app import build_service
from openucs.auth.passwords import hash_password
from openucs.config import Settings
from openucs.domain.model import ExtendedProperty, PropertyKey
from openucs.ops.ids import IdKind
from openucs.photos import normalise
from openucs.store import transfer
from openucs.store.open import open_store
from openucs.store.transfer import InvalidExport, TargetNotEmpty, export_data, import_data
from tests.conftest import PASSWORD, make_user
from tests.support import InProcessClient, envelope, run_cli, validate_envelope

WANT_PROPERTIES = (
    "<m:ExtendedProperties>"
    '<t:ExtendedProperty PropertyTag="0x3a06" PropertyType="String"/>'
    '<t:ExtendedProperty DistinguishedPropertySetId="PublicStrings" PropertyName="Note" PropertyType="StringArray"/>'
    "</m:ExtendedProperties>"
)
TAG = PropertyKey("String", property_tag="0x3a06")
NOTE = PropertyKey("StringArray", distinguished_property_set_id="PublicStrings", property_name="Note")

# Every column of every table, in a stable order. Membership and property rows are renumbered
# by an import (no client ever sees those ids); their order within each group or contact, which
# is what clients see, is kept.
TABLES = {
    "users": "SELECT * FROM users ORDER BY id",
    "im_groups": "SELECT * FROM im_groups ORDER BY id",
    "im_contacts": "SELECT * FROM im_contacts ORDER BY id",
    "im_members": "SELECT mailbox_id, group_id, contact_id FROM im_members ORDER BY group_id, id",
    "im_extended_properties": "SELECT mailbox_id, group_id, contact_id, property_key, property_type, "
    "distinguished_property_set_id, property_set_id, property_tag, property_name, property_id, multi_valued, "
    "property_values FROM im_extended_properties ORDER BY COALESCE(group_id, 0), COALESCE(contact_id, 0), id",
    "server_secrets": "SELECT name, value FROM server_secrets ORDER BY name",
    # Grant rows are renumbered too; what they say is kept.
    "impersonation_grants": "SELECT service_id, target_id, created FROM impersonation_grants "
    "ORDER BY service_id, COALESCE(target_id, 0)",
    "account_sids": "SELECT * FROM account_sids ORDER BY user_id",
    "user_photos": "SELECT * FROM user_photos ORDER BY user_id",
}
# Added by export format version 2: a version-1 file leaves them empty.
V2_TABLES = ("impersonation_grants", "account_sids", "user_photos")
SIDS = {"alice@example.com": "S-1-5-21-1004336348-1177238915-682003330-1001", "bob@example.com": "s-1-5-21-7-1002"}
PHOTO = "<m:GetUserPhoto><m:Email>bob@example.com</m:Email><m:SizeRequested>{size}</m:SizeRequested></m:GetUserPhoto>"


# Not data: counters that only tell server processes whether what they keep is current.
NOT_DATA = {"list_version", "account_version"}


def dump(store) -> dict[str, list[tuple]]:
    """The whole database as plain values (SQLite's 0/1 booleans read as PostgreSQL's)."""
    bool_columns = {"users": 5, "im_extended_properties": 10}
    out = {}
    with store.transaction(write=False) as tx:
        for table, query in TABLES.items():
            cursor = tx.db.run(query)
            keep = [i for i, d in enumerate(cursor.description) if d[0] not in NOT_DATA]
            rows = [list(r) for r in cursor.fetchall()]
            for row in rows:
                if table in bool_columns:
                    row[bool_columns[table]] = bool(row[bool_columns[table]])
                for i, value in enumerate(row):
                    if isinstance(value, memoryview):  # a driver's view of a BLOB: compare the bytes
                        row[i] = bytes(value)
            out[table] = [tuple(row[i] for i in keep) for row in rows]
    return out


def call(client, body: str):
    return client.call(body).ok()


def ref_xml(tag: str, ref) -> str:
    return f'<m:{tag} Id="{ref.id}" ChangeKey="{ref.change_key}"/>'


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 90)).save(out, "PNG")
    return out.getvalue()


def populate(store) -> None:
    """Two busy mailboxes and an idle one: user groups, a distribution group, directory and
    plain contacts, a contact in several groups, a TEL URI contact, extended properties on a
    group and a contact, deleted items,
    directory fields and the migration flag; a photo, SIDs, and impersonation grants on every
    mailbox and on one."""
    service = build_service(store, Settings(database=store.url))
    with store.transaction(write=True) as tx:
        alice = tx.accounts.add("alice@example.com", "Alice Example", password_hash())
        bob = tx.accounts.add("bob@example.com", "Bob Example", password_hash())
        carol = tx.accounts.add("carol@example.com", "Carol Idle", password_hash())
        tx.accounts.update_directory(
            bob.id, {"im_address": "sip:Bob@Example.com", "title": "Engineer", "mobile_phone": "+1 555 0100"}
        )
        tx.accounts.set_migration_completed(alice.id, True)
        tx.people.set_photo(bob.id, normalise(png(300, 200)), "2024-05-06T07:08:09Z")
        tx.grants.set_sid(alice.id, SIDS["alice@example.com"])
        tx.grants.set_sid(bob.id, SIDS["bob@example.com"])  # kept as written: lower case
        tx.grants.grant(carol.id, alice.id)
        tx.grants.grant(carol.id, None)
        tx.grants.grant(bob.id, alice.id)
    a = InProcessClient(service, alice)
    b = InProcessClient(service, bob)
    work = call(a, "<m:AddImGroup><m:DisplayName>Work</m:DisplayName></m:AddImGroup>").group_ref()
    friends = call(a, "<m:AddImGroup><m:DisplayName>Friends ü &amp; co</m:DisplayName></m:AddImGroup>").group_ref()
    temp = call(a, "<m:AddImGroup><m:DisplayName>Temp</m:DisplayName></m:AddImGroup>").group_ref()
    for address, group in (("sip:bob@example.com", work), ("dave@example.org", work), ("eve@example.org", temp)):
        call(
            a,
            f"<m:AddNewImContactToGroup><m:ImAddress>{address}</m:ImAddress>{ref_xml('GroupId', group)}"
            "</m:AddNewImContactToGroup>",
        )
    dave = a.item_list().personas["dave@example.org"]["id"]
    call(a, f"<m:AddImContactToGroup>{ref_xml('ContactId', dave)}{ref_xml('GroupId', friends)}</m:AddImContactToGroup>")
    call(a, f"<m:AddImContactToGroup>{ref_xml('ContactId', dave)}</m:AddImContactToGroup>")  # Other Contacts
    call(a, f"<m:RemoveImGroup>{ref_xml('GroupId', temp)}</m:RemoveImGroup>")  # eve goes with it
    call(
        a,
        "<m:AddNewTelUriContactToGroup><m:TelUriAddress>tel:+15550199</m:TelUriAddress>"
        "<m:ImContactSipUriAddress>sip:frank@example.org</m:ImContactSipUriAddress>"
        "<m:ImTelephoneNumber>+1 555 0199</m:ImTelephoneNumber></m:AddNewTelUriContactToGroup>",
    )
    call(
        a,
        "<m:AddDistributionGroupToImList><m:SmtpAddress>Team@Example.com</m:SmtpAddress>"
        "<m:DisplayName>The Team</m:DisplayName></m:AddDistributionGroupToImList>",
    )
    call(b, "<m:AddNewImContactToGroup><m:ImAddress>alice@example.com</m:ImAddress></m:AddNewImContactToGroup>")
    # The newest group and contact deleted: the high-water marks now exceed every id present.
    gone = call(b, "<m:AddImGroup><m:DisplayName>Gone</m:DisplayName></m:AddImGroup>").group_ref()
    call(b, f"<m:AddNewImContactToGroup><m:ImAddress>ghost@example.org</m:ImAddress>{ref_xml('GroupId', gone)}"
         "</m:AddNewImContactToGroup>")  # fmt: skip
    call(b, f"<m:RemoveImGroup>{ref_xml('GroupId', gone)}</m:RemoveImGroup>")
    with store.transaction(write=True, lock_mailbox=alice.id) as tx:
        imlist = tx.imlist(alice.id)
        group_id = service.codec.decode(work.id).item_id
        contact_id = service.codec.decode(dave.id).item_id
        imlist.set_extended_properties(group_id=group_id, properties=[ExtendedProperty(TAG, ("Work \u2603 group",))])
        imlist.set_extended_properties(
            contact_id=contact_id,
            properties=[ExtendedProperty(TAG, ("x",)), ExtendedProperty(NOTE, ("one", "two", "%s ?"), True)],
        )


def export_text(store) -> str:
    out = io.StringIO()
    export_data(store, out)
    return out.getvalue()


def without_timestamp(text: str) -> dict:
    doc = json.loads(text)
    del doc["exported"]
    return doc


def raw_item_list(service, store, email: str) -> bytes:
    with store.transaction(write=False) as tx:
        user = tx.accounts.by_email(email)
    outcome = service.handle(envelope(f"<m:GetImItemList>{WANT_PROPERTIES}</m:GetImItemList>"), user, "transfer")
    assert outcome.status == 200
    validate_envelope(outcome.body)
    return outcome.body


def photo_answers(service, store) -> list[tuple[bytes, str | None]]:
    """Bob's photo as a client gets it (body and ETag), at a scaled size and the stored one."""
    with store.transaction(write=False) as tx:
        alice = tx.accounts.by_email("alice@example.com")
    answers = []
    for size in ("HR48x48", "HR648x648"):
        outcome = service.handle(envelope(PHOTO.format(size=size)), alice, "transfer")
        assert outcome.status == 200
        validate_envelope(outcome.body)
        answers.append((outcome.body, outcome.etag))
    return answers


def item_list_as(service, store, caller: str, sid: str | None = None) -> bytes:
    """``caller``'s GetImItemList, or with an impersonation header that names a mailbox by ``sid``."""
    with store.transaction(write=False) as tx:
        user = tx.accounts.by_email(caller)
    headers = (
        f"<t:ExchangeImpersonation><t:ConnectingSID><t:SID>{sid}</t:SID></t:ConnectingSID></t:ExchangeImpersonation>"
        if sid
        else ""
    )
    outcome = service.handle(envelope("<m:GetImItemList/>", headers=headers), user, "transfer")
    assert outcome.status == 200
    validate_envelope(outcome.body)
    return outcome.body


def test_round_trip_sqlite_postgresql_sqlite_loses_nothing(tmp_path, postgres_database):
    source = open_store(f"sqlite:///{tmp_path / 'source.db'}")
    middle = open_store(postgres_database())
    final = open_store(f"sqlite:///{tmp_path / 'final.db'}")
    try:
        populate(source)
        source_service = build_service(source, Settings())
        before = {e: raw_item_list(source_service, source, e) for e in ("alice@example.com",)}
        photos_before = photo_answers(source_service, source)
        first = export_text(source)
        import_data(middle, json.loads(first))
        second = export_text(middle)
        import_data(final, json.loads(second))
        third = export_text(final)

        assert without_timestamp(first) == without_timestamp(second) == without_timestamp(third)
        assert dump(source) == dump(middle) == dump(final)
        doc = json.loads(first)
        alice = next(u for u in doc["users"] if u["email"] == "alice@example.com")
        assert alice["im_list_migration_completed"] is True
        assert alice["password_hash"].startswith("$argon2")
        assert [g["display_name"] for g in alice["groups"]][-2:] == ["Friends ü & co", "The Team"]
        assert doc["sequences"]["im_groups"] > max(g["id"] for u in doc["users"] for g in u["groups"])
        assert doc["sequences"]["im_contacts"] > max(c["id"] for u in doc["users"] for c in u["contacts"])
        assert list(doc["server_secrets"]) == ["item-id-key"]
        by_email = {u["email"]: u for u in doc["users"]}
        assert {e: u["sid"] for e, u in by_email.items() if u["sid"]} == SIDS
        alice_id = by_email["alice@example.com"]["id"]
        assert [g["target"] for g in by_email["carol@example.com"]["impersonation_grants"]] == [None, alice_id]
        assert [g["target"] for g in by_email["bob@example.com"]["impersonation_grants"]] == [alice_id]
        photo = by_email["bob@example.com"]["photo"]
        assert photo["content_type"] == "image/jpeg" and photo["updated"] == "2024-05-06T07:08:09Z"
        assert base64.b64decode(photo["data"]).startswith(b"\xff\xd8")
        assert by_email["alice@example.com"]["photo"] is None
        assert all(dump(source)[table] for table in V2_TABLES)  # so the comparisons below compare something

        # The same ids, the same bytes: what a client cached before the move is still right.
        for store in (middle, final):
            service = build_service(store, Settings())
            assert {e: raw_item_list(service, store, e) for e in before} == before
            assert photo_answers(service, store) == photos_before
            # Grants and SIDs work: carol names bob by his SID (in another case) and gets his list.
            bobs = item_list_as(service, store, "carol@example.com", SIDS["bob@example.com"].upper())
            assert bobs == item_list_as(service, store, "bob@example.com")
            assert bobs != item_list_as(service, store, "carol@example.com")
    finally:
        for store in (source, middle, final):
            store.close()


@pytest.mark.parametrize("target_kind", ["sqlite", "postgresql"])
def test_ids_issued_before_the_move_still_work_and_are_never_reissued(tmp_path, target_kind, request):
    source = open_store(f"sqlite:///{tmp_path / 'source.db'}")
    if target_kind == "sqlite":
        target = open_store(f"sqlite:///{tmp_path / 'target.db'}")
    else:
        target = open_store(request.getfixturevalue("postgres_database")())
    try:
        populate(source)
        old_service = build_service(source, Settings())
        with source.transaction(write=False) as tx:
            alice = tx.accounts.by_email("alice@example.com")
        old = InProcessClient(old_service, alice).item_list()
        doc = json.loads(export_text(source))
        import_data(target, doc)

        service = build_service(target, Settings())
        with target.transaction(write=False) as tx:
            moved = tx.accounts.by_email("alice@example.com")
        # Everything but the cache-validation counters, which start afresh in a new database.
        assert (
            dataclasses.replace(moved, list_version=alice.list_version, account_version=alice.account_version) == alice
        )
        client = InProcessClient(service, moved)
        work, dave = old.groups["Work"]["id"], old.personas["dave@example.org"]["id"]
        call(client, f"<m:RemoveImContactFromGroup>{ref_xml('ContactId', dave)}{ref_xml('GroupId', work)}"
             "</m:RemoveImContactFromGroup>")  # fmt: skip
        added = call(
            client,
            f"<m:AddNewImContactToGroup><m:ImAddress>zed@example.org</m:ImAddress>{ref_xml('GroupId', work)}"
            "</m:AddNewImContactToGroup>",
        ).persona_ref()
        group = call(client, "<m:AddImGroup><m:DisplayName>After</m:DisplayName></m:AddImGroup>").group_ref()
        assert service.codec.decode(added.id).item_id > doc["sequences"]["im_contacts"]
        assert service.codec.decode(group.id).item_id > doc["sequences"]["im_groups"]
        assert service.codec.decode(group.id).kind is IdKind.GROUP
        user = make_user(target, "new@example.com")
        assert user.id > doc["sequences"]["users"]
        state = client.item_list()
        assert state.members_of("Work") == {"sip:bob@example.com", "zed@example.org"}
    finally:
        source.close()
        target.close()


@pytest.fixture(scope="module")
def good_export(tmp_path_factory) -> dict:
    source = open_store(f"sqlite:///{tmp_path_factory.mktemp('good') / 'good.db'}")
    try:
        populate(source)
        return json.loads(export_text(source))
    finally:
        source.close()


def _dangling_member(doc):
    alice = next(u for u in doc["users"] if u["email"] == "alice@example.com")
    work = next(g for g in alice["groups"] if g["display_name"] == "Work")
    work["members"].append(len(alice["contacts"]))
    u, g = doc["users"].index(alice), alice["groups"].index(work)
    return f"$.users[{u}].groups[{g}].members[{len(work['members']) - 1}]"


def _repeated_contact_id(doc):
    doc["users"][1]["contacts"][0]["id"] = doc["users"][0]["contacts"][0]["id"]
    return "$.users[1].contacts[0].id"


def _set(path_keys, value, expected_path):
    def mutate(doc):
        target = doc
        for key in path_keys[:-1]:
            target = target[key]
        target[path_keys[-1]] = value
        return expected_path

    return mutate


def _grant_to_itself(doc):
    carol = doc["users"][2]
    carol["impersonation_grants"][1]["target"] = carol["id"]
    return "$.users[2].impersonation_grants[1].target"


def _repeated_grant(doc):
    grants = doc["users"][2]["impersonation_grants"]
    grants.append(dict(grants[1]))
    return "$.users[2].impersonation_grants[2]"


def _grant_without_target(doc):
    del doc["users"][2]["impersonation_grants"][0]["target"]
    return "$.users[2].impersonation_grants[0]"


def _repeated_sid(doc):
    doc["users"][1]["sid"] = doc["users"][0]["sid"].lower()  # SIDs compare ignoring case
    return "$.users[1].sid"


def _v1_with_a_photo(doc):
    doc["version"] = 1
    for user in doc["users"]:
        del user["sid"], user["impersonation_grants"]  # the photo field stays: unknown in version 1
    return "$.users[0].photo"


def _property_values(values, multi_valued):
    """Alice's first group property given ``values``; EWS cannot express every count."""

    def mutate(doc):
        for g, group in enumerate(doc["users"][0]["groups"]):
            if group["extended_properties"]:
                group["extended_properties"][0].update(values=values, multi_valued=multi_valued)
                return f"$.users[0].groups[{g}].extended_properties[0].values"
        raise AssertionError("the fixture has a group property")

    return mutate


BAD = {
    "wrong format": _set(["format"], "something-else", "$.format"),
    "version 3": _set(["version"], 3, "$.version"),
    "dangling member index": _dangling_member,
    "repeated contact id": _repeated_contact_id,
    "unknown group kind": _set(["users", 0, "groups", 0, "kind"], "IPM.Note", "$.users[0].groups[0].kind"),
    "flag not a boolean": _set(
        ["users", 0, "im_list_migration_completed"], 1, "$.users[0].im_list_migration_completed"
    ),
    "unknown field": _set(["users", 0, "nickname"], "x", "$.users[0].nickname"),
    # Version 2's parts. The fixture's accounts: [0] alice, [1] bob (with the photo), [2] carol,
    # whose grants are [every mailbox, alice].
    "grant naming an unknown account": _set(
        ["users", 2, "impersonation_grants", 1, "target"], 99, "$.users[2].impersonation_grants[1].target"
    ),
    "grant to itself": _grant_to_itself,
    "grant repeated": _repeated_grant,
    "grant without target": _grant_without_target,
    "grants not a list": _set(["users", 2, "impersonation_grants"], {}, "$.users[2].impersonation_grants"),
    "photo not base64": _set(["users", 1, "photo", "data"], "not base64!", "$.users[1].photo.data"),
    "photo not a JPEG": _set(
        ["users", 1, "photo", "data"], base64.b64encode(png(4, 4)).decode(), "$.users[1].photo.data"
    ),
    "photo content type": _set(["users", 1, "photo", "content_type"], "image/png", "$.users[1].photo.content_type"),
    "photo without etag": _set(["users", 1, "photo", "etag"], "", "$.users[1].photo.etag"),
    "SID repeated": _repeated_sid,
    "SID not in SDDL form": _set(["users", 0, "sid"], "alice", "$.users[0].sid"),
    "version 1 with a photo": _v1_with_a_photo,
    "multi-valued property without values": _property_values([], True),
    "single-valued property without a value": _property_values([], False),
    "single-valued property with two values": _property_values(["a", "b"], False),
}


def _empty(store) -> bool:
    with store.transaction(write=False) as tx:
        return all(not tx.db.all(f"SELECT 1 FROM {t}") for t in TABLES)


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_file_is_refused_with_its_path_and_nothing_written(good_export, database_url, case):
    doc = copy.deepcopy(good_export)
    expected_path = BAD[case](doc)
    store = open_store(database_url)
    try:
        with pytest.raises(InvalidExport) as refused:
            import_data(store, doc)
        assert refused.value.path == expected_path, str(refused.value)
        assert str(refused.value).startswith(expected_path + ": ")
        assert _empty(store)
        import_data(store, good_export)  # the good original still loads: the failure was the file's
        assert not _empty(store)
    finally:
        store.close()


def test_export_reads_in_batches_without_losing_or_mixing_anything(tmp_path, monkeypatch):
    """Accounts, and their photos, are read a batch at a time: batch edges change nothing."""
    source = open_store(f"sqlite:///{tmp_path / 'batches.db'}")
    try:
        populate(source)
        with source.transaction(write=True) as tx:  # a photo in the first and the last batch too
            for email, size in (("alice@example.com", (40, 30)), ("carol@example.com", (20, 50))):
                tx.people.set_photo(tx.accounts.by_email(email).id, normalise(png(*size)), "2024-05-06T07:08:09Z")
        whole = without_timestamp(export_text(source))
        monkeypatch.setattr(transfer, "_BATCH", 2)
        monkeypatch.setattr(transfer, "_PHOTO_BATCH", 1)
        assert without_timestamp(export_text(source)) == whole
        assert len({u["photo"]["etag"] for u in whole["users"]}) == 3
    finally:
        source.close()


def as_version_1(doc: dict) -> dict:
    """The same data as an openucs that wrote version 1 exported it."""
    old = copy.deepcopy(doc)
    old["version"] = 1
    for user in old["users"]:
        del user["sid"], user["impersonation_grants"], user["photo"]
    return old


def test_a_version_1_file_still_imports_with_no_grants_sids_or_photos(good_export, database_url):
    assert any(u["photo"] or u["sid"] or u["impersonation_grants"] for u in good_export["users"])
    store = open_store(database_url)
    try:
        counts = import_data(store, as_version_1(good_export))
        assert (counts.users, counts.grants, counts.photos) == (3, 0, 0)
        assert all(dump(store)[table] == [] for table in V2_TABLES)
        # Everything version 1 carried is there, exactly; the new parts are empty.
        again = without_timestamp(export_text(store))
        expected = without_timestamp(json.dumps(good_export))
        for user in expected["users"]:
            user.update(sid=None, impersonation_grants=[], photo=None)
        assert again == expected
    finally:
        store.close()


def test_a_non_empty_target_is_refused_and_left_unchanged(good_export, database_url):
    store = open_store(database_url)
    try:
        make_user(store, "someone@example.com")
        before = dump(store)
        with pytest.raises(TargetNotEmpty, match="not empty"):
            import_data(store, good_export)
        assert dump(store) == before
    finally:
        store.close()


def test_cli_moves_a_database_through_a_pipe(tmp_path, database_url):
    source = open_store(database_url)
    try:
        populate(source)
        expected = dump(source)
    finally:
        source.close()
    exported = run_cli("db", "export", "-", database=database_url)
    assert json.loads(exported.stdout)["format"] == "openucs-export"
    assert "exported 3 accounts" in exported.stderr
    target_url = f"sqlite:///{tmp_path / 'moved.db'}"
    imported = run_cli("db", "import", "-", database=target_url, stdin=exported.stdout)
    assert "imported 3 accounts, 12 groups, 4 contacts, 3 impersonation grants, 1 photo from -" in imported.stderr
    target = open_store(target_url)
    try:
        assert dump(target) == expected
    finally:
        target.close()

    again = run_cli("db", "import", "-", database=target_url, stdin=exported.stdout, check=False)
    assert again.returncode == 1
    assert "not empty" in again.stderr and "nothing imported" in again.stderr

    file = tmp_path / "export.json"
    assert run_cli("db", "export", str(file), database=target_url).returncode == 0
    assert file.stat().st_mode & 0o077 == 0  # password hashes and the id key: owner only
    assert without_timestamp(file.read_text()) == without_timestamp(exported.stdout)


def test_cli_refuses_a_bad_file_before_touching_the_database(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "openucs-export", "version": 3, "users": [], "server_secrets": {}}))
    target = tmp_path / "never.db"
    result = run_cli("db", "import", str(bad), database=f"sqlite:///{target}", check=False)
    assert result.returncode == 1
    assert "$.version: version 3 is not supported (this openucs reads 1 or 2)" in result.stderr
    assert not target.exists()
    result = run_cli("db", "import", str(tmp_path / "missing.json"), database=f"sqlite:///{target}", check=False)
    assert result.returncode == 1 and "cannot read" in result.stderr
    bad.write_text("{not json")
    result = run_cli("db", "import", str(bad), database=f"sqlite:///{target}", check=False)
    assert result.returncode == 1 and "not a JSON document" in result.stderr
    assert not target.exists()


def test_cli_reports_a_value_the_target_database_refuses(tmp_path, request):
    """A name an older openucs let into SQLite that PostgreSQL's indexes cannot hold: a clear
    message, exit status 1, nothing written — never a traceback."""
    source_url = f"sqlite:///{tmp_path / 'old.db'}"
    source = open_store(source_url)
    try:
        user = make_user(source, "old@example.com")
        # Non-repeating text: PostgreSQL compresses index entries, so a repetitive one could fit.
        long_name = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(3000))
        with source.transaction(write=True) as tx:
            tx.db.run(
                "INSERT INTO im_groups (mailbox_id, kind, display_name, created) VALUES (?, ?, ?, ?)",
                (user.id, "IPM.DistList.MOC.UserGroup", long_name, "2026-01-01T00:00:00Z"),
            )
    finally:
        source.close()
    exported = run_cli("db", "export", "-", database=source_url)
    target_url = request.getfixturevalue("postgres_database")()
    imported = run_cli("db", "import", "-", database=target_url, stdin=exported.stdout, check=False)
    assert imported.returncode == 1
    assert "the target database refused the data" in imported.stderr and "nothing imported" in imported.stderr
    assert "Traceback" not in imported.stderr
    target = open_store(target_url)
    try:
        with target.transaction(write=False) as tx:
            assert tx.accounts.count() == 0
    finally:
        target.close()
