"""Instructions per request under callgrind: a change's worth where the machine is too noisy.

On a shared virtual machine the same server's CPU per request varies by 25 % from one process
to the next (`bench.ab` shows both servers of one run moving apart, then together again).
Instructions do not: ``valgrind --tool=callgrind`` counts them whatever else the machine does.
``python -m bench.instructions`` serves this checkout's `bench.server compiled` (or another
``--variant``: a floor, to see what is left above it), and with
``--tree DIR`` also that of another checkout (A, e.g. ``git worktree add /tmp/before <commit>``),
one after the other on one demo database, each under callgrind with instrumentation off; after
a warm-up it counts the instructions of every thread of the server while the load generator
sends one row's requests, and prints instructions per request, and B against A.

A count is not a time: a saved instruction that missed the cache is worth more than one that
did not. Use it to tell a change from noise, and `bench.run` for the figures.

Usage: ``python -m bench.instructions [--tree DIR] [--database-url URL] [--rows "single lookup"]
[--seconds 20] [--warmup 8] [--variant compiled]`` (``--database-url``: an empty database to
load; default a SQLite file of its own). Needs valgrind (``callgrind_control`` beside it).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.run import ROWS, VARIANTS, Load, Server, demo_server_setup, request_for

HERE = Path(__file__).resolve().parent.parent
STARTUP = 300.0
"""Seconds a server under callgrind may take to start (about 50 times its usual start)."""


class Counted(Server):
    """`bench.server VARIANT` from the checkout at ``tree``, under callgrind, not counting
    until `control` says so."""

    def __init__(self, tree: Path, env: dict[str, str], folder: Path, variant: str) -> None:
        self.output = folder / f"callgrind.{time.monotonic_ns()}"
        super().__init__(
            variant,
            {**env, "PYTHONPATH": str(tree)},
            cwd=tree,
            wrapper=(
                *("valgrind", "--tool=callgrind", "--instr-atstart=no"),
                f"--callgrind-out-file={self.output}",
            ),
            startup=STARTUP,
        )

    def control(self, *args: str) -> None:
        subprocess.run(  # noqa: S603
            ["callgrind_control", *args, str(self.process.pid)],  # noqa: S607
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def instructions(self) -> int:
        """The instructions counted so far, every thread's (a dump of the counters)."""
        before = set(self.output.parent.glob(f"{self.output.name}*"))
        self.control("--dump")
        dumps = set(self.output.parent.glob(f"{self.output.name}*")) - before
        total = 0
        for dump in dumps:
            found = re.search(r"^totals: (\d+)", dump.read_text(errors="replace"), re.MULTILINE)
            total += int(found.group(1)) if found else 0
        return total


def count(
    tree: Path,
    env: dict[str, str],
    folder: Path,
    load: Load,
    spec: dict[str, object],
    args: argparse.Namespace,
) -> float:
    """Instructions per request of ``tree``'s server answering ``spec``'s request."""
    server = Counted(tree, env, folder, args.variant)
    try:
        spec = {**spec, "url": server.url, "concurrency": args.concurrency}
        load({**spec, "seconds": args.warmup})
        server.control("--instr=on")
        answered = int(load({**spec, "seconds": args.seconds})["requests"])
        server.control("--instr=off")
        return server.instructions() / answered
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tree", type=Path, help="another checkout to count (A)")
    parser.add_argument("--database-url", help="an empty database to load (default: SQLite)")
    parser.add_argument("--rows", default="single lookup", help="comma-separated rows")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0, help="counted, per server")
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--variant",
        default="compiled",
        choices=[variant for variant in VARIANTS if variant != "static"],
        help="the server (bench.server)",
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("bench.instructions needs valgrind (apt-get install valgrind)")
    rows = args.rows.split(",")
    unknown = [row for row in rows if row not in ROWS]
    if unknown:
        raise SystemExit(f"no such row: {unknown}; the rows are {list(ROWS)}")
    trees = {"B": HERE} if args.tree is None else {"A": args.tree.resolve(), "B": HERE}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        url, token, env = demo_server_setup(folder, args.database_url, args.customers)
        load = Load()
        try:
            database = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
            print(f"{database}; " + "; ".join(f"{name}: {tree}" for name, tree in trees.items()))
            for row in rows:
                body, headers = request_for(row, token)
                spec: dict[str, object] = {"body": body, "headers": headers}
                counts = {
                    name: count(tree, env, folder, load, spec, args) for name, tree in trees.items()
                }
                line = f"{row:<21} " + "   ".join(
                    f"{name} {n / 1e6:6.3f} M instructions/request" for name, n in counts.items()
                )
                if "A" in counts:
                    line += f"   B/A {counts['B'] / counts['A']:.3f}"
                print(line, flush=True)
        finally:
            load.close()


if __name__ == "__main__":
    main()
