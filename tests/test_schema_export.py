"""The exported SDL is the schema Steward serves."""

from __future__ import annotations

from pathlib import Path

from schema.build import sdl

EXPORTED = Path(__file__).parent.parent / "schema.graphql"


def test_schema_graphql_is_current() -> None:
    # given the schema the code builds / when compared with the committed export
    # then they are identical (regenerate with `make schema`)
    assert EXPORTED.read_text(encoding="utf-8") == sdl(), "schema.graphql is stale: make schema"
