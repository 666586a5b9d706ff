"""The catalog, the one decision and the one row condition (SPEC section 11).

The catalog is the only place a field is described; the schema is built against it and
refused where a GraphQL type disagrees. `decide` answers visible, a form, owned-only or hidden
for a plan and a coordinate; `row_condition` gives a table's (or an alias's) row rule.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import strawberry
from sqlalchemy import select

from auth.policy import catalog
from auth.policy import scopes as s
from auth.policy.catalog import (
    DATA_TYPES,
    FIELDS,
    POLICY,
    DataType,
    Kind,
    Ownership,
    Rule,
    compiled,
    personal_columns,
    relation_at,
    scalar,
)
from auth.policy.decision import (
    MISSING_SCOPE,
    NO_POLICY,
    PURPOSE_NOT_ALLOWED,
    Access,
    decide,
    decisions,
    row_condition,
)
from auth.policy.errors import CatalogMismatchError
from auth.policy.forms import Form
from auth.policy.plan import Plan, visible_keys
from auth.policy.purposes import Purpose
from auth.policy.row_rules import RowScope
from schema.build import TYPES, Mutation, assemble, build_schema, graphql_schema
from schema.conformance import disagreements
from schema.permissions import guarded
from schema.queries import Query
from store import models
from store.models import table_of, utcnow

CONTACT = frozenset({s.CUSTOMERS_READ, s.CUSTOMERS_READ_CONTACT})

# --- The catalog ---------------------------------------------------------------------------------


def test_every_field_has_a_rule_and_every_entry_of_the_table_governs_a_field() -> None:
    # given the catalog / then each field is governed by its own entry or its type's
    for coordinate in FIELDS:
        type_name = coordinate.partition(".")[0]
        assert coordinate in POLICY or f"{type_name}.*" in POLICY, coordinate
    # and each entry of the table is a field of the catalog, or a data type's default
    for key in POLICY:
        type_name, _, name = key.partition(".")
        assert key in FIELDS or (name == "*" and DATA_TYPES[type_name].rule is POLICY[key]), key


def test_the_catalog_refuses_a_field_without_a_rule_or_named_twice() -> None:
    # given a type without a default rule and a field without its own
    bare = DataType("Meter", models.Customer, None, Ownership.NOBODY)
    unruled = dataclasses.replace(bare, fields=(scalar("serial", Kind.TEXT),))
    # when the catalog is checked / then it is refused, naming the field
    with pytest.raises(ValueError, match=r"Meter\.serial no rule"):
        catalog._check([unruled])
    twice = dataclasses.replace(
        bare, rule=catalog.rule([]), fields=(scalar("serial", Kind.TEXT),) * 2
    )
    with pytest.raises(ValueError, match=r"Meter\.serial twice"):
        catalog._check([twice])


def test_relations_name_their_keys_order_and_row_rule() -> None:
    # a list of a visible parent's own rows needs no row rule, unless its rows have one beyond
    # their customer's (addresses: under assigned access, the assigned orders' only); a lookup
    # by key does
    consents = relation_at("Customer.consents")
    assert (consents.target, consents.child_key, consents.parent_key) == (
        "Consent",
        "customer_id",
        "id",
    )
    assert not consents.row_rule
    assert relation_at("Customer.addresses").row_rule
    assert relation_at("Order.shippingAddress").row_rule
    assert relation_at("Customer.orders").order == (("placed_at", True), ("id", True))
    with pytest.raises(KeyError):
        relation_at("Customer.email")


def test_what_the_compiler_serves_and_what_erasure_blanks_are_the_catalogs() -> None:
    # audit and legal types, and the customer's access log and disclosures, stay on Strawberry
    assert compiled("Customer.email")
    assert compiled("Order.items")
    assert not compiled("Customer.accessLog")
    assert not compiled("Customer.disclosures")
    assert not compiled("AccessRecord.id")
    assert not compiled("LegalRequest.reference")
    assert not compiled("Customer.nothing")
    # erasure blanks each personal column once (ageBand is derived from dateOfBirth's)
    assert personal_columns("Customer") == (
        "first_name",
        "last_name",
        "date_of_birth",
        "email",
        "mobile_phone",
        "landline_phone",
    )


# --- The schema against the catalog --------------------------------------------------------------


def test_the_built_schema_agrees_with_the_catalog() -> None:
    assert disagreements(graphql_schema(build_schema())) == []


def test_building_fails_when_the_catalog_has_a_field_the_type_lacks(monkeypatch) -> None:
    # given a catalog whose Customer has a field the GraphQL type does not
    customer = DATA_TYPES["Customer"]
    extra = scalar("nationalId", Kind.TEXT, catalog.rule([s.CUSTOMERS_READ_IDENTITY]))
    monkeypatch.setattr(
        "schema.conformance.DATA_TYPES",
        {**DATA_TYPES, "Customer": dataclasses.replace(customer, fields=(*customer.fields, extra))},
    )
    # when the schema is built / then it is refused, naming the field
    with pytest.raises(CatalogMismatchError) as refused:
        assemble(Query, Mutation, TYPES)
    assert refused.value.problems == ["Customer.nationalId: in the catalog, not in the schema"]


@strawberry.type
class Meter:
    """A data type built for this test: each field disagrees with the catalog below."""

    id: strawberry.ID | None = guarded()
    serial: str = guarded()
    reading: int | None = guarded()
    readings: str | None = guarded()
    site: int | None = guarded()
    status: str | None = guarded()


@strawberry.type
class Probe:
    @strawberry.field
    def meter(self) -> Meter | None:
        return None


def test_every_disagreement_is_named(monkeypatch) -> None:
    # given a catalog that says otherwise of every field of Meter
    any_caller = catalog.rule([])
    meter = DataType(
        "Meter",
        models.Customer,
        None,
        Ownership.NOBODY,
        rule=any_caller,
        fields=(
            scalar("id", Kind.GID),
            scalar("serial", Kind.TEXT),
            scalar("reading", Kind.TEXT),
            scalar("readings", Kind.TEXT_LIST),
            catalog.relation(
                "site", "Address", catalog.Cardinality.SINGLE, ("id", "site_id"), any_caller
            ),
            scalar("status", Kind.ENUM),
        ),
    )
    monkeypatch.setattr("schema.conformance.DATA_TYPES", {"Meter": meter})
    # when the schema is checked against it / then each disagreement is named
    schema = graphql_schema(strawberry.Schema(query=Probe))
    assert disagreements(schema) == [
        "Meter.id: nullable, but an id is not",
        "Meter.serial: not nullable, as guarded",
        "Meter.reading: Int, the catalog says text (String)",
        "Meter.readings: a list in the catalog",
        "Meter.site: leads to Int, the catalog says Address",
        "Meter.status: String is no enum, the catalog says enum",
    ]


# --- The one decision ----------------------------------------------------------------------------


def test_decide_answers_visible_hidden_with_its_reason_and_owned() -> None:
    support = Plan(CONTACT, Purpose.CUSTOMER_SUPPORT)
    email = decide(support, "Customer.email")
    assert (email.access, email.key, email.reason) == (Access.VISIBLE, "Customer.email", None)
    # a type's default rule governs its fields through its `Type.*` entry
    assert decide(support, "OrderItem.sku").key == "OrderItem.*"
    # scopes come first, then the purpose
    missing = decide(support, "Customer.dateOfBirth")
    assert (missing.access, missing.reason) == (Access.HIDDEN, MISSING_SCOPE)
    assert missing.needs is POLICY["Customer.dateOfBirth"]
    fulfilment = decide(Plan(CONTACT, Purpose.ORDER_FULFILLMENT), "Customer.email")
    assert (fulfilment.access, fulfilment.reason) == (Access.HIDDEN, PURPOSE_NOT_ALLOWED)
    # a customer (``me``) reads on their own rows what the policy hides from the caller
    own = decide(Plan(frozenset({s.ME_READ}), None, owner_id=7), "Customer.email")
    assert (own.access, own.reason) == (Access.OWNED, MISSING_SCOPE)
    # a field the catalog lacks is hidden from everyone
    unknown = decide(Plan(frozenset(s.ALL_SCOPES), None), "Customer.shoeSize")
    assert (unknown.access, unknown.key, unknown.reason) == (Access.HIDDEN, None, NO_POLICY)


def test_decisions_are_decided_once_per_kind_of_caller() -> None:
    first = Plan(CONTACT, Purpose.BILLING)
    again = Plan(CONTACT, Purpose.BILLING)
    assert first.decisions is again.decisions
    assert first.decisions is not Plan(CONTACT, Purpose.BILLING, partner=True).decisions
    # what the guards test with one lookup is what `decide` says is visible
    assert first.visible == {
        decision.key
        for decision in first.decisions.values()
        if decision.access is Access.VISIBLE and decision.key is not None
    }


@pytest.fixture
def forms(monkeypatch) -> Iterator[None]:
    """Forms in the catalog: a partial mobile phone under billing, and a pseudonymous email
    for partners under marketing (SPEC section 13's examples)."""
    phone, email = FIELDS["Customer.mobilePhone"], FIELDS["Customer.email"]
    assert phone.rule is not None
    assert email.rule is not None
    monkeypatch.setitem(
        FIELDS,
        "Customer.mobilePhone",
        dataclasses.replace(
            phone, rule=dataclasses.replace(phone.rule, forms={Purpose.BILLING: Form.PARTIAL})
        ),
    )
    monkeypatch.setitem(
        FIELDS,
        "Customer.email",
        dataclasses.replace(
            email,
            rule=dataclasses.replace(email.rule, partner_forms={Purpose.MARKETING: Form.PSEUDONYM}),
        ),
    )
    decisions.cache_clear()
    visible_keys.cache_clear()
    yield
    decisions.cache_clear()
    visible_keys.cache_clear()


@pytest.mark.usefixtures("forms")
def test_a_form_is_decided_per_purpose_and_separately_for_partners() -> None:
    # a form opens a purpose the field's purposes do not name, to the callers with its scopes
    billing = decide(Plan(CONTACT, Purpose.BILLING), "Customer.mobilePhone")
    assert (billing.access, billing.form) == (Access.FORM, Form.PARTIAL)
    assert decide(Plan(CONTACT, Purpose.BILLING), "Customer.email").access is Access.VISIBLE
    without = decide(Plan(frozenset({s.CUSTOMERS_READ}), Purpose.BILLING), "Customer.mobilePhone")
    assert (without.access, without.reason) == (Access.HIDDEN, MISSING_SCOPE)
    # partners get their own form; staff keep the clear value
    partner = decide(Plan(CONTACT, Purpose.MARKETING, partner=True), "Customer.email")
    assert (partner.access, partner.form) == (Access.FORM, Form.PSEUDONYM)
    assert decide(Plan(CONTACT, Purpose.MARKETING), "Customer.email").access is Access.VISIBLE


def test_rule_forms_fall_back_from_partners_to_staff() -> None:
    both = Rule(
        (s.CUSTOMERS_READ,),
        None,
        forms={Purpose.ANALYTICS: Form.GENERALISED},
        partner_forms={Purpose.MARKETING: Form.PSEUDONYM},
    )
    assert both.form(Purpose.ANALYTICS, partner=True) is Form.GENERALISED
    assert both.form(Purpose.MARKETING, partner=True) is Form.PSEUDONYM
    assert both.form(Purpose.MARKETING, partner=False) is None
    assert both.form(None, partner=True) is None


# --- The one row condition -----------------------------------------------------------------------


def test_types_without_a_row_rule_of_their_own_get_none() -> None:
    rows = RowScope(purpose=Purpose.MARKETING)
    for type_name in ("OrderItem", "AccessRecord", "LegalRequest", "Disclosure", "Partner"):
        assert row_condition(rows, type_name) is None, type_name


@pytest.mark.parametrize("assigned", [False, True])
@pytest.mark.parametrize("type_name", ["Customer", "Order", "Address", "Consent", "UsageEvent"])
@pytest.mark.parametrize("purpose", [Purpose.MARKETING, Purpose.ORDER_FULFILLMENT])
def test_a_row_condition_reads_the_alias_it_is_given(
    type_name: str, purpose: Purpose, assigned: bool
) -> None:
    # given an alias of the type's table, named as SQLAlchemy would name an anonymous one,
    # and a caller that is staff, or a partner with assigned access
    table = table_of(DATA_TYPES[type_name].model)
    name = f"{table.name}_1"
    alias = table.alias(name)
    rows = (
        RowScope(purpose=purpose, partner="courier", assigned=True, assignments_since=utcnow())
        if assigned
        else RowScope(purpose=purpose)
    )
    condition = row_condition(rows, type_name, alias)
    assert condition is not None
    # when a statement reads the alias under it / then it reads the alias alone, and no
    # subquery of the rule takes the alias's name (it would read its own rows instead)
    statement = select(alias.c.id).where(condition)
    assert [str(each) for each in statement.get_final_froms()] == [str(alias)]
    assert str(statement).count(f"AS {name}") == 1, str(statement)
