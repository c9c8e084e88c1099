"""``python -m bench``: every measurement of BENCHMARKS.md in one run.

Prints the tables (Markdown) on stdout, progress on stderr, and writes every figure to a
JSON file under ``bench/results/`` whose path is the last line printed. ``--check`` exits 1
when a target is missed (for a person to use; CI does not run the benchmark).
``--only costs`` models the pipeline's costs on the measured inputs ``latest.json`` stores,
in under a minute, when throughput and framework are not measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.costs import Assumptions, MeasuredInputs, cost_table, retention_levers
from bench.engine import running_engine
from bench.fingerprint import code_digest
from bench.memory import MEMORY_SIZES, MEMORY_SIZES_QUICK, measure_memory
from bench.pacing import measure_pacing, render_pacing
from bench.prices import PRICES
from bench.processes import run_measured
from bench.report import (
    cost_inputs,
    machine,
    render_costs,
    render_framework,
    render_journal_costs,
    render_memory,
    render_sweep,
    render_targets,
    render_throughput,
    targets,
    throughput_summary,
)
from bench.rollback import measure_rollback, render_rollback
from bench.runs import REPO_ROOT
from bench.throughput import measure_throughput, warm_up_profiles
from bench.workload import plan_writes, save_plan

if TYPE_CHECKING:
    from collections.abc import Sequence

    from bench.costs import ScenarioCost
    from bench.runs import RunSample

logger = logging.getLogger("bench")

PARTS = ("throughput", "framework", "memory", "pacing", "rollback", "costs")
ENGINE_PARTS = {"throughput", "memory", "pacing", "rollback"}
DEFAULT_PROFILES = 20_000
QUICK_PROFILES = 5_000
DEFAULT_REPETITIONS = 3
QUICK_REPETITIONS = 2
FRAMEWORK_PROFILES = 100_000
FRAMEWORK_PROFILES_QUICK = 10_000
FRAMEWORK_REPETITIONS = 3
FRAMEWORK_REPETITIONS_QUICK = 1
FRAMEWORK_TIMEOUT_SECONDS = 900.0
RESULTS_DIR = Path(__file__).resolve().parent / "results"
LATEST = "latest.json"


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive integer")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--profiles",
        type=_positive,
        help=f"table size for the throughput runs (default {DEFAULT_PROFILES:,}; "
        f"--quick {QUICK_PROFILES:,})",
    )
    parser.add_argument(
        "--repetitions",
        type=_positive,
        help=f"repetitions of every variant (default {DEFAULT_REPETITIONS}; "
        f"--quick {QUICK_REPETITIONS})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smaller, shorter run: fewer profiles, repetitions and sweep points",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="run only this part (repeatable); the cost model uses throughput and framework "
        f"when they run, else (costs) the inputs stored in bench/results/{LATEST}",
    )
    parser.add_argument(
        "--memory-sizes",
        type=lambda text: tuple(_positive(part) for part in text.split(",")),
        help="table sizes for the memory runs, comma-separated (default 10000,100000; "
        "--quick 2000,10000)",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when a measured target is missed"
    )
    return parser


def _framework(quick: bool) -> dict[str, Any]:
    profiles = FRAMEWORK_PROFILES_QUICK if quick else FRAMEWORK_PROFILES
    repetitions = FRAMEWORK_REPETITIONS_QUICK if quick else FRAMEWORK_REPETITIONS
    logger.info("framework: %d in-memory profiles, %d repetitions", profiles, repetitions)
    command = [
        sys.executable,
        "-m",
        "bench.framework",
        "--profiles",
        str(profiles),
        "--repetitions",
        str(repetitions),
    ]
    sample = run_measured(command, os.environ, REPO_ROOT, FRAMEWORK_TIMEOUT_SECONDS)
    result: dict[str, Any] = json.loads(sample.stdout)
    return result


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@dataclass(frozen=True)
class Settings:
    profiles: int
    repetitions: int
    quick: bool
    memory_sizes: tuple[int, ...]
    parts: tuple[str, ...]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Settings:
        quick: bool = args.quick
        return cls(
            profiles=args.profiles or (QUICK_PROFILES if quick else DEFAULT_PROFILES),
            repetitions=args.repetitions or (QUICK_REPETITIONS if quick else DEFAULT_REPETITIONS),
            memory_sizes=args.memory_sizes or (MEMORY_SIZES_QUICK if quick else MEMORY_SIZES),
            quick=quick,
            parts=tuple(args.only or PARTS),
        )

    @property
    def is_default_full_run(self) -> bool:
        return (
            not self.quick
            and set(self.parts) == set(PARTS)
            and self.profiles == DEFAULT_PROFILES
            and self.repetitions == DEFAULT_REPETITIONS
            and self.memory_sizes == MEMORY_SIZES
        )


@dataclass
class Measured:
    document: dict[str, Any]
    sections: list[str] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    framework: dict[str, Any] | None = None
    memory: list[RunSample] | None = None
    costs: list[ScenarioCost] | None = None


def _measure_on_engine(settings: Settings, measured: Measured) -> None:
    """Throughput, memory, pacing and rollback: all need DynamoDB Local (and scratch space)."""
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch, running_engine() as engine:
        workdir = Path(scratch)
        if "throughput" in settings.parts:
            plan = workdir / "plan.pickle"
            save_plan(plan, plan_writes(settings.profiles))
            warm_up_plan = workdir / "warm-up-plan.pickle"
            save_plan(
                warm_up_plan, plan_writes(warm_up_profiles(settings.profiles, settings.quick))
            )
            result = measure_throughput(
                engine,
                settings.profiles,
                settings.repetitions,
                settings.quick,
                plan,
                warm_up_plan,
                workdir,
            )
            summary = throughput_summary(result)
            measured.summary = summary
            measured.document["throughput"] = {**result.to_json(), "summary": summary}
            measured.sections += [
                "## Throughput\n\n"
                + render_throughput(summary, settings.profiles, settings.repetitions),
                "## Sweep\n\n" + render_sweep(result.sweep),
            ]
        if "memory" in settings.parts:
            measured.memory = measure_memory(engine, settings.memory_sizes, workdir)
            measured.document["memory"] = [run.to_json() for run in measured.memory]
            measured.sections.append("## Memory\n\n" + render_memory(measured.memory))
        if "pacing" in settings.parts:
            pacing = measure_pacing(engine, settings.quick)
            measured.document["pacing"] = pacing.to_json()
            measured.sections.append("## Pacing accuracy\n\n" + render_pacing(pacing))
        if "rollback" in settings.parts:
            rollback = measure_rollback(
                engine, settings.profiles, settings.repetitions, settings.quick, workdir
            )
            measured.document["rollback"] = rollback.to_json()
            measured.sections.append(
                "## Rollback\n\n" + render_rollback(rollback, settings.repetitions)
            )


def _model_costs(measured: Measured, parts: tuple[str, ...]) -> None:
    """The cost model on this run's throughput and framework figures, else (``costs``
    asked alone) on the inputs of the run ``latest.json`` stores."""
    if measured.summary is not None and measured.framework is not None:
        inputs = cost_inputs(measured.summary, measured.framework)
        source = "this run"
    elif "costs" in parts:
        stored = json.loads((RESULTS_DIR / LATEST).read_text())
        inputs = MeasuredInputs.from_json(stored["costs"]["inputs"])
        source = f"{LATEST} (started {stored['started_at']})"
    else:
        return
    logger.info("cost model: inputs of %s, journal and report sampled", source)
    measured.costs = cost_table(inputs)
    levers = retention_levers(inputs)
    measured.document["costs"] = {
        "inputs_from": source,
        "prices": PRICES.to_json(),
        "assumptions": vars(Assumptions()),
        "inputs": vars(inputs),
        "scenarios": [cost.to_json() for cost in measured.costs],
        "journal_retention": [lever.to_json() for lever in levers],
    }
    measured.sections += [
        "## Pipeline cost model\n\n" + render_costs(measured.costs),
        "## Journal in the cost model\n\n" + render_journal_costs(measured.costs, levers),
    ]


def _note_code_changes(measured: Measured, digest_at_start: str) -> None:
    digest_at_end = code_digest()
    changed = digest_at_end != digest_at_start
    measured.document["code"].update(
        package_sha256_at_end=digest_at_end, changed_during_run=changed
    )
    if changed:
        logger.warning("functions/profile_migrations changed during the run")
        measured.sections.insert(
            0,
            "**Warning: functions/profile_migrations changed while this run was measuring; "
            "its figures may mix code versions. Run again.**",
        )


def _write_results(document: dict[str, Any], latest: bool) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = RESULTS_DIR / f"bench-{stamp}.json"
    text = json.dumps(document, indent=2) + "\n"
    path.write_text(text)
    if latest:
        (RESULTS_DIR / LATEST).write_text(text)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _configure_logging()
    settings = Settings.from_args(args)
    started = time.perf_counter()
    digest = code_digest()
    measured = Measured(
        document={
            "command": "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "settings": asdict(settings),
            "code": {"package_sha256_at_start": digest},
        }
    )
    if "framework" in settings.parts:
        measured.framework = _framework(settings.quick)
    if ENGINE_PARTS & set(settings.parts):
        _measure_on_engine(settings, measured)
    if measured.framework is not None:
        measured.document["framework"] = measured.framework
        measured.sections.append("## Framework CPU\n\n" + render_framework(measured.framework))
    _model_costs(measured, settings.parts)
    _note_code_changes(measured, digest)
    checks = targets(measured.summary, measured.framework, measured.memory, measured.costs)
    measured.document["targets"] = [check.to_json() for check in checks]
    measured.document["duration_s"] = time.perf_counter() - started
    measured.sections.append("## Targets\n\n" + render_targets(checks))
    path = _write_results(measured.document, latest=settings.is_default_full_run)
    sys.stdout.write("\n\n".join(measured.sections) + "\n\n")
    sys.stdout.write(f"results: {path}\n")
    logger.info("done in %.0f s", measured.document["duration_s"])
    missed = [check for check in checks if check.met is False]
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
