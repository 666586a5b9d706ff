"""Adding a field is the documented recipe, and nothing more (SPEC section 11).

The test copies the tree, follows `docs/adding-a-field.md` for ``Customer.nationalId`` (four
files and a generated migration, then the regenerated SDL and README table), migrates, and
runs the copy's own server: both executors serve the field under ``fraud_investigation`` and
hide it under ``customer_support``, the export carries it, erasure blanks it, and ``steward
policy`` and the README table list it.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.settings import Settings
from auth.tokens.issuer import issue_token
from auth.tokens.keys import load_or_create
from tests.support import ROOT
from tests.support.servers import Server, running, server_env

pytestmark = pytest.mark.slow

PUBLIC_URL = "https://steward.test"
LEFT_OUT = shutil.ignore_patterns(
    ".git",
    ".venv",
    "node_modules",
    "__pycache__",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
    "*.egg-info",
    "*.db",
    "steward-keys.json",
    ".env",
)

# The recipe's edits, as docs/adding-a-field.md writes them: (file, the line after which, text).
RECIPE = [
    (
        "store/models.py",
        "    landline_phone: str | None = Field(default=None, max_length=20)\n",
        "    national_id: str | None = Field(default=None, max_length=20)\n",
    ),
    (
        "auth/policy/catalog.py",
        "                rule([s.CUSTOMERS_READ_CONTACT], F, S, X, L),\n"
        "                erasable=True,\n"
        "            ),\n",
        "            scalar(\n"
        '                "nationalId",\n'
        "                Kind.TEXT,\n"
        "                rule([s.CUSTOMERS_READ_IDENTITY], X, L),\n"
        "                erasable=True,\n"
        "            ),\n",
    ),
    (
        "schema/types.py",
        '    landline_phone: str | None = guarded(description="E.164.")\n',
        "    national_id: str | None = guarded()\n",
    ),
    (
        "api/demo.py",
        '        "landline_phone": c.landline_phone,\n',
        '        "national_id": f"{c.market.country}{c.id:010d}",\n',
    ),
]

GENERATE_MIGRATION = """
import sys
from alembic import command
from api.settings import Settings
from store.database import alembic_config
command.revision(
    alembic_config(Settings().database_url), "customer national id", autogenerate=True,
    rev_id=sys.argv[1],
)
"""

CUSTOMERS = "{ customers(first: 5) { edges { node { id nationalId } } } }"
EXPORT = "mutation Export($id: ID!) { exportCustomerData(id: $id) }"
ERASE = "mutation Erase($id: ID!) { eraseCustomer(id: $id) { id } }"
ONE = "query One($id: ID!) { customer(id: $id) { nationalId } }"
INVESTIGATOR = "customers:read customers:read:identity purpose:fraud_investigation"
SUPPORT = "customers:read customers:read:identity purpose:customer_support"


@dataclass
class Copy:
    """The copied tree after the recipe, with its environment (a database at the newest
    revision, with demo data) and the migration the recipe generated."""

    root: Path
    env: dict[str, str]
    settings: Settings
    migration: Path | None = None

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def steward(self, *args: str) -> str:
        return self.run("-c", "from api.cli import main; main()", *args)

    def with_database(self, name: str) -> Copy:
        """The same tree with a database of its own, migrated, holding demo customers."""
        database = f"sqlite:///{self.root / name}"
        env = {**self.env, "STEWARD_DATABASE_URL": database}
        settings = self.settings.model_copy(update={"database_url": database})
        fresh = Copy(self.root, env, settings, self.migration)
        fresh.steward("db", "upgrade")
        fresh.steward("demo-data", "--customers", "5")
        return fresh

    def token(self, scope: str) -> str:
        keys = load_or_create(self.settings.key_file)
        return issue_token(
            self.settings.tokens, keys, scope=scope, subject="staff-1", client_id="staff-app"
        )


def follow_the_recipe(root: Path) -> None:
    for relative, after, text in RECIPE:
        path = root / relative
        source = path.read_text(encoding="utf-8")
        assert source.count(after) == 1, f"{relative}: the recipe's place is not unique"
        path.write_text(source.replace(after, after + text), encoding="utf-8")


def next_revision(root: Path) -> str:
    numbers = [
        int(match.group(1))
        for path in (root / "store/migrations/versions").glob("*.py")
        if (match := re.match(r"(\d{4})_", path.name))
    ]
    return f"{max(numbers) + 1:04d}"


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Copy:
    root = tmp_path_factory.mktemp("added") / "steward"
    shutil.copytree(ROOT, root, ignore=LEFT_OUT)
    follow_the_recipe(root)
    database = f"sqlite:///{root / 'steward.db'}"
    key_file = root / "keys.json"
    env = server_env(database_url=database, key_file=str(key_file), public_url=PUBLIC_URL)
    env["PYTHONPATH"] = str(root)  # the copy, not this tree
    settings = Settings(
        _env_file=None, database_url=database, key_file=key_file, public_url=PUBLIC_URL
    )
    copied = Copy(root, env, settings)
    # the migration: generated against a database at the newest revision, then applied
    copied.steward("db", "upgrade")
    revision = next_revision(root)
    copied.run("-c", GENERATE_MIGRATION, revision)
    (copied.migration,) = (root / "store/migrations/versions").glob(f"{revision}_*.py")
    assert "migrated from" in copied.steward("db", "upgrade")
    # regenerated: the SDL and the README table
    (root / "schema.graphql").write_text(copied.run("-m", "schema.export"), encoding="utf-8")
    table = copied.steward("policy", "--markdown").strip("\n")
    readme = root / "README.md"
    readme.write_text(
        re.sub(
            r"(<!-- policy:begin -->\n).*?(\n<!-- policy:end -->)",
            lambda match: match.group(1) + table + match.group(2),
            readme.read_text(encoding="utf-8"),
            flags=re.S,
        ),
        encoding="utf-8",
    )
    return copied


def post(server: Server, token: str, query: str, purpose: str | None, **variables: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    if purpose is not None:
        headers["X-Purpose"] = purpose
    response = httpx.post(
        f"{server.url}/graphql",
        json={"query": query, "variables": variables},
        headers=headers,
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return response.json()


def fallbacks(server: Server, token: str) -> float:
    """How many documents the compiled reads left to Strawberry, by the server's metrics."""
    response = httpx.get(
        f"{server.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in response.text.splitlines()
        if line.startswith("steward_compiled_fallbacks_total{")
    )


def test_the_recipe_touches_four_files_and_the_migration(copy: Copy) -> None:
    changed = {relative for relative, _after, _text in RECIPE}
    assert changed == {
        "store/models.py",
        "auth/policy/catalog.py",
        "schema/types.py",
        "api/demo.py",
    }
    assert copy.migration is not None
    migration = copy.migration.read_text(encoding="utf-8")
    assert "add_column" in migration, migration
    assert "national_id" in migration, migration


def test_steward_policy_and_the_readme_table_list_it(copy: Copy) -> None:
    row = "| `Customer.nationalId` | customers:read:identity |  |  |  | ✓ |  |  | ✓ |"
    assert row in copy.steward("policy", "--markdown")
    assert row in (copy.root / "README.md").read_text(encoding="utf-8")
    assert re.search(r"^Customer\.nationalId\s", copy.steward("policy"), re.M)
    # and the copy's own checks of the SDL and the README pass
    copy.run(
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "tests/graphql/test_schema_export.py",
        "tests/policy/test_readme.py",
    )


def test_the_compiled_executor_serves_it_without_falling_back(copy: Copy) -> None:
    copy = copy.with_database("fallbacks.db")
    with running(Server(copy.env, copy.root)) as (server,):
        metrics = copy.token("metrics:read")
        before = fallbacks(server, metrics)
        served = post(server, copy.token(INVESTIGATOR), CUSTOMERS, "fraud_investigation")
        hidden = post(server, copy.token(SUPPORT), CUSTOMERS, "customer_support")
        assert "errors" not in served, served
        assert "errors" not in hidden, hidden
        assert fallbacks(server, metrics) == before


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "strawberry"])
def test_both_executors_serve_and_hide_it_export_carries_it_erasure_blanks_it(
    copy: Copy, compiled: bool
) -> None:
    copy = copy.with_database(f"executor-{compiled}.db")
    env = {**copy.env, "STEWARD_COMPILED_READS": "true" if compiled else "false"}
    with running(Server(env, copy.root)) as (server,):
        # under fraud_investigation, with customers:read:identity: the stored value
        served = post(server, copy.token(INVESTIGATOR), CUSTOMERS, "fraud_investigation")
        nodes = [edge["node"] for edge in served["data"]["customers"]["edges"]]
        assert nodes, served
        assert all(re.fullmatch(r"[A-Z]{2}\d{10}", node["nationalId"]) for node in nodes), nodes
        assert not served.get("extensions", {}).get("redactions"), served
        # under customer_support: null, and why
        hidden = post(server, copy.token(SUPPORT), CUSTOMERS, "customer_support")
        assert [edge["node"]["nationalId"] for edge in hidden["data"]["customers"]["edges"]] == [
            None
        ] * len(nodes)
        assert hidden["extensions"]["redactions"] == [
            {
                "field": "Customer.nationalId",
                "reason": "PURPOSE_NOT_ALLOWED",
                "count": len(nodes),
                "needs": {
                    "scopes": ["customers:read:identity"],
                    "purposes": ["fraud_investigation", "legal_order"],
                },
            }
        ]
        # the export carries it
        admin = copy.token("privacy:admin")
        subject = nodes[0]
        exported = post(server, admin, EXPORT, None, id=subject["id"])
        assert "errors" not in exported, exported
        document = exported["data"]["exportCustomerData"]
        if isinstance(document, str):
            document = json.loads(document)
        assert document["customer"]["nationalId"] == subject["nationalId"]
        # erasure blanks it: null, reported as ERASED, and gone from the export
        erased = post(server, admin, ERASE, None, id=subject["id"])
        assert "errors" not in erased, erased
        after = post(server, copy.token(INVESTIGATOR), ONE, "fraud_investigation", id=subject["id"])
        assert after["data"] == {"customer": {"nationalId": None}}
        assert after["extensions"]["redactions"] == [
            {"field": "Customer.nationalId", "reason": "ERASED", "count": 1, "needs": None}
        ]
        again = post(server, admin, EXPORT, None, id=subject["id"])["data"]["exportCustomerData"]
        if isinstance(again, str):
            again = json.loads(again)
        assert again["customer"]["nationalId"] is None
