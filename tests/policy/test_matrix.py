"""The policy matrix: every guarded field × every purpose × its scopes present and absent.

Generated from `auth.policy.POLICY` and the built schema: one operation reaches every field of
every data type (lists, nested objects, ``node`` lookups, ``order { customer }``), and its
response must equal what `tests.policy_model` derives from the stored rows and the table —
visible values equal to the stored data, hidden ones null, counted in ``extensions.redactions``
with the right reason and what would unlock them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import strawberry
from graphql import GraphQLObjectType, get_named_type, is_leaf_type
from typer.testing import CliRunner

from api.cli import app as cli
from auth.policy import scopes as s
from auth.policy.catalog import DATA_TYPES, POLICY, DataType, Ownership
from auth.policy.errors import PolicyGapError
from auth.policy.plan import Plan
from auth.policy.purposes import DECLARABLE, Purpose
from schema.build import assemble, build_schema
from schema.permissions import guarded, install_guards, strip_permission_extensions
from store.models import Customer
from tests.support.policy_model import (
    MISSING_SCOPE,
    NO_POLICY,
    PURPOSE_NOT_ALLOWED,
    READ_SCOPES,
    Caller,
    Field,
    Fragment,
    Model,
    Seeded,
    Selection,
    Snapshot,
    check,
    hidden_reason,
    render,
    rule_of,
)

SCHEMA = build_schema()
TYPES = SCHEMA._schema.type_map

POLICY_SCOPES = tuple(sorted({scope for rule in POLICY.values() for scope in rule.scopes}))
"""Every scope some field of the table needs."""

SCOPE_CASES: list[str | None] = [None, *POLICY_SCOPES]
"""The scope each case leaves out of a token holding every read scope (None: leaves none)."""

POLICY_QUERY = """
query Policy {
  policy {
    fields { field scopes purposes }
    purposes { id consentRequired description }
  }
}
"""


def every_field(type_name: str, path: tuple[str, ...] = ()) -> tuple[Selection, ...]:
    """Every field of a data type of the built schema; related types are followed once per path.

    ``Customer.orders`` leads to ``Order``, whose ``customer`` is then left out (and the other
    way round from the ``orders`` root), which also keeps the operation within the depth limit.
    ``accessLog`` is read at the top level only: every audited request makes it longer.
    """
    graphql_type = TYPES[type_name]
    assert isinstance(graphql_type, GraphQLObjectType)
    path = (*path, type_name)
    selections: list[Selection] = []
    for name, graphql_field in graphql_type.fields.items():
        target = get_named_type(graphql_field.type)
        if name == "accessLog" and len(path) > 1:
            continue
        if is_leaf_type(target):
            selections.append(Field(name))
        elif target.name.endswith("Connection"):
            node = target.name.removesuffix("Connection")
            if node not in path:
                selections.append(connection(name, every_field(node, path)))
        elif target.name not in path:
            selections.append(Field(name, every_field(target.name, path)))
    return tuple(selections)


def connection(name: str, node: tuple[Selection, ...], **arguments: Any) -> Field:
    """``name(first: 10) { totalCount edges { node { … } } }``."""
    return Field(
        name,
        (Field("totalCount"), Field("edges", (Field("node", node),))),
        arguments=tuple({"first": 10, **arguments}.items()),
    )


def lookup(alias: str, global_id: str, type_name: str) -> Field:
    """``alias: node(id: …) { ... on Type { every field } }``."""
    return Field(
        "node",
        (Fragment(type_name, every_field(type_name)),),
        alias=alias,
        arguments=(("id", global_id),),
    )


def matrix_operation(data: Seeded) -> tuple[Selection, ...]:
    """One operation that reaches every field of every data type."""
    return (
        connection("customers", every_field("Customer")),
        connection("orders", every_field("Order")),
        connection("auditLog", every_field("AccessRecord")),
        lookup("address", data["ava_home"], "Address"),
        lookup("consent", data["ava_analytics"], "Consent"),
        lookup("usage", data["ava_login"], "UsageEvent"),
        lookup("access", data["ava_read"], "AccessRecord"),
        lookup("legal", data["legal"], "LegalRequest"),
    )


def schema_coordinates() -> Iterator[str]:
    """Every field of every data type of the built schema."""
    for type_name in DATA_TYPES:
        graphql_type = TYPES.get(type_name)
        if isinstance(graphql_type, GraphQLObjectType):
            yield from (f"{type_name}.{name}" for name in graphql_type.fields)


def gate(coordinate: str) -> tuple[str, ...]:
    """The fields that decide whether objects of the coordinate's type can be seen at all."""
    type_name = coordinate.partition(".")[0]
    return GATES.get(type_name, (f"{type_name}.id",))


GATES = {
    "OrderItem": ("Order.items",),
    "Disclosure": ("Customer.id", "Customer.disclosures"),
    "Partner": ("Customer.id", "Customer.disclosures"),
}
"""The types without an id, and the fields that lead to them."""


def legal_headers(caller: Caller, data: Seeded) -> dict[str, str]:
    if caller.purpose is Purpose.LEGAL_ORDER:
        return {"X-Legal-Reference": data.legal_reference}
    return {}


@pytest.mark.parametrize("purpose", DECLARABLE, ids=lambda p: p.value)
def test_every_field_under_every_purpose_with_and_without_its_scopes(
    gql, session, data, purpose
) -> None:
    for without in SCOPE_CASES:
        # given a caller holding every read scope but `without` (None: all of them)
        granted = frozenset(READ_SCOPES) - {without}
        caller = Caller(granted, purpose, data.legal_request_id)
        operation = matrix_operation(data)
        expected = Model(Snapshot.load(session), caller).expect(operation)
        # when one operation reads every field of every data type
        body = gql(
            render(operation),
            scope=caller.scope,
            purpose=purpose.value,
            headers=legal_headers(caller, data),
        )
        # then visible values equal the stored data, hidden ones are null with reason and count
        check(body, expected, case=f"{purpose.value} without {without}")
        # and every field it may read, of objects it may see, was reached and compared
        allowed = {
            c
            for c in schema_coordinates()
            if hidden_reason(c, caller) is None
            and all(hidden_reason(g, caller) is None for g in gate(c))
        }
        assert allowed <= set(expected.reached), allowed - set(expected.reached)
        if without is None:
            assert MISSING_SCOPE not in {entry["reason"] for entry in expected.redactions()}
        else:
            needing = {c for c in schema_coordinates() if without in rule_of(c).scopes}  # type: ignore[union-attr]
            assert not needing & allowed


def test_the_matrix_hides_every_restricted_field_for_a_purpose(session, data) -> None:
    # given callers that each miss one scope or declare a purpose a field does not allow
    seen: set[tuple[str, str]] = set()
    for purpose in Purpose:
        for without in POLICY_SCOPES:
            caller = Caller(frozenset(READ_SCOPES) - {without}, purpose, data.legal_request_id)
            seen |= set(Model(Snapshot.load(session), caller).expect(matrix_operation(data)).hidden)
    # then every field with a purpose restriction is hidden as PURPOSE_NOT_ALLOWED somewhere
    # (or its whole object is: an object whose id is hidden does not exist for the caller)
    for coordinate in schema_coordinates():
        rule = rule_of(coordinate)
        assert rule is not None
        if rule.purposes is not None:
            type_id = coordinate.split(".")[0] + ".id"
            assert {(coordinate, PURPOSE_NOT_ALLOWED), (type_id, PURPOSE_NOT_ALLOWED)} & seen, (
                coordinate
            )


EXPECTED_MISSING_SCOPE = {
    "Customer.firstName",
    "Customer.lastName",
    "Customer.dateOfBirth",
    "Customer.ageBand",
    "Customer.email",
    "Customer.mobilePhone",
    "Customer.landlinePhone",
    "Customer.addresses",
    "Customer.consents",
    "Customer.usageEvents",
    "Customer.accessLog",
    "Customer.disclosures",
    "Order.shippingAddress",
    "Order.paymentReference",
    "Order.paymentTrackingCode",
}
"""Fields reachable without their own scope: their parent needs a different one."""


@pytest.mark.parametrize("purpose", DECLARABLE, ids=lambda p: p.value)
def test_fields_reachable_without_their_scope_are_hidden_as_missing_scope(
    gql, session, data, purpose
) -> None:
    # given a caller with only the scopes that reach customers and orders, under `purpose`
    caller = Caller(frozenset({s.CUSTOMERS_READ, s.ORDERS_READ}), purpose, data.legal_request_id)
    operation = matrix_operation(data)
    expected = Model(Snapshot.load(session), caller).expect(operation)
    # when it reads every field
    body = gql(
        render(operation),
        scope=caller.scope,
        purpose=purpose.value,
        headers=legal_headers(caller, data),
    )
    # then the response is exactly the model's, and every field that needs another scope than
    # its parent is reported MISSING_SCOPE with what would unlock it
    check(body, expected)
    reported = {
        entry["field"]
        for entry in body["extensions"]["redactions"]
        if entry["reason"] == MISSING_SCOPE
    }
    assert reported == EXPECTED_MISSING_SCOPE
    for entry in body["extensions"]["redactions"]:
        rule = POLICY.get(entry["field"]) or POLICY[entry["field"].split(".")[0] + ".*"]
        assert entry["needs"]["scopes"] == list(rule.scopes)


# --- Fail closed ------------------------------------------------------------------------------


def test_every_field_of_every_data_type_has_a_policy_entry() -> None:
    # given the built schema (building fails on a gap) / then no field lacks an entry
    assert build_schema() is not None
    assert all(rule_of(coordinate) is not None for coordinate in schema_coordinates())


def test_a_field_that_leads_to_objects_is_never_readable_when_their_id_is_not() -> None:
    # given every field of a data type that leads to objects of a type with an id
    for coordinate in schema_coordinates():
        type_name, _, name = coordinate.partition(".")
        target = get_named_type(TYPES[type_name].fields[name].type)  # type: ignore[attr-defined]
        assert target is not None
        node = target.name.removesuffix("Connection")
        if not isinstance(TYPES.get(node), GraphQLObjectType) or "id" not in TYPES[node].fields:
            continue
        rule, id_rule = rule_of(coordinate), rule_of(f"{node}.id")
        assert rule is not None
        assert id_rule is not None
        # then whoever may read the field may read the objects' ids (ids cannot be null: the
        # field guards them; only root fields and payloads need their own check)
        assert set(id_rule.scopes) <= set(rule.scopes), coordinate
        if id_rule.purposes is not None:
            assert rule.purposes is not None, coordinate
            assert rule.purposes <= id_rule.purposes, coordinate


def test_every_policy_entry_names_a_field_of_the_schema() -> None:
    # given the table / then each entry is a field of the schema, or a data type's wildcard
    for coordinate in POLICY:
        type_name, _, name = coordinate.partition(".")
        graphql_type = TYPES[type_name]
        assert isinstance(graphql_type, GraphQLObjectType), coordinate
        assert name == "*" or name in graphql_type.fields, coordinate


@strawberry.type
class Meter:
    """A data type built for this test, with one field the policy has no entry for."""

    serial: str | None = guarded()


@strawberry.type
class Probe:
    @strawberry.field
    def meter(self) -> Meter:
        return Meter(serial="SN-1")


def test_a_field_without_a_policy_entry_is_hidden_from_everyone(monkeypatch) -> None:
    # given a data type whose field the table does not name, compiled like Steward's own
    monkeypatch.setattr(
        "schema.permissions.DATA_TYPES",
        {**DATA_TYPES, "Meter": DataType("Meter", Customer, None, Ownership.NOBODY)},
    )
    declared = strip_permission_extensions([Meter])
    schema = strawberry.Schema(query=Probe)
    gaps = install_guards(schema, declared, enforce=True)
    # then the build reports it
    assert gaps == ["Meter.serial", "Probe.meter"]
    # when even a caller holding every scope under every purpose reads it
    for purpose in [None, *Purpose]:
        plan = Plan(frozenset(s.ALL_SCOPES), purpose)
        result = schema.execute_sync("{ meter { serial } }", context_value=_Context(plan))
        # then it is null without an error, reported as NO_POLICY
        assert result.errors is None
        assert result.data == {"meter": {"serial": None}}
        assert plan.redactions() == [
            {"field": "Meter.serial", "reason": NO_POLICY, "count": 1, "needs": None}
        ]


@strawberry.type
class Reading:
    @strawberry.field
    def meter(self) -> Meter | None:
        return Meter(serial="SN-1")


def test_building_a_schema_with_a_gap_fails_naming_every_gap(monkeypatch) -> None:
    # given a data type with a field the table does not name, and a root field without a rule
    monkeypatch.setattr(
        "schema.permissions.DATA_TYPES",
        {**DATA_TYPES, "Meter": DataType("Meter", Customer, None, Ownership.NOBODY)},
    )
    # when a schema is built from them / then the build fails, naming both
    with pytest.raises(PolicyGapError) as refused:
        assemble(Reading, None, [Meter])
    assert refused.value.gaps == ["Meter.serial", "Reading.meter"]


class _Context:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan


# --- The table as the CLI and the API show it -----------------------------------------------


def test_steward_policy_prints_the_table() -> None:
    # when `steward policy` runs
    result = CliRunner().invoke(cli, ["policy"])
    # then it prints one line per entry with its scopes and a mark per purpose
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["field", "scopes", *(p.letter for p in DECLARABLE)]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1 : 1 + len(POLICY)]}
    assert list(rows) == list(POLICY)
    for coordinate, rule in POLICY.items():
        *scopes, marks = _split_row(rows[coordinate])
        assert scopes == list(rule.scopes), coordinate
        assert marks == [
            "x"
            if rule.purposes is None or purpose in rule.purposes
            else "~"
            if rule.forms.get(purpose) or rule.partner_forms.get(purpose)
            else "."
            for purpose in DECLARABLE
        ], coordinate
    # and lists the forms disclosed instead of values (SPEC section 13)
    assert "  Customer.mobilePhone under billing: partial" in lines
    assert "  Customer.email under marketing: pseudonym for partners" in lines
    assert "  Address.postalCode under analytics: generalised" in lines
    assert "  Customer.dateOfBirth under customer_support: generalised" in lines
    # and names each purpose, saying which need consent
    for purpose in Purpose:
        line = next(line for line in lines if line.startswith(f"{purpose.letter} {purpose.id}"))
        assert ("consent required" in line) is purpose.consent_required


def _split_row(cells: list[str]) -> tuple[Any, ...]:
    marks = cells[-len(DECLARABLE) :]
    scopes = [cell for cell in cells[: -len(DECLARABLE)] if cell not in ("+", "none")]
    return (*scopes, marks)


def test_the_policy_query_returns_the_table(gql) -> None:
    # when any caller, without a purpose, asks for the policy
    body = gql(POLICY_QUERY, scope="customers:read")
    # then it is the table, entry by entry, and the purposes
    assert "errors" not in body
    policy = body["data"]["policy"]
    assert policy["fields"] == [
        {
            "field": coordinate,
            "scopes": list(rule.scopes),
            "purposes": None
            if rule.purposes is None
            else [p.value for p in Purpose if p in rule.purposes],
        }
        for coordinate, rule in POLICY.items()
    ]
    assert policy["purposes"] == [
        {"id": p.value, "consentRequired": p.consent_required, "description": p.description}
        for p in Purpose
    ]


def test_the_policy_query_shows_the_forms(gql) -> None:
    # when any caller asks for the policy's forms
    body = gql("{ policy { fields { field forms { purpose form partners } } } }", scope="")
    # then they are SPEC section 13's, per field and purpose, partners' apart
    assert "errors" not in body, body
    forms = {
        entry["field"]: entry["forms"]
        for entry in body["data"]["policy"]["fields"]
        if entry["forms"]
    }
    assert forms == {
        "Customer.dateOfBirth": [
            {"purpose": "customer_support", "form": "generalised", "partners": False}
        ],
        "Customer.email": [{"purpose": "marketing", "form": "pseudonym", "partners": True}],
        "Customer.mobilePhone": [{"purpose": "billing", "form": "partial", "partners": False}],
        "Address.postalCode": [{"purpose": "analytics", "form": "generalised", "partners": False}],
    }


def test_field_descriptions_state_what_the_field_needs() -> None:
    # given the built schema / then each data field's description names its scopes and purposes
    for coordinate in schema_coordinates():
        type_name, _, name = coordinate.partition(".")
        rule = rule_of(coordinate)
        assert rule is not None
        description = TYPES[type_name].fields[name].description  # type: ignore[attr-defined]
        assert all(f"`{scope}`" in description for scope in rule.scopes), coordinate
        if rule.purposes is None:
            assert "any purpose" in description, coordinate
        else:
            assert all(f"`{p.value}`" in description for p in rule.purposes), coordinate
    # and a field disclosed in a form says which, under which purpose
    phone = TYPES["Customer"].fields["mobilePhone"].description  # type: ignore[attr-defined]
    assert "Instead of the value: `billing`: partial." in phone
    email = TYPES["Customer"].fields["email"].description  # type: ignore[attr-defined]
    assert "`marketing`: pseudonym for partners" in email
