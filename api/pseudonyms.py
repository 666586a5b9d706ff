"""Where the pseudonym keys come from: ``STEWARD_PSEUDONYM_KEY``, else the key file.

Fail closed: with neither (an external provider alone, no key set), there are no pseudonym
keys, and a field due to be disclosed as a pseudonym is withheld (``null``), never disclosed
in clear; the server says so once, at start, as the development token page does when its
secret is missing.
"""

from __future__ import annotations

import logging

from joserfc.jwk import KeySet

from api.settings import Settings
from auth.policy.forms import PseudonymKeys
from auth.tokens.pseudonym_master import pseudonym_master

__all__ = ["pseudonym_keys"]

log = logging.getLogger(__name__)


def pseudonym_keys(settings: Settings, keys: KeySet | None) -> PseudonymKeys | None:
    """The pseudonym keys of this deployment, or ``None`` (pseudonyms withheld).

    Args:
        settings: ``pseudonym_key``, when set, is the master secret.
        keys: the key file's keys (``None`` without the built-in issuer): the master secret
            derives from the first one's private value otherwise.
    """
    if settings.pseudonym_key is not None:
        return PseudonymKeys(settings.pseudonym_key.get_secret_value().encode())
    if keys is not None:
        return PseudonymKeys(pseudonym_master(keys))
    log.warning(
        "neither STEWARD_PSEUDONYM_KEY nor a key file (STEWARD_BUILTIN_ISSUER is off): "
        "fields due to be disclosed as pseudonyms are withheld"
    )
    return None
