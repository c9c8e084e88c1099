"""What DynamoDB bills for a run's reads and writes, from the items' sizes.

DynamoDB returns the capacity a request consumed when asked (``ReturnConsumedCapacity``),
and the run uses that answer whenever it has one. Some answers carry none: DynamoDB Local
returns none for ``BatchExecuteStatement`` nor for a refused conditional write (probed on
jar 2026-05-28), and the pacing must know a write's cost before it is sent. So this module
computes what AWS's rules bill, from "Item sizes and formats" and "Read/write capacity
units" in the DynamoDB developer guide
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html,
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/provisioned-capacity-mode.html):

- an item's size is the sum of its attributes' name lengths (UTF-8 bytes) and value sizes:
  a string its UTF-8 bytes, a binary its bytes, a number about 1 byte per two significant
  digits plus 1, a boolean or null 1 byte, a list or map 3 bytes plus 1 byte and the size
  of each element (a map's element: its name and value), a set the sum of its elements;
- a write costs 1 WCU per 1 KB (1,024 bytes) of the item, rounded up; an ``UpdateItem``
  (and a PartiQL ``UPDATE``) bills the larger of the item's sizes before and after; a
  conditional write whose condition fails still bills the existing item's size (at least
  1 WCU);
- a strongly consistent read costs 1 RCU per 4 KB, rounded up, an eventually consistent
  one half of that; a ``Scan`` rounds the total size of the items it read (not each item).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from profile_migrations.store import AttributeValue, RawItem

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
# A list's or map's fixed overhead, and each element's (bytes).
CONTAINER_BYTES = 3
ELEMENT_BYTES = 1


def value_size(value: AttributeValue) -> int:
    """The billed size of one attribute value in wire format, in bytes. A malformed value
    (an answer the codec refuses, such as ``{}``) counts the length of its text: an
    estimate must never stop a run."""
    if not isinstance(value, dict) or len(value) != 1:
        return len(str(value).encode())
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return _binary_size(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(element).encode()) for element in inner)
    if kind == "NS":
        return sum(_number_size(str(element)) for element in inner)
    if kind == "BS":
        return sum(_binary_size(element) for element in inner)
    if kind == "L":
        return CONTAINER_BYTES + sum(ELEMENT_BYTES + value_size(element) for element in inner)
    if kind == "M":
        return CONTAINER_BYTES + sum(
            ELEMENT_BYTES + len(name.encode()) + value_size(element)
            for name, element in inner.items()
        )
    return len(str(inner).encode())


def _binary_size(value: Any) -> int:
    return len(value) if isinstance(value, bytes | bytearray) else len(str(value).encode())


def _number_size(text: str) -> int:
    """1 byte per two significant digits, plus 1 (leading and trailing zeros trimmed)."""
    mantissa = text.lstrip("+-").lower().partition("e")[0].replace(".", "")
    digits = mantissa.strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def item_size(item: RawItem | None) -> int:
    """The billed size of an item in wire format (0 for None), in bytes."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size_before: int, size_after: int) -> float:
    """WCU an update bills: 1 per KB of the larger of the item's two sizes, at least 1."""
    return float(max(1, math.ceil(max(size_before, size_after) / WRITE_UNIT_BYTES)))


def scan_read_units(items: list[RawItem], consistent: bool) -> float:
    """RCU a scan page bills: its items' total size in 4 KB units, rounded up, halved for an
    eventually consistent scan; at least one unit (a page that read nothing still bills)."""
    units = max(1, math.ceil(sum(item_size(item) for item in items) / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def get_read_units(item: RawItem | None) -> float:
    """RCU a strongly consistent GetItem bills: 1 per 4 KB, at least 1."""
    return float(max(1, math.ceil(item_size(item) / READ_UNIT_BYTES)))


def after_update(
    item: RawItem, set_values: dict[str, AttributeValue], removed: tuple[str, ...]
) -> RawItem:
    """The item as an update that sets ``set_values`` and removes ``removed`` leaves it."""
    after = {name: value for name, value in item.items() if name not in removed}
    after.update(set_values)
    return after
