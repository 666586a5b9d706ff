"""The known wins of SPEC section 6, each measured before and after, in one run.

For each database, Steward (enforced) runs with every win in place and, beside it, once per
win with that one switched off (`bench.app.WINS`); the servers take turns answering the
nested page and the single lookup under the same closed-loop load as ``make bench``.
Printed: req/s, server CPU per request and SQL statements per request, and what switching
the win off costs in CPU.

A server-level run cannot see a win smaller than the machine's noise (several per cent here).
``--in-process`` measures the wins that live inside the application without HTTP: one
application per switched-off win, called through its ASGI interface in one process, request
by request in turn, each request's CPU time taken around it (`time.process_time`, the worker
thread included), medians compared. Every variant must answer the same JSON.

Usage: ``python -m bench.wins [--databases sqlite,postgresql] [--seconds 8] [--rounds 8]
[--in-process [--requests 100]]``
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette

from api.app import create_app
from api.settings import Settings
from bench.app import WINS, bench_app
from bench.policy_overhead import Client, Statements, lifespan
from bench.run import (
    RATE_LIMIT,
    Load,
    Server,
    add_arguments,
    bench_token,
    databases,
    measure,
    request_for,
    server_env,
)

ROWS = ("nested page (20)", "single lookup")
POSTGRESQL_ONLY = {"prepared statements"}
ALL = "(nothing: all wins)"
SERVER_ONLY = {"uvloop + httptools", "settled heap (gc)"}
"""Wins of the server process, not of the application: measured by the server-level run only."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    parser.add_argument("--in-process", action="store_true", help="the application's wins, no HTTP")
    parser.add_argument("--requests", type=int, default=100, help="per variant, --in-process")
    args = parser.parse_args()
    if args.in_process:
        in_process(args)
        return
    load = Load()
    results: dict[tuple[str, str, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "keys.json"
        token = bench_token(key_file)
        for label, url in databases(args, Path(tmp)):
            env = server_env(url, key_file)
            wins = [win for win in WINS if label == "PostgreSQL" or win not in POSTGRESQL_ONLY]
            servers = {ALL: Server("enforced", env)}
            try:
                servers |= {win: Server("enforced", env, win) for win in wins}
                for row in ROWS:
                    body, headers = request_for(row, token)
                    measured = measure(load, servers, body, headers, args, latency=False)
                    for without, result in measured.items():
                        results[(label, without, row)] = result
            finally:
                for server in servers.values():
                    server.stop()
    load.close()
    report(results, args)


def report(results: dict[tuple[str, str, str], dict[str, Any]], args: Any) -> None:
    """The server-level table."""
    print(f"\nclosed loop: {args.concurrency} in flight for {args.seconds:g} s per line,", end=" ")
    print(f"in {args.rounds} interleaved turns")
    table(results)


def table(results: dict[tuple[str, str, str], dict[str, Any]]) -> None:
    """One line per database, switched-off win and row; the cost against all wins in place.

    Req/s is a column where the results have it (the server-level run).
    """
    rps = all("rps" in r for r in results.values())
    head = f"{'database':<11} {'switched off':<22} {'row':<17} "
    head += f"{'req/s':>7} " * rps + f"{'CPU ms/req':>11} {'SQL/req':>8} {'CPU × with it':>14}"
    print(head)
    print("-" * len(head))
    for (label, without, row), r in results.items():
        ratio = r["cpu"] / results[(label, ALL, row)]["cpu"]
        line = f"{label:<11} {without:<22} {row:<17} "
        line += f"{r['rps']:>7.0f} " if rps else ""
        line += f"{r['cpu']:>11.2f} {r['sql']:>8.1f} {ratio:>14.2f}"
        print(line)


def in_process(args: argparse.Namespace) -> None:
    """Each application-level win, switched off, against all wins: interleaved, one process."""
    results: dict[tuple[str, str, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "keys.json"
        token = bench_token(key_file)
        for label, url in databases(args, Path(tmp)):
            # The Strawberry path, as the server-level run's "enforced" servers serve it: the
            # compiled path has its own rows in `bench.run`, and no loaders to batch.
            settings = Settings(
                _env_file=None,
                database_url=url,
                key_file=key_file,
                rate_limit=RATE_LIMIT,
                compiled_reads=False,
            )
            wins = [w for w in WINS if w not in SERVER_ONLY]
            wins = [w for w in wins if label == "PostgreSQL" or w not in POSTGRESQL_ONLY]
            apps = {ALL: create_app(settings)} | {w: _app_without(w, settings) for w in wins}
            loop = asyncio.new_event_loop()
            with ExitStack() as running:
                for app in apps.values():
                    running.enter_context(lifespan(app, loop))
                for row in ROWS:
                    body, _ = request_for(row, token)
                    measured = _interleaved(apps, token, body.encode(), args.requests, loop)
                    for without, result in measured.items():
                        results[(label, without, row)] = result
            loop.close()
    print(f"\nin process: {args.requests} requests per line, interleaved request by request;")
    print("CPU per request is the median of the requests' own CPU time")
    table(results)


def _app_without(win: str, settings: Settings) -> Starlette:
    """Steward built with one win switched off."""
    return bench_app(settings, without=win)


def _interleaved(
    apps: dict[str, Starlette], token: str, body: bytes, requests: int, loop: Any
) -> dict[str, dict[str, float]]:
    clients = {name: Client(app, token) for name, app in apps.items()}
    statements = {name: Statements(app.state.engine) for name, app in apps.items()}
    cpu: dict[str, list[float]] = {name: [] for name in apps}
    names = list(apps)

    def post(name: str) -> tuple[float, bytes]:
        start = time.process_time()
        status, answer = loop.run_until_complete(clients[name].post(body))
        spent = time.process_time() - start
        assert status == 200, answer
        return spent, answer

    expected = orjson.loads(post(ALL)[1])
    assert "errors" not in expected, expected
    for name in names:
        for _ in range(5):
            _, answer = post(name)
        assert orjson.loads(answer) == expected, f"{name} off changes the answer"
        statements[name].count = 0
    for turn in range(requests):
        for name in names if turn % 2 == 0 else reversed(names):
            cpu[name].append(post(name)[0])
    return {
        name: {
            "cpu": statistics.median(cpu[name]) * 1000,
            "sql": statements[name].count / requests,
        }
        for name in names
    }


if __name__ == "__main__":
    main()
