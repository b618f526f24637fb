"""The floor for HTTP throughput: an ASGI app that reads the body and returns a fixed SOAP answer,
served by the same server openucs runs on (openucs.server: uvicorn and its protocol).

    python -m bench.bare_app --port 8081 [--workers N]
"""

import argparse
from typing import Any

from openucs import server

BODY = (
    b'<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
    b"<s:Body/></s:Envelope>"
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/xml; charset=utf-8"), (b"content-length", str(len(BODY)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # The flags `openucs serve` runs with (see bench/common.py: no access log, quiet).
    server.run(
        "bench.bare_app:app",
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main()
