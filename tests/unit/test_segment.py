"""The page migrator's decisions, with an in-memory store: no network, no boto3."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.codec import serialize_item
from profile_migrations.logic.segment import MigrationJob, PageMigrator, migrate_segment
from profile_migrations.migrations import migrations
from profile_migrations.registry import MigrationChain, ProfileMigration
from profile_migrations.writes import WriteBatchResult, WriteOutcome, WriteStatus
from tests.fakes import PagedStore

if TYPE_CHECKING:
    from collections.abc import Sequence

    from profile_migrations.logic.outcomes import ProfileOutcome
    from profile_migrations.writes import ProfileWrite, RawItem

KEYS = ("userId", "profileId")


class ListSink:
    def __init__(self) -> None:
        self.outcomes: list[ProfileOutcome] = []

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None:
        self.outcomes.extend(outcomes)


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

    run = migrate_segment(store, job(), ListSink(), segment=0, total_segments=1)

    assert run.done
    assert run.cursor is None
    assert (run.counters.scanned, run.counters.migrated) == (2, 2)


def test_a_segment_stops_between_pages_when_asked_and_resumes_from_its_cursor() -> None:
    store = PagedStore(pages=[[item("a", profileData={})], [item("b", profileData={})]])

    first = migrate_segment(store, job(), ListSink(), 0, 1, should_continue=lambda: False)
    second = migrate_segment(store, job(), ListSink(), 0, 1, start_key=first.cursor)

    assert (first.done, first.counters.scanned) == (False, 1)
    assert (second.done, second.counters.scanned) == (True, 1)
    assert [write.key["userId"]["S"] for write in store.writes] == ["a", "b"]


def test_a_store_outage_stops_the_segment_without_failing_profiles() -> None:
    store = PagedStore(pages=[[item("a", profileData={})]], fail_writes=True)

    run = migrate_segment(store, job(), ListSink(), 0, 1)

    assert run.error == "throttled"
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
