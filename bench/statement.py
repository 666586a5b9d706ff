"""The nested page's compiled statement, timed by itself in the database.

Captures the statement (its SQL and parameters) that one compiled request of the nested page
sends — from this checkout and from any other given with ``--tree`` (a ``git worktree`` of an
earlier commit, say) — then runs each against the same demo database, alternately, in one
process: what a change to the compiler does to the database's own work, without HTTP, the
token, the worker thread or the access record. Every checkout must answer the same JSON.

Usage::

    python -m bench.statement [--tree DIR ...] [--database-url URL] [--rounds 40]

``--database-url`` names an empty PostgreSQL database (it is filled with demo data); without
it, a fresh SQLite file. Statements run prepared (PostgreSQL) and through the driver; the
figure is the median, over the rounds, of the fastest of ten runs: wall time, the round trip
included on PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent.parent
NESTED = "nested page (20)"


def capture(tree: Path, url: str, key_file: Path, out: Path) -> None:
    """Run one compiled nested page with ``tree``'s Steward; write its statement to ``out``."""
    sys.path.insert(0, str(tree))
    import orjson
    from sqlalchemy import event

    from api.app import create_app
    from api.settings import Settings
    from auth.tokens.issuer import issue_token
    from auth.tokens.keys import load_or_create
    from bench.policy_overhead import SCOPE, Client, lifespan
    from bench.run import ROWS

    settings = Settings(_env_file=None, database_url=url, key_file=key_file)
    token = issue_token(
        settings.tokens, load_or_create(key_file), scope=SCOPE, subject="bench", client_id="bench"
    )
    app = create_app(settings)
    sent: list[tuple[str, Any]] = []

    def note(*arguments: Any) -> None:
        if " AS c0" in arguments[2]:  # the compiled statement's first column
            sent.append((arguments[2], arguments[3]))

    event.listen(app.state.engine, "before_cursor_execute", note)
    query, variables, _purpose = ROWS[NESTED]
    body = orjson.dumps({"query": query, "variables": variables})
    loop = asyncio.new_event_loop()
    with lifespan(app, loop):
        status, answer = loop.run_until_complete(Client(app, token).post(body))
    assert status == 200, answer
    [(sql, parameters)] = sent
    # The row rules' clock (a datetime on PostgreSQL) as ISO text: the server casts it back.
    captured = {"sql": sql, "parameters": parameters, "answer": answer.decode()}
    out.write_text(json.dumps(captured, default=lambda value: value.isoformat()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", action="append", default=[], help="another checkout")
    parser.add_argument("--database-url", help="an empty PostgreSQL database")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--capture", nargs=4, metavar=("TREE", "URL", "KEYS", "OUT"))
    args = parser.parse_args()
    if args.capture:
        tree, url, keys, out = args.capture
        capture(Path(tree), url, Path(keys), Path(out))
        return
    sys.path.insert(0, str(HERE))
    from bench.policy_overhead import prepare

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = prepare(args.database_url, folder, args.customers, 1)
        statements: list[tuple[str, dict[str, Any]]] = []
        for tree in [HERE, *(Path(each).resolve() for each in args.tree)]:
            out = folder / f"{len(statements)}.json"
            keys = str(settings.key_file)
            command = [sys.executable, __file__, "--capture", str(tree), settings.database_url]
            subprocess.run([*command, keys, str(out)], check=True, stdout=subprocess.DEVNULL)  # noqa: S603
            statements.append((str(tree), json.loads(out.read_text())))
        answers = {each["answer"] for _tree, each in statements}
        print(f"every checkout answers the same JSON: {len(answers) == 1}")
        run = _runner(settings.database_url)
        timings = _timed(run, statements, args.rounds)
    for (tree, _statement), seconds in zip(statements, timings, strict=True):
        print(f"{statistics.median(seconds) * 1000:8.3f} ms  {tree}")


def _runner(url: str) -> Any:
    """A function that runs one statement once, on one connection to ``url``."""
    if url.startswith("sqlite"):
        import sqlite3

        lite = sqlite3.connect(url.removeprefix("sqlite:///"))
        lite.create_function(
            "steward_base64",
            1,
            lambda text: None if text is None else base64.b64encode(text.encode()).decode(),
            deterministic=True,
        )
        return lambda sql, parameters: lite.execute(sql, parameters).fetchone()
    import psycopg
    from sqlalchemy import make_url

    target = make_url(url).set(drivername="postgresql")
    server = psycopg.connect(target.render_as_string(hide_password=False), autocommit=True)
    return lambda sql, parameters: server.execute(sql, parameters, prepare=True).fetchone()


def _timed(
    run: Any, statements: list[tuple[str, dict[str, Any]]], rounds: int
) -> list[list[float]]:
    """Each statement's fastest of ten runs, per round; the statements take turns."""
    for _tree, each in statements:
        for _ in range(20):
            run(each["sql"], each["parameters"])
    timings: list[list[float]] = [[] for _ in statements]
    for _ in range(rounds):
        for (_tree, each), seconds in zip(statements, timings, strict=True):
            runs = []
            for _ in range(10):
                start = time.perf_counter()
                run(each["sql"], each["parameters"])
                runs.append(time.perf_counter() - start)
            seconds.append(min(runs))
    return timings


if __name__ == "__main__":
    main()
