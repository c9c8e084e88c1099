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
    its approximate item count and size in bytes (updated by DynamoDB about every six hours),
    and, for a table in provisioned capacity mode, its provisioned write capacity (WCU/s;
    None for an on-demand table)."""

    name: str
    key_attributes: tuple[str, ...]
    item_count: int
    size_bytes: int
    provisioned_write_capacity: int | None = None


# The most writes one request carries: a BatchExecuteStatement holds 1 to 25 statements
# (API reference, https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchExecuteStatement.html,
# and botocore's model). The run paces its writes per batch of this many.
MAX_WRITES_PER_BATCH = 25


@dataclass(frozen=True)
class ScanPage:
    """One page of a parallel-scan segment; ``last_evaluated_key`` None means the segment
    ended. ``consumed_read_units`` is the RCU DynamoDB said the page cost, None when its
    answer did not say."""

    items: list[RawItem]
    last_evaluated_key: RawItem | None
    consumed_read_units: float | None = None


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
    """One outcome per write, in order; ``consumed_write_units`` is the WCU DynamoDB said
    the writes cost (retries included), None when any of its answers did not say."""

    outcomes: list[WriteOutcome]
    throttle_retries: int
    consumed_write_units: float | None = None
