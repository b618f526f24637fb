"""Plain-old-XML Autodiscover (Outlook's schema of 2006, answered in schema 2006a).

Request:  <Autodiscover xmlns=".../outlook/requestschema/2006"><Request><EMailAddress>…
          <AcceptableResponseSchema>.../outlook/responseschema/2006a</…></Request></Autodiscover>
Answer:   Response/User (DisplayName, AutoDiscoverSMTPAddress, DeploymentId) and Response/Account
          with Protocol entries of Type EXCH and EXPR carrying EwsUrl (and ASUrl) — clients take
          the first EXCH or EXPR protocol with an EwsUrl — or an Error with a numeric ErrorCode:
          500 (address not found), 600 (invalid request), 601 (response schema not available).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from xml.sax.saxutils import escape

from openucs.autodiscover import UserSettings, parse_xml

REQUEST_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
BASE_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"

NOT_FOUND = 500
INVALID_REQUEST = 600
SCHEMA_NOT_AVAILABLE = 601
MESSAGES = {
    NOT_FOUND: "The email address can't be found.",
    INVALID_REQUEST: "Invalid Request",
    SCHEMA_NOT_AVAILABLE: "The requested schema version is not supported.",
}


class PoxError(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(MESSAGES[code])
        self.code = code


@dataclass(frozen=True, slots=True)
class PoxRequest:
    email: str


def _local(el: Any) -> str:
    tag = el.tag if isinstance(el.tag, str) else ""
    return tag.rsplit("}", 1)[-1]


def _child(el: Any, name: str) -> Any:
    for child in el:
        if _local(child) == name:
            return child
    return None


def read_request(body: bytes) -> PoxRequest:
    """The address asked about; PoxError(600) for anything but a well-formed request, 601 for a
    response schema other than Outlook's 2006a."""
    try:
        root: Any = parse_xml(body)
    except ValueError:
        raise PoxError(INVALID_REQUEST) from None
    request = _child(root, "Request") if _local(root) == "Autodiscover" else None
    if request is None:
        raise PoxError(INVALID_REQUEST)
    schema = _child(request, "AcceptableResponseSchema")
    if schema is not None and (schema.text or "").strip() != RESPONSE_SCHEMA:
        raise PoxError(SCHEMA_NOT_AVAILABLE)
    address = _child(request, "EMailAddress")
    email = (address.text or "").strip() if address is not None else ""
    if not email:
        raise PoxError(INVALID_REQUEST)
    return PoxRequest(email)


def _protocol(kind: str, ews_url: str) -> str:
    url = escape(ews_url)
    return (
        f"<Protocol><Type>{kind}</Type><AuthPackage>Basic</AuthPackage>"
        f"<ASUrl>{url}</ASUrl><EwsUrl>{url}</EwsUrl><OOFUrl>{url}</OOFUrl></Protocol>"
    )


def write_settings(settings: UserSettings) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<Autodiscover xmlns="{BASE_SCHEMA}"><Response xmlns="{RESPONSE_SCHEMA}">'
        f"<User><DisplayName>{escape(settings.display_name)}</DisplayName>"
        f"<AutoDiscoverSMTPAddress>{escape(settings.email)}</AutoDiscoverSMTPAddress>"
        f"<DeploymentId>{escape(settings.deployment_id)}</DeploymentId></User>"
        "<Account><AccountType>email</AccountType><Action>settings</Action>"
        f"{_protocol('EXCH', settings.ews_url)}{_protocol('EXPR', settings.ews_url)}"
        "</Account></Response></Autodiscover>"
    ).encode()


def write_error(code: int, now: datetime | None = None) -> bytes:
    when = (now or datetime.now(UTC)).strftime("%H:%M:%S.%f")
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<Autodiscover xmlns="{BASE_SCHEMA}"><Response xmlns="{BASE_SCHEMA}">'
        f'<Error Time="{when}" Id="0"><ErrorCode>{code}</ErrorCode><Message>{escape(MESSAGES[code])}</Message>'
        "<DebugData/></Error></Response></Autodiscover>"
    ).encode()


def redirect_location(public_url: str | None, secure: bool) -> str | None:
    """Where a GET of the Autodiscover path over plain HTTP is sent: the HTTPS public URL's
    Autodiscover path. None (answer with error 600 instead) when the request is secure already
    or no HTTPS public URL is configured, so following the redirect can never lead back here."""
    if secure or not public_url or not public_url.lower().startswith("https://"):
        return None
    return public_url.rstrip("/") + "/autodiscover/autodiscover.xml"
