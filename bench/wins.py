"""The known wins of SPEC section 6, each measured before and after, in one run.

For each database, Steward (enforced) runs with every win in place and, beside it, once per
win with that one switched off (`bench.server.WINS`); the servers take turns answering the
nested page and the single lookup under the same closed-loop load as ``make bench``.
Printed: req/s, server CPU per request and SQL statements per request, and what switching
the win off costs in CPU.

Usage: ``python -m bench.wins [--databases sqlite,postgresql] [--seconds 8] [--rounds 8]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench.run import (
    Load,
    Server,
    add_arguments,
    bench_token,
    databases,
    measure,
    request_for,
    server_env,
)
from bench.server import WINS

ROWS = ("nested page (20)", "single lookup")
POSTGRESQL_ONLY = {"prepared statements"}
ALL = "(nothing: all wins)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    args = parser.parse_args()
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
    """One line per database, switched-off win and row; the cost against all wins in place."""
    print(f"\nclosed loop: {args.concurrency} in flight for {args.seconds:g} s per line,", end=" ")
    print(f"in {args.rounds} interleaved turns")
    head = (
        f"{'database':<11} {'switched off':<22} {'row':<17} "
        f"{'req/s':>7} {'CPU ms/req':>11} {'SQL/req':>8} {'CPU × with it':>14}"
    )
    print(head)
    print("-" * len(head))
    for (label, without, row), r in results.items():
        ratio = r["cpu"] / results[(label, ALL, row)]["cpu"]
        print(
            f"{label:<11} {without:<22} {row:<17} {r['rps']:>7.0f} {r['cpu']:>11.2f} "
            f"{r['sql']:>8.1f} {ratio:>14.2f}"
        )


if __name__ == "__main__":
    main()
