"""A benchmark server process: Steward (enforced or not) or the raw floor, under uvicorn.

``python -m bench.server VARIANT PORT [WIN]`` with ``STEWARD_*`` settings in the environment.
It pins itself to CPU 0, counts SQL statements, meters the audit write (thread CPU time and
statements spent in `Auditor.record`), and serves the counts at ``/bench/statements``.

``WIN`` names one of the known wins (`WINS`) to switch off, so that its worth is measured
as the difference from the server with every win in place. The switches are monkeypatches
that exist only here: no setting reaches them.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import uvicorn
from sqlalchemy import Engine, NullPool, create_engine, event
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import api.app
import api.graphql
import auth.tokens.authentication
import schema.compiled
import schema.documents
import store.database
from api.app import create_app
from api.settings import Settings
from bench.floor import create_floor
from schema.audit import Auditor
from schema.build import build_schema
from schema.loaders import Batch
from store.database import make_engine

VARIANTS = ("compiled", "enforced", "unenforced", "floor", "static")
"""``compiled``: Steward as it ships; ``enforced``/``unenforced``: the Strawberry path
(``STEWARD_COMPILED_READS=false``) with and without the policy; ``floor``: direct SQL;
``static``: the nested page's bytes from a bare ASGI app (`STATIC_ENV` names the file)."""

STATIC_ENV = "STEWARD_BENCH_STATIC_FILE"


@contextmanager
def _replaced(owner: Any, name: str, value: Any) -> Iterator[None]:
    """``owner.name`` is ``value`` inside the block, what it was again after it."""
    old = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, old)


def _standard_json() -> SimpleNamespace:
    return SimpleNamespace(
        dumps=lambda value: json.dumps(value, ensure_ascii=False).encode(),
        loads=json.loads,
        JSONDecodeError=json.JSONDecodeError,
        # The compiled path's JSON text, parsed: the standard library cannot splice it.
        Fragment=json.loads,
    )


@contextmanager
def _without_orjson() -> Iterator[None]:
    """The standard library's json for the endpoint and for the compiled reads' splicing."""
    standard = _standard_json()
    with _replaced(api.graphql, "orjson", standard), _replaced(schema.compiled, "orjson", standard):
        yield


def _plain_frame(function: Callable[..., Any], *args: Any) -> Any:
    return function(*args)


def _unpooled(url: Any, **options: Any) -> Engine:
    options.pop("pool_size", None)
    options.pop("max_overflow", None)
    return create_engine(url, poolclass=NullPool, **options)  # a new connection per request


class _PassThrough(BaseHTTPMiddleware):
    """A middleware that does nothing, the way `BaseHTTPMiddleware` does it."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        return await call_next(request)


class _WithBaseHTTPMiddleware(Starlette):
    """The application class with one `BaseHTTPMiddleware` more, innermost."""

    def __init__(self, **options: Any) -> None:
        middleware = [*(options.pop("middleware", None) or []), Middleware(_PassThrough)]
        super().__init__(middleware=middleware, **options)


WINS: dict[str, Callable[[], AbstractContextManager[None]] | None] = {
    # lru_cache(maxsize=0): every request parses and validates
    "document cache": lambda: _replaced(schema.documents, "CACHE_SIZE", 0),
    "orjson": _without_orjson,
    # every request verifies the signature and the claims
    "token cache": lambda: _replaced(auth.tokens.authentication, "CACHE_SIZE", 0),
    "uvloop + httptools": None,  # see main()
    "pure ASGI middleware": lambda: _replaced(api.app, "Starlette", _WithBaseHTTPMiddleware),
    # each parent fetched on its own
    "batched loaders": lambda: _replaced(Batch, "want", lambda _self, _keys: None),
    "roomy worker frame": lambda: _replaced(api.graphql, "_in_roomy_frame", _plain_frame),
    "settled heap (gc)": lambda: _replaced(api.app, "settle_heap", lambda: None),
    "prepared statements": lambda: _replaced(store.database, "PREPARE_THRESHOLD", None),
    "connection pool": lambda: _replaced(store.database, "create_engine", _unpooled),
}
"""The known wins of SPEC section 6, each with what switches it off while it is entered:
in a benchmark server for its whole life, in `bench.wins --in-process` around each request."""


class _Meter:
    """SQL statements, and the audit write's statements and CPU time, since start."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts = {"statements": 0, "audit_statements": 0, "audit_cpu": 0.0, "audits": 0}
        self.local = threading.local()

    def statement(self, *_args: Any) -> None:
        with self.lock:
            self.counts["statements"] += 1
            if getattr(self.local, "auditing", False):
                self.counts["audit_statements"] += 1

    def audit(self, record: Callable[..., Any]) -> Callable[..., Any]:
        def metered(*args: Any, **kwargs: Any) -> Any:
            self.local.auditing = True
            start = time.thread_time()
            try:
                return record(*args, **kwargs)
            finally:
                spent = time.thread_time() - start
                self.local.auditing = False
                with self.lock:
                    self.counts["audit_cpu"] += spent
                    self.counts["audits"] += 1

        return metered


def build(variant: str, without: str | None = None) -> Any:
    """The application of one variant, metered, with one known win switched off."""
    switch = WINS.get(without) if without else None
    switched_off = ExitStack()
    if switch is not None:
        switched_off.enter_context(switch())
    meter = _Meter()
    settings = Settings()
    if variant == "static":
        return _static(Path(os.environ[STATIC_ENV]).read_bytes(), meter)
    if variant == "floor":
        engine = make_engine(settings.database_url)
        app = create_floor(engine)
        api.app.settle_heap()  # as `steward serve` does for Steward
    else:
        Auditor.record = meter.audit(Auditor.record)  # type: ignore[method-assign]
        Auditor.record_of = meter.audit(Auditor.record_of)  # type: ignore[method-assign]
        Auditor.commit_of = meter.audit(Auditor.commit_of)  # type: ignore[method-assign]
        schema = build_schema(enforce=variant != "unenforced")
        if variant != "compiled":
            settings = settings.model_copy(update={"compiled_reads": False})
        app = create_app(settings, schema=schema, serving=True)
        engine = app.state.engine
    event.listen(engine, "before_cursor_execute", meter.statement)
    app.state.switched_off = switched_off  # held, never closed: off for the process's life

    async def statements(_request: Request) -> Response:
        with meter.lock:
            return JSONResponse(dict(meter.counts))

    app.router.routes.append(Route("/bench/statements", statements))
    return app


def _static(body: bytes, meter: _Meter) -> Any:
    """A bare ASGI app: the same bytes for every request; no database, no GraphQL."""
    counts = json.dumps(meter.counts).encode()
    headers = [(b"content-type", b"application/json")]

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        answer = counts if scope["path"] == "/bench/statements" else body
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return app


def main() -> None:
    variant, port = sys.argv[1], int(sys.argv[2])
    without = sys.argv[3] if len(sys.argv) > 3 else None
    if variant not in VARIANTS:
        raise SystemExit(f"variant must be one of {VARIANTS}")
    if without is not None and without not in WINS:
        raise SystemExit(f"the win to switch off must be one of {list(WINS)}")
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {0})
    fast = without != "uvloop + httptools"
    uvicorn.run(
        build(variant, without),
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        loop="uvloop" if fast else "asyncio",
        http="httptools" if fast else "h11",
    )


if __name__ == "__main__":
    main()
