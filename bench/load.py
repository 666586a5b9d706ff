"""The load generator, in its own process pinned to CPU 1.

Closed loop (``concurrency`` requests always in flight) for throughput, or open loop at a
fixed ``rate`` for latency. It reads one spec a line and answers each with one line of JSON:
the counts and latencies. One process serves a whole benchmark run.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

import httpx


async def closed(
    client: httpx.AsyncClient, request: dict[str, Any], seconds: float, concurrency: int
) -> list[float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            response = await client.post("/graphql", **request)
            latencies.append(time.perf_counter() - start)
            if response.status_code >= 500:
                raise RuntimeError(f"server error {response.status_code}")

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies


async def opened(
    client: httpx.AsyncClient, request: dict[str, Any], seconds: float, rate: float
) -> list[float]:
    latencies: list[float] = []
    start = time.perf_counter()

    async def one() -> None:
        sent = time.perf_counter()
        await client.post("/graphql", **request)
        latencies.append(time.perf_counter() - sent)

    tasks = []
    for n in range(int(seconds * rate)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    return latencies


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=spec["url"], limits=limits, timeout=30) as client:
        request = {"content": spec["body"].encode(), "headers": spec["headers"]}
        started = time.perf_counter()
        if spec.get("rate"):
            latencies = await opened(client, request, spec["seconds"], spec["rate"])
        else:
            latencies = await closed(client, request, spec["seconds"], spec["concurrency"])
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
        sys.stdout.write(json.dumps(asyncio.run(run(json.loads(line)))) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
