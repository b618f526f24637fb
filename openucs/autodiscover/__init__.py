"""Autodiscover, sans-IO: how a client that knows only an e-mail address finds the EWS URL.

Two dialects, each bytes in, bytes out: ``pox`` (plain-old-XML, Outlook's and Pidgin-SIPE's,
POSTed to /autodiscover/autodiscover.xml) and ``soap`` (GetUserSettings, the EWS Managed API's
and exchangelib's, at /autodiscover/autodiscover.svc). What a user's settings are is decided
by the caller (openucs.ops.autodiscover); these modules only read requests and write answers.
"""

from dataclasses import dataclass

from lxml import etree

# The answers' build: the same Exchange 2013 build EWS reports in ServerVersionInfo.
CAS_VERSION = "15.00.1497.000"


@dataclass(frozen=True, slots=True)
class UserSettings:
    """What Autodiscover tells a client about one mailbox."""

    email: str
    display_name: str
    deployment_id: str  # one GUID per openucs installation
    ews_url: str
    ews_schemas: tuple[str, ...]  # the RequestServerVersion values EWS accepts


def parse_xml(body: bytes) -> object:
    """A document, parsed without DTDs, entities or network access; ValueError when it is not XML."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body, parser=parser)
    except etree.XMLSyntaxError as exc:
        raise ValueError(str(exc)) from None
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:
        raise ValueError("a document type declaration is not allowed")
    return root
