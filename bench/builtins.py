"""Steward's document cache and limits against Strawberry's own extensions, in process.

Strawberry ships ``ParserCache``, ``ValidationCache``, ``MaxTokensLimiter``, ``MaxAliasesLimiter``,
``QueryDepthLimiter`` and ``MaskErrors``; they run inside ``strawberry.Schema.execute_sync``.
Steward's ``/graphql`` parses, validates and checks limits once per distinct document
(`schema.documents.Documents`) and executes with graphql-core directly. This measures the CPU
of one request's GraphQL work — document, execution, error masking — both ways, over the same
demo database, session and policy scope, interleaved request by request.

Usage: ``python -m bench.builtins [--customers 200] [--rounds 300]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graphql import ExecutionResult, execute_sync
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from api.demo import load_demo_data
from api.settings import Settings
from auth.policy.principal import Principal
from auth.policy.purposes import Purpose
from auth.policy.request import Declared, open_scope
from bench.policy_overhead import NESTED_PAGE, SCOPE
from schema.build import TYPES, Mutation, assemble, build_schema, graphql_schema
from schema.context import Context, Options
from schema.documents import Documents, Limits
from schema.queries import Query
from store.database import make_engine, session_factory, transaction, upgrade


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    settings = Settings(_env_file=None)
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'builtins.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    with transaction(sessions) as session:
        load_demo_data(session, customers=args.customers, seed=1)
    core = graphql_schema(build_schema())
    documents = Documents(
        core, Limits(settings.max_depth, settings.max_aliases, settings.max_tokens, True)
    )
    theirs = assemble(
        Query,
        Mutation,
        TYPES,
        extensions=[
            ParserCache,
            ValidationCache,
            lambda: MaxTokensLimiter(settings.max_tokens),
            lambda: MaxAliasesLimiter(settings.max_aliases),
            lambda: QueryDepthLimiter(settings.max_depth),
            MaskErrors,
        ],
    )
    principal = Principal("bench", "bench", frozenset(SCOPE.split()), "http://bench", "j", 0)
    variables = {"first": 20}

    def ours(context: Context) -> Any:
        document = documents.load(NESTED_PAGE)
        result = execute_sync(core, document.node, context_value=context, variable_values=variables)
        assert isinstance(result, ExecutionResult)
        assert not result.errors
        return result.data

    def strawberrys(context: Context) -> Any:
        result = theirs.execute_sync(NESTED_PAGE, variable_values=variables, context_value=context)
        assert not result.errors, result.errors
        return result.data

    variants: dict[str, Callable[[Context], Any]] = {"Steward": ours, "Strawberry": strawberrys}
    samples: dict[str, list[float]] = {name: [] for name in variants}
    answers = {}
    for round_ in range(args.rounds + 20):
        for name, run in variants.items():
            with transaction(sessions) as session:
                scope = open_scope(
                    session, principal, Declared(Purpose.CUSTOMER_SUPPORT), settings.issuers
                )
                context = Context.open(session, scope, Options(settings.max_page_size))
                start = time.process_time()
                answers[name] = run(context)
                spent = time.process_time() - start
            if round_ >= 20:
                samples[name].append(spent * 1000)
    assert answers["Steward"] == answers["Strawberry"]
    for name, values in samples.items():
        print(f"{name:<11} median {statistics.median(values):6.2f} ms CPU per request")
    ratio = statistics.median(samples["Strawberry"]) / statistics.median(samples["Steward"])
    print(f"Strawberry/Steward: {ratio:.2f}")


if __name__ == "__main__":
    main()
