"""The run's start time, one value for every profile a run touches.

Steps that stamp a time (CICADA's 4->5 adds `lastAccessedAt`) read :func:`run_started_at`
instead of the wall clock, so a dry run, the real run and a retried Lambda invocation of
the same run compute identical profiles. Runners set it with :func:`run_clock`; outside a
run the process's first reading is used, fixed for the life of the process.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

_RUN_STARTED_AT: ContextVar[str | None] = ContextVar("run_started_at", default=None)
_process_started_at: str | None = None


def iso_timestamp(moment: datetime) -> str:
    """ISO-8601 in UTC with milliseconds and a `Z`, as JavaScript's toISOString writes it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def now_timestamp() -> str:
    return iso_timestamp(datetime.now(UTC))


def run_started_at() -> str:
    global _process_started_at  # noqa: PLW0603 - a once-per-process default, by design
    started_at = _RUN_STARTED_AT.get()
    if started_at is not None:
        return started_at
    if _process_started_at is None:
        _process_started_at = now_timestamp()
    return _process_started_at


@contextmanager
def run_clock(started_at: str) -> Iterator[str]:
    token = _RUN_STARTED_AT.set(started_at)
    try:
        yield started_at
    finally:
        _RUN_STARTED_AT.reset(token)
