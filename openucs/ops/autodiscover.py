"""Autodiscover answers: the server's accounts looked up for the two Autodiscover dialects
(openucs.autodiscover reads and writes them). Every hosted address gets the same EWS URL, the
server's public one."""

import uuid

from openucs.autodiscover import UserSettings, pox, soap
from openucs.ews.versions import ALL_VERSIONS, SUPPORTED_VERSIONS
from openucs.store.port import Store

DEPLOYMENT_ID = "deployment-id"
EWS_PATH = "/EWS/Exchange.asmx"


class Autodiscover:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._deployment_id: str | None = None

    def deployment_id(self) -> str:
        """One GUID per installation, kept with the server's secrets so every node reports it."""
        if self._deployment_id is None:
            with self.store.transaction(write=True) as tx:
                self._deployment_id = tx.accounts.secret(DEPLOYMENT_ID, str(uuid.uuid4()))
        return self._deployment_id

    def settings(self, email: str, base_url: str) -> UserSettings | None:
        with self.store.transaction(write=False) as tx:
            user = tx.accounts.by_email(email)
        if user is None:
            return None
        schemas = tuple(v for v in ALL_VERSIONS if v in SUPPORTED_VERSIONS)
        return UserSettings(user.email, user.display_name, self.deployment_id(), base_url + EWS_PATH, schemas)

    def pox(self, body: bytes, base_url: str) -> bytes:
        """The POX answer (always HTTP 200, errors included, as Exchange answers)."""
        try:
            request = pox.read_request(body)
        except pox.PoxError as exc:
            return pox.write_error(exc.code)
        found = self.settings(request.email, base_url)
        if found is None:
            return pox.write_error(pox.NOT_FOUND)
        return pox.write_settings(found)

    def soap(self, body: bytes, base_url: str) -> tuple[int, bytes]:
        """(HTTP status, body) of a GetUserSettings call."""
        try:
            request = soap.read_request(body)
        except soap.SoapRequestError as exc:
            return 500, soap.write_fault(str(exc))
        found = {mailbox: self.settings(mailbox, base_url) for mailbox in request.mailboxes}
        return 200, soap.write_response(request, found)
