"""A partner is an (issuer, client id) pair (SPEC section 7, v5): an external provider's token
whose ``client_id`` equals a built-in partner's is not that partner, and the other way round.

The provider is faked with ``httpx.MockTransport`` serving a real JWKS; partners are
registered with ``steward partners add [--issuer]``. Each partner here runs trusted documents
only, so whether a caller is it shows in the status of ``{ __typename }``: 403 for the
partner, 200 for anyone else.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import Engine, text
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app as cli
from api.settings import Settings
from store.database import alembic_config
from tests.support.auth import Provider, app_client, builtin_key, call, claims_for, sign

CLIENT = "shared-courier"


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def external(settings: Settings, provider: Provider) -> Iterator[TestClient]:
    """The app trusting both the built-in issuer and the provider."""
    with app_client(provider.settings(settings), http=provider.http()) as client:
        yield client


def register(steward: CliRunner, *options: str) -> None:
    env = {"STEWARD_ISSUER": Provider.ISSUER, "STEWARD_JWKS_URL": Provider.JWKS_URL}
    arguments = ["partners", "add", CLIENT, "--name", "Courier", "--trusted-documents-only"]
    result = steward.invoke(cli, [*arguments, *options], env=env)
    assert result.exit_code == 0, result.output


def statuses(client: TestClient, settings: Settings, provider: Provider) -> tuple[int, int]:
    """The status of ``{ __typename }`` for the built-in issuer's token of the client, and for
    the provider's token with the same client id."""
    builtin = sign(claims_for(settings.public_url, client_id=CLIENT), builtin_key(settings))
    foreign = provider.token(client_id=CLIENT)
    return call(client, builtin).status_code, call(client, foreign).status_code


def test_a_provider_token_with_a_builtin_partner_s_client_id_is_not_that_partner(
    external: TestClient, settings: Settings, provider: Provider, steward: CliRunner
) -> None:
    # given a partner of the built-in issuer (the default)
    register(steward)
    # then its own tokens are the partner's, and the provider's with its client id are not
    assert statuses(external, settings, provider) == (403, 200)


def test_a_partner_of_the_provider_is_not_the_builtin_client_of_that_id(
    external: TestClient, settings: Settings, provider: Provider, steward: CliRunner
) -> None:
    # given a partner registered under the provider's issuer
    register(steward, "--issuer", Provider.ISSUER)
    # then the provider's tokens are the partner's, and the built-in issuer's are not
    assert statuses(external, settings, provider) == (200, 403)


def test_registering_the_client_id_again_under_another_issuer_needs_a_removal(
    external: TestClient, settings: Settings, provider: Provider, steward: CliRunner
) -> None:
    # given a partner of the built-in issuer
    register(steward)
    # when the same client id is registered for the provider, it is refused and nothing changes
    env = {"STEWARD_ISSUER": Provider.ISSUER, "STEWARD_JWKS_URL": Provider.JWKS_URL}
    again = ["partners", "add", CLIENT, "--name", "Other", "--issuer", Provider.ISSUER]
    refused = steward.invoke(cli, again, env=env)
    assert refused.exit_code != 0
    assert "another issuer" in refused.output
    assert statuses(external, settings, provider) == (403, 200)
    # and once removed, it may be
    assert steward.invoke(cli, ["partners", "remove", CLIENT]).exit_code == 0
    register(steward, "--issuer", Provider.ISSUER)
    assert statuses(external, settings, provider) == (200, 403)


def test_an_issuer_steward_does_not_trust_is_refused(steward: CliRunner) -> None:
    arguments = ["partners", "add", CLIENT, "--name", "C", "--issuer", "https://other.example/"]
    result = steward.invoke(cli, arguments)
    assert result.exit_code != 0
    assert "Steward trusts" in result.output


def test_a_partner_registered_before_issuers_were_told_apart_stands_under_both(
    external: TestClient,
    settings: Settings,
    provider: Provider,
    steward: CliRunner,
    engine: Engine,
) -> None:
    # given a partner whose issuer is unknown (registered before migration 0006)
    register(steward)
    with engine.begin() as connection:
        connection.execute(text("UPDATE partner SET issuer = NULL"))
    # then both issuers' tokens with its client id are held to its rules, as before
    assert statuses(external, settings, provider) == (403, 403)
    # until it is registered again, under its issuer
    register(steward, "--issuer", Provider.ISSUER)
    assert statuses(external, settings, provider) == (200, 403)


def test_the_migration_keeps_the_builtin_issuer_s_partners_and_leaves_others_unknown(
    db_url: str, engine: Engine
) -> None:
    # given a database before migration 0006: a built-in client that is a partner, and a
    # partner whose client only an external provider knows
    config = alembic_config(db_url)
    command.downgrade(config, "0004")
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO oauth_client (client_id, name, secret_hash, scope, created_at)"
                    " VALUES ('builtin-courier', 'c', 'x', 'orders:read', CURRENT_TIMESTAMP)"
                )
            )
            for client_id in ("builtin-courier", "provider-agency"):
                connection.execute(
                    text(
                        "INSERT INTO partner (client_id, name, trusted_documents_only, created_at)"
                        " VALUES (:c, 'p', false, CURRENT_TIMESTAMP)"
                    ),
                    {"c": client_id},
                )
    finally:
        # when it is migrated
        command.upgrade(config, "head")
    # then the built-in client's partner is the built-in issuer's, the other's issuer unknown
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT client_id, issuer FROM partner ORDER BY client_id"))
        assert [tuple(row) for row in rows] == [("builtin-courier", ""), ("provider-agency", None)]
