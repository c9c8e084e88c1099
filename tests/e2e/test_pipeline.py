"""The synthesized state machine, run by moto's Step Functions interpreter end to end
(the ``pipeline`` fixture, deployment.py), on small tables; test_pipeline_scale.py runs
it at the sizes where AWS's quotas bite."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.codec import serialize_item
from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.dal.dynamodb import ProfileTable
from profile_migrations.dal.seeding import create_table, put_items
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA, sample_profiles
from profile_migrations.environment import (
    RUN_ERROR_PROFILES_FAILED,
    RUN_ERROR_SEGMENTS_UNFINISHED,
    RUN_ERROR_VERIFICATION_FAILED,
)
from profile_migrations.loader import load_registry
from profile_migrations.logic.lifecycle import Protection, local_owner
from profile_migrations.logic.report import JsonLinesReport
from profile_migrations.logic.runner import LocalRun, LocalRunOptions, run_local
from profile_migrations.models.records import LockInfo
from profile_migrations.models.requests import RunRequest
from tests.cdk_synth import TABLE_NAME
from tests.conftest import dump_table
from tests.e2e.deployment import BUCKET, LOCAL_TABLE, seed

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from tests.e2e.deployment import Pipeline


def local_run(
    pipeline: Pipeline, items: list[dict[str, Any]], tmp_path: Path, **request: Any
) -> dict[str, Any]:
    """The local runner's document for the same items and request, on a twin table."""
    store = ProfileTable(pipeline.dynamodb, LOCAL_TABLE)
    create_table(pipeline.dynamodb, LOCAL_TABLE, PROFILE_KEY_SCHEMA)
    put_items(pipeline.dynamodb, LOCAL_TABLE, items)
    protection = Protection(
        control=ControlTable(pipeline.dynamodb, control_table_name(LOCAL_TABLE)),
        owner=local_owner(),
        where="local",
    )
    with JsonLinesReport(tmp_path / "local.jsonl") as report:
        response = run_local(
            LocalRun(
                request=RunRequest.model_validate(request),
                registry=load_registry(),
                store=store,
                sink=report,
                report_uri=report.uri,
                options=LocalRunOptions(workers=2),
                protection=protection,
            )
        )
    return response.to_wire()


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what names where and which run (report and journal location,
    run id) and without what depends on how the table was paged (the scans' read
    capacity)."""
    copy: dict[str, Any] = json.loads(json.dumps(document))
    copy.pop("runId", None)
    if "summary" in copy:
        copy["summary"].pop("reportUri")
        copy["summary"].pop("journalUri", None)
        # A scan bills per page, and the two runners cut the table into different pages.
        copy["summary"].pop("consumedReadCapacityUnits")
    if "verification" in copy:
        copy["verification"].pop("consumedReadCapacityUnits")
    return copy


def broken(user: str) -> dict[str, Any]:
    return serialize_item({"userId": user, "profileId": "main", "profileData": "not a map"})


def test_an_empty_input_migrates_everything_and_matches_the_local_runner(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    items = list(sample_profiles(300))
    seed(pipeline, items)

    result = pipeline.run({})

    assert result.status == "SUCCEEDED", result.cause
    output = result.output
    assert output["success"] is True
    assert output["summary"]["successCount"] == 300
    assert output["summary"]["reportUri"] == f"s3://{BUCKET}/runs/run-1/report/"
    assert output["verification"]["checkedCount"] == 300
    stored = dump_table(pipeline.dynamodb, TABLE_NAME)
    assert {item["version"]["N"] for item in stored.values()} == {"5"}
    assert len(pipeline.report_lines("run-1")) == 300
    assert comparable(output) == comparable(local_run(pipeline, items, tmp_path))


def test_failing_profiles_are_listed_and_match_the_local_runner(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    items = [*sample_profiles(60), broken("broken-1"), broken("broken-2")]
    seed(pipeline, items)

    result = pipeline.run({"totalSegments": 3})

    output = pipeline.failed_run(result, RUN_ERROR_PROFILES_FAILED)
    assert output == pipeline.stored_output("run-1")
    assert output["summary"]["failureCount"] == 2
    assert [r["userId"] for r in output["summary"]["results"]] == ["broken-1", "broken-2"]
    assert output["verification"]["invalidCount"] == 2
    statuses = [line["status"] for line in pipeline.report_lines("run-1")]
    assert (statuses.count("failed"), statuses.count("success")) == (2, 60)
    local = local_run(pipeline, items, tmp_path, totalSegments=3)
    assert comparable(output) == comparable(local)


def test_a_dry_run_writes_nothing_and_has_no_verification(pipeline: Pipeline) -> None:
    seed(pipeline, list(sample_profiles(80)))
    before = dump_table(pipeline.dynamodb, TABLE_NAME)

    result = pipeline.run({"dryRun": True})

    assert result.status == "SUCCEEDED", result.cause
    assert dump_table(pipeline.dynamodb, TABLE_NAME) == before
    assert result.output["summary"]["successCount"] == 80
    assert result.output["summary"]["dryRun"] is True
    assert "verification" not in result.output
    assert pipeline.invocations("verify") == 0


def test_verify_only_reports_and_writes_nothing(pipeline: Pipeline) -> None:
    seed(pipeline, list(sample_profiles(40)))
    before = dump_table(pipeline.dynamodb, TABLE_NAME)

    result = pipeline.run({"verifyOnly": True})

    output = pipeline.failed_run(result, RUN_ERROR_VERIFICATION_FAILED)
    assert dump_table(pipeline.dynamodb, TABLE_NAME) == before
    assert "summary" not in output
    assert output["verification"]["invalidCount"] == 40
    assert pipeline.invocations("migrate") == 0


def test_deep_verify_reports_profiles_at_the_target_that_do_not_validate(
    pipeline: Pipeline,
) -> None:
    # Given: at version 5, one profile of CICADA's version-5 shape and one without
    # characterType
    data = {"characterType": "MAGE", "metadata": {"tags": []}}
    seed(
        pipeline,
        [
            serialize_item(
                {"userId": user, "profileId": "p", "version": 5, "lastAccessedAt": "t", **extra}
            )
            for user, extra in (
                ("valid", {"profileData": data}),
                ("typeless", {"profileData": {"metadata": {"tags": []}}}),
            )
        ],
    )

    result = pipeline.run({"verifyOnly": True, "deepVerify": True})

    output = pipeline.failed_run(result, RUN_ERROR_VERIFICATION_FAILED)
    assert output["verification"]["invalidProfiles"] == [
        {
            "userId": "typeless",
            "profileId": "p",
            "version": 5,
            "reason": "profileData.characterType: Field required",
        }
    ]


@pytest.mark.parametrize(
    ("execution_input", "reason"),
    [
        ({"targetVersion": 9}, "no migration path leads to version 9"),
        ({"targetVersion": "5"}, "invalid input"),
        ({"maxConcurrency": 100_000}, "maxConcurrency 100000 is above"),
        ({"tableName": "Other"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_input_fails_the_execution_at_once_and_writes_nothing(
    pipeline: Pipeline, execution_input: dict[str, Any], reason: str
) -> None:
    seed(pipeline, list(sample_profiles(20)))
    before = dump_table(pipeline.dynamodb, TABLE_NAME)

    result = pipeline.run(execution_input)

    assert result.status == "FAILED"
    assert result.error == "MigrationRefused"
    assert reason in json.loads(result.cause or "{}")["errorMessage"]
    assert dump_table(pipeline.dynamodb, TABLE_NAME) == before
    assert pipeline.invocations("migrate") == 0


class ShortTurnContext:
    """A Lambda context whose time runs short after ``pages`` pages, so each invocation
    handles only that many and the child workflow must loop on the cursor."""

    def __init__(self, context: Any, pages: int) -> None:
        self._context = context
        self._pages_left = pages

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def get_remaining_time_in_millis(self) -> int:
        self._pages_left -= 1
        return 300_000 if self._pages_left > 0 else 1_000


def short_turns(pipeline: Pipeline, function: str, pages: int) -> None:
    name = pipeline.function_names[function]
    handler: Callable[..., Any] = pipeline.harness.configured_handler(name)
    pipeline.harness.override_handler(
        name, lambda event, context: handler(event, ShortTurnContext(context, pages))
    )


def test_segments_longer_than_one_invocation_loop_on_their_cursor(pipeline: Pipeline) -> None:
    seed(pipeline, list(sample_profiles(240)))
    short_turns(pipeline, "migrate", pages=2)
    short_turns(pipeline, "verify", pages=2)

    result = pipeline.run({"totalSegments": 2, "pageSize": 20})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["success"] is True
    assert result.output["summary"]["successCount"] == 240
    assert result.output["verification"]["checkedCount"] == 240
    assert pipeline.invocations("migrate") >= 6
    assert pipeline.invocations("verify") >= 6
    turns = [
        call.event["invocation"]
        for call in pipeline.harness.invocation_log
        if call.function_name == pipeline.function_names["migrate"]
    ]
    assert max(turns) >= 2


def test_lambda_throttling_is_retried_and_the_run_completes(pipeline: Pipeline) -> None:
    seed(pipeline, list(sample_profiles(50)))
    pipeline.harness.inject_service_error(pipeline.function_names["migrate"], times=2)

    result = pipeline.run({})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["summary"]["successCount"] == 50
    assert pipeline.harness.rejected[pipeline.function_names["migrate"]] == 2
    assert len(pipeline.harness.retry_delays) >= 2


def test_a_segment_that_keeps_failing_fails_the_execution_with_a_complete_document(
    pipeline: Pipeline,
) -> None:
    seed(pipeline, list(sample_profiles(60)))
    name = pipeline.function_names["migrate"]
    handler: Callable[..., Any] = pipeline.harness.configured_handler(name)

    def segment_zero_is_broken(event: dict[str, Any], context: Any) -> Any:
        if event["segment"] == 0:
            raise RuntimeError("segment 0 is broken")
        return handler(event, context)

    pipeline.harness.override_handler(name, segment_zero_is_broken)

    result = pipeline.run({"totalSegments": 3})

    output = pipeline.failed_run(result, RUN_ERROR_SEGMENTS_UNFINISHED)
    assert "segments 0 of 3 did not finish" in output["error"]
    assert output["summary"]["successCount"] > 0
    assert output == pipeline.stored_output("run-1")
    assert pipeline.control.read_lock(TABLE_NAME) is None


@pytest.mark.parametrize("segments", [1, 4])
def test_transitions_and_invocations_grow_with_segments_not_profiles(
    pipeline: Pipeline, segments: int
) -> None:
    seed(pipeline, list(sample_profiles(1_000)))

    result = pipeline.run({"totalSegments": segments})

    assert result.status == "SUCCEEDED", result.cause
    counts = pipeline.harness.count_events(result.execution_arn)
    invocations = sum(pipeline.harness.invocations.values())
    # Plan and Aggregate, plus one Migrate and one Verify turn per segment
    assert invocations == 2 + 2 * segments
    # a fixed path through the parent (Plan ... Aggregate and the end states after it);
    # each child: one turn's task and Choice, then the states that end it
    parent = sum(n for kind, n in counts.parent.items() if kind.endswith("StateEntered"))
    per_child = (counts.states_entered - parent) / (2 * segments)
    assert 6 <= parent <= 9
    assert 3 <= per_child <= 4
    assert len(counts.child_histories) == 2 * segments
    print(
        f"\n1,000 profiles, {segments} segment(s): {counts.states_entered} states entered, "
        f"{invocations} Lambda invocations"
    )


def test_a_real_run_holds_the_lock_records_its_history_and_releases(pipeline: Pipeline) -> None:
    seed(pipeline, list(sample_profiles(30)))

    result = pipeline.run({})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["runId"] == "run-1"
    assert result.output["backup"] == {
        "skipped": "this endpoint has no backup API (DynamoDB Local); no backup taken"
    }
    (entry,) = pipeline.control.history(TABLE_NAME)
    assert (entry.run_id, entry.outcome, entry.counters.migrated) == ("run-1", "succeeded", 30)
    assert entry.owner == "execution run-1"
    assert pipeline.control.read_lock(TABLE_NAME) is None


def test_an_execution_on_a_locked_table_fails_clearly_and_writes_nothing(
    pipeline: Pipeline,
) -> None:
    seed(pipeline, list(sample_profiles(20)))
    pipeline.control.acquire_lock(
        LockInfo(
            table=TABLE_NAME,
            run_id="local-run",
            owner="ops@laptop:42",
            acquired_at="2026-11-25T00:00:00.000Z",
            expires_at=time.time() + 600,
        )
    )
    before = dump_table(pipeline.dynamodb, TABLE_NAME)

    result = pipeline.run({})

    assert result.status == "FAILED"
    assert result.error == "MigrationRefused"
    assert (
        "is locked by run local-run (ops@laptop:42"
        in json.loads(result.cause or "{}")["errorMessage"]
    )
    assert dump_table(pipeline.dynamodb, TABLE_NAME) == before


def test_a_new_execution_resumes_the_stopped_run_from_its_checkpoints(pipeline: Pipeline) -> None:
    seed(pipeline, list(sample_profiles(200)))
    name = pipeline.function_names["migrate"]
    handler: Callable[..., Any] = pipeline.harness.configured_handler(name)
    broken = {"on": True}

    def fails_after_two_pages(event: dict[str, Any], context: Any) -> Any:
        if broken["on"] and event["invocation"] >= 1:
            raise RuntimeError("the function broke mid-segment")
        return handler(event, ShortTurnContext(context, pages=2))

    pipeline.harness.override_handler(name, fails_after_two_pages)
    first = pipeline.run({"totalSegments": 2, "pageSize": 25}, name="run-1")
    broken["on"] = False
    migrated_by_first = sum(
        item.get("version") == {"N": "5"}
        for item in dump_table(pipeline.dynamodb, TABLE_NAME).values()
    )

    second = pipeline.run({"resume": True, "pageSize": 25}, name="run-2")

    assert "did not finish" in pipeline.failed_run(first, RUN_ERROR_SEGMENTS_UNFINISHED)["error"]
    assert 0 < migrated_by_first < 200
    assert second.status == "SUCCEEDED", second.cause
    assert second.output["message"].startswith("Resumed run run-1.")
    assert second.output["runId"] == "run-1"
    assert second.output["success"] is True
    assert second.output["summary"]["successCount"] == 200
    assert second.output["summary"]["skippedCount"] == 0
    stored = dump_table(pipeline.dynamodb, TABLE_NAME)
    assert {item["version"]["N"] for item in stored.values()} == {"5"}
    # One run, two parts: the history reads as a local resume's does.
    (entry,) = pipeline.control.history(TABLE_NAME)
    assert (entry.run_id, entry.outcome) == ("run-1", "succeeded")
    assert [(part.owner, part.outcome) for part in entry.parts] == [
        ("execution run-1", "stopped"),
        ("execution run-2", "succeeded"),
    ]


def test_the_first_execution_creates_the_control_table(pipeline: Pipeline) -> None:
    """Deployed before any CLI use: no `<table>-migrations` yet (the stack has none)."""
    seed(pipeline, list(sample_profiles(20)))
    pipeline.dynamodb.delete_table(TableName=pipeline.control.name)

    result = pipeline.run({})

    assert result.status == "SUCCEEDED", result.cause
    assert pipeline.control.name in pipeline.dynamodb.list_tables()["TableNames"]
    (entry,) = pipeline.control.history(TABLE_NAME)
    assert (entry.run_id, entry.outcome) == ("run-1", "succeeded")
