"""Impersonation rights (Exchange's ApplicationImpersonation role) and the SIDs that name accounts.

A grant lets one account — a service account — act on other mailboxes through the
``ExchangeImpersonation`` SOAP header: on every mailbox (``target_id`` NULL, scope "all") or on
the listed ones. Grants and SIDs go with their accounts: removing either account removes them.
"""

from dataclasses import dataclass

from openucs.store.sql import SqlSession, utc_now

# The longest SID in SDDL form: "S-1-", a 48-bit authority (15 digits), 15 sub-authorities of 32
# bits ("-" and 10 digits each). Longer is no SID, and sid_key's index could not hold it on PostgreSQL.
MAX_SID_CHARS = 184


@dataclass(frozen=True, slots=True)
class Grant:
    service: str  # the service account's address
    target: str | None  # one mailbox's address, or None for every mailbox


class SqlGrants:
    def __init__(self, db: SqlSession) -> None:
        self._db = db

    def grant(self, service_id: int, target_id: int | None) -> bool:
        """Add a grant; False when it existed already."""
        row = self._db.one(
            "INSERT INTO impersonation_grants (service_id, target_id, created) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (service_id, target_id, utc_now()),
        )
        return row is not None

    def revoke(self, service_id: int, target_id: int | None) -> bool:
        """Remove one grant (``None``: the grant on every mailbox); False when there was none."""
        where = "target_id IS NULL" if target_id is None else "target_id = ?"
        params = (service_id,) if target_id is None else (service_id, target_id)
        row = self._db.one(
            f"DELETE FROM impersonation_grants WHERE service_id = ? AND {where} RETURNING id",
            params,
        )
        return row is not None

    def revoke_all(self, service_id: int) -> int:
        rows = self._db.all("DELETE FROM impersonation_grants WHERE service_id = ? RETURNING id", (service_id,))
        return len(rows)

    def has_any(self, service_id: int) -> bool:
        row = self._db.one("SELECT 1 FROM impersonation_grants WHERE service_id = ? LIMIT 1", (service_id,))
        return row is not None

    def may_impersonate(self, service_id: int, target_id: int) -> bool:
        row = self._db.one(
            "SELECT 1 FROM impersonation_grants WHERE service_id = ? AND (target_id IS NULL OR target_id = ?) LIMIT 1",
            (service_id, target_id),
        )
        return row is not None

    def all(self, service_id: int | None = None) -> list[Grant]:
        """Every grant (of one service account), by service account, "all" first, then by target."""
        where = "" if service_id is None else "WHERE g.service_id = ?"
        rows = self._db.all(
            "SELECT s.email, t.email FROM impersonation_grants g JOIN users s ON s.id = g.service_id "
            f"LEFT JOIN users t ON t.id = g.target_id {where} "
            "ORDER BY s.email, g.target_id IS NOT NULL, t.email",
            () if service_id is None else (service_id,),
        )
        return [Grant(r[0], r[1]) for r in rows]

    # -- SIDs
    def set_sid(self, user_id: int, sid: str | None) -> None:
        """Give an account a SID (``ConnectingSID/SID`` then names it), or take it away."""
        self._db.run("DELETE FROM account_sids WHERE user_id = ?", (user_id,))
        if sid is not None:
            self._db.run(
                "INSERT INTO account_sids (sid_key, sid, user_id) VALUES (?, ?, ?)", (sid.upper(), sid, user_id)
            )

    def user_by_sid(self, sid: str) -> int | None:
        """SIDs compare case-insensitively (``S-1-5-...`` and ``s-1-5-...`` are one SID)."""
        row = self._db.one("SELECT user_id FROM account_sids WHERE sid_key = ?", (sid.strip().upper(),))
        return None if row is None else int(row[0])

    def sid_of(self, user_id: int) -> str | None:
        row = self._db.one("SELECT sid FROM account_sids WHERE user_id = ?", (user_id,))
        return None if row is None else str(row[0])
