"""Concurrent application writes between the migration's read and its write, on DynamoDB Local.

The store wrapper lets the "application" write to the real table right before each batch
of conditional writes goes out, which is exactly the window a live migration races.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from profile_migrations.codec import serialize_item, serialize_value
from profile_migrations.models.requests import RunRequest
from tests.conftest import dump_profiles
from tests.fakes import DelegatingStore
from tests.integration.helpers import profile, run

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.dal.dynamodb import ProfileTable
    from profile_migrations.models.results import MigrationResponse
    from profile_migrations.store import ProfileWrite, RawItem, WriteBatchResult
    from tests.conftest import MakeTable

    Interference = Callable[[int, Sequence[ProfileWrite]], None]


class RacingStore(DelegatingStore):
    """The real table; runs the application's writes before each write batch. A page's
    batches go out a few at once: the others wait while the application writes, so the
    writes of call N land before any batch after it is sent."""

    def __init__(self, table: ProfileTable, interfere: Interference) -> None:
        super().__init__(table)
        self._interfere = interfere
        self._lock = threading.Lock()
        self.write_calls = 0

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        with self._lock:
            self.write_calls += 1
            self._interfere(self.write_calls, writes)
        return super().conditional_update(writes)


def key(user: str) -> RawItem:
    return {"userId": {"S": user}, "profileId": {"S": "main"}}


def race(table: ProfileTable, interfere: Interference) -> tuple[MigrationResponse, RacingStore]:
    store = RacingStore(table, interfere)
    return run(store, RunRequest(), workers=1), store


def set_attribute(client: DynamoDBClient, table: str, user: str, name: str, value: Any) -> None:
    client.update_item(
        TableName=table,
        Key=key(user),
        UpdateExpression="SET #n = :v",
        ExpressionAttributeNames={"#n": name},
        ExpressionAttributeValues={":v": serialize_value(value)},
    )


def test_an_application_write_to_a_migrated_attribute_is_kept_and_migrated(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(
        items=[profile(f"u{n}", profileData={"characterName": f"old-{n}"}) for n in range(30)]
    )

    def rename_everyone_once(call: int, writes: Sequence[ProfileWrite]) -> None:
        if call == 1:
            for n in range(30):
                set_attribute(
                    dynamodb_client,
                    table.table_name,
                    f"u{n}",
                    "profileData",
                    {"characterName": f"new-{n}", "bio": "written mid-run"},
                )

    response, _ = race(table, rename_everyone_once)

    stored = dump_profiles(dynamodb_client, table.table_name)
    assert response.success
    assert response.summary is not None
    assert response.summary.conflict_count == 30
    assert response.summary.success_count == 30
    for item in stored.values():
        n = item["userId"][1:]
        assert item["version"] == 5
        assert item["profileData"]["name"] == f"new-{n}"
        assert item["profileData"]["bio"] == "written mid-run"


def test_an_application_write_to_another_attribute_needs_no_retry_and_survives(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=[profile(f"u{n}", profileData={}) for n in range(10)])

    def touch_email(call: int, writes: Sequence[ProfileWrite]) -> None:
        if call == 1:
            for n in range(10):
                set_attribute(dynamodb_client, table.table_name, f"u{n}", "email", f"{n}@x.io")

    response, _ = race(table, touch_email)

    stored = dump_profiles(dynamodb_client, table.table_name)
    assert response.summary is not None
    assert response.summary.conflict_count == 0
    assert {item["email"] for item in stored.values()} == {f"{n}@x.io" for n in range(10)}
    assert {item["version"] for item in stored.values()} == {5}


def test_a_profile_deleted_mid_run_is_skipped_and_never_recreated(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=[profile("stays", profileData={}), profile("goes", profileData={})])

    def delete_one(call: int, writes: Sequence[ProfileWrite]) -> None:
        if call == 1:
            dynamodb_client.delete_item(TableName=table.table_name, Key=key("goes"))

    response, _ = race(table, delete_one)

    stored = dump_profiles(dynamodb_client, table.table_name)
    assert [item["userId"] for item in stored.values()] == ["stays"]
    assert response.summary is not None
    assert (response.summary.success_count, response.summary.skipped_count) == (1, 1)
    assert response.success


def test_a_profile_the_application_already_upgraded_is_skipped(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=[profile("u", profileData={"characterName": "a"})])
    upgraded = {"userId": "u", "profileId": "main", "version": 5, "profileData": {"name": "b"}}

    def new_code_writes_v5(call: int, writes: Sequence[ProfileWrite]) -> None:
        if call == 1:
            dynamodb_client.put_item(TableName=table.table_name, Item=serialize_item(upgraded))

    response, store = race(table, new_code_writes_v5)

    (stored,) = dump_profiles(dynamodb_client, table.table_name).values()
    assert stored == upgraded
    assert response.summary is not None
    assert (response.summary.skipped_count, response.summary.conflict_count) == (1, 1)
    assert store.write_calls == 1


def test_a_profile_that_keeps_changing_fails_after_bounded_retries_and_keeps_the_app_value(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=[profile("hot", profileData={"characterName": "v0"})])

    def change_every_time(call: int, writes: Sequence[ProfileWrite]) -> None:
        set_attribute(
            dynamodb_client, table.table_name, "hot", "profileData", {"characterName": f"v{call}"}
        )

    response, store = race(table, change_every_time)

    (stored,) = dump_profiles(dynamodb_client, table.table_name).values()
    assert store.write_calls == 4
    assert stored == {
        "userId": "hot",
        "profileId": "main",
        "profileData": {"characterName": "v4"},
    }
    assert response.summary is not None
    assert response.summary.failure_count == 1
    assert response.summary.conflict_count == 4
    assert "changed concurrently 4 times" in (response.summary.results[0].error or "")
