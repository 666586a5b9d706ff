"""Steward compiled from two checkouts, side by side in one run: what a change is worth.

``python -m bench.ab --tree DIR`` serves this checkout's `bench.server compiled` (B) and that
of ``DIR`` (A, e.g. ``git worktree add /tmp/before <commit>``) on one demo database, and
measures each row with `bench.run.measure`: the two servers take turns (``--rounds`` slices,
the order alternating) under the same load generator, so whatever else the machine does falls
on both alike. Printed per row: req/s and server CPU per request of each, and B against A.

Usage: ``python -m bench.ab --tree DIR [--database-url URL] [--rows "single lookup,..."]
[--seconds 12] [--rounds 12]`` (``--database-url``: an empty database to load; default a
SQLite file of its own).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.run import (
    ROWS,
    Load,
    Server,
    add_arguments,
    demo_server_setup,
    measure,
    request_for,
)

HERE = Path(__file__).resolve().parent.parent


class TreeServer(Server):
    """`bench.server compiled` run from the checkout at ``tree``, with this interpreter."""

    def __init__(self, tree: Path, env: dict[str, str]) -> None:
        super().__init__("compiled", {**env, "PYTHONPATH": str(tree)}, cwd=tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    parser.add_argument("--tree", type=Path, required=True, help="the other checkout (A)")
    parser.add_argument("--database-url", help="an empty database to load (default: SQLite)")
    parser.add_argument("--rows", default=",".join(ROWS), help="comma-separated rows")
    args = parser.parse_args()
    rows = args.rows.split(",")
    unknown = [row for row in rows if row not in ROWS]
    if unknown:
        raise SystemExit(f"no such row: {unknown}; the rows are {list(ROWS)}")
    with tempfile.TemporaryDirectory() as tmp:
        url, token, env = demo_server_setup(Path(tmp), args.database_url, args.customers)
        servers: dict[str, Server] = {
            "A": TreeServer(args.tree.resolve(), env),
            "B": TreeServer(HERE, env),
        }
        load = Load()
        try:
            database = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
            print(f"{database}; A: {args.tree.resolve()}; B: {HERE}")
            for row in rows:
                body, headers = request_for(row, token)
                a, b = (measure(load, servers, body, headers, args, latency=False)[k] for k in "AB")
                print(
                    f"{row:<21}  A {a['rps']:>7.0f} req/s {a['cpu']:>6.3f} ms CPU"
                    f"   B {b['rps']:>7.0f} req/s {b['cpu']:>6.3f} ms CPU"
                    f"   B/A req/s {b['rps'] / a['rps']:.2f}, CPU {b['cpu'] / a['cpu']:.2f}"
                )
        finally:
            load.close()
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
