"""DynamoDB wire format <-> Python.

Every type round trips, and what DynamoDB cannot store is refused.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profile_migrations.codec import (
    deserialize_item,
    deserialize_value,
    serialize_changed,
    serialize_item,
    serialize_value,
    to_json_compatible,
)
from profile_migrations.errors import ProfileMigrationError, UnsupportedValueError

DIGITS_38 = "12345678901234567890123456789012345678"
SET_TAGS = ("SS", "NS", "BS")


def normalized(value: dict[str, Any]) -> Any:
    """A wire value with set order erased (sets compare as sets of their list elements)."""
    ((tag, payload),) = value.items()
    if tag in SET_TAGS:
        return (tag, len(payload), frozenset(payload))
    if tag == "L":
        return (tag, [normalized(inner) for inner in payload])
    if tag == "M":
        return (tag, {name: normalized(inner) for name, inner in payload.items()})
    return (tag, type(payload).__name__, payload)


def normalized_item(item: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {name: normalized(value) for name, value in item.items()}


# --- round trips ------------------------------------------------------------------------------

ROUND_TRIPS = [
    pytest.param({"S": "hello"}, "hello", id="S"),
    pytest.param({"S": ""}, "", id="S-empty"),
    pytest.param({"S": "ünï 🐍"}, "ünï 🐍", id="S-unicode"),
    pytest.param({"N": "42"}, Decimal("42"), id="N-integer"),
    pytest.param({"N": "-7"}, Decimal("-7"), id="N-negative"),
    pytest.param({"N": "3.14"}, Decimal("3.14"), id="N-fraction"),
    pytest.param({"N": "1.50"}, Decimal("1.50"), id="N-trailing-zero"),
    pytest.param({"N": "1E+2"}, Decimal("1E+2"), id="N-exponent"),
    pytest.param({"N": "-0.000001"}, Decimal("-0.000001"), id="N-small-negative"),
    pytest.param({"N": "1E-130"}, Decimal("1E-130"), id="N-smallest-magnitude"),
    pytest.param({"N": "9.99E+125"}, Decimal("9.99E+125"), id="N-largest-magnitude"),
    pytest.param({"N": DIGITS_38}, Decimal(DIGITS_38), id="N-38-digits"),
    pytest.param({"N": "-0." + DIGITS_38}, Decimal("-0." + DIGITS_38), id="N-38-digit-fraction"),
    pytest.param({"B": b"\x00\xffbinary"}, b"\x00\xffbinary", id="B"),
    pytest.param({"B": b""}, b"", id="B-empty"),
    pytest.param({"BOOL": True}, True, id="BOOL-true"),
    pytest.param({"BOOL": False}, False, id="BOOL-false"),
    pytest.param({"NULL": True}, None, id="NULL"),
    pytest.param({"SS": ["a", "b"]}, {"a", "b"}, id="SS"),
    pytest.param({"NS": ["1", "2.5", DIGITS_38]}, {1, Decimal("2.5"), Decimal(DIGITS_38)}, id="NS"),
    pytest.param({"BS": [b"\x01", b"\x02"]}, {b"\x01", b"\x02"}, id="BS"),
    pytest.param({"L": []}, [], id="L-empty"),
    pytest.param(
        {"L": [{"S": "a"}, {"N": "1"}, {"NULL": True}, {"L": [{"BOOL": False}]}]},
        ["a", Decimal("1"), None, [False]],
        id="L-nested",
    ),
    pytest.param({"M": {}}, {}, id="M-empty"),
    pytest.param(
        {"M": {"name": {"S": "x"}, "tags": {"SS": ["t"]}, "inner": {"M": {"n": {"N": "0"}}}}},
        {"name": "x", "tags": {"t"}, "inner": {"n": Decimal("0")}},
        id="M-nested",
    ),
]


@pytest.mark.parametrize(("wire", "python"), ROUND_TRIPS)
def test_deserialize_gives_the_python_value(wire: dict[str, Any], python: Any) -> None:
    # When
    value = deserialize_value(wire)

    # Then
    assert value == python
    assert type(value) is type(python) or isinstance(python, set)


@pytest.mark.parametrize(("wire", "python"), ROUND_TRIPS)
def test_serialize_gives_back_the_wire_value(wire: dict[str, Any], python: Any) -> None:
    # When
    value = serialize_value(deserialize_value(wire))

    # Then
    assert normalized(value) == normalized(wire)


@pytest.mark.parametrize(
    "text",
    [
        DIGITS_38,
        "-" + DIGITS_38,
        "9" * 38,
        "0.00" + DIGITS_38,
        "1." + DIGITS_38[1:] + "E+87",
        "-9." + "9" * 37 + "E-93",
    ],
)
def test_a_number_keeps_all_38_significant_digits(text: str) -> None:
    # When
    number = deserialize_value({"N": text})

    # Then: no rounding to the default 28-digit context
    assert len(number.as_tuple().digits) == 38
    assert number == Decimal(text)
    assert serialize_value(number) == {"N": text}


def test_a_number_keeps_its_value_when_its_text_is_not_canonical() -> None:
    # Given: DynamoDB accepts this spelling; Decimal writes it as 1E-7
    wire = {"N": "0.0000001"}

    # When
    round_tripped = serialize_value(deserialize_value(wire))

    # Then
    assert Decimal(round_tripped["N"]) == Decimal("0.0000001")


@pytest.mark.parametrize(
    ("python", "wire"),
    [
        (7, {"N": "7"}),
        (-(10**37), {"N": "-1" + "0" * 37}),
        (bytearray(b"ab"), {"B": b"ab"}),
        (("a", 1), {"L": [{"S": "a"}, {"N": "1"}]}),
        (frozenset({"x"}), {"SS": ["x"]}),
        ({1, Decimal("2")}, {"NS": ["1", "2"]}),
        ({"k": True}, {"M": {"k": {"BOOL": True}}}),
    ],
    ids=["int", "big-int", "bytearray", "tuple", "frozenset", "int-and-decimal-set", "bool-in-map"],
)
def test_serialize_accepts_the_other_python_shapes_dynamodb_can_hold(
    python: Any, wire: dict[str, Any]
) -> None:
    # When
    value = serialize_value(python)

    # Then
    assert normalized(value) == normalized(wire)


def test_bool_is_never_serialized_as_a_number() -> None:
    assert serialize_value(True) == {"BOOL": True}
    assert serialize_value(False) == {"BOOL": False}


def test_an_item_round_trips() -> None:
    # Given: a CICADA profile as DynamoDB returns it
    item = {
        "userId": {"S": "u1"},
        "profileId": {"S": "main"},
        "version": {"N": "5"},
        "avatar": {"B": b"\x89PNG"},
        "profileData": {
            "M": {
                "name": {"S": "Alice"},
                "level": {"N": DIGITS_38},
                "metadata": {
                    "M": {"tags": {"SS": ["beta", "veteran"]}, "createdBy": {"NULL": True}}
                },
            }
        },
        "scores": {"L": [{"N": "1E+2"}, {"N": "-0.000001"}]},
    }

    # When
    profile = deserialize_item(item)

    # Then
    assert profile == {
        "userId": "u1",
        "profileId": "main",
        "version": Decimal("5"),
        "avatar": b"\x89PNG",
        "profileData": {
            "name": "Alice",
            "level": Decimal(DIGITS_38),
            "metadata": {"tags": {"beta", "veteran"}, "createdBy": None},
        },
        "scores": [Decimal("100"), Decimal("-0.000001")],
    }
    assert normalized_item(serialize_item(profile)) == normalized_item(item)


# --- refusals --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (1.5, "floats lose precision"),
        (1.0, "floats lose precision"),
        ({"nested": {"ratio": 0.5}}, "floats lose precision"),
        ([Decimal("1"), 2.5], "floats lose precision"),
        (set(), "empty set"),
        (frozenset(), "empty set"),
        ({"a", 1}, "only strings, only numbers or only bytes"),
        ({b"x", "x"}, "only strings, only numbers or only bytes"),
        ({Decimal("1"), b"1"}, "only strings, only numbers or only bytes"),
        ({True, False}, "only strings, only numbers or only bytes"),
        ({1.5, 2.5}, "only strings, only numbers or only bytes"),
        (Decimal("NaN"), "cannot store the number NaN"),
        (Decimal("Infinity"), "cannot store the number Infinity"),
        ({Decimal("-Infinity")}, "cannot store the number -Infinity"),
        (object(), "type object"),
        (complex(1, 2), "type complex"),
        (datetime(2026, 1, 2, tzinfo=UTC), "type datetime"),
    ],
    ids=[
        "float",
        "integral-float",
        "float-in-map",
        "float-in-list",
        "empty-set",
        "empty-frozenset",
        "string-and-number-set",
        "bytes-and-string-set",
        "number-and-bytes-set",
        "bool-set",
        "float-set",
        "nan",
        "infinity",
        "infinity-in-set",
        "object",
        "complex",
        "datetime",
    ],
)
def test_serialize_refuses_what_dynamodb_cannot_store(value: Any, message: str) -> None:
    # When
    with pytest.raises(UnsupportedValueError, match=message) as caught:
        serialize_value(value)

    # Then: the refusal fails one profile, not the run
    assert isinstance(caught.value, ProfileMigrationError)


def test_serialize_item_refuses_a_profile_holding_a_float() -> None:
    with pytest.raises(UnsupportedValueError, match="floats"):
        serialize_item({"userId": "u", "profileData": {"score": 0.1}})


def test_deserialize_refuses_an_unknown_attribute_type() -> None:
    with pytest.raises(UnsupportedValueError, match="unknown DynamoDB attribute type 'X'"):
        deserialize_value({"X": "?"})


# --- to_json_compatible ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("42"), 42),
        (Decimal("1E+2"), 100),
        (Decimal("2.000"), 2),
        (Decimal(DIGITS_38), int(DIGITS_38)),
        (Decimal("1.50"), "1.50"),
        (Decimal("-0.000001"), "-0.000001"),
        (b"\x00\xff", base64.b64encode(b"\x00\xff").decode()),
        ("text", "text"),
        (True, True),
        (None, None),
        ({"n": Decimal("1"), "l": [b"a", Decimal("0.5")]}, {"n": 1, "l": ["YQ==", "0.5"]}),
        (("a", Decimal("3")), ["a", 3]),
    ],
)
def test_to_json_compatible_renders_decimals_and_bytes(value: Any, expected: Any) -> None:
    # When
    rendered = to_json_compatible(value)

    # Then
    assert rendered == expected
    assert type(rendered) is type(expected)


def test_to_json_compatible_renders_sets_as_lists() -> None:
    # When
    rendered = to_json_compatible({"tags": {"a", "b"}, "ns": {Decimal("1"), Decimal("1.5")}})

    # Then
    assert sorted(rendered["tags"]) == ["a", "b"]
    assert sorted(rendered["ns"], key=str) == [1, "1.5"]
    assert json.loads(json.dumps(rendered)) == rendered


def test_a_38_digit_number_survives_json_output_exactly() -> None:
    # When
    text = json.dumps(to_json_compatible({"n": deserialize_value({"N": DIGITS_38})}))

    # Then
    assert text == '{"n": ' + DIGITS_38 + "}"


# --- property: wire -> Python -> wire ------------------------------------------------------------


def number_texts() -> st.SearchStrategy[str]:
    """Canonical N strings: up to 38 significant digits within DynamoDB's magnitude range."""
    return st.builds(
        lambda sign, digits, exponent: str(Decimal((sign, tuple(digits), exponent))),
        st.integers(0, 1),
        st.lists(st.integers(0, 9), min_size=1, max_size=38),
        st.integers(-129, 88),
    )


SCALARS: st.SearchStrategy[dict[str, Any]] = st.one_of(
    st.text().map(lambda s: {"S": s}),
    number_texts().map(lambda n: {"N": n}),
    st.binary().map(lambda b: {"B": b}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.lists(st.text(), min_size=1, max_size=5, unique=True).map(lambda s: {"SS": s}),
    st.lists(number_texts(), min_size=1, max_size=5, unique_by=Decimal).map(lambda n: {"NS": n}),
    st.lists(st.binary(), min_size=1, max_size=5, unique=True).map(lambda b: {"BS": b}),
)


def attribute_values(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    if depth == 0:
        return SCALARS
    children = attribute_values(depth - 1)
    return st.one_of(
        SCALARS,
        st.lists(children, max_size=4).map(lambda values: {"L": values}),
        st.dictionaries(st.text(max_size=8), children, max_size=4).map(lambda m: {"M": m}),
    )


ITEMS = st.dictionaries(st.text(min_size=1, max_size=12), attribute_values(3), max_size=6)


@settings(max_examples=300, deadline=None, database=None)
@given(ITEMS)
def test_serialize_inverts_deserialize_for_any_wire_item(item: dict[str, dict[str, Any]]) -> None:
    # When
    round_tripped = serialize_item(deserialize_item(item))

    # Then
    assert normalized_item(round_tripped) == normalized_item(item)


@settings(max_examples=200, deadline=None, database=None)
@given(ITEMS)
def test_any_deserialized_item_renders_as_json(item: dict[str, dict[str, Any]]) -> None:
    # When
    rendered = json.dumps(to_json_compatible(deserialize_item(item)))

    # Then
    assert set(json.loads(rendered)) == set(item)


def test_serialize_changed_reuses_the_stored_form_of_unchanged_members() -> None:
    stored = {"M": {"score": {"N": "1.50"}, "tags": {"SS": ["b", "a"]}, "name": {"S": "old"}}}
    old = deserialize_value(stored)
    new = {**old, "name": "new", "level": Decimal(2)}

    wire = serialize_changed(new, old, stored)

    assert wire["M"]["score"] is stored["M"]["score"]
    assert wire["M"]["tags"] is stored["M"]["tags"]
    assert wire["M"]["name"] == {"S": "new"}
    assert wire["M"]["level"] == {"N": "2"}


def test_serialize_changed_rewrites_a_member_whose_type_changed() -> None:
    stored = {"M": {"flag": {"N": "1"}}}
    old = deserialize_value(stored)

    wire = serialize_changed({"flag": True}, old, stored)

    assert wire == {"M": {"flag": {"BOOL": True}}}
