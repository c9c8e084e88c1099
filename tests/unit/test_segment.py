"""The page migrator's decisions, with an in-memory store: no network, no boto3."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.codec import serialize_item
from profile_migrations.logic.pacing import CapacityPacer
from profile_migrations.logic.segment import (
    WRITE_BATCHES_IN_FLIGHT,
    MigrationJob,
    PageMigrator,
    SegmentScan,
    SegmentStop,
    migrate_segment,
)
from profile_migrations.migrations import migrations
from profile_migrations.models.results import SegmentCounters
from profile_migrations.registry import MigrationChain, ProfileMigration
from profile_migrations.store import WriteBatchResult, WriteOutcome, WriteStatus
from tests.fakes import ListSink, PagedStore, key_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from profile_migrations.store import ProfileWrite, RawItem

KEYS = ("userId", "profileId")


def job(
    chain: MigrationChain | None = None, dry_run: bool = False, target: int = 5
) -> MigrationJob:
    return MigrationJob(
        chain=chain or MigrationChain(migrations),
        target_version=target,
        key_attributes=KEYS,
        dry_run=dry_run,
        started_at="2026-01-01T00:00:00.000Z",
    )


def item(user: str, **fields: Any) -> RawItem:
    return serialize_item({"userId": user, "profileId": "p", **fields})


def test_a_write_sets_only_changed_attributes_and_expects_their_read_values() -> None:
    store = PagedStore()
    raw = item("u", profileData={"characterName": "A"}, updatedAt="t", email="e")

    PageMigrator(job(), store, ListSink()).migrate_page([raw])

    (write,) = store.writes
    assert write.key == {"userId": {"S": "u"}, "profileId": {"S": "p"}}
    assert set(write.set_values) == {"profileData", "version", "lastAccessedAt"}
    assert write.removed == ()
    assert write.expected == {
        "profileData": raw["profileData"],
        "version": None,
        "lastAccessedAt": None,
    }


def test_a_removed_attribute_is_removed_and_expected() -> None:
    drop = ProfileMigration(1, 2, "drop legacy", lambda p: {k: p[k] for k in p if k != "legacy"})
    store = PagedStore()
    raw = item("u", legacy="x", version=1)

    PageMigrator(job(MigrationChain([drop]), target=2), store, ListSink()).migrate_page([raw])

    (write,) = store.writes
    assert write.removed == ("legacy",)
    assert write.expected == {"version": {"N": "1"}, "legacy": {"S": "x"}}


def test_a_number_turned_into_a_boolean_counts_as_a_change() -> None:
    to_bool = ProfileMigration(1, 2, "flag", lambda p: {**p, "active": True})
    store = PagedStore()

    PageMigrator(job(MigrationChain([to_bool]), target=2), store, ListSink()).migrate_page(
        [item("u", active=1)]
    )

    assert store.writes[0].set_values["active"] == {"BOOL": True}


def test_a_step_that_changes_the_key_fails_the_profile_without_a_write() -> None:
    rekey = ProfileMigration(1, 2, "rekey", lambda p: {**p, "profileId": "other"})
    store = PagedStore()
    sink = ListSink()

    counters, failures = PageMigrator(
        job(MigrationChain([rekey]), target=2), store, sink
    ).migrate_page([item("u")])

    assert store.writes == []
    assert counters.failed == 1
    assert "key attribute 'profileId'" in (failures[0].error or "")


def test_a_dry_run_sends_no_write_and_counts_would_be_successes() -> None:
    store = PagedStore()

    counters, _ = PageMigrator(job(dry_run=True), store, ListSink()).migrate_page(
        [item("a", profileData={}), item("b", profileData={}, version=5)]
    )

    assert store.writes == []
    assert (counters.migrated, counters.skipped, counters.failed) == (1, 1, 0)


def test_a_rejected_write_fails_the_profile_with_the_store_message() -> None:
    store = PagedStore(answers=[WriteOutcome(WriteStatus.REJECTED, message="ValidationError: big")])

    counters, failures = PageMigrator(job(), store, ListSink()).migrate_page(
        [item("a", profileData={})]
    )

    assert counters.failed == 1
    assert failures[0].error == "ValidationError: big"
    assert failures[0].from_version == 1


def test_every_outcome_is_reported_once_per_profile() -> None:
    store = PagedStore(
        answers=[
            WriteOutcome(WriteStatus.WRITTEN),
            WriteOutcome(WriteStatus.CONFLICT, current=item("b", profileData={}, version=5)),
        ]
    )
    sink = ListSink()

    PageMigrator(job(), store, sink).migrate_page(
        [item("a", profileData={}), item("b", profileData={}), item("c")]
    )

    statuses = {outcome.key["userId"]: outcome.status for outcome in sink.outcomes}
    assert statuses == {"a": "success", "b": "skipped", "c": "failed"}


def test_a_segment_walks_every_page_and_returns_no_cursor_when_done() -> None:
    store = PagedStore(pages=[[item("a", profileData={})], [item("b", profileData={})], []])

    run = migrate_segment(SegmentScan(store, 0, 1), job(), ListSink())

    assert run.done
    assert run.cursor is None
    assert (run.counters.scanned, run.counters.migrated) == (2, 2)


def test_a_segment_stops_between_pages_when_asked_and_resumes_from_its_cursor() -> None:
    store = PagedStore(pages=[[item("a", profileData={})], [item("b", profileData={})]])

    first = migrate_segment(SegmentScan(store, 0, 1), job(), ListSink(), lambda: False)
    second = migrate_segment(SegmentScan(store, 0, 1, start_key=first.cursor), job(), ListSink())

    assert (first.done, first.counters.scanned) == (False, 1)
    assert (second.done, second.counters.scanned) == (True, 1)
    assert [write.key["userId"]["S"] for write in store.writes] == ["a", "b"]


def test_a_store_outage_stops_the_segment_without_failing_profiles() -> None:
    store = PagedStore(pages=[[item("a", profileData={})]], fail_writes=True)

    run = migrate_segment(SegmentScan(store, 0, 1), job(), ListSink())

    assert run.stop == SegmentStop("StoreUnavailableError", "throttled", retryable=True)
    assert not run.done
    assert run.cursor is None
    assert run.counters.failed == 0


@pytest.mark.parametrize("retries", [0, 1, 3])
def test_conflicts_are_retried_a_bounded_number_of_times(retries: int) -> None:
    class AlwaysConflicting(PagedStore):
        def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
            self.writes.extend(writes)
            current = item("a", profileData={"n": len(self.writes)})
            return WriteBatchResult([WriteOutcome(WriteStatus.CONFLICT, current=current)], 0)

    store = AlwaysConflicting()
    limited = MigrationJob(
        chain=MigrationChain(migrations),
        target_version=5,
        key_attributes=KEYS,
        dry_run=False,
        started_at="t",
        max_conflict_retries=retries,
    )

    counters, failures = PageMigrator(limited, store, ListSink()).migrate_page(
        [item("a", profileData={})]
    )

    assert len(store.writes) == retries + 1
    assert (counters.conflicts, counters.failed) == (retries + 1, 1)
    assert f"changed concurrently {retries + 1} times" in (failures[0].error or "")


# --- answers the store should not have given (issue 9, item 1) -------------------------------

EMPTY_MAP_AS_BARE_OBJECT: dict[str, Any] = {}


def malformed(user: str) -> RawItem:
    """An item as DynamoDB Local answers a conflict: an empty nested map without its tag."""
    raw = item(user, profileData={"prefs": {}, "visits": Decimal(3)})
    raw["profileData"]["M"]["prefs"] = EMPTY_MAP_AS_BARE_OBJECT
    return raw


def test_a_conflict_answer_holding_a_malformed_value_is_re_read_and_migrated() -> None:
    # Given: the write meets a concurrent change; the store answers with a malformed item
    good = item("a", profileData={"prefs": {}, "visits": Decimal(4)})
    store = PagedStore(
        answers=[WriteOutcome(WriteStatus.CONFLICT, current=malformed("a"))],
        current={key_text(key("a")): good},
    )
    sink = ListSink()

    # When
    counters, failures = PageMigrator(job(), store, sink).migrate_page(
        [item("a", profileData={"prefs": {}, "visits": Decimal(3)})]
    )

    # Then: re-read by its key with a consistent GetItem, migrated from that, written
    assert store.reads == [key("a")]
    assert (counters.migrated, counters.failed, counters.conflicts) == (1, 0, 1)
    assert failures == []
    second = store.writes[1]
    assert second.expected["profileData"] == good["profileData"]


def test_a_malformed_scan_item_is_re_read_and_migrated_from_the_store() -> None:
    good = item("a", profileData={"prefs": {}})
    store = PagedStore(current={key_text(key("a")): good})

    counters, _ = PageMigrator(job(), store, ListSink()).migrate_page([malformed("a")])

    assert store.reads == [key("a")]
    assert counters.migrated == 1
    assert store.writes[0].expected["profileData"] == good["profileData"]


def test_an_item_still_malformed_on_the_re_read_fails_with_the_reason_and_no_write() -> None:
    store = PagedStore(current={key_text(key("a")): malformed("a")})

    counters, failures = PageMigrator(job(), store, ListSink()).migrate_page([malformed("a")])

    assert store.writes == []
    assert counters.failed == 1
    assert "also on a consistent re-read" in (failures[0].error or "")
    assert "'profileData.prefs'" in (failures[0].error or "")
    assert failures[0].key == {"userId": "a", "profileId": "p"}


def test_an_item_whose_key_is_malformed_fails_without_a_read_or_a_write() -> None:
    raw = item("a", profileData={})
    raw["userId"] = {"S": 7}
    store = PagedStore()

    counters, failures = PageMigrator(job(), store, ListSink()).migrate_page([raw])

    assert (store.reads, store.writes) == ([], [])
    assert counters.failed == 1
    assert "no readable key" in (failures[0].error or "")


def test_a_conflict_answer_without_the_item_is_checked_before_it_counts_as_deleted() -> None:
    # Given: a conflict whose answer carries no item, and an item that still exists
    store = PagedStore(
        answers=[WriteOutcome(WriteStatus.CONFLICT, current=None)],
        current={key_text(key("a")): item("a", profileData={}, version=5)},
    )

    counters, _ = PageMigrator(job(), store, ListSink()).migrate_page([item("a", profileData={})])

    # Then: the re-read finds it already migrated (skipped), not deleted
    assert store.reads == [key("a")]
    assert (counters.skipped, counters.failed) == (1, 0)


def test_a_conflict_on_an_item_deleted_meanwhile_is_skipped() -> None:
    store = PagedStore(answers=[WriteOutcome(WriteStatus.CONFLICT, current=None)])
    sink = ListSink()

    counters, _ = PageMigrator(job(), store, sink).migrate_page([item("gone", profileData={})])

    assert counters.skipped == 1
    assert sink.outcomes[0].error == "deleted during the run"


def test_a_conflict_answer_for_another_key_is_not_trusted() -> None:
    store = PagedStore(
        answers=[WriteOutcome(WriteStatus.CONFLICT, current=item("other", profileData={}))],
        current={key_text(key("a")): item("a", profileData={}, version=5)},
    )

    counters, _ = PageMigrator(job(), store, ListSink()).migrate_page([item("a", profileData={})])

    assert store.reads == [key("a")]
    assert counters.skipped == 1


def test_an_unexpected_error_stops_the_segment_with_its_type_and_keeps_the_progress() -> None:
    # Given: a store that breaks in a way nothing expects on the second page
    store = PagedStore(
        pages=[[item("a", profileData={})], [item("b", profileData={})]],
        scan_error=ValueError("not enough values to unpack"),
    )
    pages: list[int] = []

    # When
    run = migrate_segment(
        SegmentScan(store, 0, 1),
        job(),
        ListSink(),
        on_page=lambda run, page: pages.append(page.scanned),
    )

    # Then: nothing raised; the first page is done and checkpointed, the reason recorded
    assert run.stop == SegmentStop("ValueError", "not enough values to unpack", retryable=False)
    assert str(run.stop) == "ValueError: not enough values to unpack"
    assert (run.done, run.counters.migrated, pages) == (False, 1, [1])
    assert run.cursor == {"page": {"N": "1"}}


# --- numbers (issue 9, item 2) and keys in the output (item 4) ----------------------------------

BALANCE_38 = Decimal("12345678901234567890123456789012345678")


def test_a_38_digit_sum_computed_in_a_worker_thread_is_written_exactly() -> None:
    add_one = ProfileMigration(1, 2, "add one", lambda p: {**p, "balance": p["balance"] + 1})
    store = PagedStore()
    written: list[Any] = []

    def work() -> None:
        PageMigrator(job(MigrationChain([add_one]), target=2), store, ListSink()).migrate_page(
            [item("a", balance=BALANCE_38)]
        )
        written.extend(store.writes)

    worker = threading.Thread(target=work)
    worker.start()
    worker.join()

    assert written[0].set_values["balance"] == {"N": "12345678901234567890123456789012345679"}


def test_a_sum_that_cannot_be_stored_exactly_fails_the_profile_without_a_write() -> None:
    add_one = ProfileMigration(1, 2, "add one", lambda p: {**p, "balance": p["balance"] + 1})
    store = PagedStore()

    counters, failures = PageMigrator(
        job(MigrationChain([add_one]), target=2), store, ListSink()
    ).migrate_page([item("a", balance=Decimal("9" * 37 + ".5"))])

    assert store.writes == []
    assert counters.failed == 1
    assert "cannot be stored exactly" in (failures[0].error or "")


def test_a_float_result_fails_the_profile_with_the_attribute_named() -> None:
    ratio = ProfileMigration(1, 2, "ratio", lambda p: {**p, "stats": {"ratio": 0.25}})
    store = PagedStore()

    _, failures = PageMigrator(
        job(MigrationChain([ratio]), target=2), store, ListSink()
    ).migrate_page([item("a")])

    assert store.writes == []
    assert (failures[0].error or "").startswith("attribute 'stats.ratio': 0.25 is a float")


def test_number_and_binary_keys_are_reported_as_exact_strings() -> None:
    fail = ProfileMigration(1, 2, "fail", lambda p: {**p, "profileData": p["missing"]})
    number_keyed = MigrationJob(
        chain=MigrationChain([fail]),
        target_version=2,
        key_attributes=("id", "blob"),
        dry_run=False,
        started_at="t",
    )
    keys = ["9007199254740993", "12345678901234567890123456789012345678", "1.5", "1E+125", "-7"]
    items: list[RawItem] = [{"id": {"N": text}, "blob": {"B": b"\x00\x01"}} for text in keys]

    _, failures = PageMigrator(number_keyed, PagedStore(), ListSink()).migrate_page(items)

    assert [failure.key["id"] for failure in failures] == keys
    assert {failure.key["blob"] for failure in failures} == {"AAE="}


def key(user: str) -> RawItem:
    return {"userId": {"S": user}, "profileId": {"S": "p"}}


def test_the_checkpoint_of_a_segments_last_page_says_it_is_done() -> None:
    # Given: a resumed run trusts `done` in the last checkpoint a segment saved
    store = PagedStore(pages=[[item("a", profileData={})], [item("b", profileData={})]])
    saved: list[Any] = []

    # When
    migrate_segment(
        SegmentScan(store, 0, 1),
        job(),
        ListSink(),
        on_page=lambda run, page: saved.append(run.checkpoint(SegmentCounters())),
    )

    # Then: not `cursor: null, done: false`, which reads as a segment never started
    assert [(cp.cursor, cp.done) for cp in saved] == [({"page": {"N": "1"}}, False), (None, True)]


def test_a_profile_given_up_after_malformed_conflict_answers_keeps_its_version() -> None:
    class ConflictingMalformed(PagedStore):
        def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
            self.writes.extend(writes)
            return WriteBatchResult([WriteOutcome(WriteStatus.CONFLICT, current=malformed("a"))], 0)

    # The re-read answers malformed too, so the profile is never readable again.
    store = ConflictingMalformed(current={key_text(key("a")): malformed("a")})

    _, failures = PageMigrator(job(), store, ListSink()).migrate_page(
        [item("a", profileData={"prefs": {}})]
    )

    assert failures[0].from_version == 1


@pytest.mark.parametrize("names", [("status", "error"), ("fromVersion",), ("key", "toVersion")])
def test_key_attributes_named_like_result_fields_are_kept_under_key(
    names: tuple[str, ...],
) -> None:
    fail = ProfileMigration(1, 2, "fail", lambda p: {**p, "profileData": p["missing"]})
    clashing = MigrationJob(
        chain=MigrationChain([fail]),
        target_version=2,
        key_attributes=names,
        dry_run=False,
        started_at="t",
    )
    raw: RawItem = {name: {"S": f"{name}-value"} for name in names}

    _, (failure,) = PageMigrator(clashing, PagedStore(), ListSink()).migrate_page([raw])

    line = failure.to_wire()
    assert line["key"] == {name: f"{name}-value" for name in names}
    assert (line["status"], line["toVersion"]) == ("failed", 2)


class OverlapStore(PagedStore):
    """Counts how many write batches it holds at once; each batch takes a moment."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        time.sleep(0.05)
        with self._lock:
            self._now -= 1
        result = super().conditional_update(writes)
        return WriteBatchResult(result.outcomes, throttle_retries=1)


def test_a_pages_write_batches_go_out_a_few_at_once_and_every_answer_counts() -> None:
    store = OverlapStore()
    sink = ListSink()
    users = [f"u{number:03d}" for number in range(140)]

    pipeline_turn = replace(job(), batches_in_flight=WRITE_BATCHES_IN_FLIGHT)

    counters, failures = PageMigrator(pipeline_turn, store, sink).migrate_page(
        [item(user, profileData={"characterName": user}) for user in users]
    )

    # 140 writes are 6 batches (5 of 25 and one of 15), at most 4 of them at once.
    assert len(store.writes) == 140
    assert 1 < store.most <= WRITE_BATCHES_IN_FLIGHT
    assert (counters.migrated, counters.failed, failures) == (140, 0, [])
    assert counters.throttle_retries == 6  # every batch's answer counted
    assert counters.consumed_write_capacity_units == 140.0  # small items: 1 WCU each
    reported = [outcome.key["userId"] for outcome in sink.outcomes]
    assert sorted(reported) == users


def test_the_local_runners_workers_send_their_batches_one_at_a_time() -> None:
    store = OverlapStore()

    PageMigrator(job(), store, ListSink()).migrate_page(
        [item(f"u{number:03d}", profileData={}) for number in range(60)]
    )

    assert (len(store.writes), store.most) == (60, 1)


def test_a_low_cap_sends_smaller_batches_so_no_second_bursts_above_it() -> None:
    store = PagedStore()
    migrator = PageMigrator(job(), store, ListSink(), pacer=CapacityPacer(8.0), workers=2)
    sizes: list[int] = []
    original = store.conditional_update

    def recording(writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        sizes.append(len(writes))
        return original(writes)

    store.conditional_update = recording  # type: ignore[method-assign]

    migrator.migrate_page([item(f"u{number}", profileData={}) for number in range(10)])

    # 4 WCU/s per worker: batches of 4 one-WCU writes, then the rest.
    assert sizes == [4, 4, 2]
