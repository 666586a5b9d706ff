"""The forms in SQL (`schema.forms_sql`) equal the forms in Python, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Column,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    MetaData,
    Table,
    Text,
    column,
    insert,
    select,
)

from auth.policy.forms import SUPPORTED, Form, PseudonymKeys, ValueKind, disclose, pseudonym
from schema.forms_sql import after_statement, form_sql

probes = Table(
    "form_probe",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("text", Text),
    Column("day", Date),
    Column("number", Float),
    prefixes=["TEMPORARY"],
)
COLUMN = {
    ValueKind.PHONE: "text",
    ValueKind.EMAIL: "text",
    ValueKind.REFERENCE: "text",
    ValueKind.POSTAL_CODE: "text",
    ValueKind.DATE: "day",
    ValueKind.COORDINATE: "number",
}
FORMS = [
    (form, kind) for form in (Form.PARTIAL, Form.GENERALISED) for kind in sorted(SUPPORTED[form])
]

texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=30)
emailish = st.builds(
    lambda local, at, domain: local + at + domain, texts, st.sampled_from(["@", ""]), texts
)
VALUES: dict[ValueKind, st.SearchStrategy[Any]] = {
    ValueKind.PHONE: st.one_of(st.from_regex(r"\+[1-9][0-9]{6,14}", fullmatch=True), texts),
    ValueKind.REFERENCE: st.one_of(st.from_regex(r"[A-Z0-9-]{0,20}", fullmatch=True), texts),
    ValueKind.EMAIL: st.one_of(st.emails(), emailish, texts),
    ValueKind.POSTAL_CODE: st.one_of(st.from_regex(r"[0-9]{6,10}", fullmatch=True), texts),
    ValueKind.DATE: st.dates(),
    ValueKind.COORDINATE: st.one_of(
        st.floats(min_value=-180, max_value=180),
        st.floats(min_value=-1e9, max_value=1e9),
        st.sampled_from([0.125, -0.125, 2.675, 1.005, -1.005, 0.005, -0.005, -0.0, 0.0]),
        st.integers(-18000, 18000).map(lambda n: n / 100 + 0.005),
    ),
}


@pytest.fixture
def probe(engine: Engine) -> Iterator[Connection]:
    """One connection holding the temporary table of values to disclose."""
    with engine.connect() as connection:
        probes.create(connection)
        yield connection
        connection.rollback()


def disclosed_in_sql(
    connection: Connection, form: Form, kind: ValueKind, values: list[Any]
) -> list[Any]:
    name = COLUMN[kind]
    connection.execute(probes.delete())
    if values:
        connection.execute(insert(probes), [{"id": i, name: v} for i, v in enumerate(values)])
    expression = form_sql(connection.dialect.name, form, kind, probes.c[name])
    assert expression is not None
    return list(connection.scalars(select(expression).order_by(probes.c.id)))


@pytest.mark.parametrize(("form", "kind"), FORMS, ids=lambda v: str(v))
def test_sql_and_python_disclose_the_same_form(
    probe: Connection, form: Form, kind: ValueKind
) -> None:
    @settings(
        max_examples=60,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(st.lists(st.one_of(st.none(), VALUES[kind]), max_size=12))
    def run(values: list[Any]) -> None:
        in_sql = disclosed_in_sql(probe, form, kind, values)
        in_python = [disclose(form, kind, value) for value in values]
        # repr: a coordinate is the very same double (never -0.0 for 0.0)
        assert [repr(v) for v in in_sql] == [repr(v) for v in in_python], values

    run()


@pytest.mark.parametrize(
    ("form", "kind", "value", "shown"),
    [
        (Form.PARTIAL, ValueKind.PHONE, "+84912341234", "••••••••1234"),
        (Form.PARTIAL, ValueKind.EMAIL, "bita@example.com", "b•••@example.com"),
        (Form.GENERALISED, ValueKind.DATE, date(1987, 6, 15), date(1987, 1, 1)),
        (Form.GENERALISED, ValueKind.POSTAL_CODE, "1983963113", "198"),
        (Form.GENERALISED, ValueKind.COORDINATE, -35.6851, -35.69),
    ],
)
def test_the_examples_of_the_spec_in_sql(
    probe: Connection, form: Form, kind: ValueKind, value: Any, shown: Any
) -> None:
    assert disclosed_in_sql(probe, form, kind, [value]) == [shown]


@pytest.mark.parametrize("kind", sorted(SUPPORTED[Form.PSEUDONYM]))
def test_no_database_computes_a_pseudonym(kind: ValueKind) -> None:
    for dialect in ("sqlite", "postgresql"):
        assert form_sql(dialect, Form.PSEUDONYM, kind, column("c")) is None


def test_a_form_sql_cannot_build_is_refused() -> None:
    with pytest.raises(ValueError, match="no forms in SQL"):
        form_sql("mysql", Form.PARTIAL, ValueKind.PHONE, column("c"))
    with pytest.raises(ValueError, match="not defined"):
        form_sql("sqlite", Form.GENERALISED, ValueKind.PHONE, column("c"))


def test_pseudonyms_replace_the_clear_values_after_the_statement() -> None:
    # given a root field's JSON, as the compiled statement returns it, with values in clear
    json = orjson.dumps(
        {
            "edges": [
                {"node": {"email": "Bita@Example.com", "phone": "+84912341234", "id": "1"}},
                {"node": {"email": None, "phone": None, "id": "2"}},
                {"node": None},
            ],
            "totalCount": 3,
        }
    )
    key = PseudonymKeys(b"m" * 32).recipient("", "agency")
    due = [
        (("edges", "node", "email"), ValueKind.EMAIL),
        (("edges", "node", "phone"), ValueKind.PHONE),
    ]

    # when the executor replaces the fields due as pseudonyms, by their response keys
    result = orjson.loads(after_statement(json, due, key))

    # then each clear value is its pseudonym, as Python computes it, and nothing else changed
    nodes = [edge["node"] for edge in result["edges"]]
    assert nodes[0] == {
        "email": pseudonym(ValueKind.EMAIL, "bita@example.com", key),
        "phone": pseudonym(ValueKind.PHONE, "+84912341234", key),
        "id": "1",
    }
    assert nodes[1:] == [{"email": None, "phone": None, "id": "2"}, None]
    assert result["totalCount"] == 3


def test_without_a_key_the_pseudonyms_are_withheld_after_the_statement() -> None:
    json = b'{"email": "bita@example.com", "id": "1"}'
    assert (
        after_statement(json, [(("email",), ValueKind.EMAIL)], None) == b'{"email":null,"id":"1"}'
    )


def test_a_path_the_statement_did_not_select_is_left_alone() -> None:
    key = b"k" * 32
    email = ValueKind.EMAIL
    assert after_statement(b'{"a": {"b": "x"}}', [(("a", "c"), email), (("z",), email)], key) == (
        b'{"a":{"b":"x"}}'
    )
    assert after_statement(b"null", [(("a",), email)], key) == b"null"
    assert after_statement(b'[{"a": 1}]', [(("a",), email)], key) == b'[{"a":1}]'


def test_a_date_has_one_pseudonym_from_json_and_from_python() -> None:
    key = b"k" * 32
    json = after_statement(b'{"d": "1987-06-15"}', [(("d",), ValueKind.DATE)], key)
    assert orjson.loads(json) == {"d": pseudonym(ValueKind.DATE, date(1987, 6, 15), key)}
