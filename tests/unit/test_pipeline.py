"""The pipeline's step logic with in-memory fakes: planning, turns of a segment, aggregation."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import pytest

from profile_migrations.codec import serialize_item
from profile_migrations.errors import (
    RequestRefusedError,
    SegmentStoppedError,
    StoreUnavailableError,
)
from profile_migrations.logic.pipeline import (
    aggregate_run,
    default_pipeline_segments,
    migrate_pages,
    plan_run,
)
from profile_migrations.models import (
    BackupResult,
    Checkpoint,
    InvalidProfile,
    LockInfo,
    MigrateRecord,
    PlanEvent,
    ProfileResult,
    RunPlan,
    SegmentCounters,
    SegmentTask,
    VerifyRecord,
)
from profile_migrations.registry import load_registry
from tests.fakes import MemoryControl, MiB, PagedStore

if TYPE_CHECKING:
    from collections.abc import Iterator

    from profile_migrations.writes import RawItem


@dataclass
class FakeRecords:
    reports: dict[tuple[int, int], bytes] = field(default_factory=dict)
    migrate: list[MigrateRecord] = field(default_factory=list)
    verify: list[VerifyRecord] = field(default_factory=list)

    def report_uri(self, run_id: str) -> str:
        return f"s3://bucket/runs/{run_id}/report/"

    def put_report(self, run_id: str, segment: int, invocation: int, body: IO[bytes]) -> None:
        self.reports[(segment, invocation)] = body.read()

    def put_migrate_record(self, run_id: str, record: MigrateRecord) -> None:
        self.migrate.append(record)

    def put_verify_record(self, run_id: str, record: VerifyRecord) -> None:
        self.verify.append(record)

    def migrate_records(self, run_id: str) -> Iterator[MigrateRecord]:
        return iter(self.migrate)

    def verify_records(self, run_id: str) -> Iterator[VerifyRecord]:
        return iter(self.verify)


def plan_event(**request: Any) -> PlanEvent:
    return PlanEvent(request=request, run_id="exec-1", started_at="2026-11-25T10:00:00.000Z")


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
    ],
)
def test_bad_input_is_refused_under_one_error_name(
    request_fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(RequestRefusedError, match=reason):
        plan_run(plan_event(**request_fields), load_registry(), PagedStore(), MemoryControl(), 100)


def locked(run_id: str = "exec-1") -> MemoryControl:
    """A control table whose lock ``run_id`` holds, as after its Plan state."""
    control = MemoryControl()
    control.acquire_lock(
        LockInfo(
            table="UserProfiles",
            run_id=run_id,
            owner="execution",
            acquired_at="t",
            expires_at=time.time() + 60,
        )
    )
    return control


def segment_task(**fields: Any) -> SegmentTask:
    base: dict[str, Any] = {
        "run_id": "exec-1",
        "checkpoint_run_id": "exec-1",
        "table_name": "UserProfiles",
        "segment": 3,
        "total_segments": 8,
        "target_version": 5,
        "started_at": "t",
        "key_attributes": ["userId", "profileId"],
    }
    return SegmentTask.model_validate({**base, **fields})


def item(user: str) -> RawItem:
    return serialize_item({"userId": user, "profileId": "p", "profileData": {}})


def test_a_turn_stops_early_returns_its_cursor_and_accumulates_counters() -> None:
    table = PagedStore(pages=[[item("a")], [item("b")], [item("c")]])
    records = FakeRecords()
    task = segment_task(counters=SegmentCounters(scanned=10, migrated=10))

    next_task, record = migrate_pages(
        task, load_registry(), table, records, locked(), lambda: False
    )

    assert (next_task.invocation, next_task.done) == (1, False)
    assert next_task.cursor == {"page": {"N": "1"}}
    assert next_task.counters == SegmentCounters(scanned=11, migrated=11, from_versions=[1])
    assert record.counters == SegmentCounters(scanned=1, migrated=1, from_versions=[1])
    assert records.migrate == [record]
    (line,) = records.reports[(3, 0)].decode().splitlines()
    assert json.loads(line)["userId"] == "a"


def test_a_turn_resumes_from_the_cursor_and_finishes_the_segment() -> None:
    table = PagedStore(pages=[[item("a")], [item("b")], [item("c")]])
    records = FakeRecords()

    final, _ = migrate_pages(
        segment_task(invocation=1, cursor={"page": {"N": "1"}}),
        load_registry(),
        table,
        records,
        locked(),
        lambda: True,
    )

    assert (final.done, final.cursor, final.invocation) == (True, None, 2)
    assert final.counters.scanned == 2
    assert records.migrate[0].done


def test_a_turn_that_made_no_progress_raises_so_the_state_machine_retries() -> None:
    with pytest.raises(StoreUnavailableError):
        migrate_pages(
            segment_task(),
            load_registry(),
            PagedStore(unavailable=True),
            FakeRecords(),
            locked(),
            lambda: True,
        )


class BreakingStore(PagedStore):
    """Answers its first page, then raises what nothing in the worker expects."""

    def scan_page(
        self, segment: int, total_segments: int, start_key: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        if start_key is not None:
            raise ValueError("not enough values to unpack (expected 1, got 0)")
        return super().scan_page(segment, total_segments, start_key, *args, **kwargs)


def test_an_unexpected_error_in_a_turn_records_its_work_and_stops_the_segment() -> None:
    # Given: a turn whose second page meets an error nothing expects
    table = BreakingStore(pages=[[item("a")], [item("b")]])
    records = FakeRecords()
    control = locked()

    # When
    with pytest.raises(SegmentStoppedError, match="segment 3: ValueError: not enough values"):
        migrate_pages(segment_task(), load_registry(), table, records, control, lambda: True)

    # Then: the first page's work is recorded with the reason, and its checkpoint kept
    (record,) = records.migrate
    assert (record.done, record.counters.migrated) == (False, 1)
    assert record.error == "ValueError: not enough values to unpack (expected 1, got 0)"
    assert json.loads(records.reports[(3, 0)].decode())["userId"] == "a"
    checkpoint = control.checkpoint("exec-1", 3)
    assert checkpoint is not None
    assert (checkpoint.cursor, checkpoint.done) == ({"page": {"N": "1"}}, False)


def test_the_aggregate_names_the_reason_a_segment_stopped() -> None:
    records = FakeRecords(
        migrate=[
            MigrateRecord(
                segment=0, invocation=0, done=True, counters=SegmentCounters(), failures=[]
            ),
            MigrateRecord(
                segment=1,
                invocation=0,
                done=False,
                counters=SegmentCounters(scanned=1, migrated=1),
                failures=[],
                error="ValueError: boom",
            ),
        ]
    )

    response = aggregate_run(run_plan(), records, MemoryControl())

    assert not response.success
    assert response.error is not None
    assert response.error.startswith("SegmentsUnfinished: segments 1 of 2 did not finish")
    assert "first reason recorded: ValueError: boom" in response.error


def run_plan(**fields: Any) -> RunPlan:
    base: dict[str, Any] = {
        "run_id": "exec-1",
        "checkpoint_run_id": "exec-1",
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


def test_aggregate_sums_every_invocation_and_sorts_failures_by_key() -> None:
    records = FakeRecords(
        migrate=[
            MigrateRecord(
                segment=1,
                invocation=0,
                done=False,
                counters=SegmentCounters(scanned=5, migrated=4, failed=1),
                failures=[failure("z")],
            ),
            MigrateRecord(
                segment=1,
                invocation=1,
                done=True,
                counters=SegmentCounters(scanned=3, migrated=3),
                failures=[],
            ),
            MigrateRecord(
                segment=0,
                invocation=0,
                done=True,
                counters=SegmentCounters(scanned=2, skipped=1, failed=1),
                failures=[failure("a")],
            ),
        ],
        verify=[
            VerifyRecord(
                segment=0,
                invocation=0,
                done=True,
                checked=2,
                invalid_count=1,
                invalid=[InvalidProfile.model_validate({"userId": "a", "version": 1})],
            ),
            VerifyRecord(
                segment=1,
                invocation=0,
                done=True,
                checked=8,
                invalid_count=1,
                invalid=[InvalidProfile.model_validate({"userId": "z", "version": 1})],
            ),
        ],
    )

    response = aggregate_run(run_plan(), records, MemoryControl())

    assert response.summary is not None
    assert (response.summary.total_profiles, response.summary.success_count) == (10, 7)
    assert (response.summary.failure_count, response.summary.skipped_count) == (2, 1)
    assert [(r.model_extra or {})["userId"] for r in response.summary.results] == ["a", "z"]
    assert response.summary.report_uri == "s3://bucket/runs/exec-1/report/"
    assert response.verification is not None
    assert (response.verification.checked_count, response.verification.invalid_count) == (10, 2)
    assert not response.success
    assert response.error is None


def test_a_segment_that_never_finished_fails_the_run_and_is_named() -> None:
    records = FakeRecords(
        migrate=[
            MigrateRecord(
                segment=0, invocation=0, done=True, counters=SegmentCounters(), failures=[]
            )
        ]
    )

    response = aggregate_run(run_plan(), records, MemoryControl())

    assert not response.success
    assert response.error is not None
    assert "segments 1 of 2 did not finish" in response.error
    assert response.verification is None


def test_the_output_stays_under_the_step_functions_limit_for_any_number_of_failures() -> None:
    long_key = "k" * 1_000
    records = FakeRecords(
        migrate=[
            MigrateRecord(
                segment=segment,
                invocation=0,
                done=True,
                counters=SegmentCounters(scanned=1_000, failed=1_000),
                failures=[failure(f"{long_key}-{segment}-{n}") for n in range(1_000)],
            )
            for segment in range(2)
        ],
        verify=[
            VerifyRecord(
                segment=s, invocation=0, done=True, checked=1000, invalid_count=0, invalid=[]
            )
            for s in range(2)
        ],
    )

    response = aggregate_run(run_plan(), records, MemoryControl())

    assert len(json.dumps(response.to_wire())) <= 200 * 1024
    assert response.summary is not None
    assert response.summary.failure_count == 2_000
    assert response.summary.results_truncated
    assert 0 < len(response.summary.results) < 1_000


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
    control = locked("other-execution")

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
    control.save_checkpoint(
        first.run_id,
        Checkpoint(
            segment=3,
            cursor={"page": {"N": "1"}},
            done=False,
            counters=SegmentCounters(scanned=1, migrated=1),
        ),
    )
    control.release_lock("UserProfiles")
    event = PlanEvent(request={"resume": True}, run_id="exec-2", started_at="2026-11-26T00:00:00Z")

    plan = plan_run(event, load_registry(), PagedStore(), control, 100)
    table = PagedStore(pages=[[item("a")], [item("b")]])
    task = segment_task(
        run_id="exec-2", checkpoint_run_id=plan.checkpoint_run_id, started_at=plan.started_at
    )
    final, record = migrate_pages(
        task, load_registry(), table, FakeRecords(), locked("exec-2"), lambda: True
    )

    assert (plan.checkpoint_run_id, plan.started_at) == ("exec-1", first.started_at)
    assert plan.note == "Resumed run exec-1."
    assert final.done
    assert final.counters.scanned == 2
    assert record.counters.scanned == 2


def test_a_verification_that_did_not_reach_every_segment_is_not_valid() -> None:
    records = FakeRecords(
        migrate=[
            MigrateRecord(
                segment=s, invocation=0, done=True, counters=SegmentCounters(), failures=[]
            )
            for s in (0, 1)
        ],
        verify=[
            VerifyRecord(
                segment=0, invocation=0, done=True, checked=5, invalid_count=0, invalid=[]
            ),
            VerifyRecord(
                segment=1,
                invocation=0,
                done=False,
                checked=0,
                invalid_count=0,
                invalid=[],
                error="ClientError: InternalFailure",
            ),
        ],
    )

    response = aggregate_run(run_plan(), records, MemoryControl())

    assert response.verification is not None
    assert response.verification.valid is False
    assert "Verification did not finish" in response.message
    assert not response.success
