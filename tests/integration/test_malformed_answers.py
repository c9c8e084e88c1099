"""Answers the tool did not expect, on DynamoDB Local (issue 9, item 1).

DynamoDB Local answers a conflict (``ReturnValuesOnConditionCheckFailure: ALL_OLD``) with
an empty nested map as ``{}`` instead of ``{"M": {}}``; a GetItem of the same item is
right. Such an answer must cost a consistent re-read, never the run; and anything
unexpected that does stop a segment must end the run with one JSON document, exit 1 and
checkpoints a ``--resume`` continues from.
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from profile_migrations.dal.dynamodb import ProfileTable
from profile_migrations.models.requests import RunRequest
from tests.conftest import dump_profiles, empty_prefs_profile, new_client
from tests.fakes import DelegatingStore
from tests.integration.helpers import run

if TYPE_CHECKING:
    from collections.abc import Sequence

    import pytest
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from profile_migrations.store import ProfileWrite, RawItem, ScanPage, WriteBatchResult
    from tests.conftest import MakeTable
    from tests.integration.conftest import Cli

PROFILES = 2_000
WRITERS = 3
INCREMENT = (
    "SET #pd.#visits = #pd.#visits + :one ADD #app :one",
    {"#pd": "profileData", "#visits": "visits", "#app": "appWrites"},
)


def key(number: int) -> RawItem:
    return {"userId": {"S": f"user-{number:05d}"}, "profileId": {"S": "main"}}


def increment(client: DynamoDBClient, table: str, number: int) -> None:
    expression, names = INCREMENT
    client.update_item(
        TableName=table,
        Key=key(number),
        UpdateExpression=expression,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={":one": {"N": "1"}},
    )


class Incrementer(threading.Thread):
    """The application: increments the counters of random profiles of its own share, so
    the acknowledged increments of each profile are known exactly."""

    def __init__(self, client: DynamoDBClient, table: str, share: list[int]) -> None:
        super().__init__(daemon=True)
        self._client = client
        self._table = table
        self._share = share
        self._rng = random.Random(len(share))
        self.halt = threading.Event()
        self.acknowledged: Counter[int] = Counter()
        self.crash: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.halt.is_set():
                number = self._rng.choice(self._share)
                increment(self._client, self._table, number)
                self.acknowledged[number] += 1
        except BaseException as exc:
            self.crash = exc
            raise


def assert_every_increment_kept(
    client: DynamoDBClient, table: str, acknowledged: Counter[int]
) -> None:
    stored = dump_profiles(client, table)
    assert len(stored) == PROFILES
    for item in stored.values():
        number = int(item["userId"].removeprefix("user-"))
        assert item["version"] == 5
        assert item["profileData"]["prefs"] == {}
        assert item["profileData"]["name"] == f"hero-{number}"
        assert item["profileData"]["visits"] == acknowledged[number]
        assert item["appWrites"] == acknowledged[number]


def test_a_run_with_a_nested_counter_incremented_throughout_never_dies_and_loses_nothing(
    cli: Cli,
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    dynamodb_local: DynamoDBLocal,
) -> None:
    # Given: the reported input, with the application incrementing counters all along
    table = make_table(items=[empty_prefs_profile(n) for n in range(PROFILES)])
    application = new_client(dynamodb_local)
    writers = [
        Incrementer(application, table.table_name, list(range(w, PROFILES, WRITERS)))
        for w in range(WRITERS)
    ]
    for writer in writers:
        writer.start()

    # When: `profile-migrate run --json`
    try:
        status, document = cli("run", "--table", table.table_name)
    finally:
        for writer in writers:
            writer.halt.set()
        for writer in writers:
            writer.join()

    # Then: one document, success, and every acknowledged increment is in the table
    assert [writer.crash for writer in writers] == [None] * WRITERS
    assert status == 0, document
    assert document["success"] is True
    assert document["summary"]["successCount"] + document["summary"]["skippedCount"] == PROFILES
    assert document["summary"]["conflictCount"] > 0
    acknowledged = sum((writer.acknowledged for writer in writers), Counter[int]())
    assert sum(acknowledged.values()) > 0
    assert_every_increment_kept(dynamodb_client, table.table_name, acknowledged)


class IncrementBeforeEachWrite(DelegatingStore):
    """The table, with the application incrementing every profile of a write batch just
    before the batch goes out (once per profile): every write meets a conflict whose
    answer DynamoDB Local malforms. Counts the consistent re-reads."""

    def __init__(self, table: ProfileTable, client: DynamoDBClient) -> None:
        super().__init__(table)
        self._client = client
        self._raced: set[str] = set()
        self.acknowledged: Counter[int] = Counter()
        self.rereads = 0

    def get_item(self, key: RawItem) -> RawItem | None:
        self.rereads += 1
        return super().get_item(key)

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        for write in writes:
            user = write.key["userId"]["S"]
            if user not in self._raced:
                self._raced.add(user)
                number = int(user.removeprefix("user-"))
                increment(self._client, self.table_name, number)
                self.acknowledged[number] += 1
        return super().conditional_update(writes)


def test_every_malformed_conflict_answer_is_re_read_once_and_migrated(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # Given: every write of the run meets a conflict answered with `"prefs": {}`
    table = make_table(items=[empty_prefs_profile(n) for n in range(PROFILES)])
    store = IncrementBeforeEachWrite(table, dynamodb_client)

    # When
    response = run(store, RunRequest(), workers=2)

    # Then: one consistent re-read per conflict, every profile migrated, every write kept
    assert response.success, response.error
    assert response.summary is not None
    assert response.summary.conflict_count == PROFILES
    assert response.summary.success_count == PROFILES
    assert store.rereads == PROFILES
    assert_every_increment_kept(dynamodb_client, table.table_name, store.acknowledged)


def test_an_unexpected_error_ends_the_run_with_one_document_and_resume_finishes_it(
    cli: Cli,
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: the third scan page of the run meets an error nothing in the tool expects
    table = make_table(items=[empty_prefs_profile(n) for n in range(PROFILES)])
    real_scan = ProfileTable.scan_page
    pages = Counter[str]()

    def breaking_scan(self: ProfileTable, *args: Any, **kwargs: Any) -> ScanPage:
        pages["scanned"] += 1
        if pages["scanned"] == 3:
            raise ValueError("not enough values to unpack (expected 1, got 0)")
        return real_scan(self, *args, **kwargs)

    monkeypatch.setattr(ProfileTable, "scan_page", breaking_scan)

    # When
    status, document = cli(
        "run",
        "--table",
        table.table_name,
        "--segments",
        "2",
        "--workers",
        "1",
        "--page-size",
        "400",
    )

    # Then: exit 1 with the run's document naming what happened, nothing lost
    assert status == 1
    assert document["success"] is False
    assert document["error"] == "ValueError: not enough values to unpack (expected 1, got 0)"
    assert 0 < document["summary"]["successCount"] < PROFILES
    assert document["summary"]["failureCount"] == 0
    status, history = cli("history", "--table", table.table_name)
    assert history["runs"][0]["outcome"] == "stopped"

    # When: resumed
    monkeypatch.setattr(ProfileTable, "scan_page", real_scan)
    status, resumed = cli("run", "--table", table.table_name, "--resume")

    # Then: the run finishes from its checkpoints; every profile is migrated
    assert status == 0, resumed
    assert resumed["runId"] == document["runId"]
    assert resumed["summary"]["totalProfiles"] >= PROFILES
    stored = dump_profiles(dynamodb_client, table.table_name)
    assert {item["version"] for item in stored.values()} == {5}
    assert {item["profileData"]["visits"] for item in stored.values()} == {Decimal(0)}
