"""The pipeline at the sizes where AWS's quotas bite, end to end on the synthesized template.

The harness fails any run that breaks a quota (aws_fidelity.py): a Distributed Map whose
children's outputs add up past 256 KiB, a history past 25,000 events, a payload past
256 KiB. So these runs pass only if the template keeps every child's output constant and
tiny whatever happens in it, and if a run that did not finish fails its execution with a
complete document. Each big run prints its figures (``pytest -s`` shows them): segments,
states entered, the largest payload, the longest child's history and the wall time.

Measured here: the 1,000-segment run takes about 150 s, the 300 stopped segments (seven
attempts each) about 110 to 140 s, the whole file under 5 minutes; each big test may take
up to 8 minutes (its timeout) on a slower machine.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.environment import RUN_ERROR_SEGMENTS_UNFINISHED
from profile_migrations.errors import StoreUnavailableError
from tests.cdk_synth import TABLE_NAME
from tests.conftest import dump_table
from tests.e2e.aws_fidelity import KILLED_ERROR_TYPE, SimulatedKill
from tests.e2e.deployment import seed, with_store

if TYPE_CHECKING:
    from collections.abc import Callable

    from profile_migrations.logic.ports import ProfileStore
    from tests.e2e.conftest import ExecutionResult
    from tests.e2e.deployment import Pipeline

# More segments than today's child outputs survive: ~427 bytes each, 1,000 of them gathered
# by the Map make ~427 KB, past the 256 KiB a state's result may hold.
SEGMENTS_AT_SCALE = 1_000
# Stopped children used to end with the Lambda error and its stack trace (1.5 to 2 KB):
# 300 of them gathered make 450 KB or more.
STOPPED_SEGMENTS = 300
SMALL_TABLE = 200  # profiles: most of the segments above are empty


def figures(pipeline: Pipeline, run: str, segments: int, seconds: float) -> str:
    """The run's figures, as the issue asks for them."""
    harness = pipeline.harness
    counts = harness.count_events(pipeline.execution_arn(run))
    largest = harness.largest_payload
    payload = f"{largest.size:,} bytes ({largest.what}, {largest.state})" if largest else "none"
    return (
        f"\n{run}: {segments:,} segments, {counts.states_entered:,} states entered, "
        f"largest payload {payload}, longest child history {counts.longest_child:,} events "
        f"({len(counts.child_histories):,} children), "
        f"{sum(harness.invocations.values()):,} Lambda invocations, {seconds:.0f} s"
    )


def timed_run(
    pipeline: Pipeline, execution_input: dict[str, Any], segments: int, timeout: float
) -> ExecutionResult:
    """Run and print the figures, whatever the outcome (a quota failure included)."""
    started = time.monotonic()
    try:
        return pipeline.run(execution_input, timeout=timeout)
    finally:
        print(figures(pipeline, "run-1", segments, time.monotonic() - started))


@pytest.mark.timeout(480)
def test_a_thousand_segments_succeed_with_a_complete_document(pipeline: Pipeline) -> None:
    seed(pipeline, list(sample_profiles(SMALL_TABLE)))

    result = timed_run(pipeline, {"totalSegments": SEGMENTS_AT_SCALE}, SEGMENTS_AT_SCALE, 450)

    assert result.status == "SUCCEEDED", result.cause
    document = result.output
    assert document["success"] is True, document.get("error")
    assert document == pipeline.stored_output("run-1")
    table = dump_table(pipeline.dynamodb, TABLE_NAME)
    assert document["summary"]["successCount"] == len(table) == SMALL_TABLE
    assert document["summary"]["failureCount"] == 0
    assert document["verification"]["checkedCount"] == len(table)
    assert {item["version"]["N"] for item in table.values()} == {"5"}
    assert len(pipeline.report_lines("run-1")) == SMALL_TABLE
    for map_run in pipeline.harness.map_runs(result.execution_arn):
        assert map_run["itemCounts"]["total"] == SEGMENTS_AT_SCALE
    assert pipeline.harness.quota_violations == []


class UnavailableStore:
    """A profile table whose every read fails as a DynamoDB outage does."""

    table_name = TABLE_NAME

    def scan_page(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailableError("DynamoDB kept throttling (simulated outage)")

    def conditional_update(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("nothing was read, so nothing is written")

    def get_item(self, *args: Any, **kwargs: Any) -> Any:
        raise StoreUnavailableError("DynamoDB kept throttling (simulated outage)")


@pytest.mark.timeout(480)
def test_every_segment_stopping_fails_the_execution_with_a_complete_document(
    pipeline: Pipeline,
) -> None:
    seed(pipeline, list(sample_profiles(30)))
    name = pipeline.function_names["migrate"]
    handler: Callable[..., Any] = pipeline.harness.configured_handler(name)
    pipeline.harness.override_handler(name, with_store(handler, lambda _: UnavailableStore()))

    result = timed_run(pipeline, {"totalSegments": STOPPED_SEGMENTS}, STOPPED_SEGMENTS, 450)

    document = pipeline.failed_run(result, RUN_ERROR_SEGMENTS_UNFINISHED)
    assert document == pipeline.stored_output("run-1")
    assert f"of {STOPPED_SEGMENTS} did not finish" in document["error"]
    assert document["summary"]["successCount"] == 0
    attempts = Counter(
        call.event["segment"]
        for call in pipeline.harness.invocation_log
        if call.function_name == name
    )
    assert len(attempts) == STOPPED_SEGMENTS
    assert min(attempts.values()) > 1  # each segment stopped after its retries
    assert pipeline.control.read_lock(TABLE_NAME) is None
    assert pipeline.harness.quota_violations == []


class KillAfterPages:
    """The profile table of one turn that dies after ``pages`` pages, as a Lambda killed
    by its timeout or by running out of memory: before reading the next page, or right
    after writing it (its writes kept, its checkpoint not yet saved)."""

    def __init__(self, store: ProfileStore, pages: int, *, after_writes: bool) -> None:
        self._store = store
        self._pages_left = pages
        self._after_writes = after_writes

    def scan_page(self, *args: Any, **kwargs: Any) -> Any:
        if self._pages_left == 0 and not self._after_writes:
            raise SimulatedKill
        self._pages_left -= 1
        return self._store.scan_page(*args, **kwargs)

    def conditional_update(self, *args: Any, **kwargs: Any) -> Any:
        result = self._store.conditional_update(*args, **kwargs)
        if self._pages_left < 0:
            raise SimulatedKill
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.mark.parametrize("after_writes", [False, True], ids=["between-pages", "after-writes"])
def test_a_turn_killed_mid_way_is_retried_from_its_checkpoint(
    pipeline: Pipeline, after_writes: bool
) -> None:
    profiles = 120
    seed(pipeline, list(sample_profiles(profiles)))
    name = pipeline.function_names["migrate"]
    handler: Callable[..., Any] = pipeline.harness.configured_handler(name)
    killed: list[dict[str, Any]] = []

    dying = with_store(
        handler, lambda store: KillAfterPages(store, pages=2, after_writes=after_writes)
    )

    def first_turn_of_segment_0_dies(event: dict[str, Any], context: Any) -> Any:
        if event["segment"] == 0 and not killed:
            killed.append(event)
            return dying(event, context)
        return handler(event, context)

    pipeline.harness.override_handler(name, first_turn_of_segment_0_dies)

    result = pipeline.run({"totalSegments": 2, "pageSize": 10})

    assert result.status == "SUCCEEDED", result.cause
    document = result.output
    assert document["success"] is True, document.get("error")
    summary = document["summary"]
    stored = dump_table(pipeline.dynamodb, TABLE_NAME)
    assert {item["version"]["N"] for item in stored.values()} == {"5"}
    # every profile counted once: a redone page finds its profiles already migrated
    assert summary["successCount"] + summary["skippedCount"] == len(stored) == profiles
    assert summary["failureCount"] == 0
    if not after_writes:
        assert summary["successCount"] == profiles  # no page was redone
    reported = sorted(
        (line["userId"], line["profileId"]) for line in pipeline.report_lines("run-1")
    )
    assert reported == sorted((i["userId"]["S"], i["profileId"]["S"]) for i in stored.values())
    segment_0 = [
        call
        for call in pipeline.harness.invocation_log
        if call.function_name == name and call.event["segment"] == 0
    ]
    assert segment_0[0].error_type == KILLED_ERROR_TYPE
    assert segment_0[1].event == killed[0]  # Lambda.Unknown was retried with the same turn
    assert pipeline.harness.quota_violations == []
