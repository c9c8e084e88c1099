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
binary as base64 (``codec.encode_wire``), so an undo can put back the very bytes. Dry runs
and verifications write no journal. The journal is never the only copy of anything the
application needs: losing it loses the ability to undo, nothing else.
"""

from __future__ import annotations

import json
import os
import threading
from typing import IO, TYPE_CHECKING, Any

from profile_migrations.codec import encode_wire
from profile_migrations.errors import InvalidRequestError
from profile_migrations.models.wire import WireModel

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from types import TracebackType

    from profile_migrations.store import ProfileWrite


class JournalEntry(WireModel):
    """One write, before it is sent: ``key`` and the values in ``before`` and ``after``
    are JSON-encoded wire values (``codec.encode_wire``)."""

    key: dict[str, Any]
    version: int | None
    before: dict[str, Any | None]
    after: dict[str, Any | None]

    @classmethod
    def of(cls, write: ProfileWrite, version: int | None) -> JournalEntry:
        after: dict[str, Any | None] = {
            name: encode_wire(value) for name, value in write.set_values.items()
        }
        after.update(dict.fromkeys(write.removed))
        return cls(
            key={name: encode_wire(value) for name, value in write.key.items()},
            version=version,
            before={
                name: None if value is None else encode_wire(value)
                for name, value in write.expected.items()
            },
            after=after,
        )


class JournalOutcome(WireModel):
    """Whether DynamoDB applied the write to ``key`` (its last entry before this line)."""

    key: dict[str, Any]
    written: bool

    @classmethod
    def of(cls, write: ProfileWrite, written: bool) -> JournalOutcome:
        return cls(
            key={name: encode_wire(value) for name, value in write.key.items()}, written=written
        )


def render_journal(lines: Sequence[JournalEntry | JournalOutcome]) -> bytes:
    return "".join(
        json.dumps(line.to_wire(), separators=(",", ":")) + "\n" for line in lines
    ).encode()


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

    def intend(self, entries: Sequence[JournalEntry]) -> None:
        """Record writes about to be sent; durable on return."""
        self._append(render_journal(entries), sync=True)

    def settle(self, outcomes: Sequence[JournalOutcome]) -> None:
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
