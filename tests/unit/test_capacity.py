"""What AWS bills, computed from item sizes (logic/capacity.py), against the rules of "Item
sizes and formats" and "Read/write capacity units" in the DynamoDB developer guide."""

from __future__ import annotations

import pytest

from profile_migrations.logic.capacity import (
    after_update,
    get_read_units,
    item_size,
    scan_read_units,
    value_size,
    write_units,
)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "é"}, 2),  # UTF-8 bytes, not characters
        ({"N": "12345"}, 4),  # 3 pairs of significant digits, plus 1
        ({"N": "0.00120"}, 2),  # leading and trailing zeros trimmed: "12"
        ({"N": "-1E+10"}, 2),
        ({"B": b"\x00\x01\x02"}, 3),
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"SS": ["a", "bb"]}, 3),
        ({"NS": ["1", "22"]}, 4),
        ({"L": []}, 3),
        ({"M": {}}, 3),
        ({"L": [{"S": "ab"}, {"N": "1"}]}, 3 + (1 + 2) + (1 + 2)),
        ({"M": {"k": {"S": "v"}}}, 3 + 1 + 1 + 1),
    ],
)
def test_a_value_is_billed_by_its_size_as_aws_counts_it(
    value: dict[str, object], size: int
) -> None:
    assert value_size(value) == size


@pytest.mark.parametrize("malformed", [{}, {"S": "a", "N": "1"}, "text"])
def test_a_malformed_value_is_estimated_never_raised_on(malformed: object) -> None:
    assert value_size(malformed) > 0  # type: ignore[arg-type]


def test_an_item_counts_its_attribute_names() -> None:
    assert item_size({"userId": {"S": "u1"}, "v": {"N": "1"}}) == (6 + 2) + (1 + 2)
    assert item_size(None) == 0


def test_a_write_bills_one_unit_per_kilobyte_of_the_larger_size_at_least_one() -> None:
    assert write_units(0, 0) == 1.0
    assert write_units(1024, 10) == 1.0
    assert write_units(10, 1025) == 2.0
    assert write_units(3000, 2000) == 3.0


def test_a_scan_rounds_its_total_size_and_halves_it_when_eventually_consistent() -> None:
    items = [{"d": {"S": "x" * 2047}}] * 4  # 2,048 bytes each, 8 KB in all
    assert scan_read_units(items, consistent=True) == 2.0
    assert scan_read_units(items, consistent=False) == 1.0
    assert scan_read_units([], consistent=False) == 0.5


def test_a_consistent_get_bills_one_unit_per_4_kb() -> None:
    assert get_read_units({"d": {"S": "x" * 4095}}) == 1.0
    assert get_read_units({"d": {"S": "x" * 4096}}) == 2.0
    assert get_read_units(None) == 1.0


def test_an_update_leaves_the_item_with_its_sets_applied_and_removals_gone() -> None:
    before = {"k": {"S": "1"}, "old": {"S": "x"}, "v": {"N": "1"}}
    assert after_update(before, {"v": {"N": "2"}, "new": {"BOOL": True}}, ("old",)) == {
        "k": {"S": "1"},
        "v": {"N": "2"},
        "new": {"BOOL": True},
    }
