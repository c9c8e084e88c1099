"""The capacity pacer (logic/pacing.py): no burst, the cap held on what was billed, live
changes, pauses that can be given up, and the caps a run takes by default.

Elapsed times here are lower bounds only (a pacer can never be faster than its cap), so no
test depends on how fast the machine is; accuracy under load is a benchmark's job
(bench/pacing.py)."""

from __future__ import annotations

import threading
import time

import pytest

from profile_migrations.logic.pacing import (
    CapacityPacer,
    Caps,
    PacingAbandonedError,
    caps_for,
)
from profile_migrations.store import TableInfo

RATE = 400.0
BATCH = 20.0


def spend(pacer: CapacityPacer, batches: int, units: float = BATCH) -> list[float]:
    """Acquire ``batches`` charges of ``units``; when each was granted (monotonic)."""
    granted = []
    for _ in range(batches):
        pacer.acquire(units)
        granted.append(time.monotonic())
        pacer.settle(units, units)
    return granted


def test_the_first_request_goes_at_once_and_the_rest_wait_for_the_cap() -> None:
    pacer = CapacityPacer(RATE)
    started = time.monotonic()

    granted = spend(pacer, 21)

    assert granted[0] - started < 0.05  # no wait before the first request
    # 20 charges of 20 units after the first: 400 units at 400/s, at least a second.
    assert granted[-1] - granted[0] >= 20 * BATCH / RATE - 0.01


def test_no_window_holds_more_than_the_cap_plus_one_request() -> None:
    pacer = CapacityPacer(RATE)
    time.sleep(0.3)  # idle time earns no credit: no burst after it
    granted = spend(pacer, 16)

    window = 0.25
    for start in granted:
        inside = sum(1 for moment in granted if start <= moment < start + window)
        assert inside * BATCH <= RATE * window + BATCH


def test_a_request_that_cost_more_than_expected_delays_the_next() -> None:
    pacer = CapacityPacer(RATE)
    pacer.acquire(1)
    before = time.monotonic()
    pacer.settle(1, 200)  # billed 200 units: half a second of the cap

    pacer.acquire(1)

    assert time.monotonic() - before >= 200 / RATE - 0.01


def test_a_request_that_cost_less_earns_no_credit_beyond_zero() -> None:
    pacer = CapacityPacer(RATE)
    pacer.acquire(100)
    pacer.settle(100, 0)  # refunded, but never below a zero balance
    started = time.monotonic()

    granted = spend(pacer, 5, units=40)

    assert granted[-1] - started >= 4 * 40 / RATE - 0.01


def test_no_cap_never_waits() -> None:
    pacer = CapacityPacer(None)
    pacer.settle(0, 10_000)  # whatever was billed
    started = time.monotonic()
    for _ in range(1000):
        pacer.acquire(25)
        pacer.settle(25, 25)

    # A thousand charges with no cap: no wait at all (a cap of 1,000 would take 25 s).
    assert time.monotonic() - started < 5.0


def test_a_zero_cap_pauses_until_the_cap_rises() -> None:
    pacer = CapacityPacer(0)
    done = threading.Event()

    def worker() -> None:
        pacer.acquire(10)
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert not done.wait(0.6)  # paused

    pacer.set_rate(1000)

    assert done.wait(2)
    thread.join()


def test_a_paused_wait_is_given_up_when_the_caller_says_so() -> None:
    pacer = CapacityPacer(0)
    give_up = threading.Event()
    threading.Timer(0.2, give_up.set).start()

    with pytest.raises(PacingAbandonedError):
        pacer.acquire(10, abandon=give_up.is_set)


def test_removing_the_cap_releases_a_waiting_request_at_once() -> None:
    pacer = CapacityPacer(1.0)
    pacer.acquire(1)
    pacer.settle(1, 100)  # 100 s of debt at 1 unit/s
    done = threading.Event()

    def worker() -> None:
        pacer.acquire(1)
        done.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert not done.wait(0.3)

    pacer.set_rate(None)

    assert done.wait(2)
    thread.join()


def test_a_page_holds_a_few_seconds_of_the_cap_at_least_a_batch() -> None:
    assert CapacityPacer(100).page_limit(500, units_per_item=1.0) == 500
    assert CapacityPacer(10).page_limit(500, units_per_item=1.0) == 50
    assert CapacityPacer(1).page_limit(500, units_per_item=1.0) == 5
    assert CapacityPacer(0.5).page_limit(500, units_per_item=1.0, workers=4) == 1
    assert CapacityPacer(100).page_limit(500, units_per_item=1.0, workers=4) == 125
    assert CapacityPacer(None).page_limit(500, units_per_item=1.0) == 500
    assert CapacityPacer(10).page_limit(None, units_per_item=0.0) is None


def test_caps_are_shared_evenly_between_workers() -> None:
    assert Caps(100, 30).shared(4) == Caps(25, 7.5)
    assert Caps(None, 30).shared(0) == Caps(None, 30)


def table(provisioned: int | None) -> TableInfo:
    return TableInfo("t", ("k",), 0, 0, provisioned_write_capacity=provisioned)


def test_a_provisioned_table_gets_half_its_write_capacity_unless_a_cap_is_asked() -> None:
    assert caps_for(table(200), None) == Caps(write=100.0)
    assert caps_for(table(200), Caps(read=50)) == Caps(write=100.0, read=50)
    assert caps_for(table(200), Caps(write=30)) == Caps(write=30)
    assert caps_for(table(None), None) == Caps()


def test_a_batch_costs_at_most_a_second_of_a_workers_share() -> None:
    assert CapacityPacer(100).batch_budget(workers=4) == 25
    assert CapacityPacer(10).batch_budget() == 10
    assert CapacityPacer(None).batch_budget() == float("inf")
    assert CapacityPacer(0).batch_budget() == float("inf")  # paused: the wait decides
