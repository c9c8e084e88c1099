"""The local runner with in-memory fakes: stopping on request between pages."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from profile_migrations.codec import serialize_item
from profile_migrations.loader import load_registry
from profile_migrations.logic.lifecycle import Protection
from profile_migrations.logic.runner import LocalRun, LocalRunOptions, run_local
from profile_migrations.models.records import Checkpoint
from profile_migrations.models.requests import RunRequest
from tests.fakes import ListSink, MemoryControl, PagedStore

if TYPE_CHECKING:
    from collections.abc import Sequence

    from profile_migrations.store import ProfileWrite, ScanPage, WriteBatchResult


@dataclass
class StopAfterFirstPage(PagedStore):
    """Asks the run to stop (as Ctrl-C does) while its first page is in hand."""

    stop: threading.Event = field(default_factory=threading.Event)

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        self.stop.set()
        return super().conditional_update(writes)


def test_a_stop_request_ends_the_run_after_the_page_in_hand_resumable() -> None:
    # Given: three pages of one segment, and a stop asked during the first
    pages = [
        [serialize_item({"userId": f"u{n}", "profileId": "p", "profileData": {}})] for n in range(3)
    ]
    store = StopAfterFirstPage(pages=pages)
    control = MemoryControl()

    # When
    response = run_local(
        LocalRun(
            request=RunRequest(total_segments=1),
            registry=load_registry(),
            store=store,
            sink=ListSink(),
            options=LocalRunOptions(workers=1),
            protection=Protection(control=control, owner="me@host:1", where="here"),
            stop=store.stop,
        )
    )

    # Then: the first page written and checkpointed, the run stopped and resumable
    assert len(store.writes) == 1
    assert (response.success, response.error_type) == (False, "Interrupted")
    assert response.verification is None
    (entry,) = control.history("UserProfiles")
    assert entry.outcome == "stopped"
    checkpoint = control.checkpoint(Checkpoint, entry.run_id, 0)
    assert checkpoint is not None
    assert (checkpoint.done, checkpoint.counters.migrated) == (False, 1)
    assert control.lock is None


@dataclass
class SlowVerification(PagedStore):
    """Verification pages take a moment, so a window closes between two of them."""

    def scan_page(self, *args: Any, **kwargs: Any) -> ScanPage:
        projection = args[4] if len(args) > 4 else kwargs.get("projection")
        if projection:  # only verification scans project
            time.sleep(0.3)
        return super().scan_page(*args, **kwargs)


def test_a_window_closing_during_verification_stops_the_run_resumable() -> None:
    pages = [
        [serialize_item({"userId": f"u{n}", "profileId": "p", "profileData": {}})] for n in range(4)
    ]
    store = SlowVerification(pages=pages)
    control = MemoryControl()

    response = run_local(
        LocalRun(
            request=RunRequest(total_segments=1),
            registry=load_registry(),
            store=store,
            sink=ListSink(),
            options=LocalRunOptions(workers=1),
            protection=Protection(control=control, owner="me@host:1", where="here"),
            stop_at=time.time() + 0.5,
        )
    )

    assert (response.success, response.resumable, response.stopped_by) == (
        False,
        True,
        "window",
    )
    assert response.error_type == "WindowClosed"
    assert response.verification is not None
    assert not response.verification.complete
    (entry,) = control.history("UserProfiles")
    assert entry.outcome == "stopped"
