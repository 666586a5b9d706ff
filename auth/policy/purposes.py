"""The processing purposes, from the privacy notices.

A request declares one in ``X-Purpose``, except ``third_party_sharing``: that is what customers
consent to when partners (third parties) may receive their data, and a partner's requests are
bound by it whatever purpose they declare (`auth.policy.rows`).
"""

from __future__ import annotations

import enum


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
        """What the purpose covers, in the privacy notices' words."""
        return DESCRIPTIONS[self]

    @property
    def letter(self) -> str:
        """The one-letter abbreviation of the policy table."""
        return LETTERS[self]

    @classmethod
    def parse(cls, value: str) -> Purpose | None:
        """The declarable purpose named by ``value`` (case-insensitive), or ``None``."""
        return _BY_ID.get(value.strip().lower())


CONSENT_REQUIRED = frozenset({Purpose.ANALYTICS, Purpose.MARKETING, Purpose.THIRD_PARTY_SHARING})

DESCRIPTIONS = {
    Purpose.ORDER_FULFILLMENT: "Delivering goods and installing systems.",
    Purpose.CUSTOMER_SUPPORT: "Answering requests and complaints, feedback calls.",
    Purpose.BILLING: "Payments, accounting and record keeping.",
    Purpose.FRAUD_INVESTIGATION: "Investigating disputes, payments and fraud.",
    Purpose.ANALYTICS: "Research and service improvement; only with the customer's consent.",
    Purpose.MARKETING: "Offers and package recommendations; only with the customer's consent.",
    Purpose.LEGAL_ORDER: "Disclosure on a written judicial or legal order (X-Legal-Reference).",
    Purpose.THIRD_PARTY_SHARING: (
        "Giving data to partners (third parties); only with the customer's consent, for all "
        "partners or for one. A partner's requests see only the customers who consented to it, "
        "under every purpose but legal_order. Not declarable in X-Purpose."
    ),
}

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
