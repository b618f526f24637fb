"""ExchangeImpersonation as Exchange's ApplicationImpersonation role: which mailbox a request
acts on when its SOAP header names one.

The order of the checks decides what a caller can learn. A caller that holds no impersonation
right at all is refused before the target is looked up, so an ordinary account cannot probe
which addresses have mailboxes. A service account that holds a right is told, as Exchange tells
it, whether the mailbox exists (ErrorNonExistentMailbox) before whether its right covers it
(ErrorImpersonateUserDenied). Every refusal is a SOAP fault, as Exchange sends them.
"""

from openucs.domain.accounts import User
from openucs.ews.codes import MESSAGE_TEXT, ResponseCode
from openucs.ews.faults import SoapFault, XmlDetail
from openucs.ews.requests import Impersonation
from openucs.store.sql import SqlTransaction

ADDRESS_KINDS = frozenset({"PrimarySmtpAddress", "SmtpAddress", "PrincipalName"})


def _fault(code: ResponseCode, *details: XmlDetail) -> SoapFault:
    return SoapFault(code, MESSAGE_TEXT[code], details)


def resolve_target(tx: SqlTransaction, caller: User, impersonation: Impersonation) -> User:
    """The account whose mailbox the request acts on, or raise the SoapFault that refuses it."""
    if not tx.grants.has_any(caller.id):
        raise _fault(ResponseCode.IMPERSONATE_USER_DENIED)
    value = impersonation.value.strip()
    if impersonation.kind == "SID":
        # A SID names an account only when an administrator gave it one (`openucs impersonation sid`).
        user_id = tx.grants.user_by_sid(value) if value else None
        target = tx.accounts.by_id(user_id) if user_id is not None else None
        if target is None:
            raise _fault(ResponseCode.IMPERSONATION_FAILED)
    elif impersonation.kind in ADDRESS_KINDS:
        # The login is the primary SMTP address, and it is also the account's user principal name.
        target = tx.accounts.by_email(value) if value else None
        if target is None:
            raise _fault(ResponseCode.NON_EXISTENT_MAILBOX, XmlDetail("Value", value[:320], name="SmtpAddress"))
    else:  # the schema allows no other child of ConnectingSID
        raise _fault(ResponseCode.IMPERSONATION_FAILED)
    if not tx.grants.may_impersonate(caller.id, target.id):
        raise _fault(ResponseCode.IMPERSONATE_USER_DENIED)
    return target
