"""The layering contract of ``make check`` holds, and breaks on an upward import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("api", "schema", "privacy", "auth", "store")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_of_steward(directory: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, directory / package, ignore=shutil.ignore_patterns("static")
        )
    shutil.copy(ROOT / "pyproject.toml", directory / "pyproject.toml")
    return directory


def _lint(directory: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(directory)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_layers_hold_as_written(tmp_path: Path) -> None:
    # given an untouched copy / when the contracts are checked / then they are all kept
    result = _lint(_copy_of_steward(tmp_path))
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "violation", "contract"),
    [
        ("store/models.py", "import api.settings", "Layers"),
        ("privacy/consents.py", "import schema.context", "Layers"),
        ("auth/policy/plan.py", "import auth.tokens.keys", "The policy knows no token format"),
        ("auth/policy/row_rules.py", "import strawberry", "know no web framework"),
    ],
)
def test_an_import_against_the_layers_fails_the_check(
    tmp_path: Path, module: str, violation: str, contract: str
) -> None:
    # given a copy of Steward where a lower module imports what it may not
    copy = _copy_of_steward(tmp_path)
    target = copy / module
    target.write_text(target.read_text() + f"\n{violation}  # noqa\n")
    # when the contracts are checked
    result = _lint(copy)
    # then the check fails, naming the broken contract
    assert result.returncode != 0
    assert contract in result.stdout
    assert "BROKEN" in result.stdout
