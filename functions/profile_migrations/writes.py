"""What a migrated profile asks the store to write, and what the store answers.

These are the only types the logic and the data-access layer exchange about writes, so
neither needs the other's internals. Values are already in DynamoDB's wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

AttributeValue = dict[str, Any]
RawItem = dict[str, AttributeValue]


@dataclass(frozen=True, slots=True)
class ProfileWrite:
    """A conditional in-place update of one stored item.

    ``expected`` names every attribute the write sets or removes, with the value it had when
    read (``None``: it was absent). The store applies the write only if all still hold and
    the item still exists, so it can never overwrite a concurrent change or resurrect a
    deleted item.
    """

    key: RawItem
    set_values: dict[str, AttributeValue]
    removed: tuple[str, ...]
    expected: dict[str, AttributeValue | None]


class WriteStatus(Enum):
    WRITTEN = "written"
    CONFLICT = "conflict"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """``current`` is the stored item after a conflict (None if it was deleted)."""

    status: WriteStatus
    current: RawItem | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class WriteBatchResult:
    outcomes: list[WriteOutcome]
    throttle_retries: int
