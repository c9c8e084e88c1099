"""Structured JSON log lines on stderr: a constant message plus keys, never profile contents."""

from __future__ import annotations

import json
import logging
import sys
from typing import ClassVar


class JsonFormatter(logging.Formatter):
    _STANDARD: ClassVar[frozenset[str]] = frozenset(
        logging.LogRecord("", 0, "", 0, "", None, None).__dict__
    ) | {"message", "asctime", "taskName"}

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(
            {name: value for name, value in record.__dict__.items() if name not in self._STANDARD}
        )
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    package_logger = logging.getLogger("profile_migrations")
    package_logger.handlers = [handler]
    package_logger.setLevel(level.upper())
    package_logger.propagate = False
