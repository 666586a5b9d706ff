"""A benchmark server process: Steward (enforced or not) or the raw floor, under uvicorn.

``python -m bench.server VARIANT PORT [WIN]`` with ``STEWARD_*`` settings in the environment.
Steward's variants are served as ``steward serve`` serves them (its HTTP protocol, no proxy
headers); the floors by uvicorn's own httptools protocol. It pins itself to CPU 0, counts SQL
statements, meters the audit write (thread CPU time and statements spent writing access
records), and serves the counts at ``/bench/statements``.

``WIN`` names one of the known wins (`bench.app.WINS`) to switch off, so that its worth is
measured as the difference from the server with every win in place. The switch is
`bench.app.bench_app`'s: no setting reaches it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy import event
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import api.app
import schema.audit
from api.settings import Settings
from bench.app import WINS, bench_app
from bench.bare import bare_app
from bench.durable import create_durable
from bench.floor import create_floor
from bench.refusal import create_refusal
from privacy.audit import GroupCommit
from schema.audit import Auditor
from store.database import make_engine

VARIANTS = ("compiled", "enforced", "unenforced", "floor", "durable", "static", "refusal")
"""``compiled``: Steward as it ships; ``enforced``/``unenforced``: the Strawberry path
(``STEWARD_COMPILED_READS=false``) with and without the policy; ``floor``: direct SQL;
``durable``: the durable floor (`bench.durable`: one statement, the access record under
group commit, a bare ASGI app); ``static``: the nested page's bytes from a bare ASGI app
(`STATIC_ENV` names the file); ``refusal``: the refusal floor (`bench.refusal`: a request
without a purpose refused after its token's standing, on Starlette and SQLAlchemy alone)."""

STATIC_ENV = "STEWARD_BENCH_STATIC_FILE"
STEWARD = ("compiled", "enforced", "unenforced")
"""The variants that are Steward: served with its own HTTP protocol (bounded heads, bodies
that arrived whole read without a timer), as `steward serve` serves them."""


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

    def audit(self, record: Callable[..., Any], *, count: bool = True) -> Callable[..., Any]:
        """``record``, its thread CPU time and statements counted as the audit's (``count``:
        each call is one audited request)."""

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
                    self.counts["audits"] += count

        return metered


def build(variant: str, without: str | None = None) -> Any:
    """The application of one variant, metered, with one known win switched off."""
    meter = _Meter()
    settings = Settings()
    if variant == "static":
        return _static(Path(os.environ[STATIC_ENV]).read_bytes(), meter)
    if variant == "durable":
        durable = create_durable(settings.database_url)
        api.app.settle_heap()  # as `steward serve` does for Steward
        return durable
    if variant == "refusal":
        app = create_refusal(settings)
        engine = app.state.engine
        api.app.settle_heap()  # as `steward serve` does for Steward
    elif variant == "floor":
        engine = make_engine(settings.database_url)
        app = create_floor(engine)
        api.app.settle_heap()  # as `steward serve` does for Steward
    else:
        # The audit's own work, wherever it runs: what a record holds (on the loop or in the
        # request's thread), its write in the request's transaction, a group's commit.
        Auditor.access = meter.audit(Auditor.access)  # type: ignore[method-assign]
        vars(schema.audit)["write"] = meter.audit(vars(schema.audit)["write"], count=False)
        GroupCommit._commit = meter.audit(GroupCommit._commit, count=False)  # type: ignore[method-assign]
        if variant != "compiled":
            settings = settings.model_copy(update={"compiled_reads": False})
        app = bench_app(settings, without=without, enforce=variant != "unenforced", serving=True)
        engine = app.state.engine
    event.listen(engine, "before_cursor_execute", meter.statement)

    async def statements(_request: Request) -> Response:
        with meter.lock:
            return JSONResponse(dict(meter.counts))

    app.router.routes.append(Route("/bench/statements", statements))
    return app


def _static(body: bytes, meter: _Meter) -> Any:
    """A bare ASGI app: the same bytes for every request; no database, no GraphQL."""
    counts = json.dumps(meter.counts).encode()

    async def answer(path: str) -> bytes:
        return counts if path == "/bench/statements" else body

    return bare_app(answer)


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
    http = "httptools" if fast else "h11"
    if fast and variant in STEWARD:
        http = "api.request_bounds:HttpProtocol"  # as `steward serve` serves it
    uvicorn.run(
        build(variant, without),
        host="127.0.0.1",
        port=port,
        access_log=False,
        log_level="warning",
        loop="uvloop" if fast else "asyncio",
        http=http,
        proxy_headers=False,  # as `steward serve`: no proxy's headers to trust here
    )


if __name__ == "__main__":
    main()
