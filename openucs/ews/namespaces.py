"""XML namespaces of SOAP 1.1 and EWS."""

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
MESSAGES = "http://schemas.microsoft.com/exchange/services/2006/messages"
TYPES = "http://schemas.microsoft.com/exchange/services/2006/types"
ERRORS = "http://schemas.microsoft.com/exchange/services/2006/errors"


def m(local: str) -> str:
    """Clark notation for an element of the messages namespace."""
    return f"{{{MESSAGES}}}{local}"


def t(local: str) -> str:
    """Clark notation for an element of the types namespace."""
    return f"{{{TYPES}}}{local}"
