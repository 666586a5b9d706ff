"""What ``steward`` says when it is asked something it cannot do, and what its help says.

An unknown scope is answered with the closest known ones, never the whole list; an unknown
partner is a usage error (exit 2) for every command that takes one; every command's help
describes it in full, and the command lists are never cut short.
"""

from __future__ import annotations

import pytest
import typer
from typer.core import TyperGroup
from typer.testing import CliRunner

from api.cli import app as cli
from auth.policy.scopes import ALL_SCOPES

COURIER = "courier-7"


@pytest.mark.parametrize(
    ("command", "typo", "closest"),
    [
        (["token", "--scope"], "orders:delete", ["orders:write", "orders:read"]),
        (["token", "--scope"], "purpose:support", ["purpose:customer_support"]),
        (["clients", "add", "courier", "--scope"], "costumers:read", ["customers:read"]),
        (["clients", "add", "courier", "--scope"], "me:red", ["me:read"]),
    ],
    ids=["token orders", "token purpose", "clients customers", "clients me"],
)
def test_an_unknown_scope_is_answered_with_the_closest_known_ones(
    steward: CliRunner, command: list[str], typo: str, closest: list[str]
) -> None:
    # when a scope is mistyped
    result = steward.invoke(cli, [*command, f"customers:read {typo}"])
    # then it is a usage error naming it and the closest known scopes, not all of them
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"unknown scope '{typo}' (did you mean {closest[0]}" in result.output
    for scope in closest:
        assert scope in result.output
    named = [scope for scope in ALL_SCOPES if scope in result.output]
    assert len(named) <= 4, named  # customers:read, as given, and at most three suggestions
    assert "--help lists" not in result.output


def test_a_scope_like_no_known_one_points_to_the_help_that_lists_them(
    steward: CliRunner,
) -> None:
    # when a scope resembles none
    result = steward.invoke(cli, ["token", "--scope", "everything"])
    # then the error says so and where the scopes are listed; the help lists every one
    assert result.exit_code == 2
    assert "unknown scope 'everything'; --help lists the known scopes" in result.output
    assert "did you mean" not in result.output
    help_text = " ".join(CliRunner().invoke(cli, ["token", "--help"]).output.split())
    assert all(scope in help_text for scope in ALL_SCOPES)


@pytest.mark.parametrize(
    "command",
    [["documents", COURIER], ["allow", COURIER, "FILE"]],
    ids=["documents", "allow"],
)
def test_an_unknown_partner_is_a_usage_error(
    steward: CliRunner, tmp_path, command: list[str]
) -> None:
    # given a valid document, and no partner at all
    document = tmp_path / "deliveries.graphql"
    document.write_text("query Deliveries { orders(first: 5) { edges { node { id } } } }")
    args = [str(document) if arg == "FILE" else arg for arg in command]
    # when a command names an unknown partner
    result = steward.invoke(cli, ["partners", *args])
    # then it fails as a usage error with one clear line, and prints nothing on stdout
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Invalid value for CLIENT_ID: no active partner with that client id" in result.output


def test_a_removed_partners_documents_are_refused_like_an_unknown_partner(
    steward: CliRunner, tmp_path
) -> None:
    # given a partner with a document, then removed
    document = tmp_path / "deliveries.graphql"
    document.write_text("query Deliveries { orders(first: 5) { edges { node { id } } } }")
    assert steward.invoke(cli, ["partners", "add", COURIER, "--name", "Couriers"]).exit_code == 0
    assert steward.invoke(cli, ["partners", "allow", COURIER, str(document)]).exit_code == 0
    listed = steward.invoke(cli, ["partners", "documents", COURIER])
    assert listed.exit_code == 0
    assert listed.stdout.startswith("sha256:")
    assert steward.invoke(cli, ["partners", "remove", COURIER]).exit_code == 0
    # when its documents are asked for / then it is the same usage error
    assert steward.invoke(cli, ["partners", "documents", COURIER]).exit_code == 2


def _commands(group: TyperGroup, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, command in group.commands.items():
        found.append((*path, name))
        if isinstance(command, TyperGroup):
            found += _commands(command, (*path, name))
    return found


COMMANDS = _commands(typer.main.get_group(cli))
assert len(COMMANDS) > 12, COMMANDS  # the groups' commands too


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(path) for path in COMMANDS])
def test_every_command_has_a_full_description(path: tuple[str, ...]) -> None:
    # when its help is asked for
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=80)
    assert result.exit_code == 0, result.output
    # then it describes the command in more than one short line
    description = result.output.split("\n\n", 1)[1].split("Options:")[0]
    assert len(" ".join(description.split())) >= 40, result.output
    # and no list of its commands is cut short
    if "Commands:" in result.output:
        assert "..." not in result.output.split("Commands:")[1]


def test_the_top_level_help_lists_every_command_uncut() -> None:
    result = CliRunner().invoke(cli, ["--help"], terminal_width=80)
    listed = result.output.split("Commands:")[1]
    assert "..." not in listed
    for name in ("serve", "db", "demo-data", "policy", "token", "revoke", "clients", "partners"):
        assert f"  {name} " in listed
