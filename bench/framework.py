"""The framework's own CPU cost per profile, without I/O: ``python -m bench.framework``.

Over N in-memory sample profiles (DynamoDB wire format, as a scan returns them), in CPU
microseconds per profile (``time.process_time``, one thread):

- ``deserialize``: wire format to Python values (``codec.deserialize_item``);
- ``chain``: CICADA's chain 1->5 with the framework's validation (plan, copy, each step's
  result checked, version stamped, and each result validated against its version's
  schema: ``MigrationChain.apply``); ``chain, no schemas`` the same chain without its
  schemas;
- ``serialize``: the new profile back to wire format (``codec.serialize_item``);
- ``framework``: the segment worker's whole per-profile path in a dry run
  (``PageMigrator.migrate_page``: deserialize, version, chain, diff, serialize what
  changed, outcome, counters) with a sink that keeps nothing: the figure the target is
  about; ``framework, no schemas`` the same path with the chain's schemas left out, so
  the difference is what validating against them costs;
- ``framework+report``: the same with each page's outcomes rendered as JSON Lines, as the
  local runner's report does (the bytes are discarded, not written).

Each is measured with the benchmark's own inputs (N profiles in three forms) frozen out of
the garbage collector's reach (``gc.freeze``): no runner holds them, and a full collection
walking them costs more per profile than the framework itself at N = 100,000. The
``framework`` path is also given without the freeze, to show that cost.

Also the ``framework`` path for profiles padded to about 1 KB and 4 KB (a ``history`` list
of small maps in ``profileData``, so the chain rewrites a bigger map), which the cost model
uses to scale per-profile CPU with item size.
Prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from bench.stats import Spread
from bench.workload import (
    BENCH_STARTED_AT,
    PAGE_ITEMS,
    NullSink,
    item_size,
    migration_job,
)
from profile_migrations.clock import run_clock
from profile_migrations.codec import deserialize_item, serialize_item
from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.logic.report import render_lines
from profile_migrations.logic.segment import PageMigrator
from profile_migrations.registry import MigrationChain

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from profile_migrations.logic.outcomes import ProfileOutcome
    from profile_migrations.logic.ports import OutcomeSink
    from profile_migrations.logic.segment import MigrationJob
    from profile_migrations.store import RawItem

DEFAULT_PROFILES = 100_000
DEFAULT_REPETITIONS = 3
SIZED_PROFILES = 10_000
SIZE_TARGETS = (1_024, 4_096)
IN_COLLECTOR = "framework, inputs in the collector's reach"
HISTORY_ENTRY: dict[str, Any] = {
    "M": {
        "event": {"S": "login"},
        "at": {"S": "2026-01-01T00:00:00.000Z"},
        "points": {"N": "1234"},
    }
}


class RenderingSink:
    """Renders outcomes as the JSON Lines report does, then drops the bytes."""

    def __init__(self) -> None:
        self.rendered_bytes = 0

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None:
        self.rendered_bytes += len(render_lines(outcomes))


def padded(items: list[RawItem], target_bytes: int) -> list[RawItem]:
    """Copies of ``items`` with ``profileData.history`` grown to about ``target_bytes``."""
    result: list[RawItem] = []
    entry_bytes = item_size({"x": HISTORY_ENTRY})  # a one-byte name stands for the list slot
    for raw in items:
        room = target_bytes - item_size(raw) - len("history") - 4
        entries = max(0, room // entry_bytes)
        data = dict(raw["profileData"]["M"])
        data["history"] = {"L": [HISTORY_ENTRY] * entries}
        result.append({**raw, "profileData": {"M": data}})
    return result


def _cpu_us_per_profile(work: Callable[[], object], profiles: int) -> float:
    started = time.process_time()
    work()
    return (time.process_time() - started) * 1e6 / profiles


def _pages(items: list[RawItem]) -> list[list[RawItem]]:
    return [items[start : start + PAGE_ITEMS] for start in range(0, len(items), PAGE_ITEMS)]


def _migrate_pages(
    pages: list[list[RawItem]], sink: OutcomeSink, job: MigrationJob | None = None
) -> None:
    migrator = PageMigrator(job or migration_job(dry_run=True), store=_NoStore(), sink=sink)
    with run_clock(BENCH_STARTED_AT):
        for page in pages:
            migrator.migrate_page(page)


class _NoStore:
    """A dry run never touches the store; any call is a bug in the benchmark."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"a dry run called the store's {name}")


def measure(profiles: int, repetitions: int, sized_profiles: int) -> dict[str, Any]:
    """Every figure's spread over ``repetitions`` passes, in CPU microseconds per profile."""
    items = list(sample_profiles(profiles))
    pages = _pages(items)
    job = migration_job(dry_run=True)
    # The same chain without its schemas: what validating against them adds.
    unchecked = replace(job, chain=MigrationChain(job.chain.steps))
    deserialized = [deserialize_item(raw) for raw in items]
    with run_clock(BENCH_STARTED_AT):
        migrated = [job.chain.apply(profile, job.target_version) for profile in deserialized]

    def chain_all(chain: MigrationChain = job.chain) -> None:
        with run_clock(BENCH_STARTED_AT):
            for profile in deserialized:
                chain.apply(profile, job.target_version)

    def deserialize_all() -> None:
        for raw in items:
            deserialize_item(raw)

    def serialize_all() -> None:
        for profile in migrated:
            serialize_item(profile)

    # Results are dropped as they are made, as on the runner's hot path.
    components: dict[str, Callable[[], object]] = {
        "deserialize": deserialize_all,
        "chain": chain_all,
        "chain, no schemas": partial(chain_all, unchecked.chain),
        "serialize": serialize_all,
        "framework": lambda: _migrate_pages(pages, NullSink()),
        "framework, no schemas": lambda: _migrate_pages(pages, NullSink(), unchecked),
        "framework+report": lambda: _migrate_pages(pages, RenderingSink()),
    }
    samples: dict[str, list[float]] = {name: [] for name in components}
    samples[IN_COLLECTOR] = []
    sizes: dict[str, Any] = {
        "sample": {
            "mean_item_bytes": sum(item_size(raw) for raw in items) / len(items),
            "new_item_bytes": sum(item_size(serialize_item(p)) for p in migrated) / len(items),
        }
    }
    sized_pages = {
        f"{target // 1024}KB": _pages(padded(items[:sized_profiles], target))
        for target in SIZE_TARGETS
    }
    for label, pages_of_size in sized_pages.items():
        sizes[label] = {
            "mean_item_bytes": sum(item_size(raw) for page in pages_of_size for raw in page)
            / sized_profiles
        }
    sized_samples: dict[str, list[float]] = {label: [] for label in sized_pages}
    for _ in range(repetitions):
        # First with the inputs where the collector's full passes walk them (hundreds of
        # MB of profiles no runner holds), then with them frozen out of its reach.
        samples[IN_COLLECTOR].append(
            _cpu_us_per_profile(partial(_migrate_pages, pages, NullSink()), profiles)
        )
        gc.collect()
        gc.freeze()
        try:
            for name, work in components.items():
                samples[name].append(_cpu_us_per_profile(work, profiles))
            for label, pages_of_size in sized_pages.items():
                sized_samples[label].append(
                    _cpu_us_per_profile(
                        partial(_migrate_pages, pages_of_size, NullSink()), sized_profiles
                    )
                )
        finally:
            gc.unfreeze()
    sizes["sample"]["framework_us"] = Spread.of(samples["framework"]).to_json()
    for label, values in sized_samples.items():
        sizes[label]["framework_us"] = Spread.of(values).to_json()
    return {
        "profiles": profiles,
        "repetitions": repetitions,
        "us_per_profile": {name: Spread.of(values).to_json() for name, values in samples.items()},
        "by_item_size": sizes,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.framework",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--profiles", type=int, default=DEFAULT_PROFILES)
    parser.add_argument("--repetitions", type=int, default=DEFAULT_REPETITIONS)
    parser.add_argument("--sized-profiles", type=int, default=SIZED_PROFILES)
    args = parser.parse_args(argv)
    result = measure(args.profiles, args.repetitions, min(args.sized_profiles, args.profiles))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
