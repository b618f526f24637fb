"""FindPeople and GetUserPhoto in process (every response validated against Microsoft's schema),
the directory's search index and its query plan on 100 000 entries, and the directory commands
``user set`` / ``user import``."""

import base64
import io

import pytest
from lxml import etree
from PIL import Image

from openucs.auth.passwords import PasswordAuthenticator
from openucs.cli import directory as cli_directory
from openucs.domain.directory import query_words
from openucs.ops.people import with_if_none_match
from openucs.ops.service import Outcome
from openucs.photos import normalise
from openucs.store.directory import search_params, search_sql
from openucs.store.sql import utc_now
from tests.conftest import make_user
from tests.helpers_ops import add_new_contact, sqlite_only
from tests.support import NS, Reply, envelope, run_cli, validate_envelope

FIND = (
    '<m:FindPeople>{shape}<m:IndexedPageItemView BasePoint="{base}" MaxEntriesReturned="{max}" Offset="{offset}"/>'
    '<m:ParentFolderId><t:DistinguishedFolderId Id="directory"/></m:ParentFolderId>'
    "<m:QueryString>{query}</m:QueryString></m:FindPeople>"
)


def find(client, query, *, offset=0, max_entries=10, base="Beginning", shape=""):
    return client.call(FIND.format(query=query, offset=offset, max=max_entries, base=base, shape=shape))


def people(reply):
    return [p.findtext("t:DisplayName", namespaces=NS) for p in reply.findall("m:People/t:Persona")]


def png(width=120, height=90, colour=(10, 120, 240), mode="RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), colour).save(out, "PNG")
    return out.getvalue()


def set_directory(store, user, **fields):
    with store.transaction(write=True) as tx:
        tx.accounts.update_directory(user.id, fields)


def set_photo(store, user, data: bytes):
    with store.transaction(write=True) as tx:
        tx.people.set_photo(user.id, normalise(data), utc_now())


@pytest.fixture
def staff(store, alice):
    zoe = make_user(store, "zoe.ng@example.com", "Zoë Ng")
    set_directory(store, zoe, im_address="sip:zoe@example.com", company_name="Contoso", given_name="Zoë", surname="Ng")
    jl = make_user(store, "jl@example.com", "Jean-Luc O'Brien")
    set_directory(store, jl, title="Captain", department="Bridge")
    return {"zoe": zoe, "jl": jl}


# -- FindPeople ------------------------------------------------------------------------------


def test_find_people_prefix_case_and_accent_insensitive(client, staff):
    for query in ("zoe", "ZOË", "Zo", "ng", "zoë n", "sip:zoe", "zoe@exa", "zoe.ng@example.com"):
        reply = find(client, query).ok()
        assert people(reply) == ["Zoë Ng"], query
        assert reply.find("m:TotalNumberOfPeopleInView").text == "1"
    persona = find(client, "zoe").ok().find("m:People/t:Persona")
    assert persona.findtext("t:ImAddress", namespaces=NS) == "sip:zoe@example.com"
    assert persona.findtext("t:CompanyName", namespaces=NS) == "Contoso"
    assert persona.findtext("t:EmailAddress/t:EmailAddress", namespaces=NS) == "zoe.ng@example.com"
    assert persona.findtext("t:GivenName", namespaces=NS) == "Zoë"
    # Every word must match; the parts of hyphenated and apostrophised names count as words.
    assert people(find(client, "luc").ok()) == ["Jean-Luc O'Brien"]
    assert people(find(client, "brien jean").ok()) == ["Jean-Luc O'Brien"]
    assert people(find(client, "zoe jean").ok()) == []
    assert people(find(client, "oe").ok()) == []  # prefixes, not substrings


def test_find_people_without_im_address_publishes_the_email_as_sip(client, staff):
    persona = find(client, "jean").ok().find("m:People/t:Persona")
    assert persona.findtext("t:ImAddress", namespaces=NS) == "sip:jl@example.com"
    assert persona.findtext("t:Title", namespaces=NS) == "Captain"


def test_find_people_paging_from_beginning_and_end(client, store):
    for n in range(7):
        make_user(store, f"pat{n}@example.com", f"Pat {n}")
    page = find(client, "pat", offset=2, max_entries=3).ok()
    assert people(page) == ["Pat 2", "Pat 3", "Pat 4"]
    assert page.find("m:TotalNumberOfPeopleInView").text == "7"
    assert page.find("m:FirstLoadedRowIndex").text == "2"
    assert people(find(client, "pat", offset=0, max_entries=2, base="End").ok()) == ["Pat 5", "Pat 6"]
    assert people(find(client, "pat", offset=6, max_entries=3, base="End").ok()) == ["Pat 0"]
    assert people(find(client, "pat", offset=50).ok()) == []
    find(client, "pat", offset=-1).error("ErrorInvalidIndexedPagingParameters")
    find(client, "pat", max_entries=0).error("ErrorInvalidIndexedPagingParameters")


def test_find_people_needs_a_query_and_only_searches_the_directory(client, staff):
    find(client, "   ").error("ErrorInvalidArgument")
    fault = client.call(
        '<m:FindPeople><m:IndexedPageItemView BasePoint="Beginning" Offset="0"/>'
        '<m:ParentFolderId><t:DistinguishedFolderId Id="contacts"/></m:ParentFolderId></m:FindPeople>'
    )
    fault.fault("ErrorSchemaValidation")
    # Without ParentFolderId the directory is searched too.
    reply = client.call(
        '<m:FindPeople><m:IndexedPageItemView BasePoint="Beginning" Offset="0"/>'
        "<m:QueryString>zoe</m:QueryString></m:FindPeople>"
    ).ok()
    assert people(reply) == ["Zoë Ng"]


def test_find_people_honours_the_persona_shape(client, staff):
    shape = (
        "<m:PersonaShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        '<t:FieldURI FieldURI="persona:DisplayName"/><t:FieldURI FieldURI="persona:ImAddress"/>'
        "</t:AdditionalProperties></m:PersonaShape>"
    )
    persona = find(client, "zoe", shape=shape).ok().find("m:People/t:Persona")
    names = [etree.QName(c).localname for c in persona]
    assert names == ["PersonaId", "DisplayName", "ImAddress"]


def test_directory_follows_changes_and_removals(client, store, staff):
    set_directory(store, staff["zoe"], display_name="Zoe Smith-Ng", surname="Smith-Ng")
    assert people(find(client, "smith").ok()) == ["Zoe Smith-Ng"]
    with store.transaction(write=True) as tx:
        tx.accounts.remove(staff["zoe"].id)
        assert tx.db.one("SELECT COUNT(*) FROM directory_terms WHERE user_id = ?", (staff["zoe"].id,))[0] == 0
    assert people(find(client, "zoe").ok()) == []


def test_add_new_contact_of_a_directory_user_fills_the_persona(client, staff):
    persona = add_new_contact(client, "zoe@example.com").ok().find("m:Persona")
    assert persona.findtext("t:DisplayName", namespaces=NS) == "Zoë Ng"
    assert persona.findtext("t:CompanyName", namespaces=NS) == "Contoso"
    assert persona.findtext("t:EmailAddress/t:EmailAddress", namespaces=NS) == "zoe.ng@example.com"


# -- GetUserPhoto ---------------------------------------------------------------------------

PHOTO = "<m:GetUserPhoto><m:Email>{email}</m:Email><m:SizeRequested>{size}</m:SizeRequested></m:GetUserPhoto>"


def picture(reply) -> Image.Image:
    data = base64.b64decode(reply.find("m:PictureData").text)
    return Image.open(io.BytesIO(data), formats=("JPEG",))


def test_get_user_photo_scales_and_answers_conditionally(service, store, alice, staff):
    set_photo(store, staff["zoe"], png(300, 200))
    outcome = service.handle(envelope(PHOTO.format(email="zoe.ng@example.com", size="HR48x48")), alice, "p1")
    reply = Reply(outcome.status, validate_envelope(outcome.body)).ok()
    assert reply.find("m:HasChanged").text == "true"
    assert picture(reply).size == (48, 48)
    assert outcome.etag and outcome.etag.endswith("-HR48x48")
    big = service.handle(envelope(PHOTO.format(email="zoe.ng@example.com", size="HR1024xN")), alice, "p2")
    assert picture(Reply(big.status, validate_envelope(big.body)).ok()).size == (300, 200)  # never enlarged
    # The same tag back: nothing new.
    decoded = service.decode(envelope(PHOTO.format(email="zoe.ng@example.com", size="HR48x48")))
    assert not isinstance(decoded, Outcome)
    same = service.execute(with_if_none_match(decoded, f'"{outcome.etag}"'), alice, "p3")
    reply = Reply(same.status, validate_envelope(same.body)).ok()
    assert reply.find("m:HasChanged").text == "false"
    assert not reply.find("m:PictureData").text
    # A new photo is a new tag.
    set_photo(store, staff["zoe"], png(300, 200, colour=(250, 0, 0)))
    changed = service.execute(with_if_none_match(decoded, f'"{outcome.etag}"'), alice, "p4")
    assert Reply(changed.status, validate_envelope(changed.body)).ok().find("m:HasChanged").text == "true"
    assert changed.etag != outcome.etag


def test_get_user_photo_without_photo_is_item_not_found_with_404(service, alice, staff):
    for email in ("jl@example.com", "nobody@example.com"):
        outcome = service.handle(envelope(PHOTO.format(email=email, size="HR96x96")), alice, "p")
        assert outcome.status == 404
        reply = Reply(outcome.status, validate_envelope(outcome.body))
        assert reply.response_class == "Error" and reply.code == "ErrorItemNotFound"
        assert reply.find("m:HasChanged").text == "false"


# -- the index on 100 000 entries -------------------------------------------------------------

BULK = {
    "sqlite": """WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000)
                 INSERT INTO users (email, display_name, password_hash, created)
                 SELECT 'user' || i || '@bulk.example', 'Bulk Person ' || i, '!', '2024-01-01T00:00:00Z' FROM n""",
    "postgresql": """INSERT INTO users (email, display_name, password_hash, created)
                     SELECT 'user' || i || '@bulk.example', 'Bulk Person ' || i, '!', '2024-01-01T00:00:00Z'
                     FROM generate_series(1, 100000) AS i""",
}
TERMS = {
    "sqlite": "INSERT INTO directory_terms (term, user_id) SELECT CAST(lower({expr}) AS BLOB), id FROM users",
    "postgresql": "INSERT INTO directory_terms (term, user_id) SELECT convert_to(lower({expr}), 'UTF8'), id FROM users",
}


def test_search_uses_the_term_index_on_100000_entries(store, client):
    with store.transaction(write=True) as tx:
        db = tx.db
        db.run(BULK[db.dialect])
        for expr in (
            "email",
            "split_part(email, '@', 1)" if db.dialect == "postgresql" else "substr(email, 1, instr(email, '@') - 1)",
            "'bulk'",
            "'person'",
        ):
            db.run(TERMS[db.dialect].format(expr=expr) + " WHERE email LIKE '%@bulk.example'")
        sort = "convert_to(display_name, 'UTF8')" if db.dialect == "postgresql" else "CAST(display_name AS BLOB)"
        db.run(
            f"INSERT INTO directory_entries (user_id, sort_key) SELECT id, {sort} FROM users "
            "WHERE email LIKE '%@bulk.example'"
        )
        assert db.one("SELECT COUNT(*) FROM directory_entries")[0] >= 100_000
        db.run("ANALYZE")
    words = query_words("user4242 bulk")
    page_sql, count_sql = search_sql(len(words))
    params = search_params(words)
    with store.transaction(write=False) as tx:
        db = tx.db
        if db.dialect == "sqlite":
            plans = [
                "\n".join(str(r[-1]) for r in db.all("EXPLAIN QUERY PLAN " + q, [*params, 10, 0][: q.count("?")]))
                for q in (page_sql, count_sql)
            ]
            for plan in plans:
                assert "directory_terms_by_term (term>? AND term<?)" in plan, plan
                assert "SCAN t0" not in plan, plan
        else:
            plans = [
                "\n".join(r[0] for r in db.all("EXPLAIN " + q, [*params, 10, 0][: q.count("?")]))
                for q in (page_sql, count_sql)
            ]
            for plan in plans:
                assert "directory_terms_by_term" in plan, plan
                assert "Seq Scan on directory_terms" not in plan, plan
        page = tx.people.search(words, 0, 10)
    assert page.total == 11  # user4242 and user42420 .. user42429
    assert [e.email for e in page.entries][:2] == ["user4242@bulk.example", "user42420@bulk.example"]
    assert people(find(client, "User4242 bulk", max_entries=3).ok())[0] == "Bulk Person 4242"


# -- user set / user import ----------------------------------------------------------------


@sqlite_only
def test_user_set_and_its_photo_checks(tmp_path, database_url, store, alice):
    (tmp_path / "face.png").write_bytes(png())
    (tmp_path / "face.gif").write_bytes(b"GIF89a" + b"\0" * 64)
    run_cli(
        "user",
        "set",
        "alice@example.com",
        "--im-address",
        "alice@im.example.com",
        "--title",
        "CTO",
        "--company",
        "Contoso",
        "--phone",
        "+1 555 0100",
        "--photo",
        str(tmp_path / "face.png"),
        database=database_url,
    )
    with store.transaction(write=False) as tx:
        user = tx.accounts.by_email("alice@example.com")
        assert (user.im_address, user.title, user.company_name, user.business_phone) == (
            "sip:alice@im.example.com",
            "CTO",
            "Contoso",
            "+1 555 0100",
        )
        assert tx.people.photo_etag("alice@example.com") is not None
    refused = run_cli(
        "user", "set", "alice@example.com", "--photo", str(tmp_path / "face.gif"), database=database_url, check=False
    )
    assert refused.returncode == 1 and "not a JPEG or PNG" in refused.stderr
    missing = run_cli("user", "set", "nobody@example.com", "--title", "x", database=database_url, check=False)
    assert missing.returncode == 1 and "no account nobody@example.com" in missing.stderr
    run_cli("user", "set", "alice@example.com", "--title", "", "--no-photo", database=database_url)
    with store.transaction(write=False) as tx:
        assert tx.accounts.by_email("alice@example.com").title is None
        assert tx.people.photo_etag("alice@example.com") is None


def test_user_import_is_idempotent_and_refuses_bad_rows_whole(tmp_path, store, alice):
    (tmp_path / "zoe.png").write_bytes(png(64, 64, mode="RGBA", colour=(0, 0, 0, 0)))
    (tmp_path / "bad.txt").write_text("not a picture")
    (tmp_path / "people.csv").write_text(
        "email,display_name,im_address,company,photo\n"
        "zoe@example.com,Zoë Ng,sip:zoe@example.com,Contoso,zoe.png\n"
        "not-an-address,Nobody,,,\n"
        "bob@example.com,Bob,zoe@example.com,,\n"
        "carl@example.com,Carl,sip:carl@example.com,Fabrikam,bad.txt\n"
        "alice@example.com,Alice A.,,,\n",
        encoding="utf-8",
    )
    _, rows = cli_directory.read_csv((tmp_path / "people.csv").read_text(encoding="utf-8"))
    first = cli_directory.import_rows(lambda: store.transaction(write=True), rows, tmp_path)
    assert (first.created, first.updated) == (1, 1)
    assert [e.split(":")[0] for e in first.errors] == ["line 3", "line 4", "line 5"]
    assert "belongs to zoe@example.com" in first.errors[1]
    with store.transaction(write=False) as tx:
        assert tx.accounts.by_email("bob@example.com") is None and tx.accounts.by_email("carl@example.com") is None
        zoe = tx.accounts.by_email("zoe@example.com")
        assert (zoe.display_name, zoe.company_name) == ("Zoë Ng", "Contoso")
        assert tx.accounts.by_email("alice@example.com").display_name == "Alice A."
        etag = tx.people.photo_etag("zoe@example.com")
        assert etag is not None
    # The created account is in the directory but cannot sign in.
    assert PasswordAuthenticator(store).authenticate("zoe@example.com", "!directory-only") is None
    second = cli_directory.import_rows(lambda: store.transaction(write=True), rows, tmp_path)
    assert (second.created, second.updated, len(second.errors)) == (0, 2, 3)
    with store.transaction(write=False) as tx:
        assert tx.people.photo_etag("zoe@example.com") == etag
        assert tx.db.one("SELECT COUNT(*) FROM users")[0] == 2


@sqlite_only
def test_user_import_command_reports_line_numbers(tmp_path, database_url, store):
    (tmp_path / "a.csv").write_text("email,colour\nx@example.com,red\n", encoding="utf-8")
    bad_header = run_cli("user", "import", str(tmp_path / "a.csv"), database=database_url, check=False)
    assert bad_header.returncode == 1 and "line 1" in bad_header.stderr and "colour" in bad_header.stderr
    (tmp_path / "b.csv").write_text("email,title\nok@example.com,Chief\nbroken,\n", encoding="utf-8")
    partial = run_cli("user", "import", str(tmp_path / "b.csv"), database=database_url, check=False)
    assert partial.returncode == 1 and "line 3:" in partial.stderr
    assert "1 accounts created" in partial.stdout
