"""Peak resident memory of the local runner (the CLI process alone) at two table sizes.

The runner streams pages and keeps only counters and the first 1,000 failures, so its
peak should not grow with the table. Each size gets a fresh table and one default run.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bench.runs import run_cli

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from bench.engine import BenchEngine
    from bench.runs import RunSample

logger = logging.getLogger(__name__)

MEMORY_SIZES = (10_000, 100_000)
MEMORY_SIZES_QUICK = (2_000, 10_000)


def measure_memory(engine: BenchEngine, sizes: Sequence[int], workdir: Path) -> list[RunSample]:
    """One default runner run per size, on a fresh table; its peak RSS is the figure."""
    runs: list[RunSample] = []
    for size in sizes:
        logger.info("memory: runner on %d profiles", size)
        with engine.seeded_table(size, "memory", keep_profiles=False) as table:
            runs.append(run_cli(engine, table, size, workdir))
    return runs
