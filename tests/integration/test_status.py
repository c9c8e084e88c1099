"""`profile-migrate status` on DynamoDB Local: exact counts per version, the run in
progress, the unfinished run, the last finished one; read-only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from profile_migrations.codec import serialize_item
from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.models.records import Checkpoint, RunHistoryEntry, RunPart
from profile_migrations.models.results import SegmentCounters
from tests.conftest import dump_table
from tests.integration.helpers import hold_lock, profile

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.store import RawItem
    from tests.conftest import MakeTable
    from tests.integration.conftest import Cli


def mixed_profiles() -> list[RawItem]:
    """3 at version 1 (2 of them without `version`), 2 at 2, 4 at 5, 1 at 7 (above the
    target), and 5 whose version is not a positive whole number."""
    invalid: list[Any] = [0, -3, "2", 2.5, {"n": 1}]
    return [
        profile("v1-explicit", version=1),
        profile("v1-missing-a"),
        profile("v1-missing-b", profileData={"characterName": "Ada"}),
        *(profile(f"v2-{n}", version=2) for n in range(2)),
        *(profile(f"v5-{n}", version=5) for n in range(4)),
        profile("v7", version=7),
        *(
            serialize_item({"userId": f"bad-{n}", "profileId": "main", "version": value})
            if not isinstance(value, float)
            else {"userId": {"S": f"bad-{n}"}, "profileId": {"S": "main"}, "version": {"N": "2.5"}}
            for n, value in enumerate(invalid)
        ),
    ]


def test_status_counts_every_version_exactly_and_creates_nothing(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=mixed_profiles())
    before = dump_table(dynamodb_client, table.table_name)

    status, document = cli("status", "--table", table.table_name, "--segments", "3")

    assert status == 0
    assert document["versions"] == {"1": 3, "2": 2, "5": 4, "7": 1, "invalid": 5}
    assert document["targetVersion"] == 5
    assert document["belowTarget"] == 5
    assert document["profiles"] == 15
    assert (document["running"], document["unfinished"], document["lastRun"]) == (
        None,
        None,
        None,
    )
    assert document["consumedReadCapacityUnits"] > 0
    assert dump_table(dynamodb_client, table.table_name) == before
    assert not ControlTable(dynamodb_client, control_table_name(table.table_name)).exists()


def test_status_takes_the_target_from_the_registry(cli: Cli, make_table: MakeTable) -> None:
    table = make_table(items=mixed_profiles())

    status, document = cli("status", "--table", table.table_name, "--target-version", "2")

    assert status == 0
    assert (document["targetVersion"], document["belowTarget"]) == (2, 3)


def history_entry(table: str, run_id: str, started_at: str, **fields: Any) -> RunHistoryEntry:
    return RunHistoryEntry.model_validate(
        {
            "run_id": run_id,
            "table": table,
            "owner": "ops@elsewhere:1",
            "where": "aws:us-east-1",
            "target_version": 5,
            "dry_run": False,
            "total_segments": 2,
            "started_at": started_at,
            "step_checksums": {},
            "parts": [RunPart(owner="ops@elsewhere:1", where="aws", started_at=started_at)],
            **fields,
        }
    )


def record_runs(control: ControlTable, table: str) -> None:
    """A finished run, then run ``r-2`` (unfinished: ``running`` in the history) with
    segment 0 done (40 scanned, 39 migrated, 1 failed) and segment 1 at 10 skipped."""
    control.ensure_exists()
    control.record_run(
        history_entry(
            table,
            "r-1",
            "2026-11-01T00:00:00.000Z",
            outcome="succeeded",
            ended_at="2026-11-01T01:00:00.000Z",
            counters=SegmentCounters(scanned=100, migrated=100),
        )
    )
    control.record_run(history_entry(table, "r-2", "2026-11-25T00:00:00.000Z"))
    control.save_checkpoint(
        "r-2",
        Checkpoint(
            segment=0,
            cursor=None,
            done=True,
            counters=SegmentCounters(scanned=40, migrated=39, failed=1),
        ),
    )
    control.save_checkpoint(
        "r-2",
        Checkpoint(
            segment=1,
            cursor={"userId": {"S": "u"}, "profileId": {"S": "main"}},
            done=False,
            counters=SegmentCounters(scanned=10, skipped=10),
        ),
    )


PROGRESS = {
    "totalSegments": 2,
    "segmentsDone": 1,
    "scanned": 50,
    "migrated": 39,
    "failed": 1,
    "skipped": 10,
}


def test_status_shows_the_run_in_progress_and_the_last_finished_run(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # Given: run r-2 holds the lock of another host, its lease running
    table = make_table(items=mixed_profiles())
    control = hold_lock(dynamodb_client, table.table_name, run_id="r-2")
    record_runs(control, table.table_name)

    status, document = cli("status", "--table", table.table_name)

    assert status == 0
    running = document["running"]
    assert running.pop("leaseExpiresAt").endswith("Z")
    assert running == {
        "runId": "r-2",
        "holder": "ops@elsewhere:1",
        "since": "2026-11-25T00:00:00.000Z",
        "targetVersion": 5,
        "progress": PROGRESS,
    }
    assert document["unfinished"] is None
    assert (document["lastRun"]["runId"], document["lastRun"]["outcome"]) == ("r-1", "succeeded")


def test_status_shows_the_unfinished_run_resume_would_continue(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # Given: r-2's holder is gone: its lease expired a minute ago
    table = make_table(items=mixed_profiles())
    control = hold_lock(dynamodb_client, table.table_name, run_id="r-2", lease_left=-60)
    record_runs(control, table.table_name)

    status, document = cli("status", "--table", table.table_name)

    assert status == 0
    assert document["running"] is None
    assert document["unfinished"] == {
        "runId": "r-2",
        "targetVersion": 5,
        "startedAt": "2026-11-25T00:00:00.000Z",
        "outcome": "running",
        "lastOwner": "ops@elsewhere:1",
        "progress": PROGRESS,
    }
    assert document["lastRun"]["runId"] == "r-1"


def test_status_of_a_missing_table_is_refused(cli: Cli) -> None:
    status, document = cli("status", "--table", "no-such-table")

    assert status == 2
    assert document["success"] is False


def test_status_refuses_more_segments_than_dynamodb_scans(cli: Cli, make_table: MakeTable) -> None:
    table = make_table(items=[profile("a", version=1)])

    status, document = cli("status", "--table", table.table_name, "--segments", "1000001")

    assert status == 2
    assert "1,000,000" in document["error"]
