"""SOAP Autodiscover: GetUserSettings (namespace http://schemas.microsoft.com/exchange/2010/Autodiscover),
the dialect of the EWS Managed API and exchangelib.

Request:  soap:Body/GetUserSettingsRequestMessage/Request/{Users/User/Mailbox, RequestedSettings/Setting}
Answer:   GetUserSettingsResponseMessage/Response with one UserResponse per user, each with its
          UserSettings (StringSetting name/value pairs) and UserSettingErrors for settings not
          served; an unknown address gets ErrorCode InvalidUser. A request that is not a
          GetUserSettings envelope gets a SOAP fault.
"""

from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from openucs.autodiscover import CAS_VERSION, UserSettings, parse_xml

NS = "http://schemas.microsoft.com/exchange/2010/Autodiscover"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
WSA = "http://www.w3.org/2005/08/addressing"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ACTION = f"{NS}/Autodiscover/GetUserSettingsResponse"

SETTINGS = (
    "UserDisplayName",
    "UserDeploymentId",
    "InternalEwsUrl",
    "ExternalEwsUrl",
    "CasVersion",
    "EwsSupportedSchemas",
    "AutoDiscoverSMTPAddress",
)


class SoapRequestError(ValueError):
    """Not a GetUserSettings request this server can read."""


@dataclass(frozen=True, slots=True)
class GetUserSettings:
    mailboxes: tuple[str, ...]
    settings: tuple[str, ...]


def read_request(body: bytes) -> GetUserSettings:
    try:
        root: Any = parse_xml(body)
    except ValueError as exc:
        raise SoapRequestError(f"The request is not well-formed XML: {exc}") from None
    if root.tag != f"{{{SOAP}}}Envelope":
        raise SoapRequestError("The request is not a SOAP 1.1 envelope.")
    message = root.find(f"{{{SOAP}}}Body/{{{NS}}}GetUserSettingsRequestMessage")
    request = None if message is None else message.find(f"{{{NS}}}Request")
    if request is None:
        raise SoapRequestError("The only operation served here is GetUserSettings.")
    mailboxes = tuple((m.text or "").strip() for m in request.iterfind(f"{{{NS}}}Users/{{{NS}}}User/{{{NS}}}Mailbox"))
    settings = tuple((s.text or "").strip() for s in request.iterfind(f"{{{NS}}}RequestedSettings/{{{NS}}}Setting"))
    if not mailboxes or not settings:
        raise SoapRequestError("GetUserSettings needs at least one user and one requested setting.")
    return GetUserSettings(mailboxes, settings)


def values(settings: UserSettings) -> dict[str, str]:
    return {
        "UserDisplayName": settings.display_name,
        "UserDeploymentId": settings.deployment_id,
        "InternalEwsUrl": settings.ews_url,
        "ExternalEwsUrl": settings.ews_url,
        "CasVersion": CAS_VERSION,
        "EwsSupportedSchemas": ", ".join(settings.ews_schemas),
        "AutoDiscoverSMTPAddress": settings.email,
    }


def _user_response(mailbox: str, settings: UserSettings | None, requested: tuple[str, ...]) -> str:
    if settings is None:
        return (
            "<UserResponse><ErrorCode>InvalidUser</ErrorCode>"
            f"<ErrorMessage>Invalid user: '{escape(mailbox)}'</ErrorMessage>"
            '<RedirectTarget i:nil="true"/><UserSettingErrors/><UserSettings/></UserResponse>'
        )
    known = values(settings)
    found = [name for name in requested if name in known]
    errors = "".join(
        "<UserSettingError><ErrorCode>SettingIsNotAvailable</ErrorCode>"
        f"<ErrorMessage>User setting '{escape(name)}' is not available.</ErrorMessage>"
        f"<SettingName>{escape(name)}</SettingName></UserSettingError>"
        for name in requested
        if name not in known
    )
    items = "".join(
        f'<UserSetting i:type="StringSetting"><Name>{name}</Name><Value>{escape(known[name])}</Value></UserSetting>'
        for name in found
    )
    return (
        "<UserResponse><ErrorCode>NoError</ErrorCode><ErrorMessage>No error.</ErrorMessage>"
        f'<RedirectTarget i:nil="true"/><UserSettingErrors>{errors}</UserSettingErrors>'
        f"<UserSettings>{items}</UserSettings></UserResponse>"
    )


def write_response(request: GetUserSettings, found: dict[str, UserSettings | None]) -> bytes:
    users = "".join(_user_response(m, found.get(m), request.settings) for m in request.mailboxes)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}" xmlns:a="{WSA}"><s:Header>'
        f'<a:Action s:mustUnderstand="1">{ACTION}</a:Action>'
        f'<h:ServerVersionInfo xmlns:h="{NS}"><h:MajorVersion>15</h:MajorVersion><h:MinorVersion>0</h:MinorVersion>'
        "<h:MajorBuildNumber>1497</h:MajorBuildNumber><h:MinorBuildNumber>0</h:MinorBuildNumber>"
        "<h:Version>Exchange2013</h:Version></h:ServerVersionInfo></s:Header><s:Body>"
        f'<GetUserSettingsResponseMessage xmlns="{NS}"><Response xmlns:i="{XSI}">'
        f"<ErrorCode>NoError</ErrorCode><ErrorMessage/><UserResponses>{users}</UserResponses>"
        "</Response></GetUserSettingsResponseMessage></s:Body></s:Envelope>"
    ).encode()


def write_fault(message: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<s:Envelope xmlns:s="{SOAP}"><s:Body><s:Fault><faultcode>s:Client</faultcode>'
        f"<faultstring>{escape(message)}</faultstring></s:Fault></s:Body></s:Envelope>"
    ).encode()
