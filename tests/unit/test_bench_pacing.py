"""The pacing benchmark's arithmetic (bench/pacing.py), which tests/integration/test_pacing.py
relies on too: the busiest window of writes, and what the recording store counts."""

from __future__ import annotations

import pytest

from bench.pacing import (
    AcceptedWrites,
    PacingResult,
    PacingSample,
    RecordingStore,
    busiest_window,
    slowest_answer,
)
from profile_migrations.store import ProfileWrite, WriteOutcome, WriteStatus
from tests.fakes import PagedStore

QUICK = 0.01  # seconds an idle engine takes to answer a batch


def quickly_answered(*sent: float, count: int = 25) -> list[AcceptedWrites]:
    return [AcceptedWrites(at, at + QUICK, count) for at in sent]


def test_no_writes_make_an_empty_window() -> None:
    assert busiest_window([]) == 0
    assert slowest_answer([]) == 0.0


def test_batches_a_quarter_second_apart_put_four_in_a_second() -> None:
    # Given: a batch of 25 every 0.25 s (100 WCU/s); the window is half-open
    batches = quickly_answered(0.0, 0.25, 0.5, 0.75, 1.0, 1.25)

    assert busiest_window(batches) == 100


def test_a_burst_counts_whole_whatever_the_order_of_the_records() -> None:
    batches = quickly_answered(5.0, 0.0, 0.01, 0.02, 0.03, 0.04, 0.05)

    assert busiest_window(batches) == 150
    assert busiest_window(list(reversed(batches))) == 150


def test_batches_a_slow_engine_answered_together_count_where_they_were_sent() -> None:
    # Given: batches sent 0.4 s apart that a slow engine answered at the same moment; they
    # may have been written anywhere between their sending and the answer
    batches = [AcceptedWrites(sent, 1.2, 25) for sent in (0.0, 0.4, 0.8)]

    # Then: only the two sent within 1 s of each other and answered in that second count
    assert busiest_window(batches) == 50
    assert slowest_answer(batches) == pytest.approx(1.2)


def test_a_batch_that_straddles_every_window_counts_in_none() -> None:
    batches = [AcceptedWrites(0.0, 1.5, 25), *quickly_answered(1.0, 1.1)]

    assert busiest_window(batches) == 50
    assert busiest_window(batches, seconds=2.0) == 75


def test_the_recording_store_counts_the_writes_dynamodb_accepted() -> None:
    # Given: a batch of three writes of which one met a concurrent change
    table = PagedStore(
        answers=[
            WriteOutcome(WriteStatus.WRITTEN),
            WriteOutcome(WriteStatus.CONFLICT),
            WriteOutcome(WriteStatus.WRITTEN),
        ]
    )
    store = RecordingStore(table)
    write = ProfileWrite(key={"userId": {"S": "u"}}, set_values={}, removed=(), expected={})

    # When
    store.conditional_update([write, write, write])

    # Then
    (batch,) = store.accepted
    assert batch.count == 2
    assert batch.sent <= batch.answered
    assert store.written() == 2
    assert store.last_write_at() == batch.answered
    assert len(table.writes) == 3


def test_a_cap_the_unpaced_run_exceeded_is_the_pacers_to_hold() -> None:
    def sample(cap: float | None, consumed: float) -> PacingSample:
        return PacingSample(cap, int(consumed), 10.0, consumed, 0, QUICK)

    result = PacingResult(10.0, unpaced=sample(None, 5_000))

    assert result.limited_by(sample(200, 2_000)) == "pacer"
    assert result.limited_by(sample(800, 5_000)) == "engine"
    assert sample(200, 1_900).ratio == pytest.approx(0.95)
    assert sample(50, 500).bound == pytest.approx(1.5)
