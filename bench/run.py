"""``make bench``: Steward against itself unenforced and against a raw floor, in one run.

Each variant runs as a real uvicorn server pinned to CPU 0 on a demo database; the load comes
from another process pinned to CPU 1. Printed: req/s (closed loop), p50/p99 latency at a fixed
offered load, server CPU per request, SQL statements per request and peak RSS, on SQLite and
PostgreSQL, with the ratios that matter (these machines are noisy; compare within one run).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, make_url, text

from api.demo import load_demo_data
from api.settings import Settings
from auth.policy.scopes import ALL_SCOPES
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from bench.floor import nested_page
from bench.server import STATIC_ENV
from store.database import make_engine, session_factory, transaction, upgrade

NESTED = """query NestedPage { customers(first: 20) { edges { node {
  id firstName lastName email mobilePhone
  addresses { id label city postalCode }
  orders(first: 5) { edges { node { id number status totalAmount currency placedAt
    items { sku name quantity unitPrice } } } }
  consents { purpose status recordedAt } } } } }"""
FLAT = "query FlatList { customers(first: 100) { edges { node { id firstName lastName email } } } }"
LOOKUP = """query Lookup($id: ID!) { customer(id: $id) { id firstName lastName email mobilePhone
  addresses { id city postalCode } } }"""

ROWS = {
    "nested page (20)": (NESTED, {}, "customer_support"),
    "flat list (100)": (FLAT, {}, "customer_support"),
    "single lookup": (LOOKUP, {"id": "Q3VzdG9tZXI6MQ=="}, "customer_support"),
    "refused (no purpose)": (FLAT, {}, None),
}
VARIANTS = ("compiled", "enforced", "unenforced", "floor", "durable", "static", "refusal")
FLOOR_ROW = "nested page (20)"
REFUSED_ROW = "refused (no purpose)"
ONLY = {"floor": FLOOR_ROW, "durable": FLOOR_ROW, "static": FLOOR_ROW, "refusal": REFUSED_ROW}
"""The floors, and the one row each answers."""
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RATE_LIMIT = "1000000/second"
"""The benchmark's servers never refuse the load generator."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Server:
    """One variant's server process, with at most one known win switched off (``cwd``: the
    checkout to serve, when not this one; its modules come first on ``PYTHONPATH``), run
    under ``wrapper`` (a command and its options, e.g. valgrind's), given ``startup``
    seconds to start."""

    def __init__(
        self,
        variant: str,
        env: dict[str, str],
        without: str | None = None,
        *,
        cwd: Path | None = None,
        wrapper: tuple[str, ...] = (),
        startup: float = 60.0,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [*wrapper, sys.executable, "-m", "bench.server", variant, str(self.port)]
        quiet = subprocess.DEVNULL if wrapper else None
        self.process = subprocess.Popen(  # noqa: S603
            [*command, *([without] if without else [])],
            env=env,
            cwd=cwd,
            stdout=quiet,
            stderr=quiet,
        )
        deadline = time.monotonic() + startup
        while True:
            try:
                httpx.get(f"{self.url}/bench/statements", timeout=5).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise RuntimeError(f"the {variant} server did not start") from None
                time.sleep(0.1)

    def counts(self) -> dict[str, float]:
        """SQL statements, audit statements, audit CPU seconds and audits so far."""
        return httpx.get(f"{self.url}/bench/statements").json()  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Load:
    """The load generator: one process, pinned to CPU 1, for the whole run."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.load"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __call__(self, spec: dict[str, Any]) -> dict[str, Any]:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        self.process.stdin.write(json.dumps(spec) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise RuntimeError("the load generator failed")
        return json.loads(answer)  # type: ignore[no-any-return]

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=30)


def measure(
    load: Load,
    servers: dict[str, Server],
    body: str,
    headers: dict[str, str],
    args: argparse.Namespace,
    *,
    latency: bool = True,
) -> dict[str, dict[str, Any]]:
    """Each server's closed-loop throughput, server CPU, SQL and audit per request.

    The servers take turns in short slices (``--rounds`` of them, the order alternating), so
    that whatever else the machine does in the meantime falls on every variant alike. Then
    the latency of each at a fixed offered load (open loop).
    """
    specs = {name: {"url": s.url, "body": body, "headers": headers} for name, s in servers.items()}
    for spec in specs.values():
        load({**spec, "seconds": args.warmup, "concurrency": args.concurrency})
    keys = ("statements", "audit_cpu", "audit_statements")
    totals = {name: dict.fromkeys(("requests", "elapsed", "cpu", *keys), 0.0) for name in servers}
    names = list(servers)
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            server, total = servers[name], totals[name]
            before, cpu = server.counts(), cpu_seconds(server.process.pid)
            seconds = args.seconds / args.rounds
            closed = load({**specs[name], "seconds": seconds, "concurrency": args.concurrency})
            total["cpu"] += cpu_seconds(server.process.pid) - cpu
            after = server.counts()
            for key in keys:
                total[key] += after[key] - before[key]
            total["requests"] += closed["requests"]
            total["elapsed"] += closed["requests"] / closed["rps"]
    results: dict[str, dict[str, Any]] = {}
    for name, total in totals.items():
        requests = total["requests"]
        results[name] = {
            "rps": requests / total["elapsed"],
            "cpu": total["cpu"] / requests * 1000,
            "sql": total["statements"] / requests,
            "audit_cpu": total["audit_cpu"] / requests * 1000,
            "audit_sql": total["audit_statements"] / requests,
        }
        if latency:
            opened = load({**specs[name], "seconds": args.seconds / 2, "rate": args.rate})
            results[name] |= {"p50": opened["p50"] * 1000, "p99": opened["p99"] * 1000}
    return results


def request_for(row: str, token: str) -> tuple[str, dict[str, str]]:
    """The body and headers of one row's request."""
    query, variables, purpose = ROWS[row]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if purpose:
        headers["X-Purpose"] = purpose
    return json.dumps({"query": query, "variables": variables}), headers


def bench_token(key_file: Path) -> str:
    """A token of the built-in issuer holding every scope."""
    settings = Settings(_env_file=None, key_file=key_file)
    return issue_token(
        settings.tokens,
        load_or_create(key_file),
        scope=" ".join(ALL_SCOPES),
        subject="bench",
        client_id="bench",
    )


def server_env(url: str, key_file: Path) -> dict[str, str]:
    """The environment of a benchmark server over the database at ``url``."""
    return {
        **os.environ,
        "STEWARD_DATABASE_URL": url,
        "STEWARD_KEY_FILE": str(key_file),
        "STEWARD_RATE_LIMIT": RATE_LIMIT,
    }


def demo_server_setup(
    folder: Path, url: str | None, customers: int
) -> tuple[str, str, dict[str, str]]:
    """A demo database of ``customers`` (at ``url``, an empty database, else a SQLite file in
    ``folder``), a token of every scope and the servers' environment: (url, token, env)."""
    url = url or f"sqlite:///{folder / 'bench.db'}"
    prepare(url, customers)
    key_file = folder / "keys.json"
    return url, bench_token(key_file), server_env(url, key_file)


def prepare(url: str, customers: int) -> None:
    upgrade(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        load_demo_data(session, customers=customers, seed=1)
    engine.dispose()


def databases(args: argparse.Namespace, folder: Path) -> Iterator[tuple[str, str]]:
    """Each database asked for, with demo data; a PostgreSQL one is dropped afterwards."""
    wanted = args.databases.split(",")
    if "sqlite" in wanted:
        url = f"sqlite:///{folder / 'bench.db'}"
        prepare(url, args.customers)
        yield "SQLite", url
    if "postgresql" in wanted:
        server = make_url(os.environ.get("STEWARD_BENCH_POSTGRES_URL", DEFAULT_POSTGRES))
        admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
        name = f"steward_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            url = server.set(database=name).render_as_string(False)
            prepare(url, args.customers)
            yield "PostgreSQL", url
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    parser.add_argument("--rate", type=float, default=10.0, help="offered load for latency")
    args = parser.parse_args()
    load = Load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        key_file = folder / "keys.json"
        token = bench_token(key_file)
        results: dict[tuple[str, str, str], dict[str, Any]] = {}
        for label, url in databases(args, folder):
            env = server_env(url, key_file)
            static = folder / "nested.json"
            env[STATIC_ENV] = str(static)
            servers = {variant: Server(variant, env) for variant in VARIANTS if variant != "static"}
            static.write_bytes(_nested_bytes(servers["compiled"], token))
            servers["static"] = Server("static", env)
            try:
                same = _same_json(servers["enforced"], token, url)
                print(f"{label}: floor returns the same JSON as Steward: {same}")
                same = _same_json(servers["compiled"], token, url)
                print(f"{label}: floor returns the same JSON as compiled Steward: {same}")
                same = _same_json(servers["durable"], token, url)
                print(f"{label}: durable floor returns the same JSON as the floor: {same}")
                same = _same_refusal(servers["compiled"], servers["refusal"], token)
                print(f"{label}: refusal floor refuses as Steward does: {same}")
                for row in ROWS:
                    body, headers = request_for(row, token)
                    chosen = answering(servers, row)
                    for variant, result in measure(load, chosen, body, headers, args).items():
                        results[(label, row, variant)] = result
                for variant, server in servers.items():
                    results[(label, "peak RSS", variant)] = {
                        "rss": peak_rss_mib(server.process.pid)
                    }
            finally:
                for server in servers.values():
                    server.stop()
    load.close()
    report(results, args)


def answering(servers: dict[str, Server], row: str) -> dict[str, Server]:
    """The servers that answer ``row``: Steward's, and the floor of that row."""
    return {name: server for name, server in servers.items() if ONLY.get(name, row) == row}


def _same_refusal(steward: Server, floor: Server, token: str) -> bool:
    """Whether the refusal floor answers the refused row as Steward does."""
    body, headers = request_for(REFUSED_ROW, token)
    answers = [
        httpx.post(f"{server.url}/graphql", content=body, headers=headers)
        for server in (steward, floor)
    ]
    return len({(a.status_code, a.content) for a in answers}) == 1


def _nested_bytes(server: Server, token: str) -> bytes:
    """The nested page's response exactly as Steward sends it, for the static floor."""
    return httpx.post(
        f"{server.url}/graphql",
        json={"query": NESTED},
        headers={"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"},
    ).content


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark of this package takes."""
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=8.0, help="closed loop, per variant")
    parser.add_argument("--rounds", type=int, default=8, help="turns the variants take")
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--databases", default="sqlite,postgresql")


def _same_json(server: Server, token: str, url: str) -> bool:
    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": NESTED},
        headers={"Authorization": f"Bearer {token}", "X-Purpose": "customer_support"},
    )
    engine = make_engine(url)
    try:
        return bool(response.json() == nested_page(engine))
    finally:
        engine.dispose()


COLUMNS = (
    ("req/s", "rps", "{:>8.0f}"),
    ("p50 ms", "p50", "{:>8.1f}"),
    ("p99 ms", "p99", "{:>8.1f}"),
    ("CPU ms/req", "cpu", "{:>11.2f}"),
    ("SQL/req", "sql", "{:>8.1f}"),
)


def report(results: dict[tuple[str, str, str], dict[str, Any]], args: argparse.Namespace) -> None:
    """Print the table, the peak RSS and the ratios."""
    print(
        f"\nclosed loop: {args.concurrency} in flight for {args.seconds:g} s per variant,", end=" "
    )
    print(f"in {args.rounds} interleaved turns;", end=" ")
    print(f"latency at {args.rate:g} req/s offered")
    head = f"{'database':<11} {'row':<21} {'variant':<11} " + " ".join(
        f"{title:>{len(fmt.format(0))}}" for title, _, fmt in COLUMNS
    )
    print(head)
    print("-" * len(head))
    for (label, row, variant), r in results.items():
        if row != "peak RSS":
            cells = " ".join(fmt.format(r[key]) for _, key, fmt in COLUMNS)
            print(f"{label:<11} {row:<21} {variant:<11} {cells}")
    print()
    for (label, row, variant), r in results.items():
        if row == "peak RSS":
            print(f"{label:<11} peak RSS {variant:<11} {r['rss']:>7.1f} MiB")
    print()
    for label in sorted({key[0] for key in results}):
        for row in ROWS:
            compiled = results.get((label, row, "compiled"))
            strawberry = results.get((label, row, "enforced"))
            floor = results.get((label, row, "floor"))
            durable = results.get((label, row, "durable"))
            static = results.get((label, row, "static"))
            refusal = results.get((label, row, "refusal"))
            if compiled and strawberry:
                speedup = compiled["rps"] / strawberry["rps"]
                line = f"{label:<11} {row:<21} compiled: req/s x{speedup:.1f} over Strawberry"
                if floor:
                    line += f", CPU compiled/floor {compiled['cpu'] / floor['cpu']:.2f}"
                if durable:
                    line += f", req/s compiled/durable floor {compiled['rps'] / durable['rps']:.2f}"
                if static:
                    line += f", req/s static/compiled {static['rps'] / compiled['rps']:.1f}"
                if refusal:
                    line += f", CPU compiled/refusal floor {compiled['cpu'] / refusal['cpu']:.2f}"
                print(line)
    print()
    for label in sorted({key[0] for key in results}):
        for row in ROWS:
            enforced = results.get((label, row, "enforced"))
            unenforced = results.get((label, row, "unenforced"))
            floor = results.get((label, row, "floor"))
            if enforced and unenforced:
                ratio = enforced["cpu"] / unenforced["cpu"]
                line = f"{label:<11} {row:<21} CPU enforced/unenforced {ratio:.3f}"
                if floor:
                    line += f"   enforced/floor {enforced['cpu'] / floor['cpu']:.2f}"
                print(line)
    print()
    for (label, row, variant), r in results.items():
        if variant in ("compiled", "enforced") and row != "peak RSS" and r["audit_cpu"]:
            share = r["audit_cpu"] / r["cpu"] * 100
            print(
                f"{label:<11} {row:<21} {variant:<9} audit write {r['audit_cpu']:.2f} ms CPU/req "
                f"({share:.1f} % of the request), {r['audit_sql']:.1f} SQL/req"
            )


if __name__ == "__main__":
    main()
