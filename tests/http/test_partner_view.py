"""A partner's view before it integrates (SPEC section 10, v5): contracts and per-caller schemas.

``steward partners contract`` (and ``partners allow``) state, per field of each registered
document and per purpose the partner may declare, what the policy gives; ``--strict`` refuses a
document selecting a field the partner can never see. ``steward schema --client`` prints what
a client can ever unlock, introspection with its tokens shows the same, and execution keeps one
schema. Callers: the demo courier, the demo marketing agency, and a staff client.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from graphql import (
    GraphQLSchema,
    build_client_schema,
    build_schema,
    get_introspection_query,
    print_schema,
)
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient
from typer.testing import CliRunner

from api import devtoken
from api.app import create_app
from api.cli import app as cli
from api.demo_partners import AGENCY, COURIER
from api.settings import Settings
from auth.policy import scopes as s
from auth.policy.purposes import Purpose
from auth.policy.scopes import ALL_SCOPES
from schema.build import sdl
from store import models
from tests.support.auth import TokenFactory
from tests.support.callers import SUPPORT, scope
from tests.support.world import seed

COURIER_SCOPES = scope(
    s.CUSTOMERS_READ,
    s.CUSTOMERS_READ_IDENTITY,
    s.CUSTOMERS_READ_CONTACT,
    s.ADDRESSES_READ,
    s.ORDERS_READ,
    Purpose.ORDER_FULFILLMENT.scope,
)
AGENCY_SCOPES = scope(
    s.CUSTOMERS_READ,
    s.CUSTOMERS_READ_IDENTITY,
    s.CUSTOMERS_READ_CONTACT,
    Purpose.MARKETING.scope,
    Purpose.ANALYTICS.scope,
)

DELIVERIES = """
query Deliveries {
  orders(first: 20) {
    edges { node { number status shippingAddress { line1 city postalCode } ...Recipient } }
  }
}
fragment Recipient on Order { customer { firstName mobilePhone } }
"""
CAMPAIGN = """
query Campaign { customers(first: 50) { edges { node { firstName email ageBand } } } }
query Birthdays { customers(first: 50) { edges { node { firstName dateOfBirth } } } }
"""
CUSTOMER_FIELDS = '{ __type(name: "Customer") { fields { name } } }'
COURIER_READS_EMAIL = """
query { orders(first: 5) { edges { node { number customer { email mobilePhone } } } } }
"""


def cells(output: str) -> dict[tuple[str, str], list[str]]:
    """The contract's table rows: (field, purpose) → [access, form, why]."""
    rows: dict[tuple[str, str], list[str]] = {}
    for line in output.splitlines():
        parts = re.split(r" {2,}", line.strip())
        if line.startswith("  ") and len(parts) >= 4 and "." in parts[0]:
            rows[(parts[0], parts[1])] = [*parts[2:4], " ".join(parts[4:])]
    return rows


def trusted(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(models.TrustedDocument)) or 0


def field_map(schema: GraphQLSchema) -> dict[str, set[str]]:
    """Each named type of a schema (introspection's own aside) → its fields (or values)."""
    found: dict[str, set[str]] = {}
    for name, named in schema.type_map.items():
        if name.startswith("__"):
            continue
        fields = getattr(named, "fields", None) or getattr(named, "values", None) or {}
        found[name] = set(fields)
    return found


@pytest.fixture
def demo(steward: CliRunner) -> CliRunner:
    """The demo data: a few customers, the demo courier and the demo marketing agency."""
    loaded = steward.invoke(cli, ["demo-data", "--customers", "6"])
    assert loaded.exit_code == 0, loaded.output
    return steward


def run(steward: CliRunner, *args: str, code: int = 0) -> Any:
    result = steward.invoke(cli, list(args))
    assert result.exit_code == code, result.output
    return result


# --- Contracts ----------------------------------------------------------------------------------


def test_the_courier_learns_its_contract_when_it_registers_its_deliveries(
    demo: CliRunner, tmp_path: Path, session: Session
) -> None:
    # given the courier's delivery query
    path = tmp_path / "deliveries.graphql"
    path.write_text(DELIVERIES)
    # when it is registered (strictly) under the courier's scopes
    allowed = run(demo, "partners", "allow", COURIER, str(path), "--scope", COURIER_SCOPES)
    assert allowed.stdout.splitlines()[0].startswith("sha256:")
    assert allowed.stdout.splitlines()[0].endswith("\tDeliveries")
    # then the contract follows: the courier has assigned access, so every field it selects
    # is there for the orders assigned to it (and their customers, shipping addresses)
    terms = cells(allowed.stdout)
    assert terms[("Query.orders", "order_fulfillment")] == ["visible", "-", ""]
    for coordinate in (
        "Order.number",
        "Order.shippingAddress",
        "Address.line1",
        "Address.postalCode",
        "Order.customer",
        "Customer.firstName",
        "Customer.mobilePhone",
    ):
        assert terms[(coordinate, "order_fulfillment")] == ["assignment-dependent", "-", ""]
    assert f"contract of {COURIER} (partner: a third party, assigned access)" in allowed.stdout
    assert "  assigned: A partner with assigned access" in allowed.stdout
    assert "purposes it may declare: order_fulfillment" in allowed.stdout
    assert "never visible" not in allowed.stdout
    # and `partners contract` prints the same, from what is registered
    contract = run(demo, "partners", "contract", COURIER, "--scope", COURIER_SCOPES, "--strict")
    assert cells(contract.stdout) == terms
    assert trusted(session) == 1


def test_a_courier_document_that_reads_email_is_refused_strictly(
    demo: CliRunner, tmp_path: Path, session: Session
) -> None:
    path = tmp_path / "email.graphql"
    path.write_text(COURIER_READS_EMAIL)
    # when the courier registers a document that selects the customer's email, strictly
    refused = run(
        demo,
        "partners",
        "allow",
        COURIER,
        str(path),
        "--scope",
        COURIER_SCOPES,
        "--strict",
        code=1,
    )
    # then it is refused, saying why, and nothing is registered (read back)
    assert "Customer.email" in refused.stderr
    assert "purpose not declarable" in refused.stderr
    assert "Customer.mobilePhone" not in refused.stderr
    assert "nothing was registered" in refused.stderr
    assert trusted(session) == 0
    assert run(demo, "partners", "documents", COURIER).stdout == ""
    # and without --strict it is registered, its contract naming the field it never sees
    allowed = run(demo, "partners", "allow", COURIER, str(path), "--scope", COURIER_SCOPES)
    terms = cells(allowed.stdout)
    assert terms[("Customer.email", "order_fulfillment")][0] == "hidden"
    assert terms[("Customer.mobilePhone", "order_fulfillment")][0] == "assignment-dependent"
    assert "never visible: Customer.email" in allowed.stdout
    assert trusted(session) == 1
    # and `partners contract --strict` fails on it
    run(demo, "partners", "contract", COURIER, "--scope", COURIER_SCOPES, "--strict", code=1)


def test_the_agency_contract_per_purpose(demo: CliRunner, tmp_path: Path, session: Session) -> None:
    path = tmp_path / "campaign.graphql"
    path.write_text(CAMPAIGN)
    # when the agency registers its campaign queries strictly
    refused = run(
        demo, "partners", "allow", AGENCY, str(path), "--scope", AGENCY_SCOPES, "--strict", code=1
    )
    # then Birthdays is refused (no purpose of the agency's may read a date of birth) and
    # neither document is registered
    assert "Birthdays selects fields" in refused.stderr
    assert "Customer.dateOfBirth" in refused.stderr
    assert "Campaign selects" not in refused.stderr
    assert trusted(session) == 0
    # when it registers them without --strict
    allowed = run(demo, "partners", "allow", AGENCY, str(path), "--scope", AGENCY_SCOPES)
    terms = cells(allowed.stdout)
    # then each field has a line per purpose the agency may declare; its access is consented:
    # its rows depend on the customers' consents, not on assignments
    assert "purposes it may declare: analytics, marketing" in allowed.stdout
    assert f"contract of {AGENCY} (partner: a third party, consented access)" in allowed.stdout
    assert "  assigned:" not in allowed.stdout
    assert "assignment-dependent  " not in allowed.stdout
    # (a pseudonym of the email under marketing: graduated disclosure, SPEC section 13)
    assert terms[("Customer.email", "marketing")][:2] == ["consent-dependent", "pseudonym"]
    assert terms[("Customer.email", "analytics")][0] == "hidden"
    assert "declare marketing" in terms[("Customer.email", "analytics")][2]
    assert terms[("Customer.ageBand", "analytics")][0] == "consent-dependent"
    assert terms[("Customer.dateOfBirth", "marketing")][0] == "hidden"
    assert "fraud_investigation, legal_order" in terms[("Customer.dateOfBirth", "marketing")][2]
    assert "never visible: Customer.dateOfBirth" in allowed.stdout
    assert trusted(session) == 2


def test_a_staff_client_contract_is_visible_without_consent(
    steward: CliRunner, tmp_path: Path
) -> None:
    # given a built-in client registered as a partner: its scopes are known
    created = run(steward, "clients", "add", "Support desk", "--partner", "--scope", SUPPORT)
    client_id = json.loads(created.stdout)["client_id"]
    path = tmp_path / "support.graphql"
    path.write_text("query Lookup { customers(first: 1) { edges { node { email ageBand } } } }")
    # when its document is registered, without --scope
    allowed = run(steward, "partners", "allow", client_id, str(path))
    terms = cells(allowed.stdout)
    # then the contract reads the registered scopes; a partner's rows still depend on it (its
    # access is assigned, the default: its assignments, and its customers' consent)
    assert terms[("Customer.email", "customer_support")][0] == "assignment-dependent"
    assert terms[("Customer.ageBand", "customer_support")][0] == "hidden"


def test_a_partner_without_known_scopes_gets_no_contract(
    demo: CliRunner, tmp_path: Path, session: Session
) -> None:
    path = tmp_path / "deliveries.graphql"
    path.write_text(DELIVERIES)
    # an external provider's client: Steward does not know its scopes
    allowed = run(demo, "partners", "allow", COURIER, str(path))
    assert "no contract" in allowed.stderr
    assert trusted(session) == 1
    strict = run(demo, "partners", "allow", COURIER, str(path), "--strict", code=2)
    assert "--scope" in strict.output
    run(demo, "partners", "contract", COURIER, code=2)
    unknown = run(demo, "partners", "contract", "nope", "--scope", COURIER_SCOPES, code=2)
    assert "no active partner" in unknown.output
    bad = run(demo, "partners", "contract", COURIER, "--scope", "orders:raed", code=2)
    assert "orders:raed" in bad.output


# --- Per-caller schema --------------------------------------------------------------------------


def test_each_client_has_its_own_sdl(steward: CliRunner) -> None:
    support = json.loads(run(steward, "clients", "add", "Support", "--scope", SUPPORT).stdout)
    staff = run(steward, "schema", "--client", support["client_id"]).stdout
    courier = run(steward, "schema", "--scope", COURIER_SCOPES).stdout
    agency = run(steward, "schema", "--scope", AGENCY_SCOPES).stdout
    staff_fields, courier_fields, agency_fields = (
        field_map(build_schema(text)) for text in (staff, courier, agency)
    )
    # staff under customer_support: contact details and usage, never the age band, no writes
    assert {"email", "mobilePhone", "usageEvents", "consents"} <= staff_fields["Customer"]
    assert "ageBand" not in staff_fields["Customer"]
    assert "paymentReference" in staff_fields["Order"]
    assert "Mutation" not in staff_fields
    assert "LegalRequest" not in staff_fields
    assert "AccessRecord" not in staff_fields
    # the courier: names, phones and shipping addresses; no email, payments or consents
    assert {"firstName", "mobilePhone", "orders", "addresses"} <= courier_fields["Customer"]
    assert "email" not in courier_fields["Customer"]
    assert "paymentReference" not in courier_fields["Order"]
    assert "Consent" not in courier_fields
    assert {"line1", "postalCode"} <= courier_fields["Address"]
    assert "auditLog" not in courier_fields["Query"]
    # the agency: no addresses or orders at all; email and age band; landline never
    assert {"email", "ageBand", "mobilePhone"} <= agency_fields["Customer"]
    assert "landlinePhone" not in agency_fields["Customer"]
    assert "Order" not in agency_fields
    assert "Address" not in agency_fields
    assert "orders" not in agency_fields["Query"]
    # whoever holds every scope sees the whole schema, as exported
    assert run(steward, "schema", "--scope", " ".join(ALL_SCOPES)).stdout == sdl()
    assert run(steward, "schema").stdout == sdl()
    # an unknown client's view is an error, not a guess
    unknown = run(steward, "schema", "--client", "nope", code=2)
    assert "--scope" in unknown.output


@pytest.mark.parametrize(
    ("client_id", "granted"),
    [(COURIER, COURIER_SCOPES), (AGENCY, AGENCY_SCOPES), ("support-desk", SUPPORT)],
    ids=["courier", "agency", "staff"],
)
def test_introspection_shows_the_client_its_sdl(
    demo: CliRunner, client: TestClient, token: TokenFactory, client_id: str, granted: str
) -> None:
    # given the client's SDL
    expected = build_schema(run(demo, "schema", "--scope", granted).stdout)
    # when the client introspects with its own token
    response = client.post(
        "/graphql",
        json={"query": get_introspection_query(descriptions=True)},
        headers={"Authorization": f"Bearer {token(granted, client_id=client_id)}"},
    )
    assert response.status_code == 200, response.text
    introspected = build_client_schema(response.json()["data"])
    # then it sees exactly the same types and fields
    assert field_map(introspected) == field_map(expected)
    assert print_schema(introspected) == print_schema(expected)


def test_execution_keeps_one_schema(
    client: TestClient, token: TokenFactory, session: Session
) -> None:
    # given a customer and the courier's token
    seed(session)
    session.commit()
    auth = {"Authorization": f"Bearer {token(COURIER_SCOPES, client_id='courier-view')}"}
    # when the courier asks for a field its view does not show
    response = client.post(
        "/graphql",
        json={"query": COURIER_READS_EMAIL},
        headers={**auth, "X-Purpose": "order_fulfillment"},
    )
    # then the request is not a validation error: the field is null where a row exists, and
    # reported as redacted
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body
    edges = body["data"]["orders"]["edges"]
    assert edges
    for edge in edges:
        assert edge["node"]["customer"]["email"] is None
        assert edge["node"]["customer"]["mobilePhone"] is not None
    redacted = {r["field"]: r["reason"] for r in body["extensions"]["redactions"]}
    assert redacted == {"Customer.email": "PURPOSE_NOT_ALLOWED"}
    # and the types outside its view do not exist for its introspection
    hidden = client.post(
        "/graphql",
        json={
            "query": '{ __type(name: "LegalRequest") { name } c: __type(name: "Customer") '
            "{ fields { name } } }"
        },
        headers=auth,
    ).json()
    assert hidden["data"]["__type"] is None
    assert "email" not in {f["name"] for f in hidden["data"]["c"]["fields"]}
    # while a privacy officer's does
    officer = {"Authorization": f"Bearer {token(scope(s.PRIVACY_ADMIN))}"}
    shown = client.post(
        "/graphql", json={"query": '{ __type(name: "LegalRequest") { name } }'}, headers=officer
    )
    assert shown.json() == {"data": {"__type": {"name": "LegalRequest"}}}


def test_introspection_mixed_with_data_is_refused(client: TestClient, token: TokenFactory) -> None:
    response = client.post(
        "/graphql",
        json={"query": "{ __schema { types { name } } customers(first: 1) { totalCount } }"},
        headers={
            "Authorization": f"Bearer {token(SUPPORT)}",
            "X-Purpose": "customer_support",
        },
    )
    # then it is refused as a document that does not validate, and nothing is read
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "data" not in response.json()


def test_graphiql_explores_the_whole_schema_in_development_mode_only(
    settings: Settings, token: TokenFactory
) -> None:
    # given GraphiQL's development token scopes: customer_support never unlocks an age band
    granted = scope(*devtoken.DEFAULT_SCOPES, devtoken.DEFAULT_PURPOSE.scope)
    development = settings.model_copy(
        update={"dev_mode": True, "dev_token_secret": SecretStr("a-per-run-secret")}
    )

    def fields(app: Any, client_id: str) -> set[str]:
        auth = {"Authorization": f"Bearer {token(granted, client_id=client_id)}"}
        with TestClient(app) as client:
            body = client.post("/graphql", json={"query": CUSTOMER_FIELDS}, headers=auth).json()
        return {field["name"] for field in body["data"]["__type"]["fields"]}

    # then the development token page's tokens introspect the whole schema (its docs explain
    # what each field needs), in development mode only; any other client sees its view
    assert "ageBand" in fields(create_app(development), devtoken.CLIENT_ID)
    assert "ageBand" not in fields(create_app(development), "another-client")
    assert "ageBand" not in fields(create_app(settings), devtoken.CLIENT_ID)
