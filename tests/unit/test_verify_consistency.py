"""Verification's eventually consistent scan and its consistent re-reads, with in-memory
fakes: the pages play a stale replica, ``get_item`` the table as it is now."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from profile_migrations.codec import serialize_item
from profile_migrations.errors import StoreUnavailableError
from profile_migrations.logic.segment import SegmentScan
from profile_migrations.logic.verify import (
    MAX_REREADS_PER_PAGE,
    UNREADABLE_VERSION,
    VerifyRun,
    verify_segment,
)
from profile_migrations.models.limits import RESULTS_CAP
from tests.fakes import PagedStore, key_text

if TYPE_CHECKING:
    from collections.abc import Sequence

    from profile_migrations.models.results import InvalidProfile
    from profile_migrations.store import RawItem, ScanPage

KEYS = ("userId", "profileId")
TARGET = 5


def item(user: str, **fields: Any) -> RawItem:
    return serialize_item({"userId": user, "profileId": "p", **fields})


def key(user: str) -> RawItem:
    return {"userId": {"S": user}, "profileId": {"S": "p"}}


@dataclass
class StaleStore(PagedStore):
    """A :class:`PagedStore` whose pages are what an eventually consistent scan saw and whose
    ``current`` is the table now; it records every scan's consistency and can forget items
    (``deleted``: keys as :func:`key_text` writes them) as deleted since the scan."""

    deleted: set[str] = field(default_factory=set)
    consistent_reads: list[bool] = field(default_factory=list)
    projections: list[tuple[str, ...] | None] = field(default_factory=list)
    fail_reads: bool = False

    def scan_page(
        self,
        segment: int,
        total_segments: int,
        start_key: RawItem | None = None,
        limit: int | None = None,
        projection: Sequence[str] | None = None,
        consistent_read: bool = False,
    ) -> ScanPage:
        self.consistent_reads.append(consistent_read)
        self.projections.append(None if projection is None else tuple(projection))
        return super().scan_page(
            segment, total_segments, start_key, limit, projection, consistent_read
        )

    def get_item(self, key: RawItem) -> RawItem | None:
        if self.fail_reads:
            raise StoreUnavailableError("throttled")
        if key_text(key) in self.deleted:
            self.reads.append(key)
            return None
        return super().get_item(key)


def verify(store: StaleStore, pages: list[VerifyRun] | None = None) -> VerifyRun:
    def on_page(run: VerifyRun, items: int) -> None:
        if pages is not None:
            pages.append(VerifyRun(segment=run.segment, page_invalid=list(run.page_invalid)))

    return verify_segment(SegmentScan(store, 0, 1), TARGET, KEYS, on_page=on_page)


def reported(run: VerifyRun) -> dict[str, int | str | None]:
    return {_user(entry): entry.version for entry in run.invalid}


def _user(entry: InvalidProfile) -> str:
    user: str = (entry.model_extra or {})["userId"]
    return user


def test_every_page_is_scanned_eventually_consistent_with_keys_and_version_only() -> None:
    store = StaleStore(pages=[[item("a", version=5)], [item("b", version=5)]])

    run = verify(store)

    assert store.consistent_reads == [False, False]
    assert store.projections == [("userId", "profileId", "version")] * 2
    assert (run.done, run.checked, run.invalid_count) == (True, 2, 0)


def test_profiles_the_scan_shows_at_the_target_cost_no_re_read() -> None:
    store = StaleStore(pages=[[item(user, version=5) for user in "abc"]])

    run = verify(store)

    assert store.reads == []
    assert run.reread == 0
    assert run.invalid == []


def test_a_profile_stale_on_the_page_but_at_the_target_now_is_not_reported() -> None:
    # Given: the page shows version 4 of a profile whose consistent read says 5 (a write
    # made a moment before the scan, which the eventually consistent page does not show)
    store = StaleStore(
        pages=[[item("a", version=4)]],
        current={key_text(key("a")): item("a", version=5, profileData={})},
    )

    # When
    run = verify(store)

    # Then: read again by its key, found at the target, not reported
    assert store.reads == [key("a")]
    assert (run.checked, run.reread, run.invalid_count, run.invalid) == (1, 1, 0, [])


def test_a_profile_still_below_the_target_on_the_re_read_is_reported_as_read_then() -> None:
    # Given: the page shows version 3; the table now holds version 4, still below 5
    store = StaleStore(
        pages=[[item("a", version=3)]],
        current={key_text(key("a")): item("a", version=4, profileData={})},
    )

    run = verify(store)

    assert store.reads == [key("a")]
    assert run.invalid_count == 1
    assert reported(run) == {"a": 4}


def test_a_profile_deleted_between_the_scan_and_the_re_read_is_not_reported() -> None:
    store = StaleStore(pages=[[item("gone", version=2)]], deleted={key_text(key("gone"))})

    run = verify(store)

    assert store.reads == [key("gone")]
    assert (run.checked, run.reread, run.invalid_count) == (1, 1, 0)


def test_one_re_read_per_profile_the_scan_shows_away_from_the_target() -> None:
    # Given: pages with profiles at the target, below, above, without a version, with a
    # version that is not an integer, stale, and deleted since
    pages = [
        [item("ok1", version=5), item("below", version=2), item("stale", version=4)],
        [item("above", version=6), item("none"), item("ok2", version=5)],
        [item("text", version="five"), item("gone", version=1)],
    ]
    store = StaleStore(
        pages=pages,
        current={key_text(key("stale")): item("stale", version=5)},
        deleted={key_text(key("gone"))},
    )
    candidates = ["below", "stale", "above", "none", "text", "gone"]

    # When
    run = verify(store)

    # Then: exactly the candidates were re-read, once each, and only the confirmed reported
    assert [read["userId"]["S"] for read in store.reads] == candidates
    assert run.reread == len(candidates)
    assert run.checked == 8
    assert reported(run) == {"below": 2, "above": 6, "none": 1, "text": "five"}
    assert run.invalid_count == 4


def test_each_page_hands_on_page_only_what_its_re_reads_confirmed() -> None:
    store = StaleStore(
        pages=[[item("stale", version=1)], [item("below", version=1)]],
        current={key_text(key("stale")): item("stale", version=5)},
    )
    pages: list[VerifyRun] = []

    verify(store, pages)

    assert [[_user(entry) for entry in page.page_invalid] for page in pages] == [[], ["below"]]


def test_an_item_unreadable_on_the_page_but_readable_at_the_target_is_not_reported() -> None:
    malformed = item("a", version=5)
    malformed["version"] = {"N": 5}
    store = StaleStore(
        pages=[[malformed]], current={key_text(key("a")): item("a", version=5, profileData={})}
    )

    run = verify(store)

    assert (run.reread, run.invalid_count) == (1, 0)


def test_an_item_still_unreadable_on_the_re_read_is_reported_unreadable() -> None:
    malformed = item("a", version=5)
    malformed["version"] = {"N": 5}
    store = StaleStore(pages=[[malformed]], current={key_text(key("a")): malformed})

    run = verify(store)

    assert store.reads == [key("a")]
    assert reported(run) == {"a": UNREADABLE_VERSION}


def test_an_item_without_a_readable_key_is_reported_without_a_re_read() -> None:
    raw = item("a", version=2)
    raw["userId"] = {"S": 7}
    store = StaleStore(pages=[[raw]])

    run = verify(store)

    assert store.reads == []
    assert (run.reread, run.invalid_count) == (0, 1)
    assert run.invalid[0].version == UNREADABLE_VERSION


def test_an_outage_during_a_re_read_stops_the_segment_at_its_last_finished_page() -> None:
    # Given: a first page at the target, then a page whose re-reads meet an outage
    store = StaleStore(
        pages=[[item("a", version=5)], [item("b", version=1), item("c")]], fail_reads=True
    )

    # When
    run = verify(store)

    # Then: a retryable stop; the counts and the cursor are the first page's, nothing more
    assert run.stop is not None
    assert run.stop.retryable
    assert (run.checked, run.reread, run.invalid_count, run.invalid) == (1, 0, 0, [])
    assert run.cursor == {"page": {"N": "1"}}
    assert not run.done


def test_the_count_goes_on_past_the_capped_list() -> None:
    below = [item(f"u{number:04d}", version=1) for number in range(RESULTS_CAP + 5)]
    store = StaleStore(pages=[below[:600], below[600:]])

    run = verify(store)

    assert run.invalid_count == RESULTS_CAP + 5
    assert len(run.invalid) == RESULTS_CAP
    # 600 and 405 candidates: each page read again strongly consistent, no GetItem.
    assert run.reread == 0
    assert store.consistent_reads == [False, True, False, True]


def test_a_page_with_many_candidates_is_read_again_consistent_instead_of_item_by_item() -> None:
    few = [item(f"a{number:02d}", version=1) for number in range(MAX_REREADS_PER_PAGE)]
    many = [item(f"b{number:02d}", version=1) for number in range(MAX_REREADS_PER_PAGE + 1)]
    store = StaleStore(pages=[few, many])

    run = verify(store)

    assert run.reread == MAX_REREADS_PER_PAGE  # the first page's, one GetItem each
    assert store.consistent_reads == [False, False, True]  # the second, read again
    assert run.invalid_count == len(few) + len(many)
    # GetItems cost 1 RCU each; the second page cost its eventually consistent read (0.5)
    # and its strongly consistent one (1), as the fake's answers carry no figure.
    assert run.consumed_read_capacity_units == 0.5 + MAX_REREADS_PER_PAGE + 0.5 + 1.0
