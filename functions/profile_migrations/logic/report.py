"""Per-profile JSON Lines reports: one JSON object per profile outcome."""

from __future__ import annotations

import json
import threading
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from types import TracebackType

    from profile_migrations.logic.outcomes import ProfileOutcome


def render_lines(outcomes: Sequence[ProfileOutcome]) -> bytes:
    return "".join(
        json.dumps(outcome.to_wire(), separators=(",", ":")) + "\n" for outcome in outcomes
    ).encode()


class JsonLinesWriter:
    """Writes outcomes to a binary file the caller owns (a Lambda's spooled report)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None:
        self._stream.write(render_lines(outcomes))


class JsonLinesReport:
    """A report file shared by a local run's threads; created on first use.

    A run that finished without outcomes still leaves an empty report; a run refused
    before it started leaves none.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None

    @property
    def uri(self) -> str:
        return self.path.as_uri()

    def __enter__(self) -> JsonLinesReport:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            if self._file is None and exc is None:
                self._open()
            if self._file is not None:
                self._file.close()
                self._file = None

    def _open(self) -> IO[bytes]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("wb")
        return self._file

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None:
        if not outcomes:
            return
        lines = render_lines(outcomes)
        with self._lock:
            (self._file or self._open()).write(lines)
