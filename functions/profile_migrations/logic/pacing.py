"""Pacing a run's reads and writes to a capacity budget the operator sets and changes live.

One :class:`CapacityPacer` per kind of capacity (write, read) is shared by every worker of
a run (every segment turn of one Lambda invocation, in the pipeline). Before a request it
charges the request's expected cost (:meth:`CapacityPacer.acquire`); after it, it corrects
the charge with what DynamoDB billed (:meth:`CapacityPacer.settle`).

The budget is a token bucket that holds no credit: a balance in capacity units, refilled
at the cap (units per second) up to zero and never above, spent by each request's cost,
and a request waits until the balance is back to zero. So requests never burst, at a
run's start, a page's start or after a pause: over any window of ``w`` seconds the units
spent are at most ``cap x w`` plus one request's cost (one batch of 25 writes, or one scan
page). A request that cost more than expected leaves the balance below zero, and the next
waits longer; the cap holds on what DynamoDB billed, not on the estimate.

A cap of 0 pauses: requests wait until the cap rises (``profile-migrate throttle``), or
until the caller gives up on them (``abandon``: the run must stop mid-page, its page is
then done again on resume). None is no cap.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from profile_migrations.store import TableInfo

logger = logging.getLogger(__name__)

# How often a waiting request looks again at the cap and at ``abandon`` (seconds).
WAIT_SLICE_SECONDS = 0.5
# How often a run reads its caps from the control table (seconds): ``throttle`` promises
# the workers follow within 10 seconds.
CAPS_POLL_SECONDS = 5.0
# A page holds at most this many seconds of a worker's share of the cap, so pages (and a
# window's stop, and Ctrl-C, which wait for the page in hand) stay short at any cap; and
# a batch of writes at most one second of it, so no second bursts above the cap.
PAGE_SECONDS = 5.0
BATCH_SECONDS = 1.0


class PacingAbandonedError(Exception):
    """A request waited for capacity (the run paused, or the budget short) until the
    caller gave up: the page in hand is left unfinished, its checkpoint unmoved."""


@dataclass(frozen=True)
class Caps:
    """A run's caps: ``write`` WCU/s and ``read`` RCU/s for the whole run, all workers
    together; None is no cap, 0 pauses."""

    write: float | None = None
    read: float | None = None

    def shared(self, workers: int) -> Caps:
        """One of ``workers`` equal shares of these caps."""
        count = max(1, workers)
        return Caps(
            None if self.write is None else self.write / count,
            None if self.read is None else self.read / count,
        )


def caps_for(table: TableInfo, asked: Caps | None) -> Caps:
    """The caps a run of ``table`` takes: those ``asked``, and where no write cap is asked,
    half the provisioned write capacity of a provisioned table (the application keeps the
    other half), none on an on-demand table; no read cap unless asked."""
    write = asked.write if asked is not None else None
    if write is None and table.provisioned_write_capacity:
        write = table.provisioned_write_capacity / 2
    return Caps(write, asked.read if asked is not None else None)


class CapacityPacer:
    """Paces requests to ``rate`` capacity units per second (None: no cap, 0: paused);
    thread-safe; the module's docstring gives the guarantees. ``clock`` is monotonic
    seconds (injected by tests)."""

    def __init__(
        self, rate: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._changed = threading.Condition()
        self._rate = rate
        self._balance = 0.0
        self._refilled_at = clock()

    @property
    def rate(self) -> float | None:
        """The cap in force, units per second."""
        with self._changed:
            return self._rate

    def set_rate(self, rate: float | None) -> None:
        """Change the cap; waiting requests follow at once."""
        with self._changed:
            if rate == self._rate:
                return
            self._refill()
            self._rate = rate
            self._changed.notify_all()
        logger.info("capacity cap changed", extra={"rate": rate})

    def acquire(self, units: float, abandon: Callable[[], bool] | None = None) -> None:
        """Wait until ``units`` may be spent, then charge them. Raises
        :class:`PacingAbandonedError` when ``abandon()`` turns true while waiting."""
        with self._changed:
            while True:
                self._refill()
                rate = self._rate
                if rate is None or (rate > 0 and self._balance >= 0):
                    if rate is not None:
                        self._balance -= units
                    return
                if abandon is not None and abandon():
                    raise PacingAbandonedError("gave up waiting for capacity")
                wait = WAIT_SLICE_SECONDS if rate == 0 else -self._balance / rate
                self._changed.wait(min(wait, WAIT_SLICE_SECONDS))

    def settle(self, charged: float, consumed: float) -> None:
        """Correct a charge of ``charged`` units with the ``consumed`` units billed."""
        with self._changed:
            if self._rate is not None:
                self._balance = min(0.0, self._balance + charged - consumed)

    def page_limit(self, limit: int | None, units_per_item: float, workers: int = 1) -> int | None:
        """The page size under ``limit`` whose items cost at most :data:`PAGE_SECONDS` of
        one of ``workers`` equal shares of the cap (at ``units_per_item``), at least one
        item; ``limit`` unchanged with no cap."""
        rate = self.rate
        if rate is None or units_per_item <= 0:
            return limit
        share = rate / max(1, workers)
        fitting = max(1, math.floor(share * PAGE_SECONDS / units_per_item))
        return fitting if limit is None else min(limit, fitting)

    def batch_budget(self, workers: int = 1) -> float:
        """The units one batch of writes may cost: :data:`BATCH_SECONDS` of one of
        ``workers`` equal shares of the cap (infinite with no cap or while paused; a
        single write costing more goes alone, and the debt it leaves makes the next
        wait longer)."""
        rate = self.rate
        if not rate:
            return math.inf
        return rate / max(1, workers) * BATCH_SECONDS

    def _refill(self) -> None:
        now = self._clock()
        if self._rate:
            self._balance = min(0.0, self._balance + (now - self._refilled_at) * self._rate)
        self._refilled_at = now


@dataclass
class Pacing:
    """What paces one run (or one Lambda invocation's turn): its write and read pacers, its
    window's end (``stop_at``, seconds since the epoch; None: no window), and how many
    workers share the pacers (each page is sized to a few seconds of one share)."""

    write: CapacityPacer
    read: CapacityPacer
    stop_at: float | None = None
    workers: int = 1

    @classmethod
    def of(cls, caps: Caps, stop_at: float | None = None, workers: int = 1) -> Pacing:
        return cls(CapacityPacer(caps.write), CapacityPacer(caps.read), stop_at, workers)

    @property
    def caps(self) -> Caps:
        return Caps(self.write.rate, self.read.rate)

    def apply(self, caps: Caps) -> None:
        self.write.set_rate(caps.write)
        self.read.set_rate(caps.read)

    def window_closed(self) -> bool:
        return self.stop_at is not None and time.time() >= self.stop_at


@contextmanager
def following(
    read_caps: Callable[[], Caps | None],
    pacing: Pacing,
    interval: float = CAPS_POLL_SECONDS,
) -> Iterator[None]:
    """While the block runs, apply the caps ``read_caps`` answers (None: keep the caps in
    force) every ``interval`` seconds; ``profile-migrate throttle`` changes what it
    answers. A failed read keeps the caps in force and tries again next time."""
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(interval):
            try:
                caps = read_caps()
            # An outage of the control table must not stop the run nor the polling: the
            # caps in force stay until the next read answers.
            except Exception as exc:
                logger.warning("caps not read", extra={"error_type": type(exc).__name__})
                continue
            if caps is not None:
                pacing.apply(caps)

    poller = threading.Thread(target=poll, name="caps-follower", daemon=True)
    poller.start()
    try:
        yield
    finally:
        stop.set()
        poller.join()


class Costed(Protocol):
    """A write with the capacity it is expected to cost (WCU)."""

    @property
    def units(self) -> float: ...


CostedT = TypeVar("CostedT", bound=Costed)


def paced_batches(writes: Sequence[CostedT], budget: float, most: int) -> list[list[CostedT]]:
    """``writes`` in order, in batches of at most ``most``, each costing at most
    ``budget`` units (:meth:`CapacityPacer.batch_budget`; a write costing more goes
    alone). With no budget (``math.inf``) no write's cost is asked: sizing an item walks
    every nested value."""
    batches: list[list[CostedT]] = []
    batch: list[CostedT] = []
    units = 0.0
    for write in writes:
        full = len(batch) == most
        if not full and budget != math.inf:
            full = units + write.units > budget
        if batch and full:
            batches.append(batch)
            batch, units = [], 0.0
        batch.append(write)
        if budget != math.inf:
            units += write.units
    if batch:
        batches.append(batch)
    return batches
