"""openucs: a Unified Contact Store ([MS-OXWSCOS]) server, wire-compatible with Exchange 2013+.

The request path reads top to bottom: ``http`` (ASGI, auth, limits) → ``ews`` (sans-IO SOAP:
bytes → typed request, typed response → bytes) → ``ops`` (one handler per operation, one
transaction per request) → ``domain`` (the IM list and its rules) → ``store`` (SQL).
"""

__version__ = "0.1.0"
