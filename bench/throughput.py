"""Profiles per second of the four variants on the same freshly seeded table.

First a warm-up (DynamoDB Local's JIT compiles its hot paths during the first runs after
start, and would otherwise tax whichever variant ran first), then the sweep: each swept
variant once per configuration, to pick its best. Then the repetitions: in each, every
variant once at its best configuration, each on a new table seeded with the same
profiles, in an order rotated from one repetition to the next so a drifting machine does
not always favour the same variant. Ratios are taken within a repetition.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench.runs import (
    CEILING,
    LOOP,
    NAIVE,
    RUNNER,
    SCAN_CEILING,
    Config,
    RunSample,
    run_baseline,
    run_cli,
    run_startup,
)

if TYPE_CHECKING:
    from pathlib import Path

    from bench.engine import BenchEngine

logger = logging.getLogger(__name__)

VARIANTS = (NAIVE, LOOP, CEILING, SCAN_CEILING, RUNNER)
SWEPT = (LOOP, CEILING, SCAN_CEILING)
SCAN_GRID = (Config(1, 1), Config(2, 4), Config(4, 8), Config(8, 16))
SCAN_GRID_QUICK = (Config(2, 4), Config(4, 8))
WRITE_GRID = (Config(0, 1), Config(0, 4), Config(0, 8), Config(0, 16))
WRITE_GRID_QUICK = (Config(0, 4), Config(0, 8))
WARM_UP_PROFILES = 3_000
WARM_UP_PROFILES_QUICK = 2_000
NAIVE_CONFIG = Config(1, 1)


@dataclass
class ThroughputResult:
    profiles: int
    item_count: int
    table_size_bytes: int
    sweep: list[RunSample] = field(default_factory=list)
    best: dict[str, Config] = field(default_factory=dict)
    repetitions: list[dict[str, RunSample]] = field(default_factory=list)
    verify_only: list[RunSample] = field(default_factory=list)
    startup: list[RunSample] = field(default_factory=list)

    def samples(self, variant: str) -> list[RunSample]:
        return [repetition[variant] for repetition in self.repetitions]

    def to_json(self) -> dict[str, Any]:
        return {
            "profiles": self.profiles,
            "item_count": self.item_count,
            "table_size_bytes": self.table_size_bytes,
            "sweep": [run.to_json() for run in self.sweep],
            "best": {variant: vars(config) for variant, config in self.best.items()},
            "repetitions": [
                {variant: run.to_json() for variant, run in repetition.items()}
                for repetition in self.repetitions
            ],
            "verify_only": [run.to_json() for run in self.verify_only],
            "startup": [run.to_json() for run in self.startup],
        }


def warm_up_profiles(profiles: int, quick: bool) -> int:
    return min(profiles, WARM_UP_PROFILES_QUICK if quick else WARM_UP_PROFILES)


def grid(variant: str, quick: bool) -> tuple[Config, ...]:
    if variant == CEILING:
        return WRITE_GRID_QUICK if quick else WRITE_GRID
    return SCAN_GRID_QUICK if quick else SCAN_GRID


def _run_variant(
    engine: BenchEngine,
    variant: str,
    profiles: int,
    config: Config,
    plan: Path,
    workdir: Path,
    result: ThroughputResult | None,
) -> RunSample:
    tag = "" if result is not None else "(warm-up) "
    with engine.seeded_table(profiles, variant.replace(" ", "")) as table:
        if result is not None and not result.item_count:
            result.item_count, result.table_size_bytes = engine.table_size(table)
        if variant != RUNNER:
            return run_baseline(engine, variant, table, profiles, config, plan, tag)
        run = run_cli(engine, table, profiles, workdir, tag=tag)
        if result is not None:
            result.verify_only.append(run_cli(engine, table, profiles, workdir, verify_only=True))
        return run


def warm_up(engine: BenchEngine, profiles: int, plan: Path, workdir: Path) -> None:
    """Every code path of the engine once, on a smaller table; nothing is recorded."""
    logger.info("warm-up: every variant once on %d profiles (not counted)", profiles)
    for variant in VARIANTS:
        config = grid(variant, quick=True)[-1] if variant in SWEPT else NAIVE_CONFIG
        _run_variant(engine, variant, profiles, config, plan, workdir, None)


def measure_throughput(
    engine: BenchEngine,
    profiles: int,
    repetitions: int,
    quick: bool,
    plan: Path,
    warm_up_plan: Path,
    workdir: Path,
) -> ThroughputResult:
    """Sweep, then ``repetitions`` rounds of every variant at its best configuration."""
    result = ThroughputResult(profiles=profiles, item_count=0, table_size_bytes=0)
    warm_up(engine, warm_up_profiles(profiles, quick), warm_up_plan, workdir)
    for variant in SWEPT:
        logger.info("sweep: %s over %d configurations", variant, len(grid(variant, quick)))
        runs = [
            _run_variant(engine, variant, profiles, config, plan, workdir, result)
            for config in grid(variant, quick)
        ]
        result.sweep.extend(runs)
        best = max(runs, key=lambda run: run.rate)
        assert best.config is not None
        result.best[variant] = best.config
        logger.info("sweep: best %s is %s", variant, best.config.label)
    for index in range(repetitions):
        logger.info("repetition %d of %d", index + 1, repetitions)
        order = VARIANTS[index % len(VARIANTS) :] + VARIANTS[: index % len(VARIANTS)]
        repetition: dict[str, RunSample] = {}
        for variant in order:
            config = result.best.get(variant, NAIVE_CONFIG)
            repetition[variant] = _run_variant(
                engine, variant, profiles, config, plan, workdir, result
            )
        result.repetitions.append(repetition)
        result.startup.append(run_startup(engine, workdir))
    return result
