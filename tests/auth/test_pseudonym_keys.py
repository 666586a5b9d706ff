"""Where pseudonym keys come from: ``STEWARD_PSEUDONYM_KEY``, else the key file, else none."""

from __future__ import annotations

import json
import logging
import secrets
from pathlib import Path

import pytest
from joserfc.jwk import KeySet
from pydantic import ValidationError

from api.pseudonyms import pseudonym_keys
from api.settings import Settings
from auth.policy.forms import ValueKind, pseudonym
from auth.tokens.keys import generate, load_or_create
from auth.tokens.pseudonym_master import pseudonym_master

EMAIL = "bita@example.com"


def settings(key_file: Path, **more: object) -> Settings:
    return Settings(_env_file=None, key_file=key_file, **more)  # type: ignore[arg-type]


def pseudonym_of(keys: KeySet | None, config: Settings, client: str = "agency") -> str | None:
    derived = pseudonym_keys(config, keys)
    return (
        None
        if derived is None
        else pseudonym(ValueKind.EMAIL, EMAIL, derived.recipient("", client))
    )


def test_the_key_file_gives_the_same_pseudonyms_on_every_start(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    first = pseudonym_of(load_or_create(path), settings(path))
    again = pseudonym_of(load_or_create(path), settings(path))
    assert first is not None
    assert first == again


def test_two_key_files_give_different_pseudonyms(tmp_path: Path) -> None:
    one, two = tmp_path / "one.json", tmp_path / "two.json"
    assert pseudonym_of(load_or_create(one), settings(one)) != pseudonym_of(
        load_or_create(two), settings(two)
    )


def test_the_first_keys_private_value_counts_not_its_metadata(tmp_path: Path) -> None:
    # given a key file whose first key gets a new kid, and later a new first key (rotation)
    path = tmp_path / "keys.json"
    keys = load_or_create(path)
    before = pseudonym_master(keys)
    data = keys.as_dict(private=True)
    data["keys"][0]["kid"] = "renamed"
    path.write_text(json.dumps(data))
    assert pseudonym_master(load_or_create(path)) == before
    rotated = KeySet([generate(), *keys.keys])
    assert pseudonym_master(rotated) != before
    assert pseudonym_master(KeySet([*keys.keys, generate()])) == before


def test_an_empty_key_set_has_no_master() -> None:
    with pytest.raises(ValueError, match="no key"):
        pseudonym_master(KeySet([]))


def test_the_pseudonym_key_setting_comes_before_the_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    keys = load_or_create(path)
    secret = secrets.token_urlsafe(32)
    from_setting = pseudonym_of(keys, settings(path, pseudonym_key=secret))
    assert from_setting == pseudonym_of(None, settings(path, pseudonym_key=secret))
    assert from_setting != pseudonym_of(keys, settings(path))
    assert from_setting != pseudonym_of(keys, settings(path, pseudonym_key=secret), "other")


def test_the_setting_is_read_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = secrets.token_urlsafe(32)
    monkeypatch.setenv("STEWARD_PSEUDONYM_KEY", secret)
    config = Settings(_env_file=None)
    assert config.pseudonym_key is not None
    assert config.pseudonym_key.get_secret_value() == secret
    assert secret not in repr(config)


def test_a_short_pseudonym_key_is_refused_without_showing_it(tmp_path: Path) -> None:
    secret = "too-short-a-secret"
    with pytest.raises(ValidationError) as refused:
        settings(tmp_path / "keys.json", pseudonym_key=secret)
    assert "at least 32 bytes" in str(refused.value)
    assert secret not in str(refused.value)


def test_without_a_key_pseudonyms_are_withheld_and_the_log_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # given an external provider alone: no key file, no STEWARD_PSEUDONYM_KEY
    config = settings(tmp_path / "keys.json", builtin_issuer=False)
    with caplog.at_level(logging.WARNING, logger="api.pseudonyms"):
        assert pseudonym_keys(config, None) is None
    assert "withheld" in caplog.text
    assert not (tmp_path / "keys.json").exists()
