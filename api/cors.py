"""CORS for the browser origins of ``STEWARD_CORS_ORIGINS``, by Starlette's `CORSMiddleware`.

Most of Steward's callers are not browsers (servers, partners' integrations, mobile apps,
curl): their requests carry no ``Origin``, and for them Starlette's middleware only adds
``Vary: Origin`` to the response, through a request's worth of its own objects (the request's
headers, a response's mutable headers, a wrapped ``send``). `api.edge.Edge` sends requests
with an ``Origin`` through :func:`cross_origin`'s middleware and adds ``Vary: Origin`` to the
others' responses itself (:func:`vary_origin`), as the middleware does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

__all__ = ["ALLOW_HEADERS", "ALLOW_METHODS", "MAX_AGE", "cross_origin", "vary_origin"]

ALLOW_METHODS = ("GET", "POST")
ALLOW_HEADERS = ("Authorization", "Content-Type", "X-Purpose", "X-Legal-Reference")
MAX_AGE = 600
"""Seconds a browser may keep a preflight's answer."""


def cross_origin(app: ASGIApp, origins: Sequence[str]) -> CORSMiddleware:
    """``app`` behind Starlette's `CORSMiddleware`, for ``origins``, Steward's methods and
    request headers."""
    return CORSMiddleware(
        app,
        allow_origins=origins,
        allow_methods=ALLOW_METHODS,
        allow_headers=ALLOW_HEADERS,
        max_age=MAX_AGE,
    )


def vary_origin(headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` with ``Origin`` added to their ``Vary``: one header, where the first was
    (as Starlette's `MutableHeaders` sets it), else last."""
    raw = list(headers)
    at = [index for index, (name, _value) in enumerate(raw) if name.lower() == b"vary"]
    vary = b", ".join([*(raw[index][1] for index in at), b"Origin"])
    if not at:
        raw.append((b"vary", vary))
        return raw
    kept = [pair for index, pair in enumerate(raw) if index not in at[1:]]
    kept[at[0]] = (b"vary", vary)
    return kept
