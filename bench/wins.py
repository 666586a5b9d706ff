"""The known wins of SPEC section 6, each measured before and after, in one run.

For each database, Steward (enforced) runs with every win in place, then once per win with
that one switched off (`bench.server.WINS`); each server answers the nested page and the
single lookup under the same closed-loop load as ``make bench``. Printed: req/s, server CPU
per request and SQL statements per request, and what switching the win off costs in CPU.

Usage: ``python -m bench.wins [--databases sqlite,postgresql] [--seconds 3]``
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from bench.run import (
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    add_arguments(parser)
    parser.set_defaults(seconds=3.0)
    args = parser.parse_args()
    results: dict[tuple[str, str | None, str], dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "keys.json"
        token = bench_token(key_file)
        for label, url in databases(args, Path(tmp)):
            env = server_env(url, key_file)
            for without in (None, *WINS):
                if without in POSTGRESQL_ONLY and label != "PostgreSQL":
                    continue
                server = Server("enforced", env, without)
                try:
                    for row in ROWS:
                        body, headers = request_for(row, token)
                        results[(label, without, row)] = measure(
                            server, body, headers, args, latency=False
                        )
                finally:
                    server.stop()
    report(results, args)


def report(results: dict[tuple[str, str | None, str], dict[str, Any]], args: Any) -> None:
    """One line per database, switched-off win and row; the cost against all wins in place."""
    print(f"\nclosed loop: {args.concurrency} in flight for {args.seconds:g} s per line")
    head = (
        f"{'database':<11} {'switched off':<22} {'row':<17} "
        f"{'req/s':>7} {'CPU ms/req':>11} {'SQL/req':>8} {'CPU × with it':>14}"
    )
    print(head)
    print("-" * len(head))
    for (label, without, row), r in results.items():
        baseline = results[(label, None, row)]
        ratio = r["cpu"] / baseline["cpu"]
        name = without or "(nothing: all wins)"
        print(
            f"{label:<11} {name:<22} {row:<17} {r['rps']:>7.0f} {r['cpu']:>11.2f} "
            f"{r['sql']:>8.1f} {ratio:>14.2f}"
        )


if __name__ == "__main__":
    main()
