"""An external identity provider's key set, fetched over HTTP and cached."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import anyio
import httpx
from joserfc.errors import JoseError
from joserfc.jwk import JWKRegistry, Key, KeySet

from auth.tokens.errors import ProviderUnavailable

__all__ = ["RemoteKeySet"]

logger = logging.getLogger(__name__)

_ASYMMETRIC = frozenset({"RSA", "EC", "OKP"})


class RemoteKeySet:
    """The key set at ``url``, kept fresh without letting tokens drive the provider's load.

    - Fetched on first use, with ``timeout``; re-fetched once older than ``max_age``.
    - A token naming an unknown ``kid`` triggers a refresh (the provider rotated its keys),
      at most once per ``refresh_interval``: random ``kid``s cannot hammer the provider.
    - After a failed fetch, requests fail fast for ``failure_backoff`` seconds.
    - When the provider is down, keys already fetched keep working (stale but valid);
      only a token that needs keys we do not have gets :class:`ProviderUnavailable`.

    Args:
        url: the provider's ``jwks_uri``.
        http: the client to fetch with.
    """

    def __init__(
        self,
        url: str,
        http: httpx.AsyncClient,
        *,
        timeout: float = 5.0,
        max_age: float = 3600.0,
        refresh_interval: float = 30.0,
        failure_backoff: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._http = http
        self._timeout = timeout
        self._max_age = max_age
        self._refresh_interval = refresh_interval
        self._failure_backoff = failure_backoff
        self._clock = clock
        self._lock = anyio.Lock()
        self.current: KeySet | None = None
        self._fetched_at = -float("inf")
        self._refreshed_at = -float("inf")
        self._failed_at = -float("inf")

    async def ensure(self, kid: str | None) -> None:
        """Make :attr:`current` hold the key named ``kid`` if the provider has it.

        Raises:
            ProviderUnavailable: the keys are needed and the provider cannot be reached.
        """
        if self._satisfied(kid):
            return
        async with self._lock:  # one fetch at a time; the others then find its result
            if self._satisfied(kid):
                return
            now = self._clock()
            if now - self._failed_at < self._failure_backoff:
                if self.current is None or not self._has(kid):
                    raise ProviderUnavailable()
                return
            unknown = self.current is not None and not self._has(kid)
            if unknown and now - self._refreshed_at < self._refresh_interval:
                return  # rate-limited: the token is judged against the keys we have
            try:
                self.current = await self._fetch()
            except ProviderUnavailable:
                self._failed_at = self._clock()
                if self.current is None or not self._has(kid):
                    raise
                logger.warning("keeping stale keys of %s: provider unreachable", self.url)
                return
            self._fetched_at = self._clock()
            if unknown:
                self._refreshed_at = self._fetched_at

    def _satisfied(self, kid: str | None) -> bool:
        fresh = self._clock() - self._fetched_at < self._max_age
        return self.current is not None and fresh and self._has(kid)

    def _has(self, kid: str | None) -> bool:
        if self.current is None:
            return False
        if kid is None:
            return len(self.current.keys) == 1
        return any(key.kid == kid for key in self.current)

    async def _fetch(self) -> KeySet:
        try:
            response = await self._http.get(
                self.url, timeout=self._timeout, headers={"Accept": "application/json"}
            )
            response.raise_for_status()
            return _import(response.json())
        except (httpx.HTTPError, ValueError, JoseError) as error:
            logger.warning("cannot fetch keys from %s: %s", self.url, type(error).__name__)
            raise ProviderUnavailable() from error


def _import(document: Any) -> KeySet:
    """The asymmetric signing keys of a JWK Set document; others are ignored (RFC 7517 §5)."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("not a JWK Set")
    keys: list[Key] = []
    for data in document["keys"]:
        if not isinstance(data, dict) or data.get("kty") not in _ASYMMETRIC:
            continue  # an HMAC secret in a public key set must never verify anything
        if data.get("use", "sig") != "sig":
            continue
        try:
            keys.append(JWKRegistry.import_key(data))
        except (JoseError, ValueError):
            continue
    if not keys:
        raise ValueError("no usable keys")
    return KeySet(keys)
