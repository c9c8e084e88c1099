"""DynamoDB wire format <-> Python.

Every type round trips, and what DynamoDB cannot store is refused.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profile_migrations.codec import (
    deserialize_item,
    deserialize_value,
    key_value_json,
    serialize_attribute,
    serialize_changed,
    serialize_item,
    serialize_value,
)
from profile_migrations.errors import (
    MalformedValueError,
    ProfileMigrationError,
    UnsupportedValueError,
)

if TYPE_CHECKING:
    from profile_migrations.store import RawItem

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
    item: RawItem = {
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
        (1.5, "1.5 is a float, which loses precision"),
        (1.0, "1.0 is a float, which loses precision"),
        ({"nested": {"ratio": 0.5}}, "0.5 is a float, which loses precision"),
        ([Decimal("1"), 2.5], "2.5 is a float, which loses precision"),
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


def test_serialize_item_refuses_a_profile_holding_a_float_and_names_its_path() -> None:
    with pytest.raises(
        UnsupportedValueError, match=r"attribute 'profileData\.score': 0\.1 is a float"
    ):
        serialize_item({"userId": "u", "profileData": {"score": 0.1}})


@pytest.mark.parametrize(
    ("name", "value", "path"),
    [
        ("score", 0.5, "score"),
        ("profileData", {"stats": {"ratio": 0.5}}, "profileData.stats.ratio"),
        ("scores", [Decimal(1), Decimal("1" * 39)], "scores[1]"),
        ("nested", [{"deep": [set()]}], "nested[0].deep[0]"),
        ("balance", Decimal("1E+126"), "balance"),
    ],
)
def test_an_unstorable_value_is_refused_with_the_path_of_its_attribute(
    name: str, value: Any, path: str
) -> None:
    with pytest.raises(UnsupportedValueError) as caught:
        serialize_attribute(name, value)

    assert str(caught.value).startswith(f"attribute {path!r}: ")


# --- DynamoDB's number limits ------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        Decimal(DIGITS_38),
        Decimal(DIGITS_38) + 1,
        Decimal("1" + "0" * 60),
        Decimal("1.000000000000000000000000000000000000000000000"),
        Decimal("9." + "9" * 37 + "E+125"),
        Decimal("-9." + "9" * 37 + "E+125"),
        Decimal("1E-130"),
        Decimal("-1E-130"),
        Decimal("0E-200"),
        10**125,
        -(10**37) * 7,
    ],
    ids=str,
)
def test_a_number_dynamodb_stores_exactly_is_written_as_it_is(number: int | Decimal) -> None:
    assert serialize_value(number) == {"N": str(number)}


@pytest.mark.parametrize(
    ("number", "reason"),
    [
        (Decimal("1" * 39), "39 significant digits"),
        (Decimal("1.234567890123456789012345678901234567891"), "40 significant digits"),
        (10**38 + 1, "39 significant digits"),
        (Decimal("1E+126"), "outside DynamoDB's range"),
        (10**126, "outside DynamoDB's range"),
        (Decimal("-1E+126"), "outside DynamoDB's range"),
        (Decimal("1E-131"), "outside DynamoDB's range"),
        (Decimal("-9.9E-131"), "outside DynamoDB's range"),
    ],
    ids=str,
)
def test_a_number_dynamodb_would_round_or_reject_is_refused(
    number: int | Decimal, reason: str
) -> None:
    with pytest.raises(UnsupportedValueError, match=reason):
        serialize_value({"n": number})


# --- malformed answers ---------------------------------------------------------------------------

MALFORMED = [
    pytest.param({}, id="empty-map-without-tag"),
    pytest.param({"S": "a", "N": "1"}, id="two-tags"),
    pytest.param({"X": "?"}, id="unknown-tag"),
    pytest.param({"S": 5}, id="S-not-text"),
    pytest.param({"N": "abc"}, id="N-not-a-number"),
    pytest.param({"N": "NaN"}, id="N-nan"),
    pytest.param({"N": "Infinity"}, id="N-infinity"),
    pytest.param({"N": 5}, id="N-not-text"),
    pytest.param({"BOOL": "yes"}, id="BOOL-not-bool"),
    pytest.param({"NULL": False}, id="NULL-false"),
    pytest.param({"M": []}, id="M-not-a-map"),
    pytest.param({"M": {"a": {}}}, id="M-holding-a-malformed-value"),
    pytest.param({"L": {}}, id="L-not-a-list"),
    pytest.param({"L": [{"S": "a"}, "b"]}, id="L-holding-a-bare-string"),
    pytest.param({"B": "not bytes"}, id="B-not-bytes"),
    pytest.param({"SS": "abc"}, id="SS-not-a-list"),
    pytest.param({"SS": []}, id="SS-empty"),
    pytest.param({"SS": ["a", 1]}, id="SS-holding-a-number"),
    pytest.param({"NS": ["1", "x"]}, id="NS-holding-text"),
    pytest.param({"BS": ["abc"]}, id="BS-holding-text"),
    pytest.param("text", id="bare-string"),
    pytest.param(None, id="none"),
    pytest.param([{"S": "a"}], id="bare-list"),
]


@pytest.mark.parametrize("wire", MALFORMED)
def test_a_malformed_value_is_refused_as_malformed_and_nothing_else(wire: Any) -> None:
    with pytest.raises(MalformedValueError) as caught:
        deserialize_value(wire)

    # A profile-level error: it fails one profile (after a re-read), never the run.
    assert isinstance(caught.value, ProfileMigrationError)


def test_an_empty_nested_map_answered_as_a_bare_object_names_its_path() -> None:
    # Given: DynamoDB Local's conflict answer for profileData.prefs = {} (issue 9, item 1)
    item: RawItem = {
        "userId": {"S": "u"},
        "version": {"N": "1"},
        "profileData": {"M": {"visits": {"N": "3"}, "prefs": {}}},
    }

    # When / Then
    with pytest.raises(MalformedValueError, match=r"attribute 'profileData\.prefs': an empty map"):
        deserialize_item(item)


def test_an_item_that_is_not_a_map_is_malformed() -> None:
    with pytest.raises(MalformedValueError, match="not a map of attributes"):
        deserialize_item(["not", "an", "item"])  # type: ignore[arg-type]


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.binary(max_size=3),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(["S", "N", "B", "M", "L", "BOOL", "NULL", "SS", "NS", "BS", "x"]),
            children,
            max_size=3,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None, database=None)
@given(st.dictionaries(st.text(max_size=4), JSON_VALUES, max_size=4))
def test_any_answer_either_decodes_or_is_refused_as_malformed(item: dict[str, Any]) -> None:
    # When / Then: no other exception escapes, whatever the answer holds
    try:
        deserialize_item(item)
    except MalformedValueError:
        return


# --- keys in the output --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ({"S": "user-1"}, "user-1"),
        ({"S": "007"}, "007"),
        ({"N": "9007199254740993"}, "9007199254740993"),
        ({"N": DIGITS_38}, DIGITS_38),
        ({"N": "1.5"}, "1.5"),
        ({"N": "1E+125"}, "1E+125"),
        ({"N": "-7"}, "-7"),
        ({"B": b"\x00\xffkey"}, base64.b64encode(b"\x00\xffkey").decode()),
    ],
    ids=[
        "S",
        "S-digits",
        "N-above-2**53",
        "N-38-digits",
        "N-fraction",
        "N-exponent",
        "N-negative",
        "B",
    ],
)
def test_a_key_value_is_rendered_losslessly_for_any_json_reader(
    wire: dict[str, Any], expected: str
) -> None:
    # When: written as JSON and read back (a JSON number would lose digits in Node or jq)
    rendered = json.loads(json.dumps({"key": key_value_json(wire)}))["key"]

    # Then: the exact text, always a string
    assert rendered == expected
    assert type(rendered) is str


def test_a_malformed_key_value_is_rendered_as_its_json_text() -> None:
    assert key_value_json({}) == "{}"
    assert key_value_json(None) == "null"


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
