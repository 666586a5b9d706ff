"""A development token in one step: ``/dev/token``, in development mode and on loopback only.

``GET`` shows a small form: scopes, the purpose to work under (with the legal reference for
``legal_order``), a subject, or instead a customer. Its script ``POST``\\ s the choice as JSON
and gets a fresh access token from the built-in issuer, valid for :data:`TTL` seconds, with
the headers that go with it. GraphiQL's own script asks the same endpoint for its token on
load (:data:`DEFAULT_SCOPES`, ``customer_support``) and again before the token expires.

Guards:

- the route exists only with ``STEWARD_DEV_MODE`` (and GraphiQL and the built-in issuer);
- the peer must be a loopback address and the ``Host`` a loopback name (against DNS
  rebinding), and the request may carry no proxy header (``Forwarded``, ``X-Forwarded-For``,
  ``X-Real-IP``), else the page does not exist (404);
- the defence itself: every request must carry the run's secret (`api.devsecret`), which
  ``steward serve`` prints in the GraphiQL URL and the first visit turns into a cookie, else
  403 — a reverse proxy on the same host makes every client look local, and need not say so;
- ``POST`` takes only ``application/json``, which a cross-site form cannot send, and needs an
  ``Origin`` equal to the page's own (403 otherwise): no other site can mint a token.
"""

from __future__ import annotations

import html
import ipaddress
import re
from dataclasses import dataclass
from string import Template
from typing import Any

import anyio
import orjson
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlmodel import col
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from api.devsecret import DevSecret
from api.graphiql import STATIC, page_response
from api.settings import Settings
from auth.policy import scopes
from auth.policy.purposes import DECLARABLE, Purpose
from auth.tokens.clients import record_issued
from auth.tokens.issuer import issue
from store.database import transaction
from store.ids import InvalidGlobalId, pk_of, to_global_id
from store.models import BUILTIN_ISSUER, Customer, CustomerStatus

__all__ = [
    "CLIENT_ID",
    "CUSTOMER_SCOPES",
    "DEFAULT_PURPOSE",
    "DEFAULT_SCOPES",
    "PATH",
    "STAFF_SCOPES",
    "TTL",
    "DevTokenPage",
]

PATH = "/dev/token"
TTL = 15 * 60
"""Lifetime of a development token, in seconds."""
CLIENT_ID = "steward-dev-token"
DEFAULT_SUBJECT = "developer"
CUSTOMER_SCOPES = (scopes.ME_READ, scopes.ME_WRITE)
"""What a customer's token carries."""
STAFF_SCOPES = tuple(scope for scope in scopes.RESOURCE_SCOPES if scope not in CUSTOMER_SCOPES)
"""The resource scopes the form offers to staff and partners."""
DEFAULT_SCOPES = (
    scopes.CUSTOMERS_READ,
    scopes.CUSTOMERS_READ_IDENTITY,
    scopes.CUSTOMERS_READ_CONTACT,
    scopes.ADDRESSES_READ,
    scopes.ORDERS_READ,
)
"""The staff reading scopes a development token has unless asked otherwise."""
DEFAULT_PURPOSE = Purpose.CUSTOMER_SUPPORT
LISTED_CUSTOMERS = 50
_SUBJECT = re.compile(r"[\w.:@-]{1,100}")
# A LegalRequest.reference: printable, no control characters, as a header value must be.
_LEGAL_REFERENCE = re.compile(r"[\x20-\x7e]{1,128}")


class DevTokenError(Exception):
    """A request the development token endpoint refuses; ``status`` is the HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Choice:
    """What the form asked for."""

    scopes: tuple[str, ...]
    purpose: Purpose | None
    subject: str
    customer: str | None
    legal_reference: str | None = None


PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
"""Headers a reverse proxy adds: the request did not come from this machine's browser."""


def is_local(request: Request) -> bool:
    """Whether the peer is a loopback address, the ``Host`` names loopback too, and no proxy
    relayed the request."""
    if any(name in request.headers for name in PROXY_HEADERS):
        return False
    peer = request.client.host if request.client else ""
    host = request.url.hostname or ""
    return _loopback(peer) and (host == "localhost" or _loopback(host))


def _loopback(value: str) -> bool:
    try:
        address = ipaddress.ip_address(value.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


class DevTokenPage:
    """``GET`` and ``POST /dev/token``.

    Args:
        settings: the issuer's settings (``public_url``, ``audience``).
        sessions: to list customers and look one up.
        keys: the built-in issuer's keys.
        secret: the run's secret, which every request must carry.
    """

    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        keys: KeySet,
        secret: DevSecret,
    ) -> None:
        self.settings = settings
        self.secret = secret
        self.sessions = sessions
        self.keys = keys
        self.template = Template((STATIC / "dev-token.html").read_text(encoding="utf-8"))

    def routes(self) -> list[BaseRoute]:
        """The page's one route."""
        # Every method reaches the handler: off loopback, none may tell the page exists.
        return [Route(PATH, self.handle, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])]

    async def handle(self, request: Request) -> Response:
        """Answer one request; 404 unless it comes from loopback."""
        if not is_local(request):
            return PlainTextResponse("Not Found", status_code=404)
        if request.method not in ("GET", "HEAD", "POST"):
            return PlainTextResponse("Method Not Allowed", 405, headers={"Allow": "GET, POST"})
        if request.method == "GET" and (entered := self.secret.entrance(request)) is not None:
            return entered
        if not self.secret.admits(request):
            refusal = f"Open the GraphiQL URL `steward serve` printed ({PATH} needs its token)."
            if request.method == "POST":
                return JSONResponse({"error": refusal}, 403, headers={"Cache-Control": "no-store"})
            return PlainTextResponse(refusal, 403, headers={"Cache-Control": "no-store"})
        if request.method != "POST":
            customers = await anyio.to_thread.run_sync(self._customers)
            return page_response(self._render(customers))
        try:
            choice = await _choice(request)
            answer = await anyio.to_thread.run_sync(self._issue, choice)
        except DevTokenError as error:
            return JSONResponse(
                {"error": error.message}, error.status, headers={"Cache-Control": "no-store"}
            )
        return JSONResponse(answer, headers={"Cache-Control": "no-store"})

    def _issue(self, choice: Choice) -> dict[str, Any]:
        headers: dict[str, str | None]
        if choice.customer is not None:
            subject = self._customer_subject(choice.customer)
            granted: tuple[str, ...] = CUSTOMER_SCOPES
            # A customer's token holds no purpose scope: the header would be refused.
            headers = {"X-Purpose": None, "X-Legal-Reference": None}
        else:
            subject = choice.subject
            granted = choice.scopes + ((choice.purpose.scope,) if choice.purpose else ())
            headers = {
                "X-Purpose": choice.purpose.id if choice.purpose else None,
                "X-Legal-Reference": choice.legal_reference,
            }
        issued = issue(
            self.settings.tokens,
            self.keys,
            scope=" ".join(granted),
            subject=subject,
            client_id=CLIENT_ID,
            ttl=TTL,
        )
        with transaction(self.sessions) as session:
            record_issued(session, issued.jti, CLIENT_ID, issued.expires_at)
        return {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": TTL,
            "expires_at": issued.expires_at,
            "jti": issued.jti,
            "scope": issued.scope,
            "sub": subject,
            "purpose": headers["X-Purpose"],
            "legal_reference": headers["X-Legal-Reference"],
            "headers": {
                "Authorization": f"Bearer {issued.access_token}",
                **{name: value for name, value in headers.items() if value is not None},
            },
        }

    def _customer_subject(self, customer_id: str) -> str:
        try:
            pk = pk_of(customer_id, "Customer")
        except InvalidGlobalId:
            raise DevTokenError(400, "customer is not a customer id.") from None
        query = select(col(Customer.subject), col(Customer.subject_issuer)).where(
            col(Customer.id) == pk
        )
        with self.sessions() as session:
            row = session.execute(query).first()
        if row is None:
            raise DevTokenError(400, "No customer has that id.")
        if row.subject_issuer != BUILTIN_ISSUER:
            raise DevTokenError(400, "That customer signs in with the external provider.")
        return row.subject or to_global_id("Customer", pk)

    def _customers(self) -> list[tuple[str, str, str]]:
        # Ids, countries and languages only: the page shows no personal data.
        query = (
            select(col(Customer.id), col(Customer.country), col(Customer.preferred_language))
            .where(col(Customer.status) == CustomerStatus.ACTIVE)
            .order_by(col(Customer.id))
            .limit(LISTED_CUSTOMERS)
        )
        with self.sessions() as session:
            rows = session.execute(query).all()
        return [
            (to_global_id("Customer", pk), country, language)
            for pk, country, language in rows
            if pk is not None
        ]

    def _render(self, customers: list[tuple[str, str, str]]) -> str:
        esc = html.escape
        purposes = ['<option value="">none: me, policy, privacy administration</option>']
        for purpose in DECLARABLE:
            selected = " selected" if purpose is Purpose.CUSTOMER_SUPPORT else ""
            purposes.append(
                f'<option value="{purpose.id}"{selected}>{purpose.id}: '
                f"{esc(purpose.description)}</option>"
            )
        checkboxes = [
            f'<li><label><input type="checkbox" name="scope" value="{scope}"'
            f"{' checked' if scope in DEFAULT_SCOPES else ''}> <code>{scope}</code></label></li>"
            for scope in STAFF_SCOPES
        ]
        options = [
            f'<option value="{esc(gid)}">{esc(country)}, {esc(language)}</option>'
            for gid, country, language in customers
        ]
        return self.template.substitute(
            minutes=TTL // 60,
            action=PATH,
            purposes="\n          ".join(purposes),
            scopes="\n            ".join(checkboxes),
            subject=DEFAULT_SUBJECT,
            customers="\n          ".join(options),
            customer_scopes=" ".join(CUSTOMER_SCOPES),
        )


async def _choice(request: Request) -> Choice:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise DevTokenError(415, "Send the choice as application/json.")
    origin = request.headers.get("origin")
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin != own or request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
        raise DevTokenError(403, "Tokens are issued only to this page's own origin.")
    try:
        payload = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        raise DevTokenError(400, "The body is not valid JSON.") from None
    if not isinstance(payload, dict):
        raise DevTokenError(400, "The body must be a JSON object.")
    return _parse(payload)


def _parse(payload: dict[str, Any]) -> Choice:
    requested = payload.get("scopes") or []
    if not isinstance(requested, list) or not all(isinstance(s, str) for s in requested):
        raise DevTokenError(400, "scopes must be a list of strings.")
    unknown = sorted(set(requested) - set(STAFF_SCOPES))
    if unknown:
        raise DevTokenError(400, f"Unknown or customer-only scopes: {', '.join(unknown)}.")
    purpose = None
    if payload.get("purpose"):
        purpose = Purpose.parse(str(payload["purpose"]))
        if purpose is None:
            valid = ", ".join(p.id for p in DECLARABLE)
            raise DevTokenError(400, f"Unknown purpose. Valid purposes: {valid}.")
    subject = payload.get("subject") or DEFAULT_SUBJECT
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        raise DevTokenError(400, "subject: 1 to 100 letters, digits or . _ : @ -")
    customer = payload.get("customer") or None
    if customer is not None and not isinstance(customer, str):
        raise DevTokenError(400, "customer must be a customer id.")
    if customer:
        return Choice((), None, subject, customer.strip())
    if not requested:
        # As `steward token` does: a token without a resource scope reads nothing.
        raise DevTokenError(400, "Choose at least one scope.")
    legal_reference = None
    if purpose is Purpose.LEGAL_ORDER:
        legal_reference = _legal_reference(payload.get("legal_reference"))
    ordered = tuple(scope for scope in STAFF_SCOPES if scope in requested)
    return Choice(ordered, purpose, subject, None, legal_reference)


def _legal_reference(value: object) -> str:
    reference = value.strip() if isinstance(value, str) else ""
    if not reference:
        raise DevTokenError(400, "legal_order needs a legal reference (X-Legal-Reference).")
    if not _LEGAL_REFERENCE.fullmatch(reference):
        raise DevTokenError(400, "legal reference: 1 to 128 printable ASCII characters.")
    return reference
