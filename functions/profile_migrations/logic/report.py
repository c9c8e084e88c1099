"""Per-profile JSON Lines reports: one JSON object per profile outcome."""

from __future__ import annotations

import json
import threading
from typing import IO, TYPE_CHECKING, Any, Protocol

from profile_migrations.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from types import TracebackType


class ReportLine(Protocol):
    """One report line: a profile's outcome (logic/outcomes.py, logic/rollback.py)."""

    def to_wire(self) -> dict[str, Any]: ...


def render_lines(outcomes: Sequence[ReportLine]) -> bytes:
    return "".join(
        json.dumps(outcome.to_wire(), separators=(",", ":")) + "\n" for outcome in outcomes
    ).encode()


class JsonLinesWriter:
    """Writes outcomes to a binary file the caller owns (a Lambda's spooled report)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def record(self, outcomes: Sequence[ReportLine]) -> None:
        self._stream.write(render_lines(outcomes))


class JsonLinesReport:
    """A report file shared by a local run's threads.

    Opened on entry, so an unusable path is refused before the run reads or writes
    anything; a run refused before its first outcome leaves no file behind.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None

    @property
    def uri(self) -> str:
        return self.path.as_uri()

    def __enter__(self) -> JsonLinesReport:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("wb")
        except OSError as exc:
            raise InvalidRequestError(f"cannot write the report to {self.path}: {exc}") from exc
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            if self._file is None:
                return
            empty = self._file.tell() == 0
            self._file.close()
            self._file = None
        if exc is not None and empty:
            self.path.unlink(missing_ok=True)

    def record(self, outcomes: Sequence[ReportLine]) -> None:
        if not outcomes:
            return
        lines = render_lines(outcomes)
        with self._lock:
            if self._file is None:
                raise RuntimeError("the report is not open")
            self._file.write(lines)
