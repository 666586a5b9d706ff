"""The performance wins of a serving process, each of which a benchmark may switch off.

``make bench`` measures what each known win of SPEC section 6 is worth by serving, beside
Steward as it is, a Steward with that one win off (`bench.server`, `bench.wins`). The switch
is this object, handed to `api.app.create_app` by benchmark code; no setting reaches it, so a
deployed Steward always runs with every win in place.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response


@dataclass(frozen=True, slots=True)
class Tuning:
    """Which wins are in place; all of them unless a benchmark says otherwise.

    Attributes:
        document_cache: parsed and validated documents are kept (``schema.documents``).
        orjson: responses are encoded with orjson rather than the standard library.
        token_cache: verified tokens are kept until they expire.
        pure_asgi_middleware: no ``BaseHTTPMiddleware`` on the request path.
        batched_loaders: nested lists are fetched for all the parents of a page at once.
        roomy_frame: execution runs in a frame with a large evaluation stack.
        settled_heap: the garbage collector is tuned once the app has started.
        connection_pool: database connections are pooled.
    """

    document_cache: bool = True
    orjson: bool = True
    token_cache: bool = True
    pure_asgi_middleware: bool = True
    batched_loaders: bool = True
    roomy_frame: bool = True
    settled_heap: bool = True
    connection_pool: bool = True

    @property
    def dumps(self) -> Callable[[Any], bytes]:
        """The JSON encoder of responses."""
        return orjson.dumps if self.orjson else _standard_dumps


def _standard_dumps(value: Any) -> bytes:
    # The standard library cannot splice the database's JSON text (``orjson.Fragment``) as it
    # is: without orjson it would be parsed and encoded again, as this does.
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_parsed).encode()


def _parsed(fragment: Any) -> Any:
    return orjson.loads(orjson.dumps(fragment))


class PassThrough(BaseHTTPMiddleware):
    """A middleware that does nothing, the way ``BaseHTTPMiddleware`` does it (the cost of
    ``Tuning(pure_asgi_middleware=False)``)."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        return await call_next(request)


ALL_WINS = Tuning()
"""How every serving process runs."""
