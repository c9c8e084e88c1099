"""Bad data never crashes a run: every odd profile is migrated, skipped or failed with a
reason, the run finishes, and a failed profile's stored item is byte-for-byte unchanged.

Items are written in DynamoDB's wire format, so shapes the codec would never produce
(a version that is a map, a boolean, a binary) reach the runner exactly as an application
could have stored them.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.codec import deserialize_item, serialize_item
from profile_migrations.loader import load_registry
from profile_migrations.models.requests import RunRequest
from profile_migrations.registry import ProfileMigration
from tests.conftest import dump_table, item_key, new_client, new_table
from tests.fakes import ListSink
from tests.integration.helpers import migrated_profile, registry_of, run

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from profile_migrations.logic.outcomes import ProfileOutcome
    from profile_migrations.models.results import MigrationResponse
    from profile_migrations.store import RawItem
    from tests.conftest import MakeTable

SUCCESS, SKIPPED, FAILED = "success", "skipped", "failed"
NEAR_LIMIT = 400_000  # characters; DynamoDB's item limit is 400 KB (409,600 bytes)
DATA = {"M": {"characterName": {"S": "Ada"}}}


@dataclass(frozen=True)
class Shape:
    """One stored profile (wire attributes besides its key) and what the run must do."""

    name: str
    attributes: dict[str, Any]
    outcome: str
    reason: str = ""

    def item(self) -> RawItem:
        return {"userId": {"S": self.name}, "profileId": {"S": "main"}, **self.attributes}


def versioned(version: dict[str, Any], data: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"version": version, "profileData": data or DATA}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"S": "bottom"}
    for _ in range(depth):
        value = {"M": {"down": value}}
    return value


ODD_NAMES = {
    "a.b": {"S": "dotted"},
    "with space": {"S": "spaced"},
    "名前": {"S": "unicode"},
    "emoji 🚀": {"N": "1"},
    'say "hi"': {"S": "quoted"},
    "#n0": {"S": "looks like a name token"},
    ":v0": {"S": "looks like a value token"},
    "back\\slash": {"S": "escaped?"},
}

SHAPES = [
    # versions
    Shape("version-absent", {"profileData": DATA}, SUCCESS),
    Shape("version-text-number", versioned({"S": "2"}), FAILED, "'2' (a string) is not an integer"),
    Shape("version-text-word", versioned({"S": "abc"}), FAILED, "'abc' (a string) is not an"),
    Shape("version-boolean", versioned({"BOOL": True}), FAILED, "True is not an integer"),
    Shape("version-map", versioned({"M": {"v": {"N": "2"}}}), FAILED, "dict is not an integer"),
    Shape("version-list", versioned({"L": [{"N": "1"}]}), FAILED, "list is not an integer"),
    Shape("version-null", versioned({"NULL": True}), FAILED, "None is not an integer"),
    Shape("version-number-set", versioned({"NS": ["1"]}), FAILED, "set is not an integer"),
    Shape("version-binary", versioned({"B": b"\x01"}), FAILED, "bytes is not an integer"),
    Shape("version-fraction", versioned({"N": "1.5"}), FAILED, "Decimal('1.5') is not an integer"),
    # Read as version 2, though it lacks version 2's characterType: the schemas refuse it.
    Shape(
        "version-integral-decimal",
        versioned({"N": "2.0"}),
        FAILED,
        "version 3's schema (ProfileV3): profileData.characterType: Field required",
    ),
    Shape(
        "version-integral-decimal-typed",
        versioned(
            {"N": "2.0"}, {"M": {"characterName": {"S": "Ada"}, "characterType": {"S": "MAGE"}}}
        ),
        SUCCESS,
    ),
    Shape("version-zero", versioned({"N": "0"}), FAILED, "version 0 is below 1"),
    Shape("version-negative", versioned({"N": "-3"}), FAILED, "version -3 is below 1"),
    Shape("version-above-head", versioned({"N": "9"}), FAILED, "above the target version 5"),
    Shape("version-huge", versioned({"N": "1E+30"}), FAILED, "above the target version 5"),
    Shape("version-at-target", versioned({"N": "5"}), SKIPPED),
    Shape("version-at-target-as-5.00", versioned({"N": "5.00"}), SKIPPED),
    # profileData
    Shape("data-absent", {"version": {"N": "1"}}, FAILED, "profileData is missing"),
    Shape("data-null", versioned({"N": "1"}, {"NULL": True}), FAILED, "profileData is missing"),
    Shape("data-string", versioned({"N": "1"}, {"S": "x"}), FAILED, "is a str, not a map"),
    Shape("data-list", versioned({"N": "1"}, {"L": []}), FAILED, "is a list, not a map"),
    Shape("data-number", versioned({"N": "1"}, {"N": "7"}), FAILED, "is a Decimal, not a map"),
    Shape("data-boolean", versioned({"N": "1"}, {"BOOL": False}), FAILED, "is a bool, not a map"),
    Shape("data-string-set", versioned({"N": "1"}, {"SS": ["a"]}), FAILED, "is a set, not a map"),
    Shape("data-binary", versioned({"N": "1"}, {"B": b"\x00"}), FAILED, "is a bytes, not a map"),
    Shape(
        "data-absent-at-version-3",
        {"version": {"N": "3"}},
        FAILED,
        "step 3->4 raised InvalidProfileError: profileData is missing",
    ),
    Shape("data-empty-map", versioned({"N": "1"}, {"M": {}}), SUCCESS),
    Shape(
        "metadata-string",
        versioned({"N": "1"}, {"M": {"metadata": {"S": "x"}}}),
        FAILED,
        "step 3->4 raised InvalidProfileError: profileData.metadata is a str, not a map",
    ),
    Shape(
        "metadata-list",
        versioned({"N": "3"}, {"M": {"metadata": {"L": [{"S": "x"}]}}}),
        FAILED,
        "profileData.metadata is a list, not a map",
    ),
    Shape("metadata-null", versioned({"N": "1"}, {"M": {"metadata": {"NULL": True}}}), SUCCESS),
    Shape(
        "odd-field-types",
        versioned(
            {"N": "1"},
            {
                "M": {
                    "characterName": {"N": "42"},
                    "characterType": {"BOOL": False},
                    "tags": {"N": "5"},
                    "createdBy": {"L": []},
                }
            },
        ),
        # 3->4 moves the truthy number 5 to metadata.tags, which version 4's schema refuses.
        FAILED,
        "profileData.metadata.tags: Value error, should be a list or a set, not a Decimal",
    ),
    Shape(
        "odd-field-types-listed-tags",
        versioned(
            {"N": "1"},
            {
                "M": {
                    "characterName": {"N": "42"},
                    "characterType": {"BOOL": False},
                    "tags": {"NS": ["5"]},
                    "createdBy": {"L": []},
                }
            },
        ),
        SUCCESS,
    ),
    Shape(
        "odd-top-level-types",
        {
            "profileData": DATA,
            "updatedAt": {"M": {"when": {"S": "yesterday"}}},
            "tags": {"NS": ["1", "2"]},
        },
        SUCCESS,
    ),
    Shape(
        "last-accessed-is-a-number", {"profileData": DATA, "lastAccessedAt": {"N": "0"}}, SUCCESS
    ),
    Shape("deeply-nested-data", versioned({"N": "1"}, {"M": {"deep": nested(30)}}), SUCCESS),
    # attribute names the writes must quote or escape
    Shape("odd-names-untouched", {"profileData": DATA, **ODD_NAMES}, SUCCESS),
    Shape(
        "odd-names-inside-data", versioned({"N": "1"}, {"M": {**ODD_NAMES, **DATA["M"]}}), SUCCESS
    ),
    # size
    Shape(
        "near-400-kb-untouched-bulk",
        {"profileData": DATA, "bulk": {"S": "x" * NEAR_LIMIT}},
        SUCCESS,
    ),
    Shape(
        "near-400-kb-bulk-inside-data",
        versioned({"N": "1"}, {"M": {"bio": {"S": "x" * NEAR_LIMIT}}}),
        SUCCESS,
    ),
]


@dataclass
class Outcome:
    before: dict[str, RawItem]
    after: dict[str, RawItem]
    outcomes: dict[str, ProfileOutcome]
    response: MigrationResponse


@pytest.fixture(scope="module")
def cicada_run(dynamodb_local: DynamoDBLocal) -> Outcome:
    """Every shape in one table, migrated by CICADA's chain in one run."""
    client = new_client(dynamodb_local)
    table = new_table(client, items=[shape.item() for shape in SHAPES], prefix="bad-data")
    before = dump_table(client, table.table_name)
    sink = ListSink()
    response = run(table, RunRequest(total_segments=3), sink=sink, workers=3)
    outcomes = {outcome.key["userId"]: outcome for outcome in sink.outcomes}
    return Outcome(before, dump_table(client, table.table_name), outcomes, response)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.name)
def test_each_odd_profile_is_migrated_skipped_or_failed_with_its_reason(
    cicada_run: Outcome, shape: Shape
) -> None:
    key = item_key(shape.item())
    outcome = cicada_run.outcomes[shape.name]

    assert outcome.status == shape.outcome, outcome.error
    assert shape.reason in (outcome.error or "")
    stored, original = cicada_run.after[key], cicada_run.before[key]
    if shape.outcome == SUCCESS:
        assert deserialize_item(stored) == migrated_profile(original, load_registry())
    else:
        assert stored == original


def test_the_odd_profiles_run_finishes_and_its_counts_add_up(cicada_run: Outcome) -> None:
    summary = cicada_run.response.summary
    verification = cicada_run.response.verification
    expected = {status: sum(s.outcome == status for s in SHAPES) for status in (SUCCESS, FAILED)}

    assert summary is not None
    assert verification is not None
    assert len(cicada_run.outcomes) == len(SHAPES) == summary.total_profiles
    assert (summary.success_count, summary.failure_count) == (expected[SUCCESS], expected[FAILED])
    assert verification.invalid_count == expected[FAILED]
    assert not cicada_run.response.success
    assert cicada_run.response.error_type == "ProfilesFailed"


# --- registries that write odd things ------------------------------------------------------


def pad(profile: dict[str, Any]) -> dict[str, Any]:
    return {**profile, "padding": "p" * 20_000}


def test_a_profile_whose_migrated_form_exceeds_400_kb_fails_unchanged(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # Given a profile that fits, but not once a step adds 20 KB to it, and a small one
    items = [
        serialize_item({"userId": "big", "profileId": "main", "bulk": "x" * 395_000}),
        serialize_item({"userId": "small", "profileId": "main"}),
    ]
    table = make_table(items=items)
    before = dump_table(dynamodb_client, table.table_name)
    sink = ListSink()

    # When the padding step runs
    response = run(table, RunRequest(), registry_of(ProfileMigration(1, 2, "pad", pad)), sink)

    # Then the big one fails with DynamoDB's reason and is untouched; the small one is padded
    outcomes = {outcome.key["userId"]: outcome for outcome in sink.outcomes}
    after = dump_table(dynamodb_client, table.table_name)
    big, small = (item_key(item) for item in items)
    assert outcomes["big"].status == FAILED
    assert "size" in (outcomes["big"].error or "").lower()
    assert after[big] == before[big]
    assert outcomes["small"].status == SUCCESS
    assert deserialize_item(after[small])["padding"] == "p" * 20_000
    assert response.summary is not None
    assert response.summary.failure_count == 1


def rename_to_odd_names(profile: dict[str, Any]) -> dict[str, Any]:
    """Moves `old.dotted` and `old "quoted"` to odd names and writes more odd names."""
    kept = {name: value for name, value in profile.items() if not name.startswith("old")}
    return {
        **kept,
        "new.dotted": profile["old.dotted"],
        'new "quoted"': profile['old "quoted"'],
        **{f"{name}!": f"written to {name}" for name in ODD_NAMES},
        "name": "a reserved word",
        "size": "another",
        'a" = 1 OR "b': "not an injection",
        "line\nbreak": "newline",
        "it's": "single quote",
    }


def test_a_step_writing_and_removing_odd_attribute_names_writes_exactly_them(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # Given profiles with attributes whose names need quoting, one needing UpdateItem
    originals = [
        {"userId": f"u{n}", "profileId": "main", "old.dotted": n, 'old "quoted"': f"q{n}"}
        for n in range(5)
    ]
    table = make_table(items=[serialize_item(profile) for profile in originals])
    registry = registry_of(ProfileMigration(1, 2, "rename", rename_to_odd_names))
    sink = ListSink()

    # When a step renames them and writes more odd names
    response = run(table, RunRequest(), registry, sink)

    # Then every profile holds exactly what the step returned
    after = dump_table(dynamodb_client, table.table_name)
    assert [o.error for o in sink.outcomes if o.status != SUCCESS] == []
    assert response.success
    for profile in originals:
        stored = deserialize_item(after[item_key(serialize_item(profile))])
        assert stored == {**rename_to_odd_names(profile), "version": 2}


# --- keys of other types ----------------------------------------------------------------

BINARY_KEYS: list[tuple[bytes, str]] = [
    (b"\x00", "0"),
    (b"\xff" * 8, "-1"),
    (b"\"'\\", "1.5"),
    ("ユーザー".encode(), "12345678901234567890123456789012345678"),
    (b"\x00broken", "-0.000001"),
]


def test_binary_and_number_keys_are_migrated_and_reported_by_their_own_values(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # Given a table keyed by a binary partition key and a number sort key
    items: list[RawItem] = [
        {
            "pk": {"B": pk},
            "sk": {"N": sk},
            **({} if pk.endswith(b"broken") else {"profileData": DATA}),
        }
        for pk, sk in BINARY_KEYS
    ]
    table = make_table(key_schema=(("pk", "B"), ("sk", "N")), items=items)
    before = dump_table(dynamodb_client, table.table_name)
    sink = ListSink()

    # When it is migrated
    response = run(table, RunRequest(total_segments=2), sink=sink, workers=2)

    # Then the good ones are migrated, the broken one fails under its own key, unchanged
    after = dump_table(dynamodb_client, table.table_name)
    registry = load_registry()
    assert response.summary is not None
    (failure,) = response.summary.results
    assert failure.model_extra == {
        "pk": base64.b64encode(b"\x00broken").decode(),
        "sk": "-0.000001",
    }
    assert "profileData is missing" in (failure.error or "")
    for item in items:
        key = item_key(item, ("pk", "sk"))
        if item["pk"]["B"].endswith(b"broken"):
            assert after[key] == before[key]
        else:
            assert deserialize_item(after[key]) == migrated_profile(before[key], registry)
    assert sorted(o.status for o in sink.outcomes) == [FAILED] + [SUCCESS] * 4


def test_a_key_attribute_named_with_quotes_dots_and_spaces_is_written_through(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # Given a table whose only key attribute's name PartiQL cannot quote
    key_name = 'user "id".x y'
    values = ["ユーザー", "'; DROP TABLE x; --", 'a"b', "x" * 1_024]
    table = make_table(
        key_schema=((key_name, "S"),),
        items=[{key_name: {"S": value}, "profileData": DATA} for value in values],
    )

    # When it is migrated
    response = run(table, RunRequest())

    # Then every profile is migrated, by its own key
    stored = dump_table(dynamodb_client, table.table_name)
    assert response.success, response.summary
    assert {json.loads(key)[key_name]["S"] for key in stored} == set(values)
    assert {item["version"]["N"] for item in stored.values()} == {"5"}


def test_a_table_keyed_by_version_fails_every_profile_and_changes_nothing(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # Given a table whose sort key is `version`, which the migration would have to change
    items: list[RawItem] = [
        {"userId": {"S": f"u{n}"}, "version": {"N": "1"}, "profileData": DATA} for n in range(3)
    ]
    table = make_table(key_schema=(("userId", "S"), ("version", "N")), items=items)
    before = dump_table(dynamodb_client, table.table_name)

    # When it is migrated
    try:
        response = run(table, RunRequest())
    finally:
        # Then nothing is written (even if the run crashes) and every profile fails
        assert dump_table(dynamodb_client, table.table_name) == before
    assert response.summary is not None
    assert response.summary.failure_count == 3
    assert all(
        "changed or removed key attribute 'version'" in (result.error or "")
        for result in response.summary.results
    )
