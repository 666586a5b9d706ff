"""Where a request's server time goes: py-spy samples a benchmark server under load.

Starts Steward (``compiled``, as it ships, by default; or the Strawberry path, ``enforced`` or
``unenforced``) on a SQLite demo
database, drives the nested page at it from the load generator, samples the server with
py-spy (a dev dependency; sampling another process needs ptrace rights, as root or with
``CAP_SYS_PTRACE``), and prints the share of samples by library of the innermost frame and
the functions with the most samples of their own.

Usage: ``python -m bench.hotspots [--variant compiled] [--row "nested page (20)"] [--seconds 15]
[--customers 200]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.run import ROWS, Load, Server, demo_server_setup, request_for

LIBRARIES = {
    "graphql": "graphql-core",
    "strawberry": "strawberry",
    "sqlalchemy": "SQLAlchemy",
    "sqlmodel": "SQLAlchemy",
    "psycopg": "psycopg",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "anyio": "anyio",
    "asyncio": "asyncio",
    "schema": "Steward: schema, loaders, guards",
    "auth": "Steward: auth and plan",
    "api": "Steward: endpoint, audit, telemetry",
    "bench": "benchmark meter",
}
IDLE = frozenset({"Condition.wait", "Lock.acquire", "thread"})
"""Innermost frames of a thread that waits (for work, a lock, the GIL): not busy samples.
Sampling without pausing the server (``--nonblocking``) cannot tell them apart otherwise."""
STAGES = (
    ("the request's read (a worker thread's on PostgreSQL)", ("Execution._read",), ()),
    ("  the token's standing (one statement)", ("Authenticator.standing",), ()),
    ("  compiled reads: the statement, bound, run and spliced", ("CompiledReads.answer",), ()),
    ("the access records' group commit (a worker thread)", ("GroupCommit._commit",), ()),
    ("GraphQL execution, resolvers and loaders included", ("execute_sync",), ()),
    ("  of which SQL through SQLAlchemy and the driver", ("execute_sync",), ("sqlalchemy/",)),
    ("audit write", ("Auditor.record",), ()),
    ("commit", ("do_commit",), ()),
    ("token check (signature cached; revocation query)", ("Authenticator.authenticate",), ()),
    ("the event loop's thread: HTTP, token, routing, response", ("Runner.run",), ()),
)
"""(label, functions one of which ends a frame on the stack, files that must be there too)."""


def library(frame: str) -> str:
    """The library of a py-spy frame, ``function (package/module.py:line)``."""
    path = frame.rpartition(" (")[2]
    return LIBRARIES.get(path.split("/")[0], "stdlib and C extensions")


def summarize(raw: str, top: int) -> str:
    """Shares of the busy samples: by stage (inclusive), by library and function (own)."""
    by_stage: Counter[str] = Counter()
    by_library: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    by_file: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        functions = [frame.partition(" (")[0] for frame in frames]
        if functions[-1] in IDLE:
            continue
        samples = int(count)
        total += samples
        for label, needed, files in STAGES:
            if any(f.endswith(n) for f in functions for n in needed) and all(
                any(name in frame for frame in frames) for name in files
            ):
                by_stage[label] += samples
        by_library[library(frames[-1])] += samples
        by_file[frames[-1].rpartition(" (")[2].partition(":")[0]] += samples
        by_function[f"{functions[-1]} ({library(frames[-1])})"] += samples
    lines = [f"{total} busy samples", "", "by stage (samples with it on the stack):"]
    lines += [f"  {by_stage[label] / total:6.1%}  {label}" for label, _, _ in STAGES]
    guards = sum(n for name, n in by_file.items() if name.endswith("permissions.py"))
    lines += [f"  {guards / total:6.1%}  field guards' own code (schema/permissions.py)"]
    lines += ["", "by library (own samples):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in by_library.most_common()]
    lines += ["", f"top {top} functions (own samples):"]
    lines += [f"  {n / total:6.1%}  {name}" for name, n in by_function.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--variant", default="compiled", choices=("compiled", "enforced", "unenforced")
    )
    parser.add_argument("--row", default=next(iter(ROWS)), choices=list(ROWS))
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--database-url", help="an empty database to load and profile on (default: SQLite)"
    )
    args = parser.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, token, env = demo_server_setup(folder, args.database_url, args.customers)
        server = Server(args.variant, env)
        load = Load()
        try:
            body, headers = request_for(args.row, token)
            spec = {"url": server.url, "body": body, "headers": headers}
            load({**spec, "seconds": 1.0, "concurrency": args.concurrency})
            out = folder / "profile.txt"
            sampler = subprocess.Popen(  # noqa: S603
                [
                    *(spy, "record", "--pid", str(server.process.pid), "--format", "raw"),
                    *("--duration", str(int(args.seconds)), "--rate", "250"),
                    *("--output", str(out), "--threads", "--nonblocking"),
                ],
                stdout=subprocess.DEVNULL,
            )
            load({**spec, "seconds": args.seconds + 1, "concurrency": args.concurrency})
            sampler.wait(timeout=args.seconds + 60)
            database = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
            print(f"{args.row}, {args.variant}, {database}, {args.seconds:g} s under load\n")
            print(summarize(out.read_text(), args.top))
        finally:
            load.close()
            server.stop()


if __name__ == "__main__":
    main()
