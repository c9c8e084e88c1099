"""The pipeline's caps and windows, end to end: the synthesized state machine in moto's
interpreter, the functions on DynamoDB Local, each function held to its role.

A capped execution spends at most its cap over the segments running together (each turn
takes its share of the run's cap); a window closes the run's segments at their page in
hand, and the execution SUCCEEDS with the CLI's document (``success: false``,
``resumable: true``, ``stoppedBy: "window"``); a resumed execution finishes the run.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.environment import RUN_ERROR_WINDOW_CLOSED, STOPPED_BY_WINDOW
from tests.cdk_synth import TABLE_NAME
from tests.conftest import dump_table
from tests.e2e.deployment import seed, with_store

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from profile_migrations.logic.ports import ProfileStore
    from profile_migrations.store import ProfileWrite, WriteBatchResult
    from tests.e2e.deployment import Pipeline

PROFILES = 200  # sample profiles are under 1 KB: one WCU per write
CAP = 40.0  # WCU/s for the whole run: 200 writes take at least 4.5 s at this cap


class RecordingStore:
    """The Migrate function's profile table, recording when each batch of writes was
    accepted and how many it wrote."""

    def __init__(self, store: ProfileStore, log: list[tuple[float, int]], lock: threading.Lock):
        self._store = store
        self._log = log
        self._lock = lock
        self.table_name = store.table_name

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        result = self._store.conditional_update(writes)
        written = sum(1 for outcome in result.outcomes if outcome.status.value == "written")
        with self._lock:
            self._log.append((time.monotonic(), written))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def recorded(pipeline: Pipeline) -> list[tuple[float, int]]:
    log: list[tuple[float, int]] = []
    lock = threading.Lock()
    name = pipeline.function_names["migrate"]
    handler: Callable[..., Any] = pipeline.harness.configured_handler(name)
    pipeline.harness.override_handler(
        name, with_store(handler, lambda store: RecordingStore(store, log, lock))
    )
    return log


def busiest_second(log: list[tuple[float, int]]) -> int:
    return max(
        sum(count for moment, count in log if start <= moment < start + 1.0) for start, _ in log
    )


def test_a_capped_execution_holds_its_cap_over_all_its_segments(pipeline: Pipeline) -> None:
    seed(pipeline, list(sample_profiles(PROFILES)))
    log = recorded(pipeline)

    result = pipeline.run({"totalSegments": 4, "maxWriteCapacity": CAP, "pageSize": 50})

    assert result.status == "SUCCEEDED", result.cause
    summary = result.output["summary"]
    assert summary["successCount"] == PROFILES
    assert summary["consumedWriteCapacityUnits"] == PROFILES  # one WCU per profile
    assert summary["maxWriteCapacity"] == CAP
    span = log[-1][0] - log[0][0]
    # The first batch goes at once; the other 175 writes wait for the cap.
    assert span >= (PROFILES - 25) / CAP - 0.5
    # Four segments run together, each at a quarter of the cap: a second holds at most
    # the cap plus one batch per segment.
    assert busiest_second(log) <= CAP + 4 * 25


def test_a_window_ends_the_execution_successfully_and_a_resume_finishes_the_run(
    pipeline: Pipeline,
) -> None:
    seed(pipeline, list(sample_profiles(PROFILES)))
    stop_at = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()

    first = pipeline.run(
        {"totalSegments": 2, "maxWriteCapacity": 20, "pageSize": 25, "stopAt": stop_at},
        name="window-1",
    )

    assert first.status == "SUCCEEDED", first.cause
    document = first.output
    assert (document["success"], document["resumable"], document["stoppedBy"]) == (
        False,
        True,
        STOPPED_BY_WINDOW,
    )
    assert document["errorType"] == RUN_ERROR_WINDOW_CLOSED
    migrated = document["summary"]["successCount"]
    assert 0 < migrated < PROFILES
    assert pipeline.control.read_lock(TABLE_NAME) is None
    (entry,) = pipeline.control.history(TABLE_NAME)
    assert (entry.run_id, entry.outcome) == ("window-1", "stopped")

    second = pipeline.run({"resume": True}, name="window-2")

    assert second.status == "SUCCEEDED", second.cause
    assert second.output["runId"] == "window-1"
    assert second.output["success"] is True
    assert second.output["summary"]["successCount"] == PROFILES
    stored = dump_table(pipeline.dynamodb, TABLE_NAME)
    assert {item["version"]["N"] for item in stored.values()} == {"5"}
    assert pipeline.harness.access_denied == []
