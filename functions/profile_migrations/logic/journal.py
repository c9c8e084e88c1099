"""The write-ahead journal of a real run: what each write it sends will change, recorded
durably before the write is sent, so the run can later be undone item by item.

Each write the run sends is one :class:`JournalEntry`: the profile's key, the version the
run read, the wire value every attribute it sets or removes held before (None: absent),
and the value it writes (None: removed). After the write's batch is answered, one
:class:`JournalOutcome` per write says whether DynamoDB applied it. A write whose outcome
is missing (the process died between sending and recording) may have been applied; an
undo treats it as such, and its condition (the item still holds what the run wrote) keeps
that safe.

Values are the wire values exactly as DynamoDB returned them (number text included), with
binary as base64 (``codec.decode_wire`` reads it back), so an undo can put back the very
bytes. Dry runs
and verifications write no journal. The journal is never the only copy of anything the
application needs: losing it loses the ability to undo, nothing else.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError
from pydantic_core import to_json

from profile_migrations.codec import decode_wire
from profile_migrations.errors import InvalidRequestError
from profile_migrations.models.wire import WireModel
from profile_migrations.store import ProfileWrite

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence
    from pathlib import Path
    from types import TracebackType

    from profile_migrations.store import RawItem

# How much of a journal file is read at a time when reading it backwards (bytes).
READ_BLOCK_BYTES = 1 << 20


class JournalEntry(WireModel):
    """One write, as a journal line reads back (:class:`Intent` writes it): ``key`` and
    the values in ``before`` and ``after`` are wire values with binary as base64
    (``codec.decode_wire`` decodes them)."""

    key: dict[str, Any]
    version: int | None
    before: dict[str, Any | None]
    after: dict[str, Any | None]

    def undo(self) -> ProfileWrite:
        """The write that puts back what this entry's write changed: every attribute it
        set or removed gets its value from before (removed if it was absent), on condition
        that each still holds the value written (absent if removed) and the item exists.
        Raises ``ValueError`` (or ``KeyError``) when the entry's values are not wire
        values."""
        return ProfileWrite(
            key={name: decode_wire(value) for name, value in self.key.items()},
            set_values={
                name: decode_wire(value) for name, value in self.before.items() if value is not None
            },
            removed=tuple(name for name, value in self.before.items() if value is None),
            expected={
                name: None if value is None else decode_wire(value)
                for name, value in self.after.items()
            },
        )


class JournalOutcome(WireModel):
    """Whether DynamoDB applied the write to ``key`` (its last entry before this line), as
    a journal line reads back (:class:`Settled` writes it)."""

    key: dict[str, Any]
    written: bool


@dataclass(frozen=True, slots=True)
class Intent:
    """A write about to be sent, as the run journals it (one :class:`JournalEntry` line):
    ``version`` is the version the run read."""

    write: ProfileWrite
    version: int | None

    def wire(self) -> dict[str, Any]:
        write = self.write
        after: dict[str, Any] = dict(write.set_values)
        after.update(dict.fromkeys(write.removed))
        return {"key": write.key, "version": self.version, "before": write.expected, "after": after}


@dataclass(frozen=True, slots=True)
class Settled:
    """Whether DynamoDB applied the write to ``key`` (one :class:`JournalOutcome` line)."""

    key: RawItem
    written: bool

    def wire(self) -> dict[str, Any]:
        return {"key": self.key, "written": self.written}


def render_journal(lines: Sequence[Intent | Settled]) -> bytes:
    """JSON Lines of the wire values as they are, binary as base64 (URL-safe alphabet;
    ``codec.decode_wire`` reads both alphabets). Serialized by pydantic-core, in Rust: a
    page's entries hold every value they replace twice, and this is on every write's path
    (measured: 25 us per 1 KB profile, against 290 us through the models)."""
    return b"".join(to_json(line.wire(), bytes_mode="base64") + b"\n" for line in lines)


class FileJournal:
    """A local run's journal: one JSON Lines file shared by the run's threads, each
    group of entries flushed and synced to disk (``os.fsync``) before :meth:`intend`
    returns, so no write is sent before its entry is durable.

    Opened in append mode on entry: a resumed run's parts add to the same file when
    they use the same path. An unusable path is refused before anything is written."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None

    @property
    def uri(self) -> str:
        return self.path.as_uri()

    def size(self) -> int:
        """The journal file's length in bytes (every line written so far is flushed)."""
        with self._lock:
            return self.path.stat().st_size if self.path.exists() else 0

    def __enter__(self) -> FileJournal:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        except OSError as exc:
            raise InvalidRequestError(f"cannot write the journal to {self.path}: {exc}") from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def intend(self, entries: Sequence[Intent]) -> None:
        """Record writes about to be sent; durable on return."""
        self._append(render_journal(entries), sync=True)

    def settle(self, outcomes: Sequence[Settled]) -> None:
        """Record which of them DynamoDB applied (flushed; a lost line only makes an
        undo try a write whose condition then decides)."""
        self._append(render_journal(outcomes), sync=False)

    def _append(self, lines: bytes, sync: bool) -> None:
        if not lines:
            return
        with self._lock:
            if self._file is None:
                raise RuntimeError("the journal is not open")
            self._file.write(lines)
            self._file.flush()
            if sync:
                os.fsync(self._file.fileno())


@dataclass(frozen=True)
class PageJournal:
    """A pipeline turn's journal: each round of a page's writes is one object in the
    report bucket (``put`` stores it, durably once it returns), stored before the first of
    them is sent. Outcomes are not stored: an object per batch's answers would cost as
    many S3 requests as the writes themselves; an undo treats every entry as possibly
    applied, and its condition decides."""

    put: Callable[[bytes], None]

    def intend(self, entries: Sequence[Intent]) -> None:
        if entries:
            self.put(render_journal(entries))

    def settle(self, outcomes: Sequence[Settled]) -> None:
        """Nothing to do: see the class's docstring."""


@dataclass(frozen=True, slots=True)
class Undo:
    """A journal entry to undo, newest first, and whether DynamoDB applied its write
    (None: its outcome was never recorded, so it may have been)."""

    entry: JournalEntry
    written: bool | None


@dataclass(frozen=True, slots=True)
class UnreadableLine:
    """A journal line that is not an entry nor an outcome (a damaged journal)."""

    number_from_end: int
    reason: str


def lines_backwards(
    path: Path, end: int | None = None, block: int = READ_BLOCK_BYTES
) -> Iterator[tuple[int, bytes]]:
    """The complete lines of the file before byte ``end`` (the start of a line; None: the
    file's end), newest first, each with the offset it starts at; memory is one block and
    one line. Text after the file's last newline (a line torn by a crash while it was
    being written, whose write was therefore never sent) is left out."""
    with path.open("rb") as file:
        position = _after_last_newline(file, block) if end is None else end
        tail = b""
        while position > 0:
            size = min(block, position)
            position -= size
            file.seek(position)
            lines = (file.read(size) + tail).split(b"\n")
            tail = lines[0]
            offset = position + len(tail) + 1
            complete = []
            for line in lines[1:]:
                complete.append((offset, line))
                offset += len(line) + 1
            for start, line in reversed(complete):
                if line:
                    yield start, line
        if tail:
            yield 0, tail


def _after_last_newline(file: IO[bytes], block: int) -> int:
    position = file.seek(0, os.SEEK_END)
    while position > 0:
        size = min(block, position)
        position -= size
        file.seek(position)
        found = file.read(size).rfind(b"\n")
        if found >= 0:
            return position + found + 1
    return 0


def undos_backwards(
    lines: Iterable[tuple[int, bytes]],
) -> Iterator[tuple[int, Undo | UnreadableLine]]:
    """The entries of a journal's lines read newest first (:func:`lines_backwards`),
    each with the offset of its line and its outcome (read before it, being newer).

    Reading resumed from an offset misses the outcomes of entries older than it that
    were recorded after it: those entries come back with ``written`` None, as if the
    process had died before recording them, and the undo's condition decides (a write
    that was not applied left the item without the values it would have written)."""
    outcomes: dict[str, bool] = {}
    for number, (offset, line) in enumerate(lines, start=1):
        try:
            record = json.loads(line)
            if "written" in record:
                outcome = JournalOutcome.model_validate(record)
                outcomes[_key_text(outcome.key)] = outcome.written
                continue
            entry = JournalEntry.model_validate(record)
        except (ValueError, ValidationError) as exc:
            yield offset, UnreadableLine(number, _reason(exc))
            continue
        written = outcomes.pop(_key_text(entry.key), None)
        yield offset, Undo(entry, written)


def _key_text(key: dict[str, Any]) -> str:
    return json.dumps(key, sort_keys=True, separators=(",", ":"))


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return f"not a journal entry ({exc.error_count()} problem(s))"
    return f"not JSON ({exc})"
