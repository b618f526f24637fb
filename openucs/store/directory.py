"""The SQL behind the directory: its search index and the users' photos.

The index is two tables kept beside ``users`` by ``SqlDirectory.reindex`` whenever an account's
directory fields change (``SqlAccounts`` calls it): ``directory_terms`` holds one row per search
term per account (see openucs.domain.directory for what a term is) under a b-tree on
(term, user_id), and ``directory_entries`` one sort key per account. A search for prefix p is
the index range [p, p + 0xFF) — a handful of index pages, however large the directory — and
every further query word is an EXISTS probe of the (user_id, term) index for each candidate.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from openucs.domain.directory import Entry, prefix_range, sort_key, terms
from openucs.photos import StoredPhoto

if TYPE_CHECKING:  # sql.py imports this module to hand it out; the session type is only a hint here
    from openucs.store.sql import SqlSession

_ENTRY_COLUMNS = (
    "u.id, u.email, u.display_name, u.im_address, u.given_name, u.surname, u.title, u.department, "
    "u.company_name, u.business_phone, u.mobile_phone"
)
_INDEX_BATCH = 500


def _entry(row: Sequence[Any]) -> Entry:
    return Entry(*row)


@dataclass(frozen=True, slots=True)
class SearchPage:
    total: int  # entries matching the whole query
    entries: list[Entry]  # the requested page of them, in directory order
    first: int  # the position of the page's first entry among all matches


def search_sql(word_count: int) -> tuple[str, str]:
    """(page query, count query) for a search of ``word_count`` prefixes. The first prefix's
    range selects candidates through directory_terms_by_term; each further one must match
    a term of the same account (directory_terms_by_user)."""
    more = "".join(
        f" AND EXISTS (SELECT 1 FROM directory_terms t{n} WHERE t{n}.user_id = t0.user_id"
        f" AND t{n}.term >= ? AND t{n}.term < ?)"
        for n in range(1, word_count)
    )
    matches = f"SELECT DISTINCT t0.user_id FROM directory_terms t0 WHERE t0.term >= ? AND t0.term < ?{more}"
    page = (
        f"SELECT {_ENTRY_COLUMNS} FROM ({matches}) m JOIN directory_entries e ON e.user_id = m.user_id "
        "JOIN users u ON u.id = m.user_id ORDER BY e.sort_key, u.id LIMIT ? OFFSET ?"
    )
    count = f"SELECT COUNT(*) FROM ({matches}) m"
    return page, count


def search_params(words: Sequence[bytes]) -> list[bytes]:
    params: list[bytes] = []
    for word in words:
        params.extend(prefix_range(word))
    return params


class SqlDirectory:
    def __init__(self, db: "SqlSession") -> None:
        self._db = db

    # -- the index
    def reindex(self, user_id: int) -> None:
        """Recompute one account's terms and sort key from its row (after any change to it)."""
        row = self._db.one(
            "SELECT id, email, display_name, im_address, given_name, surname FROM users WHERE id = ?", (user_id,)
        )
        self._db.run("DELETE FROM directory_terms WHERE user_id = ?", (user_id,))
        self._db.run("DELETE FROM directory_entries WHERE user_id = ?", (user_id,))
        if row is not None:
            self._insert([row])

    def reindex_all(self) -> int:
        """Rebuild the whole index (after a migration or a bulk load); returns the entries indexed."""
        self._db.run("DELETE FROM directory_terms")
        self._db.run("DELETE FROM directory_entries")
        last, count = 0, 0
        while True:
            rows = self._db.all(
                "SELECT id, email, display_name, im_address, given_name, surname FROM users "
                f"WHERE id > ? ORDER BY id LIMIT {_INDEX_BATCH}",
                (last,),
            )
            if not rows:
                return count
            self._insert(rows)
            last, count = rows[-1][0], count + len(rows)

    def _insert(self, rows: Iterable[Sequence[Any]]) -> None:
        term_rows: list[tuple[bytes, int]] = []
        entry_rows: list[tuple[int, bytes]] = []
        for user_id, email, display_name, im_address, given_name, surname in rows:
            found = terms(
                display_name=display_name, email=email, im_address=im_address, given_name=given_name, surname=surname
            )
            term_rows.extend((term, user_id) for term in sorted(found))
            entry_rows.append((user_id, sort_key(display_name, email)))
        self._db.many("INSERT INTO directory_entries (user_id, sort_key) VALUES (?, ?)", entry_rows)
        self._db.many("INSERT INTO directory_terms (term, user_id) VALUES (?, ?)", term_rows)

    # -- search
    def search(self, words: Sequence[bytes], offset: int, limit: int, *, from_end: bool = False) -> SearchPage:
        """The entries matching every prefix in ``words`` (at least one): ``limit`` of them from
        ``offset``, counted from the first match or (``from_end``) back from the last."""
        if not words:
            raise ValueError("a directory search needs at least one word")
        page_sql, count_sql = search_sql(len(words))
        params = search_params(words)
        total = int(self._db.one(count_sql, params)[0])
        if from_end:
            stop = total - offset
            offset = max(0, stop - limit)
            limit = stop - offset
        if offset >= total or limit <= 0:
            return SearchPage(total, [], min(offset, total))
        rows = self._db.all(page_sql, (*params, limit, offset))
        return SearchPage(total, [_entry(r) for r in rows], offset)

    def entry_by_email(self, email: str) -> Entry | None:
        row = self._db.one(f"SELECT {_ENTRY_COLUMNS} FROM users u WHERE u.email = ?", (email.strip().lower(),))
        return None if row is None else _entry(row)

    # -- photos
    def photo_etag(self, email: str) -> str | None:
        """The entity tag of the photo of the account with this address, None when it has none."""
        row = self._db.one(
            "SELECT p.etag FROM user_photos p JOIN users u ON u.id = p.user_id WHERE u.email = ?",
            (email.strip().lower(),),
        )
        return None if row is None else str(row[0])

    def photo(self, email: str) -> StoredPhoto | None:
        row = self._db.one(
            "SELECT p.data, p.etag FROM user_photos p JOIN users u ON u.id = p.user_id WHERE u.email = ?",
            (email.strip().lower(),),
        )
        return None if row is None else StoredPhoto(bytes(row[0]), str(row[1]))

    def set_photo(self, user_id: int, photo: StoredPhoto | None, updated: str) -> None:
        self._db.run("DELETE FROM user_photos WHERE user_id = ?", (user_id,))
        if photo is not None:
            self._db.run(
                "INSERT INTO user_photos (user_id, data, etag, updated) VALUES (?, ?, ?, ?)",
                (user_id, photo.data, photo.etag, updated),
            )
