"""``/graphql``: GraphQL over HTTP, authenticated before the document is read."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import anyio.from_thread
import orjson
from graphql import ExecutionResult, GraphQLSchema, OperationDefinitionNode, execute_sync
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import Response

from api import errors
from api.errors import GRAPHQL_RESPONSE, JSON, internal_response, refusal_response
from api.metrics import auth_failure_cause, observe_compiled_fallback
from api.purpose import declared_purpose
from api.ratelimit import RateLimiter
from api.settings import Settings
from api.telemetry import Outcome, database_unavailable, outcome_of
from api.tuning import ALL_WINS, Tuning
from auth.policy.errors import PolicyError, PurposeRequired
from auth.policy.forms import PseudonymKeys
from auth.policy.principal import Principal
from auth.policy.request import Declared, open_scope
from auth.policy.roots import needs_purpose
from auth.tokens.authentication import Authenticator, Verified
from auth.tokens.errors import AuthError
from auth.trusted_documents import document_id, find_document
from privacy.audit import GroupCommit
from privacy.linking import WrongCodes
from privacy.usage import record_profile_view
from schema.audit import Auditor
from schema.compiled import CompiledReads
from schema.context import Context, Options
from schema.documents import Document, Documents, Limits, is_mutation
from schema.errors import INTERNAL, DocumentError, format_error
from schema.storable import check_variables
from schema.view import client_schema, introspect, reads_schema
from store.database import one_statement_options, run_in_thread
from store.errors import DatabaseUnavailable, unavailable

log = logging.getLogger("steward.graphql")

ROOM = 9000
"""Evaluation-stack slots `_in_roomy_frame` claims: 72 KiB, in a 128 KiB frame chunk."""

T = TypeVar("T")


DOCUMENT_ID = re.compile(r"sha256:([0-9a-fA-F]{64})")
"""``documentId`` as the GraphQL-over-HTTP persisted-documents appendix writes a SHA-256."""
SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
MAX_LANGUAGES = 20
"""Language ranges of an ``Accept-Language`` header that are read."""


@dataclass(frozen=True, slots=True)
class Params:
    """The GraphQL-over-HTTP request parameters.

    Attributes:
        query: the document's text, unless the request names a registered one only.
        variables: the variables' values.
        operation_name: which operation of the document to run.
        document_id: the SHA-256 (lower-case hex) of a registered document the request names
            by ``documentId`` or Apollo's ``extensions.persistedQuery.sha256Hash``.
    """

    query: str | None
    variables: dict[str, Any] | None
    operation_name: str | None
    document_id: str | None = None


class GraphQLEndpoint:
    """The ``/graphql`` endpoint.

    Order of checks: method, declared size and media type; the token; the rate limit; only
    then the body is read; the purpose headers; in a worker thread, the token's standing and
    the trusted-documents rule; only then the document (parsed and validated once per caller
    and distinct text), its limits and its purpose needs; execution runs in that thread with
    one database transaction, within the database deadline.
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        settings: Settings,
        sessions: sessionmaker[Session],
        authenticator: Authenticator,
        limiter: RateLimiter,
        graphiql: Callable[[Request], Awaitable[Response]] | None,
        tuning: Tuning = ALL_WINS,
        *,
        enforce: bool = True,
        explorer: str | None = None,
        pseudonym_keys: PseudonymKeys | None = None,
    ) -> None:
        """``enforce=False``: benchmarks only (see `create_app`). ``explorer``: the built-in
        client whose introspection shows the whole schema rather than what its scopes unlock
        (the development token page's: GraphiQL's docs explain every field's needs).
        ``pseudonym_keys``: every recipient's pseudonym key (none: pseudonyms withheld)."""
        self.schema = schema
        self.settings = settings
        self.sessions = sessions
        self.authenticator = authenticator
        self.limiter = limiter
        self.graphiql = graphiql
        self.documents = Documents(
            schema,
            Limits(
                depth=settings.max_depth,
                aliases=settings.max_aliases,
                tokens=settings.max_tokens,
                introspection=settings.introspection,
            ),
            settings.document_cache_bytes if tuning.document_cache else 0,
        )
        self._dumps = tuning.dumps
        self._frame = _in_roomy_frame if tuning.roomy_frame else _called
        self.resource_metadata = f"{settings.public_url}/.well-known/oauth-protected-resource"
        self.auditor = Auditor(schema, GroupCommit(sessions))
        self.options = Options(
            max_page_size=settings.max_page_size,
            batched_loaders=tuning.batched_loaders,
            self_registration=settings.self_registration,
            wrong_codes=WrongCodes(settings.attempts_storage),
        )
        self.compiled: CompiledReads | None = None
        if settings.compiled_reads:
            self.compiled = CompiledReads(
                schema,
                sessions.kw["bind"].dialect,
                max_page_size=settings.max_page_size,
                observe=observe_compiled_fallback,
                enforce=enforce,
            )
        self.issuers = settings.issuers
        self.explorer = explorer
        self.pseudonym_keys = pseudonym_keys

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
            params = self._check(request)
            # The token's standing (revoked? a partner?) is read in the worker thread.
            verified = await self.authenticator.verify(request.headers.get("authorization"))
            outcome.client_id = verified.principal.client_id
            await self.limiter.check(verified.principal)
            if params is None:
                # Only now, for a caller that passed: a body costs memory while it arrives.
                params = await self._read(request)
            declared = declared_purpose(
                request.headers,
                verified.principal,
                accepted_languages(request.headers.get("accept-language")),
            )
            outcome.purpose = declared.purpose.id if declared.purpose else None
            result, redactions = await run_in_thread(
                partial(
                    self._frame,
                    self._named_run,
                    outcome,
                    request.method,
                    params,
                    verified,
                    declared,
                ),
                deadline=self.settings.database_timeouts.deadline,
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
        return Response(self._dumps(body), status_code=status, media_type=media)

    def _check(self, request: Request) -> Params | None:
        """Refuse what the method and headers alone tell is wrong, before a body is read.

        Returns:
            A GET's parameters (they came with its URL); ``None`` for a POST, whose body is
            read once its caller passed.
        """
        if request.method == "GET":
            return _parse_params(dict(request.query_params), get=True)
        if request.method != "POST":
            raise errors.MethodNotAllowed("Use GET or POST.", headers={"Allow": "GET, POST"})
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type != JSON:
            raise errors.UnsupportedMediaType("Send the request as application/json.")
        declared = request.headers.get("content-length")
        limit = self.settings.max_body_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise errors.PayloadTooLarge(f"The body is larger than {limit} bytes.")
        return None

    async def _read(self, request: Request) -> Params:
        body = await _read_body(request, self.settings.max_body_bytes)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise errors.RequestError("The body is not valid JSON.") from None
        if not isinstance(payload, dict):
            raise errors.RequestError(
                "The body must be one JSON object; batching is not supported."
            )
        return _parse_params(payload, get=False)

    def _named_run(
        self,
        outcome: Outcome,
        method: str,
        params: Params,
        verified: Verified,
        declared: Declared,
    ) -> tuple[ExecutionResult, list[dict[str, Any]]]:
        """Answer a request whose token verified, noting the operation's name for the log and
        the metrics.

        One connection, set for reads of one statement each, reads the token's standing, the
        registered document a request names, and — for a query the compiler serves — the
        caller's own row and the answer; its access record is then group-committed
        (`GroupCommit`). Anything else runs in a transaction of its own, with Strawberry.
        """
        assert self.auditor.group is not None
        with self.auditor.group.reading() as reader:
            with self.sessions() as session:
                dialect = session.get_bind().dialect
                session.connection(execution_options=one_statement_options(dialect))
                principal = self.authenticator.standing(verified, session.connection())
                # The standing and the trusted-documents rule come before the document cache:
                # a refusal must not depend on what other callers ran (SPEC section 7, v5).
                source = self._source(params, principal, session)
                caller = (principal.issuer, principal.client_id, principal.subject)
                found = self.documents.get(source, caller)
                if isinstance(found, Document):
                    _name_operation(outcome, found, params)
                document = self.documents.load(source, caller)
                operation = self._operation(document, params, method, declared)
                check_variables(params.variables)
                root_fields = document.root_fields(operation)
                if reads_schema(root_fields):  # refuses introspection mixed with data
                    # What this caller can ever unlock (`schema.view`): no data, no record.
                    return self._introspect(principal, document, params), []
                answer = None
                if self.compiled is not None and "me" not in root_fields:
                    scope = open_scope(
                        session, principal, declared, self.issuers, self.pseudonym_keys
                    )
                    answer = self.compiled.answer(
                        session, scope, document, operation, params.variables
                    )
            if answer is not None:
                # After the read, before the response: durable when it returns.
                self.auditor.commit_of(
                    scope,
                    answer.customers,
                    document,
                    operation,
                    root_fields,
                    reader,
                    answer.revealed,
                )
                scope.plan.hidden.update(answer.hidden)
                scope.plan.erased.update(answer.erased)
                return ExecutionResult(answer.data), scope.plan.redactions()
        return self._run(document, operation, params, principal, declared)

    def _introspect(
        self, principal: Principal, document: Document, params: Params
    ) -> ExecutionResult:
        """Answer introspection from the caller's view of the schema (the explorer's: whole)."""
        explores = (
            self.explorer is not None
            and principal.client_id == self.explorer
            and principal.issuer == self.issuers.builtin
        )
        view = self.schema if explores else client_schema(principal.scopes)
        return introspect(view, document.node, params.operation_name, params.variables)

    def _source(self, params: Params, principal: Principal, session: Session) -> str:
        """The text to run: the request's own, or the registered document it names.

        A trusted-documents-only partner runs only its own registered documents; anyone else
        may name a document any partner registered. Text sent along with an id must be that
        document's text.
        """
        if params.document_id is None:
            if principal.trusted_documents_only:
                raise errors.DocumentNotTrusted
            assert params.query is not None
            return params.query
        if params.query is not None and document_id(params.query) != params.document_id:
            raise errors.DocumentIdMismatch
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

    def _run(
        self,
        document: Document,
        operation: OperationDefinitionNode,
        params: Params,
        principal: Principal,
        declared: Declared,
    ) -> tuple[ExecutionResult, list[dict[str, Any]]]:
        """Answer in one transaction: mutations, what the compiler declines, ``me`` (whose
        read is itself recorded as a usage event), and everything with compiled reads off."""
        root_fields = document.root_fields(operation)
        with self.sessions() as session, session.begin():
            scope = open_scope(session, principal, declared, self.issuers, self.pseudonym_keys)
            answer = None
            if self.compiled is not None and "me" in root_fields:  # the others were tried
                answer = self.compiled.answer(session, scope, document, operation, params.variables)
            if answer is not None:
                # In the request's transaction, before its commit: durable before the response.
                self.auditor.record_of(
                    session,
                    scope,
                    answer.customers,
                    document,
                    operation,
                    root_fields,
                    answer.revealed,
                )
                if "me" in root_fields:
                    record_profile_view(session, scope)
                scope.plan.hidden.update(answer.hidden)
                scope.plan.erased.update(answer.erased)
                return ExecutionResult(answer.data), scope.plan.redactions()
            context = Context.open(session, scope, self.options, declared.languages)
            result = execute_sync(
                self.schema,
                document.node,
                context_value=context,
                variable_values=params.variables,
                operation_name=params.operation_name,
                hide_suggestions=True,
            )
            assert isinstance(result, ExecutionResult)
            for error in result.errors or ():
                # The database failed under a resolver: the whole request is 503, not a
                # field error per row, and it is rolled back.
                fault = unavailable(error.original_error) if error.original_error else None
                if fault is not None:
                    raise fault
            # In the request's transaction, before its commit: durable before the response.
            self.auditor.record(context, document, operation, root_fields)
            if "me" in root_fields:
                record_profile_view(session, context.scope)
            redactions = context.plan.redactions()
            # The caller stopped waiting (the deadline, or shutdown): nothing is committed.
            anyio.from_thread.check_cancelled()
        return result, redactions


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


def _name_operation(outcome: Outcome, document: Document, params: Params) -> None:
    """Note the operation's name for the log and the metrics."""
    operation = document.operation(params.operation_name)
    if operation is not None:
        outcome.operation = operation.name.value if operation.name else ""


def _in_roomy_frame(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)``, called from a frame that reserves room for the calls it makes.

    CPython (3.11 and later) keeps a thread's Python frames in chunks of 16 KiB and frees a
    chunk as soon as the stack shrinks out of it. GraphQL execution recurses field by field,
    back and forth across such a boundary, and a worker thread then maps and unmaps a chunk
    hundreds of times per request. This function's code claims a large evaluation stack
    (`ROOM` slots), so the interpreter allocates it a chunk with space to spare: the whole
    execution runs inside it, one allocation per request. ``make bench`` measures the gain.
    """
    return function(*args)


_in_roomy_frame.__code__ = _in_roomy_frame.__code__.replace(co_stacksize=ROOM)


def _called(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` from an ordinary frame (`Tuning.roomy_frame` off)."""
    return function(*args)


def _parse_params(payload: Mapping[str, Any], *, get: bool) -> Params:
    variables = _object(payload, "variables", get=get)
    operation_name = payload.get("operationName")
    if operation_name == "":
        operation_name = None
    if operation_name is not None and not isinstance(operation_name, str):
        raise errors.RequestError("operationName must be a string.")
    extensions = _object(payload, "extensions", get=get)
    named = _document_id(payload.get("documentId"), extensions)
    query = payload.get("query")
    if named is not None and query is None:
        return Params(None, variables, operation_name, named)
    if not isinstance(query, str) or not query.strip():
        raise errors.RequestError("The request needs a query string.")
    return Params(query, variables, operation_name, named)


def _object(payload: Mapping[str, Any], name: str, *, get: bool) -> dict[str, Any] | None:
    """An object parameter (``variables``, ``extensions``); JSON text in a GET's URL."""
    value = payload.get(name)
    if get and isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise errors.RequestError(f"{name} is not valid JSON.") from None
    if value is not None and not isinstance(value, dict):
        raise errors.RequestError(f"{name} must be an object.")
    return value


def _document_id(given: Any, extensions: dict[str, Any] | None) -> str | None:
    """The registered document a request names, as lower-case hex, or ``None``.

    ``documentId: "sha256:<hex>"`` (GraphQL over HTTP, persisted documents) or Apollo's
    ``extensions.persistedQuery.sha256Hash``; both at once must agree.
    """
    named: str | None = None
    if given is not None:
        match = DOCUMENT_ID.fullmatch(given) if isinstance(given, str) else None
        if match is None:
            raise errors.RequestError('documentId must be "sha256:" and 64 hexadecimal digits.')
        named = match.group(1).lower()
    persisted = (extensions or {}).get("persistedQuery")
    if persisted is not None:
        digest = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(digest, str) or not SHA256_HEX.fullmatch(digest):
            raise errors.RequestError(
                "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits."
            )
        if named is not None and named != digest.lower():
            raise errors.RequestError("documentId and persistedQuery name different documents.")
        named = digest.lower()
    return named


async def _read_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.PayloadTooLarge(f"The body is larger than {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _media_type(request: Request) -> str:
    accept = request.headers.get("accept", "")
    if GRAPHQL_RESPONSE in accept:
        return GRAPHQL_RESPONSE
    return JSON
