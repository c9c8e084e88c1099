"""Contract of the fast scan path (dal/fast_scan.py) on DynamoDB Local: it answers every
page exactly as botocore's ``client.scan`` does.

The fast path signs and sends with botocore's private attributes and parses with
``json.loads``; the fallback is the public ``client.scan``. For tables holding every
attribute type, with binary and numeric keys, every page of segmented scans with
``Limit`` and ``ExclusiveStartKey``, and of verification's projected, eventually
consistent scan, must be equal (items and ``LastEvaluatedKey``) on both paths. A botocore
upgrade that renames the private attributes fails
``test_the_pinned_botocore_carries_the_fast_path``; one that changes what they do fails
the comparisons, instead of a run.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.dal.dynamodb import ProfileTable
from profile_migrations.errors import TableNotFoundError
from profile_migrations.store import ScanPage
from profile_migrations.versions import VERSION_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.store import RawItem
    from tests.conftest import MakeTable

ITEMS = 45
SEGMENTS = 3
PAGE_LIMIT = 4
# Names that mean something in expressions, PartiQL, JSON or botocore's shapes.
ODD_NAMES = ("a.b", "#text", ":count", "with space", 'say "hi"', "[0]", "ünï 🎉", "B", "BS")
# Number spellings DynamoDB accepts: 38 significant digits, trailing zeros, exponents,
# its smallest and largest magnitudes.
NUMBERS = (
    "12345678901234567890123456789012345678",
    "-0.12345678901234567890123456789012345678",
    "1.50",
    "1E+2",
    "-7e-3",
    "1E-130",
    "9.9999999999999999999999999999999999999E+125",
    "0",
)
KEY_SCHEMAS = {
    "string and binary key": (("pk", "S"), ("sk", "B")),
    "number key": (("pk", "N"),),
}


def number_key(index: int) -> str:
    """Distinct numeric keys, the odd spellings first (1.50 and 1E+2 are 1.5 and 100)."""
    return NUMBERS[index] if index < len(NUMBERS) else f"{index}.25"


def key_of(schema: tuple[tuple[str, str], ...], index: int) -> RawItem:
    if schema == KEY_SCHEMAS["number key"]:
        return {"pk": {"N": number_key(index)}}
    return {
        "pk": {"S": f"user-{index % 7} ü\t\"'\\ 🎉"},
        "sk": {"B": index.to_bytes(2, "big") + b"\x00\xff"},
    }


def every_type(index: int) -> dict[str, Any]:
    """Every attribute type, nested and empty forms included, and odd attribute names."""
    item: dict[str, Any] = {
        VERSION_ATTRIBUTE: {"N": str(index % 3)},
        "s": {"S": f"text {index}"},
        "unicode": {"S": 'zürich ☃ 東京 🎉 \u200b\x00\x7f\n\r\t "quoted" \\ {"B": 1} </>'},
        "n38": {"N": NUMBERS[0]},
        "n_odd": {"N": NUMBERS[index % len(NUMBERS)]},
        "b": {"B": bytes(range(256))},
        "b_empty": {"B": b""},
        "yes": {"BOOL": True},
        "no": {"BOOL": False},
        "null": {"NULL": True},
        "ss": {"SS": ["a", "ü", "🎉", " "]},
        "ns": {"NS": ["1.50", "1E+2", "-3", NUMBERS[0]]},
        "bs": {"BS": [b"\x00", b"\xff\xfe", b"+/=", bytes([index])]},
        "l": {
            "L": [
                {"S": "x"},
                {"N": "1E+2"},
                {"B": b"\x01"},
                {"B": b""},
                {"BOOL": False},
                {"NULL": True},
                {"L": []},
                {"M": {}},
                {"SS": ["s"]},
                {"NS": ["1.50"]},
                {"BS": [b"\x02"]},
                {"L": [{"L": [{"M": {"B": {"B": b"\x03"}}}]}]},
            ]
        },
        "m": {
            "M": {
                "B": {"S": "a map key named B"},
                "BS": {"L": [{"B": b"\x04"}]},
                "S": {"B": b"\x05"},
                "N": {"NS": ["2", "3.0"]},
                "nested": {"M": {"deep": {"L": [{"M": {"x": {"B": b""}, "y": {"M": {}}}}]}}},
                **{name: {"S": name} for name in ODD_NAMES},
            }
        },
        "l_empty": {"L": []},
        "m_empty": {"M": {}},
    }
    item.update({name: {"N": str(index)} for name in ODD_NAMES})
    if index % 5 == 0:  # items of different shapes on one page
        del item["m"], item["bs"]
    return item


@pytest.fixture(params=list(KEY_SCHEMAS), ids=list(KEY_SCHEMAS))
def every_type_table(request: pytest.FixtureRequest, make_table: MakeTable) -> ProfileTable:
    schema = KEY_SCHEMAS[request.param]
    items = [{**every_type(index), **key_of(schema, index)} for index in range(ITEMS)]
    return make_table(schema, items)


def both_paths(client: DynamoDBClient, table_name: str) -> tuple[ProfileTable, ProfileTable]:
    fast = ProfileTable(client, table_name, fast_scan=True)
    fallback = ProfileTable(client, table_name, fast_scan=False)
    assert (fast.scan_path, fallback.scan_path) == ("fast", "botocore")
    return fast, fallback


def compare_segment(
    fast: ProfileTable, fallback: ProfileTable, segment: int, total: int, **options: Any
) -> list[ScanPage]:
    """Every page of one segment on both paths, each from the same ``ExclusiveStartKey``;
    the pages the two answered (equal, or the test fails)."""
    pages: list[ScanPage] = []
    cursor: RawItem | None = None
    while True:
        page = fast.scan_page(segment, total, cursor, **options)
        assert page == fallback.scan_page(segment, total, cursor, **options), (segment, cursor)
        pages.append(page)
        cursor = page.last_evaluated_key
        if cursor is None:
            return pages


def test_the_pinned_botocore_carries_the_fast_path(dynamodb_client: DynamoDBClient) -> None:
    table = ProfileTable(dynamodb_client, "any-table", fast_scan=True)

    assert table.scan_path == "fast"


def test_segmented_pages_are_equal_on_both_paths(
    dynamodb_client: DynamoDBClient, every_type_table: ProfileTable
) -> None:
    # Given a table holding every attribute type, read by both paths
    fast, fallback = both_paths(dynamodb_client, every_type_table.table_name)

    # When each segment is paged through with a Limit
    pages = [
        page
        for segment in range(SEGMENTS)
        for page in compare_segment(fast, fallback, segment, SEGMENTS, limit=PAGE_LIMIT)
    ]

    # Then every page was equal, and the scan saw every item once, binary values as bytes
    items = [item for page in pages for item in page.items]
    assert len(items) == ITEMS
    assert len(pages) >= ITEMS // PAGE_LIMIT
    assert all(item["b_empty"] == {"B": b""} for item in items)
    assert any(page.last_evaluated_key is not None for page in pages)


def test_verification_pages_are_equal_on_both_paths(
    dynamodb_client: DynamoDBClient, every_type_table: ProfileTable
) -> None:
    # Given verification's read: keys, version and odd names, eventually consistent
    fast, fallback = both_paths(dynamodb_client, every_type_table.table_name)
    keys = tuple(every_type_table.describe().key_attributes)
    projection = (*keys, VERSION_ATTRIBUTE, *ODD_NAMES, "missing")

    # When each segment is paged through on both paths
    pages = [
        page
        for segment in range(SEGMENTS)
        for page in compare_segment(
            fast,
            fallback,
            segment,
            SEGMENTS,
            limit=PAGE_LIMIT + 1,
            projection=projection,
            consistent_read=False,
        )
    ]

    # Then every page was equal and held only the projected attributes
    items = [item for page in pages for item in page.items]
    assert len(items) == ITEMS
    assert all(set(item) == {*keys, VERSION_ATTRIBUTE, *ODD_NAMES} for item in items)


def test_whole_segments_without_a_limit_are_equal_on_both_paths(
    dynamodb_client: DynamoDBClient, every_type_table: ProfileTable
) -> None:
    fast, fallback = both_paths(dynamodb_client, every_type_table.table_name)

    pages = compare_segment(fast, fallback, 1, 2)

    assert pages[-1].last_evaluated_key is None
    assert sum(len(page.items) for page in pages) > 0


def test_an_empty_table_answers_the_same_empty_page(
    dynamodb_client: DynamoDBClient, make_table: MakeTable
) -> None:
    fast, fallback = both_paths(dynamodb_client, make_table().table_name)

    # DynamoDB Local bills an empty scan 0 units (AWS: at least 0.5, one eventually
    # consistent read unit); both paths report what the engine said.
    assert compare_segment(fast, fallback, 0, 1, limit=PAGE_LIMIT) == [
        ScanPage(items=[], last_evaluated_key=None, consumed_read_units=0.0)
    ]


def test_a_missing_table_fails_alike_on_both_paths(dynamodb_client: DynamoDBClient) -> None:
    fast, fallback = both_paths(dynamodb_client, "no-such-table")

    for table in (fast, fallback):
        with pytest.raises(TableNotFoundError, match="no-such-table"):
            table.scan_page(0, 1)
