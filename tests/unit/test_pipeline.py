"""The pipeline's Plan and Aggregate steps with in-memory fakes (turns: test_turns.py)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.errors import RequestRefusedError
from profile_migrations.loader import load_registry
from profile_migrations.logic.pipeline import aggregate_run, default_pipeline_segments, plan_run
from profile_migrations.models.pipeline import PageFailures, PageInvalid, PlanEvent, RunPlan
from profile_migrations.models.records import Checkpoint, RunHistoryEntry, VerifyCheckpoint
from profile_migrations.models.results import (
    BackupResult,
    InvalidProfile,
    ProfileResult,
    SegmentCounters,
)
from tests.fakes import MemoryControl, MemoryRecords, MiB, PagedStore, locked_control

if TYPE_CHECKING:
    from collections.abc import Sequence

    from profile_migrations.models.records import SegmentRecord


def plan_event(**request: Any) -> PlanEvent:
    return PlanEvent(request=request, execution="exec-1", started_at="2026-11-25T10:00:00.000Z")


def test_an_empty_input_plans_a_migration_to_the_current_version() -> None:
    plan = plan_run(plan_event(), load_registry(), PagedStore(), MemoryControl(), 100)

    assert (plan.target_version, plan.dry_run, plan.verify_only) == (5, False, False)
    assert plan.key_attributes == ["userId", "profileId"]
    assert plan.started_at == "2026-11-25T10:00:00.000Z"
    assert plan.total_segments == 1
    assert plan.segments == [0]


def test_segments_are_shuffled_deterministically_per_run() -> None:
    first = plan_run(
        plan_event(totalSegments=50), load_registry(), PagedStore(), MemoryControl(), 100
    )
    again = plan_run(
        plan_event(totalSegments=50), load_registry(), PagedStore(), MemoryControl(), 100
    )

    assert sorted(first.segments) == list(range(50))
    assert first.segments != list(range(50))
    assert first.segments == again.segments


@pytest.mark.parametrize(
    ("size_bytes", "segments"),
    [(0, 1), (10 * MiB, 1), (257 * MiB, 2), (100 * 1024 * MiB, 400), (10**15, 10_000)],
)
def test_the_default_segment_count_follows_the_table_size(size_bytes: int, segments: int) -> None:
    assert default_pipeline_segments(size_bytes) == segments


@pytest.mark.parametrize(
    ("request_fields", "reason"),
    [
        ({"targetVersion": 9}, "no migration path leads to version 9"),
        ({"targetVersion": "5"}, "invalid input"),
        ({"dryRun": True, "verifyOnly": True}, "cannot both be true"),
        ({"maxConcurrency": 101}, "above 100"),
        ({"totalSegments": 10_001}, "above the pipeline's limit"),
        ({"bogus": 1}, "Extra inputs are not permitted"),
        ({"dryRun": True, "deepVerify": True}, "deepVerify does not apply"),
        ({"deepVerify": "yes"}, "invalid input"),
    ],
)
def test_bad_input_is_refused_under_one_error_name(
    request_fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(RequestRefusedError, match=reason):
        plan_run(plan_event(**request_fields), load_registry(), PagedStore(), MemoryControl(), 100)


def test_deep_verify_is_planned_for_the_verification_turns() -> None:
    plan = plan_run(
        plan_event(verifyOnly=True, deepVerify=True),
        load_registry(),
        PagedStore(),
        MemoryControl(),
        100,
    )

    assert plan.to_wire()["deepVerify"] is True


def test_a_real_run_takes_the_lock_backs_up_and_records_itself() -> None:
    control = MemoryControl()

    plan = plan_run(plan_event(), load_registry(), PagedStore(), control, 100)

    assert control.lock is not None
    assert control.lock.run_id == "exec-1"
    assert plan.backup == BackupResult(
        backup_arn="arn:aws:dynamodb:backup/UserProfiles-before-exec-1"
    )
    (entry,) = control.history("UserProfiles")
    assert (entry.run_id, entry.outcome) == ("exec-1", "running")
    assert set(control.applied_steps("UserProfiles")) == {"1->2", "2->3", "3->4", "4->5"}


def test_a_second_execution_on_a_locked_table_is_refused() -> None:
    control = locked_control("other-execution")

    with pytest.raises(RequestRefusedError, match="locked by run other-execution"):
        plan_run(plan_event(), load_registry(), PagedStore(), control, 100)


def test_dry_runs_take_no_lock_and_leave_no_history() -> None:
    control = MemoryControl()

    plan_run(plan_event(dryRun=True), load_registry(), PagedStore(), control, 100)

    assert control.lock is None
    assert control.history("UserProfiles") == []


def test_a_resumed_execution_continues_the_unfinished_run_from_its_checkpoints() -> None:
    control = MemoryControl()
    first = plan_run(plan_event(totalSegments=2), load_registry(), PagedStore(), control, 100)
    control.release_lock("UserProfiles")
    event = PlanEvent(
        request={"resume": True}, execution="exec-2", started_at="2026-11-26T00:00:00Z"
    )

    plan = plan_run(event, load_registry(), PagedStore(), control, 100)

    assert (plan.run_id, plan.execution, plan.started_at) == ("exec-1", "exec-2", first.started_at)
    assert plan.total_segments == 2
    assert plan.note == "Resumed run exec-1."


def run_plan(**fields: Any) -> RunPlan:
    base: dict[str, Any] = {
        "run_id": "exec-1",
        "execution": "exec-1",
        "table_name": "UserProfiles",
        "target_version": 5,
        "dry_run": False,
        "verify_only": False,
        "started_at": "t",
        "total_segments": 2,
        "segments": [1, 0],
        "max_concurrency": 2,
        "page_size": None,
        "key_attributes": ["userId"],
    }
    return RunPlan.model_validate({**base, **fields})


def failure(user: str) -> ProfileResult:
    return ProfileResult.model_validate(
        {"userId": user, "fromVersion": 1, "toVersion": 5, "status": "failed", "error": "x"}
    )


def checkpoint(
    segment: int, done: bool = True, error: str | None = None, **counts: int
) -> Checkpoint:
    return Checkpoint(
        segment=segment, cursor=None, done=done, counters=SegmentCounters(**counts), error=error
    )


def verified(segment: int, checked: int, invalid: int = 0, done: bool = True) -> VerifyCheckpoint:
    return VerifyCheckpoint(
        segment=segment, cursor=None, done=done, checked=checked, invalid_count=invalid
    )


def stores(
    migrated: list[Checkpoint],
    verifications: Sequence[VerifyCheckpoint] = (),
    failures: dict[tuple[int, int], list[ProfileResult]] | None = None,
    invalid: dict[tuple[int, int], list[InvalidProfile]] | None = None,
) -> tuple[MemoryRecords, MemoryControl]:
    control = MemoryControl()
    saved: list[SegmentRecord] = [*migrated, *verifications]
    for record in saved:
        control.save_checkpoint("exec-1", record)
    records = MemoryRecords()
    for (segment, page), listed in (failures or {}).items():
        records.put_page_failures(
            "exec-1", PageFailures(segment=segment, page=page, failures=listed)
        )
    for (segment, page), found in (invalid or {}).items():
        records.put_page_invalid("exec-1", PageInvalid(segment=segment, page=page, invalid=found))
    return records, control


def test_aggregate_counts_from_checkpoints_and_sorts_failures_by_key() -> None:
    records, control = stores(
        [
            checkpoint(1, scanned=8, migrated=7, failed=1),
            checkpoint(0, scanned=2, skipped=1, failed=1),
        ],
        [verified(0, 2, invalid=1), verified(1, 8, invalid=1)],
        failures={(1, 0): [failure("z")], (0, 3): [failure("a")]},
        invalid={
            (0, 0): [InvalidProfile.model_validate({"userId": "a", "version": 1})],
            (1, 2): [InvalidProfile.model_validate({"userId": "z", "version": 1})],
        },
    )

    response = aggregate_run(run_plan(), records, control)

    assert response.summary is not None
    assert (response.summary.total_profiles, response.summary.success_count) == (10, 7)
    assert (response.summary.failure_count, response.summary.skipped_count) == (2, 1)
    assert [(r.model_extra or {})["userId"] for r in response.summary.results] == ["a", "z"]
    assert response.summary.report_uri == "s3://bucket/runs/exec-1/report/"
    assert response.verification is not None
    assert (response.verification.checked_count, response.verification.invalid_count) == (10, 2)
    assert (response.success, response.error_type) == (False, "ProfilesFailed")
    assert response.error == f"ProfilesFailed: {response.message}"


def test_a_clean_run_succeeds_and_its_whole_document_is_stored() -> None:
    records, control = stores(
        [checkpoint(0, scanned=3, migrated=3), checkpoint(1, scanned=1, skipped=1)],
        [verified(0, 3), verified(1, 1)],
    )

    response = aggregate_run(run_plan(), records, control)

    assert response.success
    assert response.error_type is None
    assert records.outputs["exec-1"].to_wire() == response.to_wire()


def test_a_run_whose_verification_finds_profiles_below_the_target_says_so() -> None:
    records, control = stores(
        [checkpoint(0, scanned=1, migrated=1), checkpoint(1)],
        [verified(0, 1, invalid=1), verified(1, 0)],
        invalid={(0, 0): [InvalidProfile.model_validate({"userId": "a", "version": 2})]},
    )

    response = aggregate_run(run_plan(), records, control)

    assert (response.success, response.error_type) == (False, "VerificationFailed")


def test_a_segment_that_never_finished_fails_the_run_and_is_named() -> None:
    records, control = stores([checkpoint(0)])

    response = aggregate_run(run_plan(), records, control)

    assert not response.success
    assert response.error_type == "SegmentsUnfinished"
    assert response.error is not None
    assert response.error.startswith("SegmentsUnfinished: segments 1 of 2 did not finish")
    assert response.verification is None


def test_the_aggregate_names_the_reason_a_segment_stopped() -> None:
    records, control = stores(
        [checkpoint(0), checkpoint(1, done=False, error="ValueError: boom", scanned=1, migrated=1)]
    )

    response = aggregate_run(run_plan(), records, control)

    assert response.error is not None
    assert "first reason recorded: ValueError: boom" in response.error
    assert response.summary is not None
    assert response.summary.success_count == 1


def test_a_verification_that_did_not_reach_every_segment_is_not_valid() -> None:
    records, control = stores(
        [checkpoint(0), checkpoint(1)],
        [verified(0, 5), verified(1, 0, done=False)],
    )

    response = aggregate_run(run_plan(), records, control)

    assert response.verification is not None
    assert response.verification.valid is False
    assert "Verification did not finish" in response.message
    assert response.error_type == "SegmentsUnfinished"


def test_the_output_stays_under_the_step_functions_limit_for_any_number_of_failures() -> None:
    long_key = "k" * 1_000
    records, control = stores(
        [checkpoint(segment, scanned=1_000, failed=1_000) for segment in range(2)],
        [verified(segment, 1_000) for segment in range(2)],
        failures={
            (segment, 0): [failure(f"{long_key}-{segment}-{n}") for n in range(1_000)]
            for segment in range(2)
        },
    )

    response = aggregate_run(run_plan(), records, control)

    assert len(json.dumps(response.to_wire())) <= 200 * 1024
    assert response.summary is not None
    assert response.summary.failure_count == 2_000
    assert response.summary.results_truncated
    assert 0 < len(response.summary.results) < 1_000
    stored = records.outputs["exec-1"].summary
    assert stored is not None
    assert len(stored.results) == 1_000


def test_the_output_with_a_rollbacks_plan_of_ten_thousand_segments_stays_under_the_limit() -> None:
    # 200 failures whose document, alone, fits just under the 200 KiB a document may take;
    # a plan of 10,000 segments beside it would pass Step Functions' 256 KiB.
    segments = 10_000
    long_key = "k" * 930
    records, control = stores(
        [checkpoint(segment, scanned=1, failed=1) for segment in range(segments)],
        [verified(segment, 1) for segment in range(segments)],
        failures={(0, 0): [failure(f"{long_key}-{n:03d}") for n in range(200)]},
    )
    control.record_run(
        RunHistoryEntry(
            run_id="exec-1",
            table="UserProfiles",
            owner="execution exec-1",
            where="aws:step-functions",
            target_version=5,
            dry_run=False,
            total_segments=segments,
            started_at="t",
            step_checksums={},
        )
    )
    plan = run_plan(
        total_segments=segments, segments=list(range(segments)), rollback_on_failure=True
    )

    result = aggregate_run(plan, records, control)

    assert result.plan is not None
    assert len(result.plan.segments) == segments
    assert result.summary is not None
    assert result.summary.results_truncated
    assert len(json.dumps(result.to_wire())) <= 256 * 1024
