"""The synthesized state machine, run by moto's Step Functions interpreter end to end.

The definition, the functions' handlers, timeouts and environment all come from the
template `cdk synth` produces; the harness (conftest.py) routes each Lambda invocation to
the handler the template names, in process. The handlers reach DynamoDB Local through
AWS_ENDPOINT_URL_DYNAMODB and moto's S3 for run records and reports.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from profile_migrations.codec import serialize_item
from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.dal.dynamodb import ProfileTable
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA, sample_profiles
from profile_migrations.logic.report import JsonLinesReport
from profile_migrations.logic.runner import LocalRunOptions, SafetyOptions, run_local
from profile_migrations.models import LockInfo, RunRequest
from profile_migrations.registry import load_registry
from tests.cdk_synth import HANDLERS, TABLE_NAME
from tests.conftest import TEST_CREDENTIALS, dump_table

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from tests.cdk_synth import Synthesized
    from tests.e2e.conftest import ExecutionResult, StepFunctionsHarness

BUCKET = "profile-migration-reports"
LOCAL_TABLE = "UserProfilesLocalRun"


@dataclass
class Pipeline:
    harness: StepFunctionsHarness
    state_machine_arn: str
    dynamodb: DynamoDBClient
    function_names: dict[str, str]
    control: ControlTable

    def run(self, execution_input: dict[str, Any], name: str = "run-1") -> ExecutionResult:
        return self.harness.run(self.state_machine_arn, execution_input, name=name, timeout=120)

    def invocations(self, function: str) -> int:
        return self.harness.invocations[self.function_names[function]]

    def report_lines(self, run_id: str) -> list[dict[str, Any]]:
        s3 = self.harness.client("s3")
        lines: list[dict[str, Any]] = []
        listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"runs/{run_id}/report/")
        for entry in listing.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read().decode()
            lines.extend(json.loads(line) for line in body.splitlines())
        return lines


def _resolve(value: Any, refs: dict[str, str]) -> Any:
    """A template value with the stack's references replaced by what the harness made."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return refs[value["Ref"]]
    if "Fn::GetAtt" in value:
        return refs[value["Fn::GetAtt"][0]]
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return str(delimiter).join(_resolve(part, refs) for part in parts)
    raise AssertionError(f"unexpected intrinsic function: {value}")


@pytest.fixture
def pipeline(
    sfn_harness: StepFunctionsHarness, synthesized: Synthesized, dynamodb_local: DynamoDBLocal
) -> Iterator[Pipeline]:
    sfn_harness.set_environment(
        AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local.endpoint_url,
        AWS_ACCESS_KEY_ID=TEST_CREDENTIALS.access_key_id,
        AWS_SECRET_ACCESS_KEY=TEST_CREDENTIALS.secret_access_key,
    )
    sfn_harness.client("s3").create_bucket(Bucket=BUCKET)
    (bucket_id,) = synthesized.resources("AWS::S3::Bucket")
    ((control_id, control),) = synthesized.resources("AWS::DynamoDB::GlobalTable").items()
    control_name = control["Properties"]["TableName"]
    refs = {
        bucket_id: BUCKET,
        control_id: control_name,
        "AWS::Partition": "aws",
        "AWS::Region": sfn_harness.region,
    }
    names: dict[str, str] = {}
    for function, handler in HANDLERS.items():
        logical_id, properties = synthesized.function(function)
        environment = {
            name: _resolve(value, refs)
            for name, value in properties["Environment"]["Variables"].items()
        }
        refs[logical_id] = sfn_harness.create_function(
            logical_id,
            handler,
            timeout=properties["Timeout"],
            memory_size=properties["MemorySize"],
            environment=environment,
        )
        names[function] = logical_id
    (machine,) = synthesized.resources("AWS::StepFunctions::StateMachine").values()
    definition = _resolve(machine["Properties"]["DefinitionString"], refs)
    arn = sfn_harness.create_state_machine(machine["Properties"]["StateMachineName"], definition)
    dynamodb = boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint_url)
    for table in (TABLE_NAME, LOCAL_TABLE, control_name, control_table_name(LOCAL_TABLE)):
        if table in dynamodb.list_tables()["TableNames"]:
            dynamodb.delete_table(TableName=table)
    ProfileTable(dynamodb, TABLE_NAME).create(PROFILE_KEY_SCHEMA)
    control_table = ControlTable(dynamodb, control_name)
    control_table.ensure_exists()
    yield Pipeline(sfn_harness, arn, dynamodb, names, control_table)


def seed(pipeline: Pipeline, items: list[dict[str, Any]], table: str = TABLE_NAME) -> None:
    ProfileTable(pipeline.dynamodb, table).put_items(items)


def local_run(
    pipeline: Pipeline, items: list[dict[str, Any]], tmp_path: Path, **request: Any
) -> dict[str, Any]:
    """The local runner's document for the same items and request, on a twin table."""
    store = ProfileTable(pipeline.dynamodb, LOCAL_TABLE)
    store.create(PROFILE_KEY_SCHEMA)
    store.put_items(items)
    safety = SafetyOptions(
        control=ControlTable(pipeline.dynamodb, control_table_name(LOCAL_TABLE)), where="local"
    )
    with JsonLinesReport(tmp_path / "local.jsonl") as report:
        response = run_local(
            RunRequest.model_validate(request),
            load_registry(),
            store,
            report,
            report.uri,
            LocalRunOptions(workers=2),
            safety=safety,
        )
    return response.to_wire()


def comparable(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what names where and which run: report location, run id."""
    copy = json.loads(json.dumps(document))
    copy.pop("runId", None)
    if "summary" in copy:
        copy["summary"].pop("reportUri")
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

    assert result.status == "SUCCEEDED", result.cause
    output = result.output
    assert output["success"] is False
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

    assert result.status == "SUCCEEDED", result.cause
    assert dump_table(pipeline.dynamodb, TABLE_NAME) == before
    assert "summary" not in result.output
    assert result.output["verification"]["invalidCount"] == 40
    assert result.output["success"] is False
    assert pipeline.invocations("migrate") == 0


@pytest.mark.parametrize(
    ("execution_input", "reason"),
    [
        ({"targetVersion": 9}, "no migration path leads to version 9"),
        ({"targetVersion": "5"}, "invalid input"),
        ({"maxConcurrency": 1000}, "reserved concurrency"),
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


def test_a_segment_that_keeps_failing_is_reported_not_fatal(pipeline: Pipeline) -> None:
    seed(pipeline, list(sample_profiles(60)))
    name = pipeline.function_names["migrate"]
    handler: Callable[..., Any] = pipeline.harness.configured_handler(name)

    def segment_zero_is_broken(event: dict[str, Any], context: Any) -> Any:
        if event["segment"] == 0:
            raise RuntimeError("segment 0 is broken")
        return handler(event, context)

    pipeline.harness.override_handler(name, segment_zero_is_broken)

    result = pipeline.run({"totalSegments": 3})

    assert result.status == "SUCCEEDED", result.cause
    assert result.output["success"] is False
    assert "segments 0 of 3 did not finish" in result.output["error"]
    assert result.output["summary"]["successCount"] > 0


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
    # parent: Plan, ChooseMode, MigrateSegments, ChooseVerify, VerifySegments, Aggregate;
    # each child: its task, its Choice and its Succeed
    assert counts.states_entered == 6 + 2 * segments * 3
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

    assert first.output["success"] is False
    assert "did not finish" in first.output["error"]
    assert 0 < migrated_by_first < 200
    assert second.status == "SUCCEEDED", second.cause
    assert second.output["message"].startswith("Resumed run run-1.")
    assert second.output["success"] is True
    assert second.output["summary"]["successCount"] == 200
    assert second.output["summary"]["skippedCount"] == 0
    stored = dump_table(pipeline.dynamodb, TABLE_NAME)
    assert {item["version"]["N"] for item in stored.values()} == {"5"}
    outcomes = {entry.run_id: entry.outcome for entry in pipeline.control.history(TABLE_NAME)}
    assert outcomes == {"run-1": "resumed", "run-2": "succeeded"}
