"""SOAP faults: request-level failures (not XML, not an envelope, schema, version, throttling)."""

from dataclasses import dataclass, field

from openucs.ews.codes import MESSAGE_TEXT, ResponseCode


@dataclass(frozen=True, slots=True)
class XmlDetail:
    """One child of t:MessageXml: ``<t:{element} Name="{name}">{text}</t:{element}>``."""

    element: str
    text: str
    name: str | None = None


@dataclass
class SoapFault(Exception):
    """Rendered as an HTTP 500 SOAP 1.1 fault with the EWS code in ``detail``.

    ``message_xml`` holds t:MessageXml children in order, e.g. LineNumber/LinePosition/Violation
    for schema errors or BackOffMilliseconds for ErrorServerBusy.
    """

    code: ResponseCode
    fault_string: str
    message_xml: tuple[XmlDetail, ...] = field(default=())

    def __str__(self) -> str:
        return f"{self.code}: {self.fault_string}"

    @property
    def message(self) -> str:
        return MESSAGE_TEXT.get(self.code, self.fault_string)


def schema_fault(violation: str, line: int | None, position: int | None) -> SoapFault:
    where = f" Line {line}, position {position or 0}." if line is not None else ""
    details: list[XmlDetail] = []
    if line is not None:
        details.append(XmlDetail("LineNumber", str(line)))
        details.append(XmlDetail("LinePosition", str(position or 0)))
    details.append(XmlDetail("Violation", f"{violation}{where}"))
    return SoapFault(
        ResponseCode.SCHEMA_VALIDATION,
        f"The request failed schema validation: {violation}{where}",
        tuple(details),
    )


def version_fault() -> SoapFault:
    return SoapFault(ResponseCode.INCORRECT_SCHEMA_VERSION, MESSAGE_TEXT[ResponseCode.INCORRECT_SCHEMA_VERSION])


def server_busy_fault(back_off_ms: int) -> SoapFault:
    return SoapFault(
        ResponseCode.SERVER_BUSY,
        MESSAGE_TEXT[ResponseCode.SERVER_BUSY],
        (XmlDetail("Value", str(back_off_ms), name="BackOffMilliseconds"),),
    )
