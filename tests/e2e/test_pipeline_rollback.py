"""Undo in the pipeline, end to end: the synthesized state machine in moto's interpreter,
the functions on DynamoDB Local, each function held to its role.

A run's turns journal every page's writes in the report bucket before sending them; a
rollback execution (``{"rollback": RUN_ID}``) fans out over the run's segments and puts
every profile back byte for byte, keeping what the application changed since; an
execution with ``rollbackOnFailure`` undoes its own writes when too many profiles failed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from profile_migrations.codec import serialize_item
from profile_migrations.devtools.sample_profiles import sample_profiles
from tests.cdk_synth import TABLE_NAME
from tests.conftest import dump_table
from tests.e2e.deployment import BUCKET, seed

if TYPE_CHECKING:
    from tests.e2e.deployment import Pipeline

PROFILES = 120


def journal_objects(pipeline: Pipeline, run_id: str) -> list[str]:
    listed = pipeline.harness.client("s3").list_objects_v2(
        Bucket=BUCKET, Prefix=f"runs/{run_id}/journal/"
    )
    return [entry["Key"] for entry in listed.get("Contents", [])]


def test_a_rollback_execution_puts_the_run_back_and_keeps_application_writes(
    pipeline: Pipeline,
) -> None:
    seed(pipeline, list(sample_profiles(PROFILES)))
    before = dump_table(pipeline.dynamodb, TABLE_NAME)
    run = pipeline.run({"totalSegments": 3, "pageSize": 25}, name="run-1")
    assert run.status == "SUCCEEDED", run.cause
    assert run.output["summary"]["successCount"] == PROFILES
    assert run.output["summary"]["journalUri"] == f"s3://{BUCKET}/runs/run-1/journal/"
    (entry,) = pipeline.control.history(TABLE_NAME)
    assert [part.journal_uri for part in entry.parts] == [f"s3://{BUCKET}/runs/run-1/journal/"]
    # One object per page with writes: 120 profiles over 3 segments of 25-item pages.
    assert len(journal_objects(pipeline, "run-1")) >= 6
    migrated = dump_table(pipeline.dynamodb, TABLE_NAME)
    changed = sorted(migrated)[0]
    item = migrated[changed]
    pipeline.dynamodb.update_item(
        TableName=TABLE_NAME,
        Key={"userId": item["userId"], "profileId": item["profileId"]},
        UpdateExpression="SET version = :v",
        ExpressionAttributeValues={":v": {"N": "9"}},
    )
    kept = dump_table(pipeline.dynamodb, TABLE_NAME)[changed]

    undo = pipeline.run({"rollback": "run-1", "maxConcurrency": 2}, name="rollback-1")

    assert undo.status == "SUCCEEDED", undo.cause
    document = undo.output
    assert document["rollsBack"] == "run-1"
    assert document["runId"] == "rollback-1"
    summary = document["summary"]
    assert (summary["restoredCount"], summary["keptCount"], summary["failureCount"]) == (
        PROFILES - 1,
        1,
        0,
    )
    after = dump_table(pipeline.dynamodb, TABLE_NAME)
    assert after[changed] == kept
    assert {key: value for key, value in after.items() if key != changed} == {
        key: value for key, value in before.items() if key != changed
    }
    statuses = [line["status"] for line in pipeline.report_lines("rollback-1")]
    assert sorted(statuses) == ["kept"] + ["restored"] * (PROFILES - 1)
    history = pipeline.control.history(TABLE_NAME)
    assert [(entry.run_id, entry.kind, entry.outcome) for entry in history] == [
        ("rollback-1", "rollback", "succeeded"),
        ("run-1", "migration", "rolled-back"),
    ]

    again = pipeline.run({"rollback": "run-1"}, name="rollback-2")

    assert again.status == "SUCCEEDED", again.cause
    assert again.output["summary"]["restoredCount"] == 0
    assert dump_table(pipeline.dynamodb, TABLE_NAME) == after


def test_a_run_with_rollback_on_failure_undoes_its_own_writes(pipeline: Pipeline) -> None:
    good = list(sample_profiles(60))
    broken = [
        serialize_item({"userId": f"broken-{n}", "profileId": "p", "profileData": "not a map"})
        for n in range(30)
    ]
    seed(pipeline, good + broken)
    before = dump_table(pipeline.dynamodb, TABLE_NAME)

    result = pipeline.run(
        {"totalSegments": 2, "pageSize": 20, "rollbackOnFailure": True}, name="run-1"
    )

    document = pipeline.failed_run(result, "ProfilesFailed")
    assert document["summary"]["failureCount"] == 30
    assert document["rolledBack"] is True
    assert document["rollback"]["summary"]["restoredCount"] == 60
    assert document["rollback"]["rollsBack"] == "run-1"
    assert dump_table(pipeline.dynamodb, TABLE_NAME) == before
    assert [entry.kind for entry in pipeline.control.history(TABLE_NAME)] == [
        "rollback",
        "migration",
    ]


def test_a_rollback_of_an_unknown_run_is_refused_and_writes_nothing(pipeline: Pipeline) -> None:
    seed(pipeline, list(sample_profiles(10)))
    before = dump_table(pipeline.dynamodb, TABLE_NAME)

    result = pipeline.run({"rollback": "no-such-run"}, name="rollback-1")

    assert (result.status, result.error) == ("FAILED", "MigrationRefused")
    assert "no recorded run 'no-such-run'" in (result.cause or "")
    assert dump_table(pipeline.dynamodb, TABLE_NAME) == before
