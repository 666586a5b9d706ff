"""The purpose a request declares: its ``X-Purpose`` and ``X-Legal-Reference`` headers."""

from __future__ import annotations

from starlette.datastructures import Headers

from api.errors import RequestError
from auth.policy.principal import Principal
from auth.policy.request import Declared, declare

__all__ = ["PURPOSE_HEADERS", "declared_purpose"]

PURPOSE_HEADERS = ("X-Purpose", "X-Legal-Reference")


def declared_purpose(
    headers: Headers, principal: Principal, languages: tuple[str, ...] = ()
) -> Declared:
    """The purpose the headers declare, checked against the caller's token, with the
    languages the caller accepts (``Accept-Language``, for the ``policy`` texts).

    Each header may come once: were the first of two to win, a proxy that adds its own and a
    client that sends another would disagree about the purpose of the request.

    Raises:
        RequestError: a header sent more than once (400 ``BAD_REQUEST``).
        PolicyError: the purpose is unknown, not permitted, or lacks its legal reference.
    """
    purpose, legal_reference = (_single(headers, name) for name in PURPOSE_HEADERS)
    return declare(purpose, legal_reference, principal, languages)


def _single(headers: Headers, name: str) -> str | None:
    values = headers.getlist(name)
    if len(values) > 1:
        raise RequestError(f"Send the {name} header at most once.")
    return values[0] if values else None
