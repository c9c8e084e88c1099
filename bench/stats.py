"""Minimum, median and maximum of repeated measurements."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True)
class Spread:
    """The minimum, median and maximum of a figure over repetitions; quote the median."""

    minimum: float
    median: float
    maximum: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            raise ValueError("a spread needs at least one value")
        return cls(min(values), statistics.median(values), max(values), len(values))

    def to_json(self) -> dict[str, float]:
        return asdict(self)
