"""A benchmark server process: Steward (enforced or not) or the raw floor, under uvicorn.

``python -m bench.server VARIANT PORT [WIN]`` with ``STEWARD_*`` settings in the environment.
It pins itself to CPU 0, counts SQL statements, meters the audit write (thread CPU time and
statements spent in `Auditor.record`), and serves the counts at ``/bench/statements``.

``WIN`` names one of the known wins (`WINS`) to switch off, so that its worth is measured
as the difference from the server with every win in place. The switch is an `api.tuning.Tuning`
handed to the app by this code: no setting reaches it.
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
import api.graphql
from api.app import create_app
from api.settings import Settings
from api.tuning import ALL_WINS, Tuning
from bench.bare import bare_app
from bench.durable import create_durable
from bench.floor import create_floor
from schema.audit import Auditor
from schema.build import build_schema
from store.database import make_engine

VARIANTS = ("compiled", "enforced", "unenforced", "floor", "durable", "static")
"""``compiled``: Steward as it ships; ``enforced``/``unenforced``: the Strawberry path
(``STEWARD_COMPILED_READS=false``) with and without the policy; ``floor``: direct SQL;
``durable``: the durable floor (`bench.durable`: one statement, the access record under
group commit, a bare ASGI app); ``static``: the nested page's bytes from a bare ASGI app
(`STATIC_ENV` names the file)."""

STATIC_ENV = "STEWARD_BENCH_STATIC_FILE"


WINS: dict[str, Tuning | None] = {
    "document cache": Tuning(document_cache=False),  # every request parses and validates
    "orjson": Tuning(orjson=False),
    "token cache": Tuning(token_cache=False),  # every request verifies signature and claims
    "uvloop + httptools": None,  # the server's loop and parser: see main()
    "pure ASGI middleware": Tuning(pure_asgi_middleware=False),
    "batched loaders": Tuning(batched_loaders=False),  # each parent fetched on its own
    "roomy worker frame": Tuning(roomy_frame=False),
    "settled heap (gc)": Tuning(settled_heap=False),
    "prepared statements": None,  # a setting: STEWARD_DATABASE_PREPARED_STATEMENTS
    "connection pool": Tuning(connection_pool=False),
}
"""The known wins of SPEC section 6, each with the tuning that switches it off (`None`: not an
application switch; see `configured`)."""


def configured(settings: Settings, without: str | None) -> tuple[Settings, Tuning]:
    """The settings and tuning of a Steward with the win ``without`` switched off."""
    if without == "prepared statements":
        return settings.model_copy(update={"database_prepared_statements": False}), ALL_WINS
    return settings, WINS.get(without or "") or ALL_WINS


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
    meter = _Meter()
    settings, tuning = configured(Settings(), without)
    if variant == "static":
        return _static(Path(os.environ[STATIC_ENV]).read_bytes(), meter)
    if variant == "durable":
        durable = create_durable(settings.database_url)
        api.app.settle_heap()  # as `steward serve` does for Steward
        return durable
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
        app = create_app(settings, schema=schema, serving=True, tuning=tuning)
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
