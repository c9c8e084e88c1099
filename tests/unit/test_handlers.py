"""The Lambda handlers with injected fakes and a dataclass context: what each returns and
the metrics each emits (Powertools' EMF blob, parsed as its docs' example does)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext as PowertoolsLambdaContext

from profile_migrations.codec import serialize_item
from profile_migrations.errors import ConfigurationError
from profile_migrations.handlers import lambdas
from profile_migrations.handlers.dependencies import (
    AggregateDependencies,
    PlanDependencies,
    SegmentDependencies,
)
from profile_migrations.loader import load_registry
from profile_migrations.models.pipeline import RunPlan
from profile_migrations.models.records import Checkpoint
from profile_migrations.models.results import SegmentCounters
from profile_migrations.settings import (
    AggregateSettings,
    PlanSettings,
    SegmentSettings,
)
from tests.fakes import MemoryControl, MemoryRecords, PagedStore, locked_control

if TYPE_CHECKING:
    from collections.abc import Mapping

    from profile_migrations.logic.ports import ControlStore, ProfileStore

SETTINGS = SegmentSettings(
    table_name="UserProfiles",
    report_bucket="reports",
    control_table="UserProfiles-migrations",
    stop_margin_seconds=60,
)


@dataclass
class LambdaContext(PowertoolsLambdaContext):
    """Powertools' context type with a test's values; the time left runs against
    ``deadline`` (seconds since the epoch)."""

    function_name: str = "migrate"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:migrate"
    aws_request_id: str = "request-1"
    deadline: float = 0.0

    # Powertools types this as a static stub answering 0; the runtime's context answers
    # for its own invocation, as this one does.
    def get_remaining_time_in_millis(self) -> int:  # type: ignore[override]
        return int((self.deadline - time.time()) * 1000)


def segment_deps(store: ProfileStore, control: ControlStore) -> SegmentDependencies:
    return SegmentDependencies(SETTINGS, load_registry(), store, MemoryRecords(), control)


def context() -> LambdaContext:
    return LambdaContext(deadline=time.time() + 900)


def task(**fields: Any) -> dict[str, Any]:
    return {
        "runId": "exec-1",
        "execution": "exec-1",
        "tableName": "UserProfiles",
        "segment": 0,
        "totalSegments": 1,
        "targetVersion": 5,
        "startedAt": "2026-11-25T10:00:00.000Z",
        "keyAttributes": ["userId", "profileId"],
        **fields,
    }


def profiles(*users: str, profile_data: Any = None) -> list[dict[str, Any]]:
    return [
        serialize_item(
            {"userId": user, "profileId": "p", "profileData": profile_data or {"x": "y"}}
        )
        for user in users
    ]


def emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The one EMF blob the invocation printed: metric name -> its one value."""
    lines = capsys.readouterr().out.splitlines()
    (blob,) = [json.loads(line) for line in lines if '"_aws"' in line]
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert blob["table"] == "UserProfiles"
    counts: dict[str, float] = {}
    for metric in directive["Metrics"]:
        (counts[metric["Name"]],) = blob[metric["Name"]]
    return counts


def test_a_turn_emits_its_counts_and_returns_the_next_task(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = PagedStore(pages=[profiles("a", "b") + profiles("c", profile_data="bad")])

    result = lambdas.migrate(task(), context(), segment_deps(store, locked_control()))

    assert (result["done"], result["invocation"]) == (True, 1)
    assert emitted(capsys) == {
        "ProfilesScanned": 3.0,
        "ProfilesMigrated": 2.0,
        "ProfilesFailed": 1.0,
        "ProfilesSkipped": 0.0,
        "Conflicts": 0.0,
        "ThrottleRetries": 0.0,
        # Two small profiles written; one page scanned, eventually consistent (the fake's
        # answers carry no consumed capacity, so the item sizes give it). No cap: no
        # MaxWriteCapacity.
        "ConsumedWriteCapacityUnits": 2.0,
        "ConsumedReadCapacityUnits": 0.5,
    }


def test_a_turn_emits_the_caps_in_force_at_its_end(capsys: pytest.CaptureFixture[str]) -> None:
    control = locked_control()
    control.set_caps("UserProfiles", 250.0, 80.0)  # as `throttle` would, during the turn

    store = PagedStore(pages=[profiles("a")])
    lambdas.migrate(task(maxWriteCapacity=100.0), context(), segment_deps(store, control))

    found = emitted(capsys)
    assert (found["MaxWriteCapacity"], found["MaxReadCapacity"]) == (250.0, 80.0)


def test_a_dry_run_turn_emits_the_profiles_scanned_and_the_capacity_it_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = PagedStore(pages=[profiles("a", "b")])

    lambdas.migrate(task(dryRun=True), context(), segment_deps(store, MemoryControl()))

    # No outcome counters (a dry run never shows as migrated or failed profiles), but the
    # capacity it consumed is real.
    assert emitted(capsys) == {
        "ProfilesScanned": 2.0,
        "ConsumedWriteCapacityUnits": 0.0,
        "ConsumedReadCapacityUnits": 0.5,
    }


def test_the_first_turn_of_a_resumed_segment_emits_only_its_own_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given: the segment's checkpoint already counts 1,000 profiles, 7 of them failed
    store = PagedStore(pages=[profiles("z0"), profiles("z1", "z2")])
    control = locked_control()
    control.save_checkpoint(
        "exec-1",
        Checkpoint(
            segment=0,
            cursor={"page": {"N": "1"}},
            done=False,
            counters=SegmentCounters(scanned=1_000, migrated=993, failed=7),
            pages=1,
        ),
    )

    result = lambdas.migrate(task(), context(), segment_deps(store, control))

    # Then: the task carries the segment's totals; the metrics only this turn's
    assert result["counters"]["scanned"] == 1_002
    counts = emitted(capsys)
    assert (counts["ProfilesScanned"], counts["ProfilesMigrated"]) == (2.0, 2.0)
    assert counts["ProfilesFailed"] == 0.0


def test_the_plan_handler_lays_out_a_run_and_takes_the_lock() -> None:
    control = MemoryControl()
    settings = PlanSettings(
        table_name="UserProfiles",
        control_table="UserProfiles-migrations",
        max_concurrency_limit=100,
    )
    event = {"request": {}, "execution": "exec-9", "startedAt": "2026-11-25T10:00:00Z"}

    deps = PlanDependencies(settings, load_registry(), PagedStore(), control)

    result = lambdas.plan(event, context(), deps)

    assert (result["runId"], result["execution"], result["totalSegments"]) == (
        "exec-9",
        "exec-9",
        1,
    )
    assert control.lock is not None
    assert control.lock.owner == "execution exec-9"


def test_the_verify_handler_returns_the_next_task_and_emits_what_it_read(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = PagedStore(pages=[profiles("a") + profiles("b")])

    result = lambdas.verify(
        {key: value for key, value in task().items() if key not in ("startedAt",)},
        context(),
        segment_deps(store, MemoryControl()),
    )

    assert (result["done"], result["checked"], result["invalidCount"]) == (True, 2, 2)
    # One eventually consistent page (0.5 RCU) and a consistent re-read of each of the
    # two profiles it showed below the target (1 RCU each).
    assert emitted(capsys) == {
        "ConsumedWriteCapacityUnits": 0.0,
        "ConsumedReadCapacityUnits": 2.5,
    }


def test_the_aggregate_handler_answers_the_runs_document_and_stores_it() -> None:
    records = MemoryRecords()
    settings = AggregateSettings(control_table="UserProfiles-migrations", report_bucket="reports")
    run_plan = RunPlan(
        run_id="exec-1",
        execution="exec-1",
        table_name="UserProfiles",
        target_version=5,
        dry_run=True,
        verify_only=False,
        started_at="t",
        total_segments=1,
        segments=[0],
        max_concurrency=1,
        page_size=None,
        key_attributes=["userId"],
    )
    control = MemoryControl()
    control.save_checkpoint(
        "exec-1",
        Checkpoint(segment=0, cursor=None, done=True, counters=SegmentCounters(scanned=3)),
    )

    deps = AggregateDependencies(settings, records, control)

    result = lambdas.aggregate({"plan": run_plan.to_wire()}, context(), deps)

    assert (result["success"], result["summary"]["totalProfiles"]) == (True, 3)
    assert records.outputs["exec-1"].to_wire() == result


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({}, "PROFILE_TABLE_NAME"),
        ({"PROFILE_TABLE_NAME": "UserProfiles"}, "CONTROL_TABLE_NAME"),
        (
            {
                "PROFILE_TABLE_NAME": "UserProfiles",
                "CONTROL_TABLE_NAME": "UserProfiles-migrations",
                "REPORT_BUCKET_NAME": "reports",
                "STOP_MARGIN_SECONDS": "soon",
            },
            "STOP_MARGIN_SECONDS",
        ),
    ],
    ids=["nothing-set", "no-control-table", "margin-not-a-number"],
)
def test_a_missing_or_invalid_variable_is_a_configuration_error_naming_it(
    environ: Mapping[str, str], named: str
) -> None:
    with pytest.raises(ConfigurationError, match=named):
        SegmentSettings.from_environ(environ)


def test_settings_read_the_variables_the_stack_sets() -> None:
    settings = SegmentSettings.from_environ(
        {
            "PROFILE_TABLE_NAME": "UserProfiles",
            "CONTROL_TABLE_NAME": "UserProfiles-migrations",
            "REPORT_BUCKET_NAME": "reports",
            "STOP_MARGIN_SECONDS": "60",
            "UNRELATED": "ignored",
        }
    )

    assert settings == SETTINGS
