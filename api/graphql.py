"""``/graphql``: GraphQL over HTTP, authenticated before the document is read.

This module does HTTP: the request's parameters and purpose headers, the document it sends or
names, the response. What answers the operation, its access record and its usage events are
`schema.execution`'s.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from graphql import ExecutionResult, OperationDefinitionNode
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from api import errors
from api.errors import GRAPHQL_RESPONSE, JSON, internal_response, refusal_response
from api.metrics import auth_failure_cause
from api.params import Params, params_before_body, read_params
from api.purpose import accepted_languages, declared_purpose
from api.ratelimit import RateLimiter
from api.settings import Settings
from api.telemetry import Outcome, database_unavailable, outcome_of
from auth.policy.errors import PolicyError, PurposeRequired
from auth.policy.principal import Principal
from auth.policy.request import Declared
from auth.policy.roots import needs_purpose
from auth.tokens.authentication import Authenticator, Verified
from auth.tokens.errors import AuthError
from auth.trusted_documents import document_id, find_document
from schema.documents import Document, Documents, Limits, is_mutation
from schema.errors import INTERNAL, DocumentError, format_error
from schema.execution import Execution, Prepared
from schema.storable import check_variables
from store.errors import DatabaseUnavailable

log = logging.getLogger("steward.graphql")


class GraphQLEndpoint:
    """The ``/graphql`` endpoint.

    Order of checks: method, declared size and media type; the token; the rate limit; only
    then the body is read; the purpose headers; the token's standing (on the event loop where
    it needs no worker thread, else on the execution's first connection: `Execution.answer`) and
    the trusted-documents rule; only then the document (parsed and validated once per caller
    and distinct text), its limits and its purpose needs; `Execution` answers it in that
    thread, within the database deadline.

    Args:
        execution: what answers the operations.
        graphiql: the IDE's page, for a browser's GET without a query.
        explorer: the built-in client whose introspection shows the whole schema rather than
            what its scopes unlock (the development token page's: GraphiQL's docs explain
            every field's needs).
    """

    def __init__(
        self,
        settings: Settings,
        authenticator: Authenticator,
        limiter: RateLimiter,
        execution: Execution,
        graphiql: Callable[[Request], Awaitable[Response]] | None = None,
        *,
        explorer: str | None = None,
    ) -> None:
        self.settings = settings
        self.authenticator = authenticator
        self.limiter = limiter
        self.execution = execution
        self.graphiql = graphiql
        self.documents = Documents(
            execution.schema,
            Limits(
                depth=settings.max_depth,
                aliases=settings.max_aliases,
                tokens=settings.max_tokens,
                introspection=settings.introspection,
            ),
            settings.document_cache_bytes,
        )
        self.resource_metadata = f"{settings.public_url}/.well-known/oauth-protected-resource"
        self.issuers = settings.issuers
        self.explorer = explorer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The endpoint as an ASGI app: routed to without Starlette's per-route wrapping of
        ``send`` for exception handlers (the app's own handle what this raises)."""
        response = await self.handle(Request(scope, receive))
        await response(scope, receive, send)

    async def handle(self, request: Request) -> Response:
        """Answer one request."""
        media = _media_type(request)
        outcome = outcome_of(request)
        try:
            if (
                request.method == "GET"
                and self.graphiql is not None
                and "query" not in request.query_params
                and "documentId" not in request.query_params
                and "text/html" in request.headers.get("accept", "")
            ):
                return await self.graphiql(request)
            params = params_before_body(request, self.settings.max_body_bytes)
            # The token's standing (revoked? a partner?) is read with the document.
            verified = await self.authenticator.verify(request.headers.get("authorization"))
            outcome.client_id = verified.principal.client_id
            await self.limiter.check(verified.principal)
            if params is None:
                # Only now, for a caller that passed: a body costs memory while it arrives.
                params = await read_params(request, self.settings.max_body_bytes)
            declared = declared_purpose(
                request.headers,
                verified.principal,
                accepted_languages(request.headers.get("accept-language")),
            )
            outcome.purpose = declared.purpose.id if declared.purpose else None
            result, redactions = await self._answer(
                outcome, request.method, params, verified, declared
            )
        except (AuthError, PolicyError, DocumentError, errors.RequestError) as error:
            if isinstance(error, AuthError):
                outcome.auth_failure = auth_failure_cause(error)
            elif isinstance(error, errors.RequestError):
                outcome.fault = error.fault
            outcome.codes.append(error.code)
            return refusal_response(error, media, self.resource_metadata)
        except DatabaseUnavailable as error:
            return database_unavailable(request, error)
        except Exception:
            outcome.codes.append(INTERNAL)
            log.exception("unexpected failure, request %s", outcome.request_id)
            return internal_response(media, outcome.request_id)
        body: dict[str, Any] = {}
        status = 200
        if result.errors:
            body["errors"] = [format_error(error, outcome.request_id) for error in result.errors]
            outcome.codes.extend(e["extensions"]["code"] for e in body["errors"])
            if any("requestId" in e["extensions"] for e in body["errors"]):
                status = 500
            elif result.data is None and media == GRAPHQL_RESPONSE:
                status = 400
        if result.data is not None or status == 500:
            body["data"] = result.data
        if redactions:
            body["extensions"] = {"redactions": redactions}
            outcome.redactions = redactions
        return Response(orjson.dumps(body), status_code=status, media_type=media)

    async def _answer(
        self,
        outcome: Outcome,
        method: str,
        params: Params,
        verified: Verified,
        declared: Declared,
    ) -> tuple[ExecutionResult, list[dict[str, Any]]]:
        """Answer a request whose token verified, noting the operation's name for the log and
        the metrics.

        Where the token's standing needs no worker thread (`Authenticator.standing_now`) and the
        text comes with the request, the request is prepared on the event loop: one refused
        then (no purpose, a document that does not validate) touches no connection of the
        pool and no worker thread. Otherwise it is prepared on the execution's first
        connection.
        """
        principal = await self.authenticator.standing_now(verified)
        ready = None
        if principal is not None and params.document_id is None:
            ready = self._prepare(outcome, method, params, declared, principal, None)

        def prepare(session: Session) -> Prepared:
            if ready is not None:
                return ready
            principal = self.authenticator.standing(verified, session.connection())
            return self._prepare(outcome, method, params, declared, principal, session)

        return await self.execution.answer(
            prepare,
            declared,
            params.variables,
            params.operation_name,
            deadline=self.settings.database_timeouts.deadline,
        )

    def _prepare(
        self,
        outcome: Outcome,
        method: str,
        params: Params,
        declared: Declared,
        principal: Principal,
        session: Session | None,
    ) -> Prepared:
        """The request ready to run for ``principal`` (its standing read), or its refusal.

        ``session`` reads a registered document; without one the request must send its text.
        """
        # The standing and the trusted-documents rule come before the document cache: a
        # refusal must not depend on what other callers ran (SPEC section 7, v5).
        source = self._source(params, principal, session)
        caller = (principal.issuer, principal.client_id, principal.subject)
        found = self.documents.get(source, caller)
        if isinstance(found, Document):
            _name_operation(outcome, found, params)
        document = self.documents.load(source, caller)
        operation = self._operation(document, params, method, declared)
        check_variables(params.variables)
        explores = (
            self.explorer is not None
            and principal.client_id == self.explorer
            and principal.issuer == self.issuers.builtin
        )
        return Prepared(principal, document, operation, explores)

    def _source(self, params: Params, principal: Principal, session: Session | None) -> str:
        """The text to run: the request's own, or the registered document it names.

        A trusted-documents-only partner runs only its own registered documents; anyone else
        may name a document any partner registered. Text sent along with an id must be that
        document's text.
        """
        if params.document_id is None:
            if principal.trusted_documents_only:
                raise errors.DocumentNotTrusted
            if params.query is None:  # `parse_params` gives one or the other
                raise errors.RequestError("The request needs a query string.")
            return params.query
        if params.query is not None and document_id(params.query) != params.document_id:
            raise errors.DocumentIdMismatch
        if session is None:
            raise ValueError("a registered document is read on the execution's connection")
        owner = principal.client_id if principal.trusted_documents_only else None
        source = find_document(session, params.document_id, owner)
        if source is None:
            raise errors.PersistedQueryNotFound
        return source

    def _operation(
        self, document: Document, params: Params, method: str, declared: Declared
    ) -> OperationDefinitionNode:
        """The operation to run, once the request may run it: what the document alone tells
        is wrong is refused here."""
        operation = document.operation(params.operation_name)
        if operation is None:
            raise errors.RequestError(
                "Name the operation to run (operationName)."
                if params.operation_name is None
                else "No operation of that name in the document."
            )
        if method == "GET" and is_mutation(operation):
            raise errors.MethodNotAllowed("Mutations need POST.", headers={"Allow": "POST"})
        if declared.purpose is None and needs_purpose(document.root_fields(operation)):
            raise PurposeRequired
        return operation


def _name_operation(outcome: Outcome, document: Document, params: Params) -> None:
    """Note the operation's name for the log and the metrics."""
    operation = document.operation(params.operation_name)
    if operation is not None:
        outcome.operation = operation.name.value if operation.name else ""


def _media_type(request: Request) -> str:
    accept = request.headers.get("accept", "")
    if GRAPHQL_RESPONSE in accept:
        return GRAPHQL_RESPONSE
    return JSON
