"""The purpose a request declares: its ``X-Purpose`` and ``X-Legal-Reference`` headers, and the
languages it accepts (``Accept-Language``)."""

from __future__ import annotations

from starlette.datastructures import Headers

from api.errors import RequestError
from auth.policy.principal import Principal
from auth.policy.request import Declared, declare

__all__ = ["PURPOSE_HEADERS", "accepted_languages", "declared_purpose"]

PURPOSE_HEADERS = ("X-Purpose", "X-Legal-Reference")
MAX_LANGUAGES = 20
"""Language ranges of an ``Accept-Language`` header that are read."""


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


def accepted_languages(header: str | None) -> tuple[str, ...]:
    """The language ranges of an ``Accept-Language`` header, best first (RFC 9110 12.5.4).

    Ranges with ``q=0`` are refused by the client, and left out; a malformed weight counts as 0.
    Only the first `MAX_LANGUAGES` ranges are read.

    Example:
        >>> accepted_languages("de;q=0.5, fa-IR, vi;q=0.8")
        ('fa-IR', 'vi', 'de')
    """
    if not header:
        return ()
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:MAX_LANGUAGES]):
        tag, _, parameters = part.partition(";")
        tag = tag.strip()
        weight = 1.0
        name, _, value = parameters.partition("=")
        if name.strip().lower() == "q":
            try:
                weight = float(value.strip())
            except ValueError:
                weight = 0.0
        if tag and weight > 0:
            weighted.append((-weight, position, tag))
    return tuple(tag for _, _, tag in sorted(weighted))
