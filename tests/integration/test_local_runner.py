"""The local runner against real DynamoDB Local: writes, dry runs, verification, fidelity."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from profile_migrations.clock import run_clock
from profile_migrations.codec import serialize_item
from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.migrations import migrations
from profile_migrations.models.requests import RunRequest
from profile_migrations.registry import ProfileMigration, apply_migrations
from tests.conftest import dump_profiles, dump_table
from tests.fakes import ListSink
from tests.integration.helpers import STARTED_AT, profile, registry_of, run

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.dal.dynamodb import ProfileTable
    from profile_migrations.store import RawItem
    from tests.conftest import MakeTable


@pytest.fixture
def seeded(make_table: MakeTable) -> ProfileTable:
    return make_table(items=list(sample_profiles(600)))


def test_run_migrates_every_profile_to_exactly_what_apply_migrations_computes(
    seeded: ProfileTable, dynamodb_client: DynamoDBClient
) -> None:
    before = dump_profiles(dynamodb_client, seeded.table_name)

    response = run(seeded, RunRequest(total_segments=4), workers=4)

    after = dump_profiles(dynamodb_client, seeded.table_name)
    with run_clock(STARTED_AT):
        expected = {key: apply_migrations(item, migrations) for key, item in before.items()}
    assert after == expected
    assert response.success
    assert response.summary is not None
    assert (response.summary.total_profiles, response.summary.success_count) == (600, 600)
    assert (response.summary.failure_count, response.summary.skipped_count) == (0, 0)
    assert response.verification is not None
    assert response.verification.valid
    assert response.verification.checked_count == 600


def test_unchanged_attributes_keep_their_exact_wire_values(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    untouched: RawItem = {
        "big": {"N": "12345678901234567890123456789012345678"},
        "tiny": {"N": "-0.0000000000000000000000000000000000001"},
        "blob": {"B": b"\x00\xff\x10"},
        "blobs": {"BS": [b"\x01", b"\x02"]},
        "numbers": {"NS": ["1", "2.5", "99999999999999999999999999999999999999"]},
        "strings": {"SS": ["a", "b"]},
        "nothing": {"NULL": True},
        "flag": {"BOOL": False},
        "nested": {"L": [{"M": {"x": {"L": [{"N": "1"}, {"S": "y"}]}}}]},
    }
    item: RawItem = {
        "userId": {"S": "u"},
        "profileId": {"S": "p"},
        "profileData": {"M": {"characterName": {"S": "Zed"}, "score": {"N": "1.50"}}},
        "updatedAt": {"S": "2026-01-01T00:00:00.000Z"},
        **untouched,
    }
    table = make_table(items=[item])

    run(table, RunRequest())

    (stored,) = dump_table(dynamodb_client, table.table_name).values()
    assert {name: stored[name] for name in untouched} == untouched
    assert stored["profileData"]["M"]["score"] == {"N": "1.5"} or stored["profileData"]["M"][
        "score"
    ] == {"N": "1.50"}
    assert stored["profileData"]["M"]["name"] == {"S": "Zed"}
    assert stored["version"] == {"N": "5"}


def test_dry_run_writes_nothing_and_counts_what_a_run_would_do(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    items = [
        *sample_profiles(50),
        profile("broken", version=1),
        profile("done", version=5, profileData={"name": "x"}),
    ]
    table = make_table(items=items)
    before = dump_table(dynamodb_client, table.table_name)

    response = run(table, RunRequest(dry_run=True))

    assert dump_table(dynamodb_client, table.table_name) == before
    assert response.summary is not None
    assert response.summary.dry_run
    assert response.summary.success_count == 50
    assert response.summary.skipped_count == 1
    assert response.summary.failure_count == 1
    assert response.summary.results[0].model_extra == {"userId": "broken", "profileId": "main"}
    assert response.verification is None
    assert not response.success


def test_verify_only_reports_profiles_away_from_the_target_and_writes_nothing(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(
        items=[
            profile("a", version=5, profileData={}),
            profile("b", version=3, profileData={}),
            profile("c", profileData={}),
            profile("d", version="five", profileData={}),
        ]
    )
    before = dump_table(dynamodb_client, table.table_name)

    response = run(table, RunRequest(verify_only=True))

    assert dump_table(dynamodb_client, table.table_name) == before
    assert response.summary is None
    assert response.verification is not None
    assert not response.verification.valid
    invalid = {
        (entry.model_extra or {})["userId"]: entry.version
        for entry in response.verification.invalid_profiles
    }
    assert invalid == {"b": 3, "c": 1, "d": "five"}
    assert response.verification.invalid_count == 3
    assert not response.success


def test_rerun_skips_every_profile_with_zero_writes(
    seeded: ProfileTable, dynamodb_client: DynamoDBClient
) -> None:
    run(seeded, RunRequest())
    after_first = dump_table(dynamodb_client, seeded.table_name)

    second = run(seeded, RunRequest())

    assert dump_table(dynamodb_client, seeded.table_name) == after_first
    assert second.summary is not None
    assert second.summary.skipped_count == 600
    assert second.summary.success_count == 0
    assert second.success


def test_bad_profiles_fail_alone_and_stay_byte_for_byte_unchanged(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    bad = {
        "no-data": profile("no-data"),
        "list-data": profile("list-data", profileData=["a"]),
        "text-version": profile("text-version", version="2", profileData={}),
        "fraction-version": profile("fraction-version", version=Decimal("1.5"), profileData={}),
        "future": profile("future", version=9, profileData={}),
    }
    good = list(sample_profiles(30))
    table = make_table(items=[*bad.values(), *good])
    before = dump_table(dynamodb_client, table.table_name)

    response = run(table, RunRequest())

    after = dump_table(dynamodb_client, table.table_name)
    for item in bad.values():
        key = json.dumps({"profileId": item["profileId"], "userId": item["userId"]}, sort_keys=True)
        assert after[key] == before[key]
    assert response.summary is not None
    failed = {(r.model_extra or {})["userId"]: r.error for r in response.summary.results}
    assert set(failed) == set(bad)
    assert response.summary.failure_count == len(bad)
    assert response.summary.success_count == 30
    assert "profileData is missing" in (failed["no-data"] or "")
    assert "not a map" in (failed["list-data"] or "")
    assert "not an integer" in (failed["text-version"] or "")
    assert "above the target" in (failed["future"] or "")
    assert not response.success


def test_a_write_dynamodb_rejects_fails_that_profile_only(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    grow = ProfileMigration(
        from_version=1,
        to_version=2,
        description="copy the payload (doubles the item)",
        migrate=lambda p: {**p, "copy": p["payload"]},
    )
    table = make_table(
        items=[
            profile("huge", payload="x" * 250_000),
            profile("small", payload="x" * 10),
        ]
    )
    before = dump_table(dynamodb_client, table.table_name)

    response = run(table, RunRequest(), registry=registry_of(grow))

    after = dump_table(dynamodb_client, table.table_name)
    huge_key = json.dumps({"profileId": {"S": "main"}, "userId": {"S": "huge"}}, sort_keys=True)
    assert after[huge_key] == before[huge_key]
    assert response.summary is not None
    assert (response.summary.success_count, response.summary.failure_count) == (1, 1)
    (failure,) = response.summary.results
    assert (failure.model_extra or {})["userId"] == "huge"
    assert "size" in (failure.error or "")


def _widen(count: int) -> ProfileMigration:
    names = [f"attribute_with_a_long_name_{index:04d}" for index in range(count)]
    return ProfileMigration(
        from_version=1,
        to_version=2,
        description="change many attributes and add one whose name needs quoting",
        migrate=lambda p: {**p, **{name: p[name] + 1 for name in names}, 'say "hi"': 1},
    )


def test_writes_partiql_cannot_carry_fall_back_to_a_conditional_update_item(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # 120 long names make a PartiQL statement over 8,192 characters; the quote in a name
    # cannot be written in PartiQL at all. Both go out as UpdateItem.
    wide = {f"attribute_with_a_long_name_{index:04d}": index for index in range(120)}
    table = make_table(items=[profile("wide", **wide)])

    response = run(table, RunRequest(), registry=registry_of(_widen(120)))

    (stored,) = dump_profiles(dynamodb_client, table.table_name).values()
    assert response.success
    assert stored["attribute_with_a_long_name_0119"] == 120
    assert stored['say "hi"'] == 1
    assert stored["version"] == 2


def test_a_change_too_wide_for_one_conditional_write_fails_with_the_item_unchanged(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    wide = {f"attribute_with_a_long_name_{index:04d}": index for index in range(300)}
    table = make_table(items=[profile("wide", **wide)])
    before = dump_table(dynamodb_client, table.table_name)

    response = run(table, RunRequest(), registry=registry_of(_widen(300)))

    assert dump_table(dynamodb_client, table.table_name) == before
    assert response.summary is not None
    (failure,) = response.summary.results
    assert "Expression size has exceeded" in (failure.error or "")


def test_a_table_with_another_key_schema_is_migrated_by_its_own_keys(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    items = [
        serialize_item({"accountNumber": n, "profileData": {"characterName": f"c{n}"}})
        for n in range(40)
    ]
    table = make_table(key_schema=(("accountNumber", "N"),), items=items)

    response = run(table, RunRequest(total_segments=3), workers=3)

    stored = dump_profiles(dynamodb_client, table.table_name)
    assert response.success
    assert {item["version"] for item in stored.values()} == {5}
    assert sorted(item["profileData"]["name"] for item in stored.values()) == sorted(
        f"c{n}" for n in range(40)
    )


def test_every_outcome_reaches_the_sink_with_the_key_attributes(seeded: ProfileTable) -> None:
    sink = ListSink()

    run(seeded, RunRequest(total_segments=3), sink=sink)

    assert len(sink.outcomes) == 600
    assert {outcome.status for outcome in sink.outcomes} == {"success"}
    assert len({json.dumps(outcome.key, sort_keys=True) for outcome in sink.outcomes}) == 600
    assert set(sink.outcomes[0].to_wire()) == {
        "userId",
        "profileId",
        "fromVersion",
        "toVersion",
        "status",
    }


def test_a_lower_target_migrates_only_that_far(
    seeded: ProfileTable, dynamodb_client: DynamoDBClient
) -> None:
    response = run(seeded, RunRequest(target_version=3))

    stored = dump_profiles(dynamodb_client, seeded.table_name)
    assert response.success
    assert {item["version"] for item in stored.values()} == {3}
    assert all("characterName" not in item["profileData"] for item in stored.values())
    assert all("lastAccessedAt" not in item for item in stored.values())
