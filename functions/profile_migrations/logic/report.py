"""The per-profile JSON Lines report written by local runs."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path
    from types import TracebackType

    from profile_migrations.logic.outcomes import ProfileOutcome


class JsonLinesReport:
    """Appends one JSON object per profile outcome to a file; safe to share across threads."""

    def __init__(self, path: Path) -> None:
        self.path = path.resolve()
        self._lock = threading.Lock()
        self._file: TextIO | None = None

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
        """Close the file; a run that finished without outcomes still leaves an empty report,
        and a run refused before it started leaves none."""
        with self._lock:
            if self._file is None and exc is None:
                self._open()
            if self._file is not None:
                self._file.close()
                self._file = None

    def _open(self) -> TextIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")
        return self._file

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None:
        if not outcomes:
            return
        lines = "".join(
            json.dumps(outcome.to_wire(), separators=(",", ":")) + "\n" for outcome in outcomes
        )
        with self._lock:
            (self._file or self._open()).write(lines)
