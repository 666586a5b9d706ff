"""The load generator, in its own process pinned to CPU 1.

Closed loop (``concurrency`` requests always in flight) for throughput, or open loop at a
fixed ``rate`` for latency. It reads one spec a line and answers each with one line of JSON:
the counts and latencies. One process serves a whole benchmark run.

The client is a bare HTTP/1.1 keep-alive client over asyncio protocols (uvloop), one
connection per request in flight: a general-purpose client (httpx) spends about a
millisecond of its own CPU per request, which capped the static floor at a few hundred
requests per second while the server it measured had CPU to spare for thousands.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any
from urllib.parse import urlsplit

import uvloop


class Connection(asyncio.Protocol):
    """One keep-alive connection: sends a prepared request, reads one response at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's own class

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        status = self._complete()
        if status is not None and self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(status)

    def _complete(self) -> int | None:
        """The status of the response in the buffer, once all of it has arrived."""
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(self.buffer[:end]).lower() + b"\r\n"
        status = int(head[9:12])
        start = end + 4
        marker = head.find(b"content-length:")
        if marker >= 0:
            length = int(head[marker + 15 : head.find(b"\r\n", marker)])
            if len(self.buffer) < start + length:
                return None
            del self.buffer[: start + length]
            return status
        # chunked
        position = start
        while True:
            line_end = self.buffer.find(b"\r\n", position)
            if line_end < 0:
                return None
            size = int(bytes(self.buffer[position:line_end]).split(b";")[0], 16)
            position = line_end + 2 + size + 2
            if len(self.buffer) < position:
                return None
            if size == 0:
                del self.buffer[:position]
                return status

    async def send(self, request: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


def prepared_request(spec: dict[str, Any]) -> tuple[str, int, bytes]:
    """The host, the port and the request's bytes, built once per spec."""
    url = urlsplit(spec["url"])
    body = spec["body"].encode()
    headers = {"Host": url.netloc, **spec["headers"], "Content-Length": str(len(body))}
    head = "POST /graphql HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return url.hostname or "127.0.0.1", url.port or 80, head.encode() + b"\r\n" + body


async def connect(host: str, port: int) -> Connection:
    _, protocol = await asyncio.get_running_loop().create_connection(Connection, host, port)
    return protocol


async def closed(spec: dict[str, Any], seconds: float, concurrency: int) -> list[float]:
    host, port, request = prepared_request(spec)
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        connection = await connect(host, port)
        try:
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                status = await connection.send(request)
                latencies.append(time.perf_counter() - start)
                if status >= 500:
                    raise RuntimeError(f"server error {status}")
        finally:
            assert connection.transport is not None
            connection.transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def opened(spec: dict[str, Any], seconds: float, rate: float) -> list[float]:
    host, port, request = prepared_request(spec)
    latencies: list[float] = []
    idle: list[Connection] = []
    start = time.perf_counter()

    async def one() -> None:
        sent = time.perf_counter()
        connection = idle.pop() if idle else await connect(host, port)
        await connection.send(request)
        latencies.append(time.perf_counter() - sent)
        idle.append(connection)

    tasks = []
    for n in range(int(seconds * rate)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    for connection in idle:
        assert connection.transport is not None
        connection.transport.close()
    return latencies


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    if spec.get("rate"):
        latencies = await opened(spec, spec["seconds"], spec["rate"])
    else:
        latencies = await closed(spec, spec["seconds"], spec["concurrency"])
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": latencies[len(latencies) // 2],
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def main() -> None:
    """Answer each spec read from standard input (one JSON object a line) with one line."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})
    for line in sys.stdin:
        result = uvloop.run(run(json.loads(line)))
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
