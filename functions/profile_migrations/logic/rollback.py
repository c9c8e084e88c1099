"""Undoing a run item by item from its write-ahead journal (logic/journal.py).

Every write a run sent is undone with a conditional write that puts back what each
attribute it set or removed held before, and applies only if the item still exists and
every one of those attributes still holds exactly what the run wrote. So:

- an item the application changed since (any attribute the run wrote) is left as it is,
  ``kept``: no application write is ever overwritten;
- a deleted item stays deleted, ``missing`` (the condition needs the item);
- an item that already holds its values from before the run (an earlier rollback
  restored it, or the write never applied) is ``already-restored``: running a rollback
  twice restores nothing the second time;
- the rest are ``restored``, byte for byte: the values put back are the wire values as
  DynamoDB returned them when the run read the item.

A journal is undone newest write first, and two writes to one item are never in flight at
once, so an item written twice (a page done again after a crash) is put back through each
write in turn. Where a rollback got is checkpointed after its groups of writes; a resumed
rollback continues from there, and what was undone after the checkpoint is found already
restored, so it ends in the table an uninterrupted one would have left.
"""

from __future__ import annotations

import math
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from profile_migrations.codec import decode_wire, deserialize_value, key_value_json, same_value
from profile_migrations.errors import MalformedValueError
from profile_migrations.logic.capacity import get_read_units, item_size, write_units
from profile_migrations.logic.journal import Undo, UnreadableLine
from profile_migrations.logic.outcomes import with_key
from profile_migrations.logic.pacing import paced_batches
from profile_migrations.logic.reads import read_item
from profile_migrations.models.results import ProfileResult, RollbackCounters
from profile_migrations.store import MAX_WRITES_PER_BATCH, WriteStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from profile_migrations.logic.journal import JournalEntry
    from profile_migrations.logic.pacing import CapacityPacer
    from profile_migrations.logic.ports import ProfileStore
    from profile_migrations.store import ProfileWrite, RawItem, WriteOutcome

UndoStatus = Literal["restored", "kept", "missing", "already-restored", "failed"]
RESTORED: UndoStatus = "restored"
KEPT: UndoStatus = "kept"
MISSING: UndoStatus = "missing"
ALREADY_RESTORED: UndoStatus = "already-restored"
FAILED: UndoStatus = "failed"
# Checkpoints are saved at most this often (seconds): each costs a control-table write.
CHECKPOINT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class UndoOutcome:
    """One undone write, as the rollback's report lists it (``key`` as the run's report
    renders keys)."""

    key: dict[str, Any]
    status: UndoStatus
    error: str | None = None
    # The version the run read the profile at: what a restored profile is back at.
    version: int | None = None

    def to_wire(self) -> dict[str, Any]:
        line: dict[str, Any] = {"status": self.status}
        if self.error is not None:
            line["error"] = self.error
        return with_key(self.key, line)

    def to_result(self, target_version: int) -> ProfileResult:
        """A failed undo as the document lists failures: from the undone run's target back
        to the version the run read."""
        return ProfileResult.model_validate(
            {
                **self.to_wire(),
                "fromVersion": target_version,
                "toVersion": self.version or target_version,
                "status": "failed",
            }
        )


@dataclass
class Undoer:
    """Undoes groups of journal entries against ``store``: each batch of writes waits for
    its expected WCU at ``pacer`` (None: unpaced), ``workers`` batches at once. A
    ``dry_run`` sends nothing: it reads each item (a consistent GetItem) and reports what
    the rollback would do."""

    store: ProfileStore
    key_attributes: tuple[str, ...]
    record: Callable[[Sequence[UndoOutcome]], None]
    pacer: CapacityPacer | None = None
    workers: int = 1
    dry_run: bool = False
    abandon: Callable[[], bool] | None = None

    @property
    def group_size(self) -> int:
        """How many writes one group holds: a batch per worker."""
        return MAX_WRITES_PER_BATCH * max(1, self.workers)

    def undo(self, undos: Sequence[Undo | UnreadableLine]) -> RollbackCounters:
        """Undo ``undos`` (at most one per item); their outcomes go to ``record``.
        Raises :class:`StoreUnavailableError` when DynamoDB stays unavailable."""
        counters = RollbackCounters()
        outcomes: list[UndoOutcome] = []
        pending: list[_Pending] = []
        for undo in undos:
            if isinstance(undo, UnreadableLine):
                outcomes.append(
                    UndoOutcome(
                        {},
                        FAILED,
                        f"journal line {undo.number_from_end} from the end: {undo.reason}",
                    )
                )
                continue
            try:
                pending.append(_Pending.of(undo.entry))
            except (ValueError, KeyError, TypeError) as exc:
                outcomes.append(
                    UndoOutcome(
                        _shown_key(undo.entry.key),
                        FAILED,
                        f"unreadable journal entry: {exc}",
                        undo.entry.version,
                    )
                )
        batches = self._batches(pending)
        if batches:
            with ThreadPoolExecutor(min(len(batches), max(1, self.workers))) as pool:
                for answered, consumed, read in pool.map(self._send, batches):
                    outcomes.extend(answered)
                    counters.consumed_write_capacity_units += consumed
                    counters.consumed_read_capacity_units += read
        for outcome in outcomes:
            _count(counters, outcome.status)
        self.record(outcomes)
        return counters

    def _batches(self, pending: list[_Pending]) -> list[list[_Pending]]:
        """The writes in batches of at most :data:`MAX_WRITES_PER_BATCH`, each costing at
        most a second of one worker's share of the cap (at least one write each)."""
        budget = self.pacer.batch_budget(self.workers) if self.pacer else math.inf
        return paced_batches(pending, budget, MAX_WRITES_PER_BATCH)

    def _send(self, batch: list[_Pending]) -> tuple[list[UndoOutcome], float, float]:
        """One batch: its outcomes, the WCU it consumed and the RCU its re-reads did."""
        if self.dry_run:
            return self._read_only(batch)
        paced = self.pacer is not None and self.pacer.rate is not None
        expected = sum(write.units for write in batch) if paced else 0.0
        if self.pacer is not None:
            self.pacer.acquire(expected, self.abandon)
        result = self.store.conditional_update([write.write for write in batch])
        consumed = result.consumed_write_units
        if consumed is None:
            consumed = sum(
                _billed(write, answer) for write, answer in zip(batch, result.outcomes, strict=True)
            )
        if self.pacer is not None:
            self.pacer.settle(expected, consumed)
        outcomes: list[UndoOutcome] = []
        read = 0.0
        for write, answer in zip(batch, result.outcomes, strict=True):
            outcome, units = self._outcome(write, answer)
            outcomes.append(outcome)
            read += units
        return outcomes, consumed, read

    def _outcome(self, write: _Pending, answer: WriteOutcome) -> tuple[UndoOutcome, float]:
        key = write.shown_key
        if answer.status is WriteStatus.WRITTEN:
            return UndoOutcome(key, RESTORED, version=write.version), 0.0
        if answer.status is WriteStatus.REJECTED:
            return UndoOutcome(key, FAILED, answer.message, write.version), 0.0
        reading = read_item(self.store, answer.current, self.key_attributes, write.write.key)
        # read_item re-reads (a consistent GetItem) only when the answer lacked the item.
        units = get_read_units(reading.raw) if answer.current is None else 0.0
        return self._classify(write, reading.raw), units

    def _read_only(self, batch: list[_Pending]) -> tuple[list[UndoOutcome], float, float]:
        outcomes: list[UndoOutcome] = []
        read = 0.0
        for write in batch:
            current = self.store.get_item(write.write.key)
            read += get_read_units(current)
            if current is not None and _holds(current, write.write.expected):
                outcomes.append(UndoOutcome(write.shown_key, RESTORED, version=write.version))
            else:
                outcomes.append(self._classify(write, current))
        return outcomes, 0.0, read

    @staticmethod
    def _classify(write: _Pending, current: RawItem | None) -> UndoOutcome:
        """A write whose condition failed: the item was deleted, already holds its values
        from before the run, or was changed by the application since."""
        if current is None:
            return UndoOutcome(write.shown_key, MISSING, version=write.version)
        before: dict[str, Any] = dict.fromkeys(write.write.removed)
        before.update(write.write.set_values)
        if _holds(current, before):
            return UndoOutcome(write.shown_key, ALREADY_RESTORED, version=write.version)
        return UndoOutcome(write.shown_key, KEPT, version=write.version)


def undo_journal(
    undos: Iterable[tuple[int, Undo | UnreadableLine]],
    undoer: Undoer,
    checkpoint: Callable[[int, RollbackCounters], None],
    should_continue: Callable[[], bool] | None = None,
) -> tuple[RollbackCounters, bool]:
    """Undo a journal read newest first (:func:`logic.journal.undos_backwards`), a group
    at a time: each group holds writes to distinct items, so two undos of one item never
    overlap and an item's writes are undone newest first. ``checkpoint(offset,
    counters)`` is called after a group, at most every :data:`CHECKPOINT_SECONDS`, with
    the offset of the last line taken (everything from it on is undone: a resumed
    rollback continues below it) and the counts since this call began. Returns
    those counts and whether the journal was undone to its start (False when
    ``should_continue`` said stop first)."""
    totals = RollbackCounters()
    group: list[Undo | UnreadableLine] = []
    items: set[str] = set()
    # The offset of the last line taken.
    last: int | None = None
    saved_at = time.monotonic()

    def flush() -> bool:
        nonlocal saved_at
        if group:
            totals.add(undoer.undo(group))
            group.clear()
            items.clear()
        if last is not None and time.monotonic() - saved_at >= CHECKPOINT_SECONDS:
            checkpoint(last, totals.model_copy())
            saved_at = time.monotonic()
        return should_continue is None or should_continue()

    for offset, undo in undos:
        if isinstance(undo, Undo) and undo.written is False:
            last = offset
            continue
        if isinstance(undo, Undo):
            item = _item_text(undo.entry)
            if item in items and not flush():
                return totals, False
            items.add(item)
        group.append(undo)
        last = offset
        if len(group) >= undoer.group_size and not flush():
            return totals, False
    flush()
    return totals, True


@dataclass(slots=True)
class _Pending:
    """An undo write and its key as reports show it."""

    write: ProfileWrite
    shown_key: dict[str, Any]
    version: int | None
    _units: float | None = None

    @classmethod
    def of(cls, entry: JournalEntry) -> _Pending:
        return cls(entry.undo(), _shown_key(entry.key), entry.version)

    @property
    def units(self) -> float:
        """The WCU the write is expected to cost, from the values it writes and expects
        (the item's other attributes are not known here), computed when first asked: only
        a capped rollback, or an answer without the capacity it consumed, needs it."""
        if self._units is None:
            write = self.write
            after = {name: value for name, value in write.expected.items() if value is not None}
            self._units = write_units(
                item_size({**write.key, **write.set_values}), item_size({**write.key, **after})
            )
        return self._units


def _billed(write: _Pending, answer: WriteOutcome) -> float:
    """WCU AWS bills for an undo answered ``answer``: the write's when applied, the current
    item's size (at least 1) when its condition failed, nothing when refused as invalid."""
    if answer.status is WriteStatus.WRITTEN:
        return write.units
    if answer.status is WriteStatus.CONFLICT:
        return write_units(item_size(answer.current), 0)
    return 0.0


def _shown_key(key: dict[str, Any]) -> dict[str, Any]:
    try:
        return {name: key_value_json(decode_wire(value)) for name, value in key.items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {name: str(value) for name, value in key.items()}


def _item_text(entry: JournalEntry) -> str:
    return repr(sorted(entry.key.items()))


def _holds(current: RawItem, values: dict[str, Any]) -> bool:
    """Whether ``current`` holds every one of ``values`` (None: the attribute is absent),
    comparing as DynamoDB does (number text ``1.0`` equals ``1``)."""
    for name, value in values.items():
        stored = current.get(name)
        if value is None or stored is None:
            if value is not stored:
                return False
        elif not _same_wire(stored, value):
            return False
    return True


def _same_wire(stored: dict[str, Any], value: dict[str, Any]) -> bool:
    try:
        return same_value(deserialize_value(stored), deserialize_value(value))
    except MalformedValueError:
        return stored == value


def _count(counters: RollbackCounters, status: UndoStatus) -> None:
    name = "already_restored" if status == ALREADY_RESTORED else status
    setattr(counters, name, getattr(counters, name) + 1)
