"""The exported SDL is the schema Steward serves."""

from __future__ import annotations

from schema.build import sdl
from tests.support import ROOT

EXPORTED = ROOT / "schema.graphql"


def test_schema_graphql_is_current() -> None:
    # given the schema the code builds / when compared with the committed export
    # then they are identical (regenerate with `make schema`)
    assert EXPORTED.read_text(encoding="utf-8") == sdl(), "schema.graphql is stale: make schema"
