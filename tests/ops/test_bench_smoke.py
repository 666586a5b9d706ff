"""A few requests through the benchmarks, so that they do not rot. Nothing here is timed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, make_url, text

from bench.durable import create_durable
from bench.run import prepare
from tests.support import ROOT
from tests.support.postgres import POSTGRES_ENV, fresh_postgres_database, postgres_server

pytestmark = pytest.mark.bench

TINY = ["--customers", "25", "--seconds", "0.4", "--rounds", "2", "--warmup", "0.1"]


def _run(module: str, *args: str, sizes: list[str] = TINY) -> str:
    env = dict(os.environ)
    server = os.environ.get(POSTGRES_ENV)
    if server:
        env["STEWARD_BENCH_POSTGRES_URL"] = make_url(server).render_as_string(False)
    done = subprocess.run(
        [sys.executable, "-m", module, *sizes, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_make_bench_prints_its_table_ratios_and_audit_line() -> None:
    out = _run("bench.run", "--databases", "sqlite", "--rate", "10")
    assert "SQLite: floor returns the same JSON as Steward: True" in out
    for row in ("nested page (20)", "flat list (100)", "single lookup", "refused (no purpose)"):
        for variant in ("compiled", "enforced", "unenforced"):
            assert f"SQLite      {row:<21} {variant}" in out
    assert "SQLite      nested page (20)      floor" in out
    assert "SQLite      nested page (20)      static" in out
    assert "SQLite      nested page (20)      durable" in out
    assert "SQLite: durable floor returns the same JSON as the floor: True" in out
    assert "SQLite      refused (no purpose)  refusal" in out
    assert "SQLite      nested page (20)      refusal" not in out  # it answers one row
    assert "SQLite: refusal floor refuses as Steward does: True" in out
    assert "CPU compiled/refusal floor" in out
    assert "req/s compiled/durable floor" in out
    assert "floor returns the same JSON as compiled Steward: True" in out
    assert "over Strawberry" in out
    assert "CPU enforced/unenforced" in out
    assert "enforced/floor" in out
    assert "audit write" in out
    assert "peak RSS enforced" in out


def test_two_checkouts_are_measured_side_by_side() -> None:
    out = _run("bench.ab", "--tree", str(ROOT), "--rows", "single lookup,refused (no purpose)")
    assert f"SQLite; A: {ROOT}; B: {ROOT}" in out
    for row in ("single lookup", "refused (no purpose)"):
        line = next(x for x in out.splitlines() if x.startswith(row))
        assert " A " in line
        assert " B " in line
        assert "B/A req/s" in line


def test_instructions_per_request_are_counted_under_callgrind() -> None:
    out = _run(
        "bench.instructions",
        *("--tree", str(ROOT), "--rows", "refused (no purpose)"),
        sizes=["--customers", "25", "--seconds", "1", "--warmup", "0.5"],
    )
    line = next(x for x in out.splitlines() if x.startswith("refused (no purpose)"))
    assert "A " in line
    assert " M instructions/request" in line
    assert "B/A " in line


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_each_known_win_can_be_switched_off(database: str) -> None:
    if database == "postgresql":
        postgres_server()  # skips without one (fails in CI); _run hands it to the bench
    out = _run("bench.wins", "--databases", database)
    label = "SQLite" if database == "sqlite" else "PostgreSQL"
    expected = ["document cache", "uvloop + httptools"]
    expected += ["pure ASGI middleware", "batched loaders", "roomy worker frame"]
    expected += ["settled heap (gc)", "connection pool"]
    if database == "postgresql":
        expected.append("prepared statements")
    for win in expected:
        assert f"{label:<11} {win:<22} nested page (20)" in out
    assert _sql(out, label, "batched loaders") > _sql(out, label, "(nothing: all wins)")
    # the switches measured as noise are gone (docs/performance.md)
    assert "orjson" not in out
    assert "token cache" not in out


def test_the_application_wins_are_measured_in_process_with_the_same_answers() -> None:
    out = _run("bench.wins", "--databases", "sqlite", "--in-process", "--requests", "2")
    wins = ("document cache", "pure ASGI middleware", "roomy worker frame", "connection pool")
    for win in wins:
        for row in ("nested page (20)", "single lookup"):
            assert f"SQLite      {win:<22} {row}" in out
    assert _sql(out, "SQLite", "batched loaders") > _sql(out, "SQLite", "(nothing: all wins)")
    assert "uvloop + httptools" not in out  # a server's win: the server-level run measures it


def _sql(out: str, label: str, without: str) -> float:
    """SQL statements per nested page with ``without`` switched off: proof the switch holds."""
    line = next(x for x in out.splitlines() if x.startswith(f"{label:<11} {without:<22} nested"))
    return float(line.split()[-2])


def test_the_durable_floor_commits_each_record_before_answering(tmp_path: Path) -> None:
    # given the durable floor over a small demo database
    url = f"sqlite:///{tmp_path / 'durable.db'}"
    prepare(url, 25)
    app = create_durable(url)

    async def post() -> bytes:
        sent: list[dict[str, Any]] = []
        scope = {"type": "http", "method": "POST", "path": "/graphql", "headers": []}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return bytes(sent[-1]["body"])

    async def together() -> list[bytes]:
        return await asyncio.gather(*(post() for _ in range(5)))

    # when five requests arrive together
    answers = asyncio.run(together())
    # then each got the page, and each one's record with its 20 customers was committed
    engine = create_engine(url)
    with engine.connect() as connection:
        records = connection.scalar(text("SELECT count(*) FROM access_record"))
        rows = connection.scalar(text("SELECT count(*) FROM access_record_customer"))
    engine.dispose()
    assert all(len(json.loads(answer)["data"]["customers"]["edges"]) == 20 for answer in answers)
    assert (records, rows) == (5, 100)


def test_the_scale_row_compares_the_sizes_under_every_purpose() -> None:
    out = _run(
        "bench.scale",
        "--databases",
        "sqlite",
        sizes=["--sizes", "10,30", "--requests", "2", "--repeats", "1", "--rate", "50"],
    )
    for page in ("orders(first: 20)", "orders + customer", "customers(first: 20)"):
        for purpose in ("order_fulfillment", "customer_support", "analytics", "marketing"):
            assert f"SQLite      {page:<21} {purpose:<20}" in out
    assert "SQLite      scale: worst" in out


def test_the_strawberry_builtins_comparison_runs() -> None:
    out = _run("bench.builtins", sizes=["--customers", "10", "--rounds", "3"])
    assert "Strawberry/Steward:" in out


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_the_compiled_statement_is_timed_against_another_checkout(database: str) -> None:
    # given this checkout named again as "another" one
    with (
        fresh_postgres_database(migrate=False) if database == "postgresql" else nullcontext("")
    ) as url:
        options = ["--database-url", url] if url else []
        # when the statements are captured and timed
        out = _run(
            "bench.statement",
            "--tree",
            str(ROOT),
            *options,
            sizes=["--customers", "10", "--rounds", "1"],
        )
    # then both answered alike, and each has its line
    assert "every checkout answers the same JSON: True" in out
    assert out.count(" ms  ") == 2
