"""Migration 6: a mailbox's whole IM list is read in index order, with no sort of its rows, and a
database made before it upgrades keeping every row."""

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from openucs.domain.model import GroupKind
from openucs.store.migrate import migrate
from openucs.store.migrations import LATEST_VERSION
from openucs.store.open import open_store
from openucs.store.sql import _CONTACT_COLUMNS, _GROUP_COLUMNS, SqlSession

# The whole-list reads of SqlImList, with the columns it reads.
GROUPS = f"SELECT {_GROUP_COLUMNS} FROM im_groups WHERE mailbox_id = ? ORDER BY kind, id"
CONTACTS = f"SELECT {_CONTACT_COLUMNS} FROM im_contacts WHERE mailbox_id = ? ORDER BY id"
INDEXES = {"im_groups": "im_groups_by_kind", "im_contacts": "im_contacts_by_mailbox"}


def _plan(store, query: str) -> list[str]:
    with store.transaction(write=False) as tx:
        return [row[3] for row in tx.db.all(f"EXPLAIN QUERY PLAN {query}", (1,))]


@pytest.mark.parametrize(("query", "index"), [(GROUPS, "im_groups_by_kind"), (CONTACTS, "im_contacts_by_mailbox")])
def test_sqlite_reads_a_whole_list_in_index_order(tmp_path, query, index):
    store = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        plan = _plan(store, query)
    finally:
        store.close()
    assert any(f"USING INDEX {index} (mailbox_id=?)" in step for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan


def _indexes(db: SqlSession, table: str) -> set[str]:
    if db.dialect == "sqlite":
        rows = db.all("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?", (table,))
    else:
        rows = db.all("SELECT indexname FROM pg_indexes WHERE tablename = ?", (table,))
    return {r[0] for r in rows}


def test_a_new_database_has_the_list_indexes(store):
    assert store.schema_version() == LATEST_VERSION >= 6
    with store.transaction(write=False) as tx:
        for table, index in INDEXES.items():
            assert index in _indexes(tx.db, table)


@contextmanager
def _session(url: str) -> Iterator[SqlSession]:
    """One transaction on a connection of its own, outside any store: a store would migrate."""
    if url.startswith("sqlite:"):
        with closing(sqlite3.connect(Path(url.removeprefix("sqlite:///")), isolation_level=None)) as conn:
            cursor = conn.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            yield SqlSession(cursor, "sqlite")
            cursor.execute("COMMIT")
        return
    import psycopg  # noqa: PLC0415 - the optional driver

    with psycopg.connect(url, autocommit=True) as pg, pg.cursor() as cursor:
        cursor.execute("BEGIN")
        yield SqlSession(cursor, "postgresql")
        cursor.execute("COMMIT")


def test_a_version_5_database_upgrades_keeping_its_list(blank_url):
    # Rows written as version 5's schema has them, in SQL of that version: not through today's code.
    with _session(blank_url) as db:
        migrate(db, target=5)
        assert not any(index in _indexes(db, table) for table, index in INDEXES.items())
        user = db.one(
            "INSERT INTO users (email, display_name, password_hash, created) VALUES (?, ?, ?, ?) RETURNING id",
            ("alice@example.com", "Alice", "x", "2026-01-01T00:00:00Z"),
        )[0]
        # Ids out of kind order, so the list's order is the index's, not the insertion's.
        kinds = [GroupKind.USER, GroupKind.FAVORITES, GroupKind.USER]
        groups = [
            db.one(
                "INSERT INTO im_groups (mailbox_id, kind, display_name, created) VALUES (?, ?, ?, ?) RETURNING id",
                (user, kind.value, f"group {n}", "2026-01-01T00:00:00Z"),
            )[0]
            for n, kind in enumerate(kinds)
        ]
        contacts = [
            db.one(
                "INSERT INTO im_contacts (mailbox_id, im_address, im_address_key, display_name, created)"
                " VALUES (?, ?, ?, ?, ?) RETURNING id",
                (user, f"sip:c{n}@example.com", f"sip:c{n}@example.com", f"C{n}", "2026-01-01T00:00:00Z"),
            )[0]
            for n in range(3)
        ]
        db.run(
            "INSERT INTO im_members (mailbox_id, group_id, contact_id) VALUES (?, ?, ?)", (user, groups[0], contacts[1])
        )

    store = open_store(blank_url)
    try:
        assert store.schema_version() == LATEST_VERSION
        with store.transaction(write=False) as tx:
            for table, index in INDEXES.items():
                assert index in _indexes(tx.db, table)
            imlist = tx.imlist(user)
            listed = [(g.id, g.kind, g.display_name, g.members) for g in imlist.groups()]
            assert listed == [
                (groups[1], GroupKind.FAVORITES, "group 1", ()),
                (groups[0], GroupKind.USER, "group 0", (contacts[1],)),
                (groups[2], GroupKind.USER, "group 2", ()),
            ]
            assert [(c.id, c.im_address) for c in imlist.contacts()] == [
                (c, f"sip:c{n}@example.com") for n, c in enumerate(contacts)
            ]
    finally:
        store.close()
