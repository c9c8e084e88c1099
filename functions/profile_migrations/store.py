"""What the logic and the data-access layer exchange: a table's facts, scan pages, the
writes a migrated profile asks for and what the store answers.

These are the only types they share, so neither needs the other's internals (the ports in
logic/ports.py are typed with them). Values are in DynamoDB's wire format.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

AttributeValue = dict[str, Any]
RawItem = dict[str, AttributeValue]


@dataclass(frozen=True)
class TableInfo:
    """What ``DescribeTable`` says of a table: its key attribute names (partition key first),
    its approximate item count and size in bytes (updated by DynamoDB about every six hours)."""

    name: str
    key_attributes: tuple[str, ...]
    item_count: int
    size_bytes: int


@dataclass(frozen=True)
class ScanPage:
    """One page of a parallel-scan segment; ``last_evaluated_key`` None means the segment
    ended."""

    items: list[RawItem]
    last_evaluated_key: RawItem | None


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
