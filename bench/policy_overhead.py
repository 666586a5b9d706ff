"""What the privacy policy costs: server CPU per request, enforced against unenforced.

Runs the nested page query (customers with addresses, orders with items, and consents) under
``customer_support`` with a token holding every read scope, against four apps over the same
demo database: the compiled read path (Steward as it ships) and the Strawberry path
(``STEWARD_COMPILED_READS=false``), each enforced and built with ``bench_app(enforce=False)``
(`bench.app`) — a switch reachable only from code like this: the Strawberry path's schema
unguarded, the compiler with every field and row allowed. All answer the same data
(checked); the difference is the field rules, the per-request plan and the row rules.

The apps are called in-process through their ASGI interface, without an HTTP client, so that
``time.process_time`` around a call is the server's CPU (the worker thread included). The two
variants are interleaved, request by request, so that drift hits both alike.

Usage::

    python bench/policy_overhead.py [--customers 200] [--page 20] [--rounds 300]
        [--database-url URL] [--profile]

Prints a table: CPU per request (median, p90), wall time, SQL statements per request, and the
audit write on its own line (it is the same for both variants). Target: enforcement adds at
most 5 % of CPU per request (SPEC section 6).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Executor, Future
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.app import create_app
from api.demo import load_demo_data
from api.settings import Settings
from auth.policy.purposes import Purpose
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from bench.app import bench_app
from store.database import make_engine, session_factory, transaction, upgrade

SCOPE = " ".join(
    [
        "customers:read",
        "customers:read:identity",
        "customers:read:contact",
        "addresses:read",
        "orders:read",
        "orders:read:payment",
        "consents:read",
        Purpose.CUSTOMER_SUPPORT.scope,
    ]
)

NESTED_PAGE = """
query Page($first: Int!) {
  customers(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      id status country firstName lastName email mobilePhone
      addresses { id label line1 city postalCode isDefault }
      orders(first: 5) { totalCount edges { node {
        id number status placedAt totalAmount currency paymentReference
        items { sku name quantity unitPrice }
        shippingAddress { id city }
      } } }
      consents { purpose status recordedAt }
    } }
  }
}
"""

App = Callable[[dict[str, Any], Any, Any], Coroutine[Any, Any, None]]


class Client:
    """Calls an ASGI app directly: one POST /graphql, the response's status and body."""

    def __init__(self, app: App, token: str) -> None:
        self.app = app
        self.headers = [
            (b"authorization", f"Bearer {token}".encode()),
            (b"content-type", b"application/json"),
            (b"accept", b"application/json"),
            (b"x-purpose", b"customer_support"),
        ]

    async def post(self, body: bytes) -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/graphql",
            "raw_path": b"/graphql",
            "query_string": b"",
            "root_path": "",
            "headers": [*self.headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }
        sent = False
        status = 0
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.Event().wait()  # nothing more will come
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


@contextmanager
def lifespan(app: App, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Run the app's startup and, at the end, its shutdown."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    task = loop.create_task(
        app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put)
    )
    inbox.put_nowait({"type": "lifespan.startup"})
    loop.run_until_complete(outbox.get())
    try:
        yield
    finally:
        inbox.put_nowait({"type": "lifespan.shutdown"})
        loop.run_until_complete(outbox.get())
        loop.run_until_complete(task)


class Statements:
    """Counts SQL statements on an engine."""

    def __init__(self, engine: Any) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


class AuditClock:
    """Measures the CPU of the audit write (it is the same for both)."""

    def __init__(self, app: Any) -> None:
        self.samples: list[float] = []
        auditor = app.state.execution.auditor
        auditor.record = self._timed(auditor.record)

    def _timed(self, record: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return record(*args, **kwargs)
            finally:
                self.samples.append(time.process_time() - start)

        return timed


def prepare(url: str | None, workdir: Path, customers: int, seed: int) -> Settings:
    database_url = url or f"sqlite:///{workdir / 'bench.db'}"
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        key_file=workdir / "keys.json",
        public_url="http://bench",
        rate_limit="100000000/minute",
    )
    upgrade(database_url)
    engine = make_engine(database_url)
    with transaction(session_factory(engine)) as session:
        summary = load_demo_data(session, customers=customers, seed=seed)
    engine.dispose()
    print(f"demo data: {summary}")
    return settings


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200, help="demo customers to load")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--page", type=int, default=20, help="customers per page")
    parser.add_argument("--rounds", type=int, default=300, help="requests per variant")
    parser.add_argument("--warmup", type=int, default=30, help="unmeasured requests per variant")
    parser.add_argument("--database-url", help="an empty database (default: a fresh SQLite file)")
    parser.add_argument("--profile", action="store_true", help="cProfile both variants")
    parser.add_argument(
        "--inline",
        action="store_true",
        help="execute in the event loop's thread, not a worker thread (see inline_execution)",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        compiled = prepare(args.database_url, Path(tmp), args.customers, args.seed)
        settings = compiled.model_copy(update={"compiled_reads": False})
        token = issue_token(
            settings.tokens, load_or_create(settings.key_file), scope=SCOPE, subject="bench",
            client_id="bench",
        )  # fmt: skip
        variants = {
            "compiled": create_app(compiled),
            "compiled unenforced": bench_app(compiled, enforce=False),
            "enforced": create_app(settings),
            "unenforced": bench_app(settings, enforce=False),
        }
        body = orjson.dumps({"query": NESTED_PAGE, "variables": {"first": args.page}})
        loop = asyncio.new_event_loop()
        clients = {name: Client(app, token) for name, app in variants.items()}
        statements = {name: Statements(app.state.engine) for name, app in variants.items()}
        audits = {name: AuditClock(app) for name, app in variants.items()}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        wall: dict[str, list[float]] = {name: [] for name in variants}
        with ExitStack() as running:
            for app in variants.values():
                running.enter_context(lifespan(app, loop))
            answers = {}
            for name, client in clients.items():
                for _ in range(args.warmup):
                    status, answer = loop.run_until_complete(client.post(body))
                    assert status == 200, answer
                answers[name] = orjson.loads(answer)
            assert "errors" not in answers["enforced"], answers["enforced"]
            for name in variants:
                assert answers[name]["data"] == answers["enforced"]["data"], f"{name} differs"
            for name in variants:
                statements[name].count = 0
                audits[name].samples.clear()
            order = list(variants)
            measuring = inline_execution() if args.inline else nullcontext()
            with measuring:
                measure(args.rounds, order, clients, body, loop, cpu, wall)
            counted = {name: statements[name].count for name in variants}
            if args.profile:
                for name, client in clients.items():
                    profile(name, _poster(loop, client, body))
        loop.close()

    report(args, cpu, wall, counted, audits)


@contextmanager
def inline_execution() -> Iterator[None]:
    """Run what the endpoint hands to a worker thread in the calling thread instead.

    For the profiler (which sees one thread), and for ``--inline``: CPython 3.11 gives each
    thread a stack of 16 KiB frame chunks and frees a chunk as soon as the stack shrinks below
    it, so a deep recursion (GraphQL execution) that oscillates around a chunk boundary in a
    fresh worker thread maps and unmaps memory hundreds of times per request. The main
    thread's deeper base usually keeps the boundary out of the way.
    """
    import store.database

    threaded = store.database._WORKERS
    store.database._WORKERS = _Inline()
    try:
        yield
    finally:
        store.database._WORKERS = threaded


class _Inline(Executor):
    """An executor that runs each call at once, in the calling thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        done: Future[Any] = Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except BaseException as error:
            done.set_exception(error)
        return done


def measure(
    rounds: int,
    order: list[str],
    clients: dict[str, Client],
    body: bytes,
    loop: asyncio.AbstractEventLoop,
    cpu: dict[str, list[float]],
    wall: dict[str, list[float]],
) -> None:
    """Interleave the variants, request by request, alternating which goes first."""
    for round_ in range(rounds):
        for name in order if round_ % 2 == 0 else reversed(order):
            wall_start = time.perf_counter()
            cpu_start = time.process_time()
            status, _ = loop.run_until_complete(clients[name].post(body))
            cpu[name].append(time.process_time() - cpu_start)
            wall[name].append(time.perf_counter() - wall_start)
            assert status == 200


def _poster(loop: asyncio.AbstractEventLoop, client: Client, body: bytes) -> Callable[[], Any]:
    def post() -> Any:
        return loop.run_until_complete(client.post(body))

    return post


def profile(name: str, call: Callable[[], Any]) -> None:
    """cProfile 50 requests, the worker thread's part run inline so that the profiler sees it."""
    profiler = cProfile.Profile()
    with inline_execution():
        profiler.enable()
        for _ in range(50):
            call()
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
    print(f"\n--- profile: {name} (50 requests, by own time) ---")
    print(out.getvalue())


def report(
    args: argparse.Namespace,
    cpu: dict[str, list[float]],
    wall: dict[str, list[float]],
    statements: dict[str, int],
    audits: dict[str, AuditClock],
) -> None:
    ms = 1000.0
    print(
        f"\nnested page query: {args.page} customers with addresses, orders (5) with items, "
        f"consents; customer_support, every read scope; {args.rounds} requests per variant"
        f"{'; executed inline' if args.inline else ''}\n"
    )
    print(
        f"{'variant':<20} {'CPU p50 ms':>11} {'CPU p90 ms':>11} {'wall p50 ms':>12} {'SQL/req':>8}"
    )
    for name in cpu:
        print(
            f"{name:<20} {statistics.median(cpu[name]) * ms:>11.2f} "
            f"{percentile(cpu[name], 0.9) * ms:>11.2f} "
            f"{statistics.median(wall[name]) * ms:>12.2f} "
            f"{statements[name] / args.rounds:>8.1f}"
        )
    for name in ("compiled", "enforced"):
        audit = audits[name].samples
        if audit:
            median = statistics.median(audit) * ms
            print(f"{'audit write, ' + name:<20} {median:>11.2f}   (CPU p50, part of the figures)")
    print()
    for path, enforced, unenforced in (
        ("compiled path", "compiled", "compiled unenforced"),
        ("Strawberry path", "enforced", "unenforced"),
    ):
        overhead = (statistics.median(cpu[enforced]) / statistics.median(cpu[unenforced]) - 1) * 100
        verdict = "within" if overhead <= 5 else "OVER"
        print(
            f"enforcement overhead, {path}: {overhead:+.1f} % CPU per request "
            f"({verdict} the 5 % target)"
        )


if __name__ == "__main__":
    main()
