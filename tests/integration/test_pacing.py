"""Pacing on DynamoDB Local (issue 12, "Done when"): a write cap held over every second, a
pause and a resume with `throttle` while a run writes, a run's window, and the inputs
refused.

The caps and pauses are watched where they act: the runs write through a store that notes
when each batch of writes was sent and answered and how many writes DynamoDB accepted
(bench/pacing.py's ``RecordingStore``, shared with the pacing benchmark), so a test counts
the writes made within any 1-second window (``busiest_window``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bench.pacing import PhaseClock, RecordingStore, busiest_window
from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.loader import load_registry
from profile_migrations.logic.lifecycle import Protection, local_owner
from profile_migrations.logic.pacing import Caps
from profile_migrations.logic.runner import MIGRATE_PHASE, LocalRun, run_local
from profile_migrations.models.requests import RunRequest
from tests.conftest import dump_profiles, dump_table
from tests.fakes import ListSink

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.dal.dynamodb import ProfileTable
    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from tests.conftest import MakeTable
    from tests.integration.conftest import Cli

COUNTING = str(Path(__file__).parent.parent / "registries" / "counting.py")
CURRENT_VERSION = load_registry().current_version

# The figures: 2,000 one-WCU profiles at 100 WCU/s take 20 s of writes; the pacer
# lets through at most one batch (25 WCU) above the cap in any window, so 125 in a second,
# and 150 leaves one batch more for the engine's answers.
PACED_PROFILES = 2_000
WRITE_CAP = 100.0
MIN_MIGRATE_SECONDS = 17.0
MAX_WRITES_PER_SECOND = 150
# `throttle` promises the workers follow within 10 s (they read the caps every 5 s).
FOLLOW_SECONDS = 10.0
QUIET_SECONDS = 4.0


@dataclass(frozen=True)
class WatchedRun:
    """A real run (lock, history, caps followed from the lock: what `profile-migrate run`
    runs) of CICADA's chain, writing through ``store``, its phases timed by ``clock``."""

    run: LocalRun
    store: RecordingStore
    clock: PhaseClock
    control: ControlTable
    owner: str


def watched_run(
    client: DynamoDBClient, engine: DynamoDBLocal, table: ProfileTable, write_cap: float | None
) -> WatchedRun:
    store = RecordingStore(table)
    clock = PhaseClock()
    control = ControlTable(client, control_table_name(table.table_name))
    owner = local_owner()
    run = LocalRun(
        request=RunRequest(),
        registry=load_registry(),
        store=store,
        sink=ListSink(),
        listener=clock,
        protection=Protection(control=control, owner=owner, where=engine.endpoint_url),
        caps=Caps(write=write_cap),
    )
    return WatchedRun(run, store, clock, control, owner)


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- a write cap ---------------------------------------------------------------------------


def test_a_run_capped_at_100_wcu_takes_20_s_and_never_writes_150_profiles_in_a_second(
    dynamodb_client: DynamoDBClient, dynamodb_local: DynamoDBLocal, make_table: MakeTable
) -> None:
    # Given: 2,000 sample profiles, each under 1 KB before and after migration (1 WCU)
    table = make_table(items=list(sample_profiles(PACED_PROFILES)))
    watched = watched_run(dynamodb_client, dynamodb_local, table, write_cap=WRITE_CAP)

    # When: a real run capped at 100 WCU/s
    response = run_local(watched.run)

    # Then: every profile migrated, at the cap's pace, no second above 150 writes
    summary = response.summary
    assert response.success, response.error
    assert summary is not None
    assert summary.success_count == PACED_PROFILES
    assert watched.store.written() == PACED_PROFILES
    assert watched.clock.seconds(MIGRATE_PHASE) >= MIN_MIGRATE_SECONDS
    assert busiest_window(watched.store.accepted) <= MAX_WRITES_PER_SECOND
    # ... and about 2,000 WCU consumed. Each profile is written once and bills 1 WCU (it
    # is under 1 KB before and after), so not less; DynamoDB Local reports no consumed
    # capacity for BatchExecuteStatement, so this is the runner's figure from the items'
    # sizes. Exactly 2,000 is expected here: only a write refused on its condition (a
    # concurrent change, which a private table does not see) bills on top, for the item
    # it read. The 5 % allowed above stays far below any page counted twice (+25 WCU a
    # batch, +500 a page, whatever the page size: a double count still fails).
    assert 2_000 <= summary.consumed_write_capacity_units <= 2_100
    assert summary.max_write_capacity == WRITE_CAP
    assert all(
        item["version"] == CURRENT_VERSION
        for item in dump_profiles(dynamodb_client, table.table_name).values()
    )


def test_the_busiest_second_check_catches_an_unpaced_run(
    dynamodb_client: DynamoDBClient, dynamodb_local: DynamoDBLocal, make_table: MakeTable
) -> None:
    # Given: the same 2,000 profiles, no cap
    table = make_table(items=list(sample_profiles(PACED_PROFILES)))
    watched = watched_run(dynamodb_client, dynamodb_local, table, write_cap=None)

    # When
    response = run_local(watched.run)

    # Then: the check that held the capped run fails this one, unless the engine cannot
    # write 150 profiles a second on this machine: then it proves nothing, and says so.
    assert response.success, response.error
    busiest = busiest_window(watched.store.accepted)
    if busiest <= MAX_WRITES_PER_SECOND:
        seconds = watched.clock.seconds(MIGRATE_PHASE)
        pytest.skip(
            f"unpaced, DynamoDB Local wrote at most {busiest} profiles in any second here "
            f"({PACED_PROFILES / seconds:.0f}/s over the migrate phase): too slow to tell a "
            f"cap of {WRITE_CAP:g} WCU/s from no cap"
        )
    assert busiest > MAX_WRITES_PER_SECOND


# -- a pause -------------------------------------------------------------------------------


def test_throttle_to_0_stops_the_writes_within_10_s_and_unlimited_lets_the_run_finish(
    cli: Cli,
    dynamodb_client: DynamoDBClient,
    dynamodb_local: DynamoDBLocal,
    make_table: MakeTable,
) -> None:
    # Given: a real run of 1,000 profiles at 50 WCU/s (20 s of writes), under way
    profiles = 1_000
    table = make_table(items=list(sample_profiles(profiles)))
    watched = watched_run(dynamodb_client, dynamodb_local, table, write_cap=50)
    store = watched.store
    throttle = ["throttle", "--table", table.table_name]
    throttle += ["--endpoint-url", dynamodb_local.endpoint_url]
    with ThreadPoolExecutor(max_workers=1) as pool:
        running = pool.submit(run_local, watched.run)
        wait_until(lambda: store.written() >= 100, "the run's first writes")

        # When: its writes are paused
        paused_at = time.monotonic()
        paused_status, paused = cli(*throttle, "--max-write-capacity", "0")
        deadline = paused_at + FOLLOW_SECONDS + QUIET_SECONDS
        wait_until(
            lambda: (
                time.monotonic() - (store.last_write_at() or 0) >= QUIET_SECONDS
                or time.monotonic() >= deadline
            ),
            "the writes to stop, or the time they had to",
        )

        # Then: no write 10 s after the pause, none for seconds since; the run waits,
        # holding its lock, its lease renewed
        last_write = store.last_write_at()
        written_while_paused = store.written()
        lock = watched.control.read_lock(table.table_name)
        assert paused_status == 0, paused
        assert paused["maxWriteCapacity"] == 0
        assert last_write is not None
        assert last_write - paused_at <= FOLLOW_SECONDS
        assert time.monotonic() - last_write >= QUIET_SECONDS
        assert written_while_paused < profiles
        assert not running.done()
        assert lock is not None
        assert lock.owner == watched.owner
        assert lock.max_write_capacity == 0
        assert lock.expires_at > time.time()

        # When: the cap is lifted
        lifted_at = time.monotonic()
        lifted_status, lifted = cli(*throttle, "--unlimited")
        response = running.result(timeout=60)

    # Then: the writes resumed within 10 s, and the run finished: every profile migrated
    # and verified, the lock released
    resumed_at = min(batch.sent for batch in store.accepted if batch.sent > last_write)
    summary = response.summary
    assert lifted_status == 0, lifted
    assert lifted["maxWriteCapacity"] is None
    assert resumed_at - lifted_at <= FOLLOW_SECONDS
    assert response.success, response.error
    assert summary is not None
    assert summary.success_count == profiles
    assert summary.max_write_capacity is None
    assert store.written() == profiles
    assert watched.control.read_lock(table.table_name) is None
    assert all(
        item["version"] == CURRENT_VERSION
        for item in dump_profiles(dynamodb_client, table.table_name).values()
    )


# -- a window ------------------------------------------------------------------------------


def test_a_window_stops_the_run_with_exit_3_and_resume_gives_the_uninterrupted_table(
    cli: Cli, dynamodb_client: DynamoDBClient, make_table: MakeTable
) -> None:
    # Given: two tables of the same 1,000 profiles. The counting registry's steps read no
    # clock (CICADA's 4->5 stamps the run's start time, which differs between two runs),
    # so the resumed table and the uninterrupted one must be equal, item for item, and
    # `appliedSteps` shows a step applied twice. Pages of 25 keep the pages in hand at
    # the window's end short: a window is checked between pages, and the default pages
    # of 500 would put the whole table in hand at the start (4 segments of ~250).
    profiles = 1_000
    items = list(sample_profiles(profiles))
    stopped, straight = make_table(items=items), make_table(items=items)
    options = ["--migrations", COUNTING, "--page-size", "25"]
    control = ControlTable(dynamodb_client, control_table_name(stopped.table_name))

    # When: a run capped at 100 WCU/s (10 s of writes) with a window of 5 s
    started = time.monotonic()
    status, document = cli(
        "run",
        "--table",
        stopped.table_name,
        "--max-write-capacity",
        "100",
        "--stop-after",
        "5s",
        *options,
    )
    took = time.monotonic() - started
    migrated = sum(
        item.get("version") == 3
        for item in dump_profiles(dynamodb_client, stopped.table_name).values()
    )
    _, history = cli("history", "--table", stopped.table_name)

    # Then: exit 3 at the window's end (and the pages in hand), part of the table
    # migrated, as the document says; resumable, the lock released, the run `stopped`
    assert status == 3, document
    assert document["success"] is False
    assert document["resumable"] is True
    assert document["stoppedBy"] == "window"
    assert document["errorType"] == "WindowClosed"
    assert 0 < migrated < profiles
    assert document["summary"]["successCount"] == migrated
    assert took < 10
    assert control.read_lock(stopped.table_name) is None
    assert [(run["runId"], run["outcome"]) for run in history["runs"]] == [
        (document["runId"], "stopped")
    ]

    # When: resumed; and the twin table migrated in one go
    resumed_status, resumed = cli("run", "--table", stopped.table_name, "--resume", *options)
    straight_status, _ = cli("run", "--table", straight.table_name, *options)

    # Then: the run finished, and its table is the one an uninterrupted run gives
    after_resume = dump_profiles(dynamodb_client, stopped.table_name)
    assert resumed_status == 0, resumed
    assert resumed["runId"] == document["runId"]
    assert resumed["message"].startswith(f"Resumed run {document['runId']}.")
    assert straight_status == 0
    assert after_resume == dump_profiles(dynamodb_client, straight.table_name)
    assert all(item["appliedSteps"] == ["1->2", "2->3"] for item in after_resume.values())


# -- inputs refused ------------------------------------------------------------------------


def test_a_window_that_ended_before_the_run_is_refused_with_exit_2_and_nothing_written(
    cli: Cli, dynamodb_client: DynamoDBClient, make_table: MakeTable
) -> None:
    table = make_table(items=list(sample_profiles(20)))
    before = dump_table(dynamodb_client, table.table_name)

    status, document = cli("run", "--table", table.table_name, "--stop-at", "2020-01-01T00:00Z")
    _, history = cli("history", "--table", table.table_name)

    assert status == 2
    assert "before the run would start; nothing was done" in document["error"]
    assert dump_table(dynamodb_client, table.table_name) == before
    assert history["runs"] == []


@pytest.mark.parametrize("cap", ["0", "-10"])
def test_run_refuses_a_write_cap_not_above_0_with_exit_2_and_nothing_written(
    cli: Cli, dynamodb_client: DynamoDBClient, make_table: MakeTable, cap: str
) -> None:
    table = make_table(items=list(sample_profiles(20)))
    before = dump_table(dynamodb_client, table.table_name)

    status, document = cli("run", "--table", table.table_name, f"--max-write-capacity={cap}")

    assert status == 2
    assert f"--max-write-capacity: '{cap}' is not a number above 0" in document["error"]
    assert dump_table(dynamodb_client, table.table_name) == before


def test_throttle_with_no_run_in_progress_is_refused_with_exit_2(
    cli: Cli, dynamodb_local: DynamoDBLocal, make_table: MakeTable
) -> None:
    # Given: a table never migrated (no control table yet)
    table = make_table(items=list(sample_profiles(5))).table_name
    throttle = ["throttle", "--table", table, "--endpoint-url", dynamodb_local.endpoint_url]

    # When: throttled before any run, and after one has finished (its lock released)
    never_status, never = cli(*throttle, "--max-write-capacity", "10")
    run_status, _ = cli("run", "--table", table)
    after_status, after = cli(*throttle, "--unlimited")

    # Then
    assert (never_status, run_status, after_status) == (2, 0, 2)
    assert never["error"] == (f"NoRunInProgressError: no run of table {table!r} is in progress")
    assert f"no run of table {table!r} is in progress (it is not locked" in after["error"]
    assert "give them to `run` instead" in after["error"]
