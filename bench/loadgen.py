"""A small closed-loop HTTP/1.1 load generator: N keep-alive connections, each sending its next
request as soon as the previous answer arrived, for a fixed time. Run as a separate process
so it does not share the server's interpreter.

    python -m bench.loadgen --url http://127.0.0.1:8080/path --body-file F --connections 16 --seconds 5
Prints one JSON line: requests, seconds, rps, status counts, latency percentiles.
"""

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def _connection(
    host: str,
    port: int,
    requests: list[bytes],
    deadline: float,
    stats: dict,
    latencies: list[float],
    offset: int,
    once: bool = False,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = offset
    try:
        while time.perf_counter() < deadline and not (once and i - offset >= len(requests)):
            request = requests[i % len(requests)]
            i += 1
            start = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            status = int(status_line.split()[1])
            length = 0
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b""):
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            stats[status] = stats.get(status, 0) + 1
    finally:
        writer.close()


def build_request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    parts = urlsplit(url)
    head = [
        f"POST {parts.path} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Length: {len(body)}",
        "Connection: keep-alive",
        *(f"{k}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def run(url: str, requests: list[list[bytes]], seconds: float, once: bool = False) -> dict:
    """``requests[c]`` is the cycle of raw requests connection c sends (just once through, with
    ``once``; ``seconds`` is then a time limit)."""
    parts = urlsplit(url)
    stats: dict[int, int] = {}
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + seconds
    await asyncio.gather(
        *(
            _connection(parts.hostname or "127.0.0.1", parts.port or 80, cycle, deadline, stats, latencies, c, once)
            for c, cycle in enumerate(requests)
        )
    )
    elapsed = time.perf_counter() - start
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000, 2) if latencies else 0.0

    total = len(latencies)
    return {
        "requests": total,
        "seconds": round(elapsed, 2),
        "rps": round(total / elapsed, 1),
        "status": {str(k): v for k, v in sorted(stats.items())},
        "p50_ms": pct(0.5),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True, help="JSON file: {url, seconds, connections: [[raw request, ...]]}")
    args = parser.parse_args()
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    cycles = [[r.encode("latin-1") for r in cycle] for cycle in spec["connections"]]
    print(json.dumps(asyncio.run(run(spec["url"], cycles, spec["seconds"], spec.get("once", False)))))


if __name__ == "__main__":
    main()
