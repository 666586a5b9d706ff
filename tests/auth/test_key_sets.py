"""RFC 9068 in full: every access token has a ``jti``, and a key that left its key set
verifies nothing from the next request on, cached or not (SPEC section 7)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from joserfc.jwk import KeySet
from starlette.testclient import TestClient

from api.settings import Settings
from auth.tokens.errors import Cause, InvalidToken
from auth.tokens.keys import generate
from tests.support.auth import DROP, Provider, app_client, call, claims_for, error_of, sign


@pytest.fixture
def provider() -> Provider:
    return Provider()


@pytest.fixture
def external(settings: Settings, provider: Provider) -> Iterator[TestClient]:
    """The app trusting both the built-in issuer and the provider."""
    with app_client(provider.settings(settings), http=provider.http()) as client:
        yield client


def test_provider_token_without_jti_is_refused(external: TestClient, provider: Provider) -> None:
    response = call(external, provider.token(jti=DROP))
    assert response.status_code == 401
    assert error_of(response) == (
        "INVALID_TOKEN",
        str(InvalidToken(Cause.MISSING_CLAIM, claim="jti")),
    )


def test_provider_token_with_a_non_string_jti_is_refused(
    external: TestClient, provider: Provider
) -> None:
    response = call(external, provider.token(jti=12345))
    assert response.status_code == 401
    assert error_of(response)[0] == "INVALID_TOKEN"


def test_a_key_the_provider_removed_is_refused_once_the_keys_are_refetched(
    external: TestClient, provider: Provider
) -> None:
    # given a token signed with the provider's second key, verified and cached
    provider.keys.append(provider.new_key())
    old = provider.token(key=provider.keys[1])
    assert call(external, old).status_code == 200
    assert call(external, old).status_code == 200
    # when the provider drops that key and rotates to a new one, which Steward fetches
    provider.keys = [provider.new_key(), provider.keys[0]]
    assert call(external, provider.token()).status_code == 200
    assert provider.fetches == 2
    # then the cached token signed with the removed key is refused
    response = call(external, old)
    assert response.status_code == 401
    assert error_of(response)[0] == "INVALID_TOKEN"
    # and tokens of the keys still published keep working
    assert call(external, provider.token(key=provider.keys[1])).status_code == 200


def test_a_key_removed_from_the_key_file_is_refused_after_a_restart(
    settings: Settings, tmp_path: Path
) -> None:
    # given a key file of two keys, and a token signed with the second
    kept, removed = generate(), generate()
    key_file = tmp_path / "keys.json"
    _write(key_file, [kept, removed])
    configured = settings.model_copy(update={"key_file": key_file})
    token = sign(claims_for(settings.public_url), removed)
    with app_client(configured) as client:
        assert call(client, token).status_code == 200
    # when the key leaves the file and Steward restarts
    _write(key_file, [kept])
    with app_client(configured) as client:
        # then its tokens are refused, the kept key's are not
        assert call(client, token).status_code == 401
        assert call(client, sign(claims_for(settings.public_url), kept)).status_code == 200


def _write(path: Path, keys: list[object]) -> None:
    path.write_text(json.dumps(KeySet(keys).as_dict(private=True)))  # type: ignore[arg-type]
    path.chmod(0o600)
