"""`profile-migrate rollback` on DynamoDB Local: every profile back byte for byte, every
application write since kept, twice restores nothing, refusals write nothing."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from profile_migrations import command
from profile_migrations.command import TableTarget
from profile_migrations.devtools.sample_profiles import sample_profiles
from tests.conftest import dump_table

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from tests.conftest import MakeTable
    from tests.integration.conftest import Cli

FAILING_THIRD = str(Path(__file__).parents[1] / "registries" / "failing_third.py")


def test_a_rollback_puts_every_profile_back_byte_for_byte(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=list(sample_profiles(120)))
    before = dump_table(dynamodb_client, table.table_name)
    status, run = cli("run", "--table", table.table_name)
    assert status == 0
    assert run["summary"]["successCount"] == 120
    assert dump_table(dynamodb_client, table.table_name) != before

    status, undo = cli("rollback", "--table", table.table_name, "--run", run["runId"])

    assert status == 0, undo
    assert undo["rollsBack"] == run["runId"]
    assert undo["summary"]["restoredCount"] == 120
    assert undo["summary"]["keptCount"] == 0
    assert undo["summary"]["missingCount"] == 0
    assert undo["summary"]["failureCount"] == 0
    assert dump_table(dynamodb_client, table.table_name) == before

    status, again = cli("rollback", "--table", table.table_name, "--run", run["runId"])

    assert status == 0
    assert again["summary"]["restoredCount"] == 0
    assert again["summary"]["alreadyRestoredCount"] == 120
    # Every refused conditional write still bills the item's size, at least 1 WCU.
    assert again["summary"]["consumedWriteCapacityUnits"] >= 120
    assert dump_table(dynamodb_client, table.table_name) == before


def test_application_changes_since_the_run_are_kept_and_deleted_profiles_stay_deleted(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=list(sample_profiles(30)))
    before = dump_table(dynamodb_client, table.table_name)
    _, run = cli("run", "--table", table.table_name)
    migrated = dump_table(dynamodb_client, table.table_name)
    keys = sorted(migrated)
    changed, deleted = keys[:4], keys[4:7]
    for name in changed:
        item = migrated[name]
        # The application writes an attribute the run wrote (the version it set).
        dynamodb_client.update_item(
            TableName=table.table_name,
            Key={"userId": item["userId"], "profileId": item["profileId"]},
            UpdateExpression="SET version = :v",
            ExpressionAttributeValues={":v": {"N": "6"}},
        )
    for name in deleted:
        item = migrated[name]
        dynamodb_client.delete_item(
            TableName=table.table_name,
            Key={"userId": item["userId"], "profileId": item["profileId"]},
        )
    app_state = dump_table(dynamodb_client, table.table_name)

    status, undo = cli("rollback", "--table", table.table_name, "--run", run["runId"])

    assert status == 0
    summary = undo["summary"]
    assert (summary["restoredCount"], summary["keptCount"], summary["missingCount"]) == (23, 4, 3)
    after = dump_table(dynamodb_client, table.table_name)
    assert {name: after[name] for name in changed} == {name: app_state[name] for name in changed}
    assert not set(deleted) & set(after)
    untouched = set(keys) - set(changed) - set(deleted)
    assert {name: after[name] for name in untouched} == {name: before[name] for name in untouched}
    report = [
        json.loads(line)
        for line in Path(summary["reportUri"].removeprefix("file://")).read_text().splitlines()
    ]
    assert sorted(line["status"] for line in report) == sorted(
        ["kept"] * 4 + ["missing"] * 3 + ["restored"] * 23
    )


def test_a_dry_run_reports_what_a_rollback_would_do_and_writes_nothing(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=list(sample_profiles(20)))
    _, run = cli("run", "--table", table.table_name)
    migrated = dump_table(dynamodb_client, table.table_name)
    one = migrated[sorted(migrated)[0]]
    dynamodb_client.delete_item(
        TableName=table.table_name, Key={"userId": one["userId"], "profileId": one["profileId"]}
    )
    state = dump_table(dynamodb_client, table.table_name)

    status, dry = cli("rollback", "--table", table.table_name, "--run", run["runId"], "--dry-run")

    assert status == 0
    assert dry["summary"]["dryRun"] is True
    assert (dry["summary"]["restoredCount"], dry["summary"]["missingCount"]) == (19, 1)
    assert dump_table(dynamodb_client, table.table_name) == state
    _, history = cli("history", "--table", table.table_name)
    assert [entry["kind"] for entry in history["runs"]] == ["migration"]


def test_the_history_lists_the_rollback_and_names_the_run_it_undid(
    cli: Cli, make_table: MakeTable
) -> None:
    table = make_table(items=list(sample_profiles(10)))
    _, run = cli("run", "--table", table.table_name)
    _, undo = cli("rollback", "--table", table.table_name, "--run", run["runId"])

    _, history = cli("history", "--table", table.table_name)

    newest, oldest = history["runs"]
    assert (newest["runId"], newest["kind"], newest["rollsBack"]) == (
        undo["runId"],
        "rollback",
        run["runId"],
    )
    assert newest["outcome"] == "succeeded"
    assert newest["rollbackCounters"]["restored"] == 10
    assert (oldest["runId"], oldest["outcome"]) == (run["runId"], "rolled-back")
    # A rollback is not a migration a `run --resume` would continue.
    status, again = cli("run", "--table", table.table_name, "--resume")
    assert status == 0
    assert again["message"].startswith("Nothing to resume")


def test_a_run_whose_journal_is_gone_is_refused_and_names_the_backup(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=list(sample_profiles(10)))
    _, run = cli("run", "--table", table.table_name)
    Path(run["summary"]["journalUri"].removeprefix("file://")).unlink()
    state = dump_table(dynamodb_client, table.table_name)

    status, refused = cli("rollback", "--table", table.table_name, "--run", run["runId"])

    assert status == 2
    assert refused["errorType"] == "InvalidRequestError"
    assert "gone" in refused["error"]
    assert "backup" in refused["error"]
    assert dump_table(dynamodb_client, table.table_name) == state


def test_rolling_back_a_resumed_run_undoes_every_part(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient, tmp_path: Path
) -> None:
    table = make_table(items=list(sample_profiles(400)))
    before = dump_table(dynamodb_client, table.table_name)
    status, first = cli(
        "run",
        "--table",
        table.table_name,
        "--page-size",
        "20",
        "--max-write-capacity",
        "150",
        "--stop-after",
        "2s",
    )
    assert status == 3, first
    assert 0 < first["summary"]["successCount"] < 400
    status, second = cli("run", "--table", table.table_name, "--resume")
    assert status == 0
    assert second["runId"] == first["runId"]
    _, history = cli("history", "--table", table.table_name)
    assert len(history["runs"][0]["parts"]) == 2

    status, undo = cli("rollback", "--table", table.table_name, "--run", first["runId"])

    assert status == 0
    assert undo["summary"]["restoredCount"] == 400
    assert dump_table(dynamodb_client, table.table_name) == before


def test_automatic_rollback_undoes_a_run_that_failed_a_third_of_its_profiles(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=list(sample_profiles(90)))
    before = dump_table(dynamodb_client, table.table_name)

    status, run = cli(
        "run", "--table", table.table_name, "--migrations", FAILING_THIRD, "--rollback-on-failure"
    )

    assert status == 1
    assert run["success"] is False
    failed = run["summary"]["failureCount"]
    assert failed == 30
    assert run["rolledBack"] is True
    assert run["rollback"]["summary"]["restoredCount"] == 60
    assert run["rollback"]["rollsBack"] == run["runId"]
    assert dump_table(dynamodb_client, table.table_name) == before


def test_a_run_within_its_allowed_failures_keeps_its_writes(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=list(sample_profiles(90)))
    before = dump_table(dynamodb_client, table.table_name)

    status, run = cli(
        "run",
        "--table",
        table.table_name,
        "--migrations",
        FAILING_THIRD,
        "--rollback-on-failure",
        "--max-failure-percent",
        "40",
    )

    assert status == 1
    assert run["rolledBack"] is False
    assert run["summary"]["successCount"] == 60
    assert dump_table(dynamodb_client, table.table_name) != before


def test_rollback_options_are_refused_where_they_cannot_apply(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=list(sample_profiles(5)))
    state = dump_table(dynamodb_client, table.table_name)
    for args in (
        ["--max-failure-percent", "10"],
        ["--rollback-on-failure", "--dry-run"],
        ["--rollback-on-failure", "--max-failure-percent", "101"],
    ):
        status, refused = cli("run", "--table", table.table_name, *args)
        assert status == 2, args
        assert refused["success"] is False
    assert dump_table(dynamodb_client, table.table_name) == state


def test_a_damaged_journal_is_refused_and_nothing_is_written(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=list(sample_profiles(40)))
    _, run = cli("run", "--table", table.table_name)
    path = Path(run["summary"]["journalUri"].removeprefix("file://"))
    whole = path.read_bytes()
    state = dump_table(dynamodb_client, table.table_name)

    for damaged in (whole[: len(whole) // 2], b""):
        path.write_bytes(damaged)
        status, refused = cli("rollback", "--table", table.table_name, "--run", run["runId"])

        assert status == 2, refused
        assert "damaged" in refused["error"]
        assert dump_table(dynamodb_client, table.table_name) == state


def test_an_older_run_is_not_rolled_back_over_a_newer_one(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=list(sample_profiles(30)))
    _, first = cli("run", "--table", table.table_name)
    cli("rollback", "--table", table.table_name, "--run", first["runId"])
    _, second = cli("run", "--table", table.table_name)
    state = dump_table(dynamodb_client, table.table_name)

    status, refused = cli("rollback", "--table", table.table_name, "--run", first["runId"])

    assert status == 2
    assert second["runId"] in refused["error"]
    assert dump_table(dynamodb_client, table.table_name) == state
    status, undo = cli("rollback", "--table", table.table_name, "--run", second["runId"])
    assert (status, undo["summary"]["restoredCount"]) == (0, 30)


def test_a_rolled_back_run_is_not_resumed_a_new_run_migrates_everything(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    table = make_table(items=list(sample_profiles(300)))
    status, stopped = cli(
        "run",
        "--table",
        table.table_name,
        "--page-size",
        "20",
        "--max-write-capacity",
        "100",
        "--stop-after",
        "1s",
    )
    assert status == 3
    cli("rollback", "--table", table.table_name, "--run", stopped["runId"])

    status, again = cli("run", "--table", table.table_name, "--resume")

    assert status == 0, again
    assert again["runId"] != stopped["runId"]
    assert again["summary"]["successCount"] == 300
    assert again["verification"]["valid"] is True


def test_a_resumed_rollback_keeps_its_write_cap(
    cli: Cli, make_table: MakeTable, dynamodb_local: DynamoDBLocal, tmp_path: Path
) -> None:
    table = make_table(items=list(sample_profiles(200)))
    _, run = cli("run", "--table", table.table_name)
    stop = threading.Event()
    target = TableTarget(table.table_name, endpoint_url=dynamodb_local.endpoint_url)
    timer = threading.Timer(1.5, stop.set)
    timer.start()
    first = command.rollback(
        command.RollbackConfig(
            target, run["runId"], report=tmp_path / "r1.jsonl", max_write_capacity=40, stop=stop
        )
    )
    assert first.resumable is True, first.message
    assert first.summary is not None
    assert 0 < first.summary.success_count < 200

    status, resumed = cli(
        "rollback", "--table", table.table_name, "--run", run["runId"], "--resume"
    )

    assert status == 0
    assert resumed["runId"] == first.run_id
    assert resumed["summary"]["maxWriteCapacity"] == 40


def test_a_step_fixed_after_a_complete_rollback_runs_again_without_allow_changed(
    cli: Cli, make_table: MakeTable, tmp_path: Path
) -> None:
    table = make_table(items=list(sample_profiles(20)))
    registry = tmp_path / "registry.py"
    original = (Path(__file__).parents[1] / "registries" / "counting.py").read_text()
    registry.write_text(original)
    _, run = cli("run", "--table", table.table_name, "--migrations", str(registry))
    fixed = original.replace('"appliedSteps"', '"stepsApplied"')
    assert fixed != original
    registry.write_text(fixed)
    status, refused = cli("run", "--table", table.table_name, "--migrations", str(registry))
    assert (status, refused["errorType"]) == (2, "ChangedStepError")

    cli("rollback", "--table", table.table_name, "--run", run["runId"])
    status, again = cli("run", "--table", table.table_name, "--migrations", str(registry))

    assert status == 0, again
    assert again["summary"]["successCount"] == 20
