"""The scale row: the same pages at 500 and at 20,000 customers, under every purpose.

Each size gets its own demo database (generated once per database and size) and one compiled
Steward server on it (`bench.server`, pinned to CPU 0); the load generator (`bench.load`,
CPU 1) sends each page under each purpose at a low fixed rate, one request at a time, and
takes the median latency. Printed: the time at each size and their ratio, which SPEC
section 6 (v5) wants at most 2: a page's cost must not grow with the size of the tables.

PostgreSQL databases are ``ANALYZE``d after loading, as ``steward demo-data`` does (and
autovacuum within a minute of a bulk load); SQLite keeps no statistics unless told to, and is
measured without them.

Usage::

    python -m bench.scale [--databases sqlite,postgresql] [--sizes 500,20000] [--requests 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, make_url, text

from auth.policy.purposes import Purpose
from bench.run import DEFAULT_POSTGRES, Load, Server, bench_token, prepare, server_env
from store.database import refresh_statistics, transaction_at

PAGES = {
    "orders(first: 20)": "query ScaleOrders { orders(first: 20) { edges { node "
    "{ id number status totalAmount placedAt } } } }",
    "orders + customer": "query ScaleOrderCustomers { orders(first: 20) { edges { node "
    "{ id number status customer { firstName } } } } }",
    "customers(first: 20)": "query ScaleCustomers { customers(first: 20) { edges { node "
    "{ id firstName lastName email } } } }",
}
PURPOSES = tuple(p for p in Purpose if p.declarable and p is not Purpose.LEGAL_ORDER)
"""Every purpose a request can declare, but ``legal_order``: it needs a legal request made by
another caller (its rule reads the few customers the request names)."""
TARGET = 2.0


@contextmanager
def database(kind: str, folder: Path, customers: int) -> Iterator[str]:
    """A demo database of ``customers`` customers; a PostgreSQL one is dropped afterwards."""
    if kind == "sqlite":
        url = f"sqlite:///{folder / f'scale-{customers}.db'}"
        prepare(url, customers)
        yield url
        return
    server = make_url(os.environ.get("STEWARD_BENCH_POSTGRES_URL", DEFAULT_POSTGRES))
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"steward_scale_{uuid.uuid4().hex[:8]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = server.set(database=name).render_as_string(False)
        prepare(url, customers)
        with transaction_at(url) as session:
            refresh_statistics(session)  # as `steward demo-data` does
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def measure(
    load: Load, servers: dict[int, Server], token: str, args: argparse.Namespace
) -> dict[int, dict[tuple[str, str], float]]:
    """The median latency in ms of each page under each purpose, on each size's server.

    The two sizes take turns (``--repeats`` rounds, the order alternating), so that whatever
    else the machine does falls on both alike; a round's figure is the median of its
    ``--requests``, the result the median of the rounds'.
    """
    rounds: dict[int, dict[tuple[str, str], list[float]]] = {size: {} for size in servers}
    sizes = list(servers)
    for page, query in PAGES.items():
        for purpose in PURPOSES:
            body = json.dumps({"query": query})
            headers = {
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                "X-Purpose": purpose.value,
            }
            specs = {}
            for size, server in servers.items():
                answer = httpx.post(f"{server.url}/graphql", content=body, headers=headers)
                if answer.status_code != 200 or "errors" in answer.json():
                    raise RuntimeError(f"{page} under {purpose.value}: {answer.text[:300]}")
                specs[size] = {"url": server.url, "body": body, "headers": headers}
                load({**specs[size], "seconds": 3 / args.rate, "rate": args.rate})  # warm up
            for turn in range(args.repeats):
                for size in sizes if turn % 2 == 0 else reversed(sizes):
                    spec = {**specs[size], "seconds": args.requests / args.rate}
                    p50 = load({**spec, "rate": args.rate})["p50"]
                    rounds[size].setdefault((page, purpose.value), []).append(p50 * 1000)
    return {
        size: {key: statistics.median(values) for key, values in figures.items()}
        for size, figures in rounds.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--sizes", default="500,20000", help="two customer counts")
    parser.add_argument("--requests", type=int, default=10, help="per round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds, the sizes taking turns")
    parser.add_argument("--rate", type=float, default=25.0, help="requests per second offered")
    args = parser.parse_args()
    small, large = (int(size) for size in args.sizes.split(","))
    load = Load()
    results: dict[str, dict[int, dict[tuple[str, str], float]]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            key_file = folder / "keys.json"
            token = bench_token(key_file)
            for kind in args.databases.split(","):
                label = "SQLite" if kind == "sqlite" else "PostgreSQL"
                with (
                    database(kind, folder, small) as small_url,
                    database(kind, folder, large) as large_url,
                ):
                    servers = {
                        small: Server("compiled", server_env(small_url, key_file)),
                        large: Server("compiled", server_env(large_url, key_file)),
                    }
                    try:
                        results[label] = measure(load, servers, token, args)
                    finally:
                        for server in servers.values():
                            server.stop()
    finally:
        load.close()
    report(results, small, large, args)


def report(
    results: dict[str, dict[int, dict[tuple[str, str], float]]],
    small: int,
    large: int,
    args: argparse.Namespace,
) -> None:
    print(
        f"\nscale: compiled Steward, median of {args.repeats} rounds of {args.requests} requests "
        f"at {args.rate:g} req/s (the sizes taking turns), demo data of {small} and {large} "
        "customers"
    )
    head = (
        f"{'database':<11} {'page':<21} {'purpose':<20} {f'ms at {small}':>11} "
        f"{f'ms at {large}':>12} {f'{large}/{small}':>11}"
    )
    print(head)
    print("-" * len(head))
    worst: dict[str, tuple[float, str]] = {}
    for label, sizes in results.items():
        for (page, purpose), before in sizes[small].items():
            after = sizes[large][(page, purpose)]
            ratio = after / before
            print(
                f"{label:<11} {page:<21} {purpose:<20} {before:>11.1f} {after:>12.1f} "
                f"{ratio:>10.2f}x"
            )
            if ratio > worst.get(label, (0.0, ""))[0]:
                worst[label] = (ratio, f"{page} under {purpose}")
    print()
    for label, (ratio, where) in worst.items():
        verdict = "met" if ratio <= TARGET else "NOT met"
        print(f"{label:<11} scale: worst {ratio:.2f}x ({where}); target {TARGET:g}x {verdict}")


if __name__ == "__main__":
    main()
