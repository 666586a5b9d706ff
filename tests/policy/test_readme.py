"""The README's copy of the policy table is generated from the policy and must not drift."""

from __future__ import annotations

import re

from auth.policy.table import markdown_table
from tests.support import ROOT

README = ROOT / "README.md"


def test_readme_policy_table_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- policy:begin -->\n(.*?)\n<!-- policy:end -->", text, re.S)
    assert match is not None
    assert match.group(1) == markdown_table(), "regenerate with: steward policy --markdown"


def test_readme_quick_start_is_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split()[0:2] for line in quick.strip().splitlines()] == [
        ["make", "run"],
        ["make", "test"],
    ]
