"""The processing purposes, from the privacy notices.

A request declares one in ``X-Purpose``, except ``third_party_sharing``: that is what customers
consent to when partners (third parties) may receive their data, and a partner's requests are
bound by it whatever purpose they declare (`auth.policy.row_rules`).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources


class Purpose(enum.StrEnum):
    """A purpose of processing; its value is the id clients send in ``X-Purpose``."""

    ORDER_FULFILLMENT = "order_fulfillment"
    CUSTOMER_SUPPORT = "customer_support"
    BILLING = "billing"
    FRAUD_INVESTIGATION = "fraud_investigation"
    ANALYTICS = "analytics"
    MARKETING = "marketing"
    LEGAL_ORDER = "legal_order"
    THIRD_PARTY_SHARING = "third_party_sharing"

    @property
    def id(self) -> str:
        """The lower-case id, as in ``X-Purpose`` and the ``purpose:<id>`` scope."""
        return self.value

    @property
    def scope(self) -> str:
        """The scope a token needs to declare this purpose."""
        return f"purpose:{self.value}"

    @property
    def consent_required(self) -> bool:
        """Whether only customers with a current GRANTED consent may be processed."""
        return self in CONSENT_REQUIRED

    @property
    def declarable(self) -> bool:
        """Whether a request may declare it in ``X-Purpose`` (and a token hold its scope)."""
        return self is not Purpose.THIRD_PARTY_SHARING

    @property
    def description(self) -> str:
        """What the purpose covers, in the privacy notices' words (English)."""
        return TEXTS[LANGUAGES[0]][self].description

    def text(self, language: str) -> PurposeText:
        """The purpose's title and description in ``language`` (one of `LANGUAGES`)."""
        return TEXTS[language][self]

    @property
    def letter(self) -> str:
        """The one-letter abbreviation of the policy table."""
        return LETTERS[self]

    @classmethod
    def parse(cls, value: str) -> Purpose | None:
        """The declarable purpose named by ``value`` (case-insensitive), or ``None``."""
        return _BY_ID.get(value.strip().lower())


CONSENT_REQUIRED = frozenset({Purpose.ANALYTICS, Purpose.MARKETING, Purpose.THIRD_PARTY_SHARING})

LANGUAGES = ("en", "fa", "vi")
"""The languages of the purposes' titles and descriptions; the first is the fallback."""


def _texts() -> dict[str, dict[Purpose, PurposeText]]:
    """``purposes.json``: per language, per purpose, its title and description, following the
    two privacy notices (``shared/seeds``). Every language names every purpose."""
    data = json.loads(resources.files(__package__).joinpath("purposes.json").read_text("utf-8"))
    texts = {
        language: {Purpose(key): PurposeText(**text) for key, text in data[language].items()}
        for language in LANGUAGES
    }
    for language, by_purpose in texts.items():
        if set(by_purpose) != set(Purpose):
            raise ValueError(f"purposes.json: {language} does not name every purpose once")
    return texts


@dataclass(frozen=True, slots=True)
class PurposeText:
    """What a purpose is called and covers, in one language."""

    title: str
    description: str


def language_of(preferences: Iterable[str]) -> str:
    """The first language of ``preferences`` (BCP 47 tags, best first) that the texts are in.

    Only the primary subtag counts (``fa-IR`` is ``fa``); nothing known gives ``en``.

    Example:
        >>> language_of(["de-CH", "vi-VN", "en"])
        'vi'
    """
    for tag in preferences:
        primary = tag.strip().split("-")[0].split("_")[0].lower()
        if primary in LANGUAGES:
            return primary
    return LANGUAGES[0]


LETTERS = {
    Purpose.ORDER_FULFILLMENT: "F",
    Purpose.CUSTOMER_SUPPORT: "S",
    Purpose.BILLING: "B",
    Purpose.FRAUD_INVESTIGATION: "X",
    Purpose.ANALYTICS: "A",
    Purpose.MARKETING: "M",
    Purpose.LEGAL_ORDER: "L",
    Purpose.THIRD_PARTY_SHARING: "T",
}

DECLARABLE = tuple(purpose for purpose in Purpose if purpose.declarable)
"""The purposes ``X-Purpose`` may name, in the policy table's order."""

_BY_ID = {purpose.value: purpose for purpose in DECLARABLE}

TEXTS = _texts()
"""Language → purpose → its title and description."""
