"""STEWARD_SCOPE_CLAIMS: an external provider's roles or groups, mapped to Steward's scopes.

The claim shapes are those of Keycloak, Auth0 and Entra ID; the provider is faked at the HTTP
level (`tests.support.auth.Provider`); `tests/clients/` signs staff in at a real one.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from starlette.testclient import TestClient

from api.app import create_app
from api.settings import ScopeClaimsSetting, Settings
from auth.policy.scopes import ALL_SCOPES
from auth.tokens.errors import Cause, InvalidToken
from auth.tokens.scope_claims import ScopeClaims
from tests.support.auth import Provider, app_client, bearer, builtin_key, claims_for, error_of, sign

SUPPORT = ["customers:read", "customers:read:identity", "purpose:customer_support"]
CUSTOMERS = {"query": "{ customers(first: 1) { totalCount } }"}
NAMESPACED = "https://steward.example.com/roles"


def read_customers(client: TestClient, token: str) -> Any:
    """The answer to a page of customers under ``customer_support``: its data, or the code
    of its refusal."""
    headers = {**bearer(token), "X-Purpose": "customer_support"}
    response = client.post("/graphql", json=CUSTOMERS, headers=headers)
    if response.status_code == 200:
        return response.json()
    assert response.status_code == 403, response.text
    return error_of(response)[0]


def mapping(claim: str, roles: dict[str, list[str]] | None = None) -> ScopeClaimsSetting:
    return ScopeClaimsSetting.model_validate({"claim": claim, "map": roles or {"support": SUPPORT}})


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.mark.parametrize(
    ("claim", "claims"),
    [
        ("realm_access.roles", {"realm_access": {"roles": ["offline_access", "support"]}}),
        (NAMESPACED, {NAMESPACED: ["support"]}),
        ("permissions", {"permissions": ["support"]}),
        ("roles", {"roles": ["support"]}),
        ("groups", {"groups": "support"}),
    ],
    ids=["keycloak realm roles", "auth0 namespaced", "auth0 permissions", "entra roles", "one"],
)
def test_a_mapped_role_grants_its_scopes(
    settings: Settings, provider: Provider, claim: str, claims: dict[str, Any]
) -> None:
    # given a provider's roles mapped to the support scopes
    configured = provider.settings(settings, scope_claims=mapping(claim))
    with app_client(configured, http=provider.http()) as client:
        # when staff whose token names no Steward scope, only the role, read customers
        body = read_customers(client, provider.token(scope="", **claims))
        # then the role's scopes apply
        assert body == {"data": {"customers": {"totalCount": 0}}}
        # and without the role, nothing is granted
        refused = read_customers(client, provider.token(scope=""))
        assert refused == "PURPOSE_NOT_PERMITTED"


def test_the_scope_claim_still_counts_beside_the_mapped_ones(
    settings: Settings, provider: Provider
) -> None:
    roles = {"support": ["customers:read"]}
    configured = provider.settings(settings, scope_claims=mapping("groups", roles))
    with app_client(configured, http=provider.http()) as client:
        token = provider.token(scope="purpose:customer_support", groups=["support"])
        assert read_customers(client, token) == {"data": {"customers": {"totalCount": 0}}}


def test_the_builtin_issuers_tokens_are_never_mapped(
    settings: Settings, provider: Provider
) -> None:
    configured = provider.settings(settings, scope_claims=mapping("groups"))
    with app_client(configured, http=provider.http()) as client:
        claims = claims_for(settings.public_url, scope="", groups=["support"])
        body = read_customers(client, sign(claims, builtin_key(settings)))
        assert body == "PURPOSE_NOT_PERMITTED"


@pytest.mark.parametrize("value", [{"support": True}, 7, ["support", 7]], ids=str)
def test_a_malformed_roles_claim_is_an_invalid_token(
    settings: Settings, provider: Provider, value: object
) -> None:
    configured = provider.settings(settings, scope_claims=mapping("groups"))
    with app_client(configured, http=provider.http()) as client:
        response = client.post(
            "/graphql", json=CUSTOMERS, headers=bearer(provider.token(groups=value))
        )
        assert response.status_code == 401
        expected = str(InvalidToken(Cause.INVALID_CLAIM, claim="groups"))
        assert error_of(response) == ("INVALID_TOKEN", expected)


def test_the_setting_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    setting = {"claim": "realm_access.roles", "map": {"support": SUPPORT}}
    monkeypatch.setenv("STEWARD_ISSUER", Provider.ISSUER)
    monkeypatch.setenv("STEWARD_SCOPE_CLAIMS", json.dumps(setting))
    scope_claims = Settings(_env_file=None).tokens.scope_claims
    assert scope_claims is not None
    assert scope_claims.path == ("realm_access", "roles")
    assert scope_claims.roles == {"support": frozenset(SUPPORT)}


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        '{"claim": "groups"}',
        '{"claim": "", "map": {"support": ["customers:read"]}}',
        '{"claim": "groups..roles", "map": {"support": ["customers:read"]}}',
        '{"claim": "groups", "map": {}}',
        '{"claim": "groups", "map": {"support": ["customers:raed"]}}',
        '{"claim": "groups", "map": {"support": "customers:read"}}',
        '{"claim": "groups", "map": {"": ["customers:read"]}}',
        '{"claim": "groups", "map": {"support": ["customers:read"]}, "mode": "x"}',
    ],
    ids=[
        "not json",
        "no map",
        "empty claim",
        "empty path step",
        "empty map",
        "unknown scope",
        "scopes not a list",
        "empty role",
        "unknown key",
    ],
)
def test_a_malformed_setting_stops_the_start(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STEWARD_ISSUER", Provider.ISSUER)
    monkeypatch.setenv("STEWARD_SCOPE_CLAIMS", value)
    with pytest.raises(ValueError, match="scope_claims"):
        Settings(_env_file=None)


def test_scope_claims_without_an_external_issuer_stop_the_start() -> None:
    with pytest.raises(ValidationError, match="set STEWARD_ISSUER"):
        Settings(_env_file=None, scope_claims=mapping("groups"))


def test_a_non_uri_audience_beside_an_issuer_is_a_warning_at_start(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="steward.app"):
        external = {"issuer": Provider.ISSUER, "jwks_url": Provider.JWKS_URL}
        create_app(settings.model_copy(update=external))
        assert "STEWARD_AUDIENCE 'steward' is not a resource indicator" in caplog.text
        caplog.clear()
        create_app(settings.model_copy(update={**external, "audience": "https://api#x"}))
        assert "STEWARD_AUDIENCE 'https://api#x' is not a resource indicator" in caplog.text
        caplog.clear()
        create_app(settings)
        for audience in ("https://api.example.com", "urn:example:steward"):
            create_app(settings.model_copy(update={**external, "audience": audience}))
        assert caplog.text == ""


ROLES = st.sampled_from(["support", "billing", "privacy-office", "offline_access", "Support"])
MAPS = st.dictionaries(ROLES, st.frozensets(st.sampled_from(ALL_SCOPES)), max_size=4)


@given(roles=MAPS, held=st.lists(ROLES, max_size=6))
def test_a_token_gets_exactly_the_scopes_of_the_mapped_roles_it_holds(
    roles: dict[str, frozenset[str]], held: list[str]
) -> None:
    scope_claims = ScopeClaims("realm_access.roles", roles)
    granted = scope_claims.scopes({"realm_access": {"roles": held}, "groups": list(roles)})
    expected = frozenset().union(*(roles[role] for role in held if role in roles))
    assert granted == expected


@given(
    value=st.one_of(
        st.integers(),
        st.booleans(),
        st.none(),
        st.dictionaries(st.text(max_size=3), st.text(max_size=3), min_size=1),
        st.lists(st.one_of(st.integers(), st.none()), min_size=1),
    )
)
def test_a_roles_claim_of_another_shape_is_never_read_as_roles(value: object) -> None:
    scope_claims = ScopeClaims("groups", {"support": frozenset(SUPPORT)})
    with pytest.raises(InvalidToken):
        scope_claims.scopes({"groups": value})
