"""The profiles every variant writes, computed once with the project's own code.

Every variant starts from the same table, seeded with ``sample_profiles(N)`` (seed 7), and
ends with the same new items. The baselines that do no migration work (the per-item loop
and the engine's ceiling) look up a precomputed write by key; it is computed here by the
project's own segment worker (:class:`PageMigrator`), so the per-item loop sends the very
``SET``/``REMOVE`` and condition the runner sends, and the ceiling puts the very items the
runner leaves behind.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from decimal import Decimal
from itertools import islice
from typing import TYPE_CHECKING, Any

from profile_migrations.clock import run_clock
from profile_migrations.dal.dynamodb import update_item_arguments
from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.loader import load_registry
from profile_migrations.logic.segment import MigrationJob, PageMigrator
from profile_migrations.store import WriteBatchResult, WriteOutcome, WriteStatus

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Sequence
    from pathlib import Path

    from profile_migrations.logic.outcomes import ProfileOutcome
    from profile_migrations.store import ProfileWrite, RawItem, ScanPage

KEY_ATTRIBUTES = ("userId", "profileId")
# One fixed run start, so profiles without `updatedAt` get the same `lastAccessedAt`.
BENCH_STARTED_AT = "2026-01-01T00:00:00.000Z"
PAGE_ITEMS = 1_000

ItemKey = tuple[str, str]


@dataclass(frozen=True)
class PlannedWrite:
    """One profile's conditional ``UpdateItem`` arguments (without ``TableName``) and the
    whole item it leaves in the table."""

    update: dict[str, Any]
    new_item: RawItem


def item_key(raw: RawItem) -> ItemKey:
    return raw["userId"]["S"], raw["profileId"]["S"]


def chunked(items: Iterable[RawItem], size: int) -> Iterator[list[RawItem]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


class NullSink:
    """An OutcomeSink that keeps nothing."""

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None:
        return None


class CapturingStore:
    """A ProfileStore that accepts every write and keeps it; it is never scanned."""

    table_name = "captured"

    def __init__(self) -> None:
        self.writes: list[ProfileWrite] = []

    def scan_page(
        self,
        segment: int,
        total_segments: int,
        start_key: RawItem | None = None,
        limit: int | None = None,
        projection: Sequence[str] | None = None,
        consistent_read: bool = False,
    ) -> ScanPage:
        raise RuntimeError("the capturing store holds no table")

    def get_item(self, key: RawItem) -> RawItem | None:
        raise RuntimeError("the capturing store holds no table")

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        self.writes.extend(writes)
        return WriteBatchResult(
            outcomes=[WriteOutcome(WriteStatus.WRITTEN) for _ in writes], throttle_retries=0
        )


def migration_job(dry_run: bool) -> MigrationJob:
    registry = load_registry()
    return MigrationJob(
        chain=registry.chain,
        target_version=registry.current_version,
        key_attributes=KEY_ATTRIBUTES,
        dry_run=dry_run,
        started_at=BENCH_STARTED_AT,
    )


def plan_writes(profiles: int) -> dict[ItemKey, PlannedWrite]:
    """Every sample profile's write, as the runner computes it (all are version 1)."""
    store = CapturingStore()
    migrator = PageMigrator(migration_job(dry_run=False), store, NullSink())
    planned: dict[ItemKey, PlannedWrite] = {}
    with run_clock(BENCH_STARTED_AT):
        for page in chunked(sample_profiles(profiles), PAGE_ITEMS):
            store.writes.clear()
            migrator.migrate_page(page)
            by_key = {item_key(raw): raw for raw in page}
            for write in store.writes:
                old = by_key[item_key(write.key)]
                new_item = {name: value for name, value in old.items() if name not in write.removed}
                new_item.update(write.set_values)
                planned[item_key(write.key)] = PlannedWrite(update_item_arguments(write), new_item)
    if len(planned) != profiles:
        raise RuntimeError(f"expected {profiles} writes, the chain produced {len(planned)}")
    return planned


def save_plan(path: Path, planned: dict[ItemKey, PlannedWrite]) -> None:
    with path.open("wb") as stream:
        pickle.dump(planned, stream, protocol=pickle.HIGHEST_PROTOCOL)


def load_plan(path: Path) -> dict[ItemKey, PlannedWrite]:
    with path.open("rb") as stream:
        planned: dict[ItemKey, PlannedWrite] = pickle.load(stream)
    return planned


def item_size(item: RawItem) -> int:
    """An item's size as DynamoDB bills it, approximately: names plus values, numbers at
    about one byte per two digits, one byte of overhead per list or map element."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((tag, payload),) = value.items()
    if tag == "S":
        return len(payload.encode())
    if tag == "N":
        return _number_size(payload)
    if tag == "B":
        return len(payload)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(len(text.encode()) for text in payload)
    if tag == "NS":
        return sum(_number_size(text) for text in payload)
    if tag == "BS":
        return sum(len(blob) for blob in payload)
    if tag == "L":
        return 3 + sum(1 + _value_size(inner) for inner in payload)
    return 3 + sum(len(name.encode()) + 1 + _value_size(inner) for name, inner in payload.items())


def _number_size(text: str) -> int:
    digits = len(Decimal(text).as_tuple().digits)
    return 1 + (digits + 1) // 2
