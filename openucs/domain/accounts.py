"""Accounts: a login and a mailbox, and the directory entry others see."""

from dataclasses import dataclass


# Not frozen: one is built for every request (frozen dataclasses cost several times more to build).
@dataclass(slots=True)
class User:
    id: int  # also the mailbox id
    email: str  # primary SMTP address, lower case; the login name
    display_name: str
    password_hash: str
    created: str
    im_list_migration_completed: bool = False
    im_address: str | None = None  # sip:... as the directory publishes it
    given_name: str | None = None
    surname: str | None = None
    title: str | None = None
    department: str | None = None
    company_name: str | None = None
    business_phone: str | None = None
    mobile_phone: str | None = None
    list_version: int = 0  # raised by every write to the mailbox's IM list


class AccountExists(Exception):
    """An account with that e-mail address exists already."""


class NoSuchAccount(Exception):
    """No account has that e-mail address."""
