"""The rollback's throughput next to the run's: ``python -m bench --only rollback``.

Per repetition, on a new table seeded with the same N sample profiles (seed 7), two
child processes, one after the other:

- ``python -m bench.rollback run``: ``command.run(RunConfig(...))`` with the CLI's
  defaults (4 workers, no cap on an on-demand table, lock, history, backup step, report
  and journal under a scratch directory): it migrates, then verifies;
- ``python -m bench.rollback rollback``: ``command.rollback(RollbackConfig(...))`` of that
  run from its journal (``summary.journalUri``), 4 workers, no cap.

Each child times its command call alone (``time.perf_counter``, so interpreter start and
imports are left out) and the CPU seconds its process spent meanwhile (every thread,
``resource.getrusage``); the run's child also times its migrate and verify phases with
the runner's own phase callbacks. The harness adds what it measures for every run
(bench/runs.py): the child's wall seconds from spawn to exit, its CPU from ``os.wait4``,
its peak RSS and DynamoDB Local's CPU meanwhile.

The benchmark checks itself and raises :class:`RollbackCheckFailedError` when a run did
not migrate every profile, a rollback did not restore every one (``restoredCount`` = N,
nothing kept, missing, already restored or failed), either ran under a cap, or the table
after the rollback is not, item for item and byte for byte (a consistent scan's wire
values), the table as seeded.

First one uncounted run and rollback on a smaller table warm DynamoDB Local's JIT up.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlparse

from bench.engine import BENCH_CREDENTIALS, BENCH_REGION
from bench.pacing import PhaseClock
from bench.processes import process_cpu_seconds, run_measured
from bench.runs import REPO_ROOT, RUN_TIMEOUT_SECONDS, RunSample
from bench.stats import Spread
from bench.throughput import warm_up_profiles
from bench.workload import item_key
from profile_migrations.command import (
    RollbackConfig,
    RunConfig,
    TableTarget,
    rollback,
    run,
)
from profile_migrations.logic.runner import MIGRATE_PHASE, VERIFY_PHASE, LocalRunOptions

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from bench.engine import BenchEngine
    from bench.workload import ItemKey
    from profile_migrations.store import RawItem

logger = logging.getLogger(__name__)

RUN = "command.run"
ROLLBACK = "command.rollback"
# The run's and the rollback's default, given explicitly: both send 4 batches at once.
WORKERS = 4
MIB = 1024


class RollbackCheckFailedError(RuntimeError):
    """A measured run or rollback did not do its whole job: its figures mean nothing."""


@dataclass(frozen=True)
class RollbackRepetition:
    """One table: the run's and the rollback's samples (``detail`` holds the child's own
    timings and its document) and the run's journal size in bytes."""

    profiles: int
    run: RunSample
    rollback: RunSample
    journal_bytes: int

    @property
    def run_rate(self) -> float:
        """Profiles per second of ``command.run`` (migrate, then verify)."""
        return self.profiles / float(self.run.detail["call_s"])

    @property
    def migrate_rate(self) -> float:
        """Profiles per second of the run's migrate phase alone."""
        return self.profiles / float(self.run.detail["phases_s"][MIGRATE_PHASE])

    @property
    def rollback_rate(self) -> float:
        """Profiles restored per second of ``command.rollback``."""
        return self.profiles / float(self.rollback.detail["call_s"])

    @property
    def journal_bytes_per_profile(self) -> float:
        return self.journal_bytes / self.profiles

    def call_cpu_us_per_profile(self, sample: RunSample) -> float:
        """The child's CPU during its command call, in microseconds per profile."""
        return float(sample.detail["call_cpu_s"]) * 1e6 / self.profiles

    def to_json(self) -> dict[str, Any]:
        return {
            "profiles": self.profiles,
            "run": self.run.to_json(),
            "rollback": self.rollback.to_json(),
            "journal_bytes": self.journal_bytes,
            "run_rate": self.run_rate,
            "migrate_rate": self.migrate_rate,
            "rollback_rate": self.rollback_rate,
            "rollback_over_run": self.rollback_rate / self.run_rate,
            "journal_bytes_per_profile": self.journal_bytes_per_profile,
        }


@dataclass
class RollbackResult:
    profiles: int
    workers: int = WORKERS
    repetitions: list[RollbackRepetition] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """Median, minimum and maximum of every figure over the repetitions; ratios are
        taken within a repetition."""
        reps = self.repetitions

        def spread(values: Sequence[float]) -> dict[str, float]:
            return Spread.of(values).to_json()

        return {
            "run_rate": spread([rep.run_rate for rep in reps]),
            "run_process_rate": spread([rep.run.rate for rep in reps]),
            "migrate_rate": spread([rep.migrate_rate for rep in reps]),
            "verify_s": spread([rep.run.detail["phases_s"][VERIFY_PHASE] for rep in reps]),
            "rollback_rate": spread([rep.rollback_rate for rep in reps]),
            "rollback_process_rate": spread([rep.rollback.rate for rep in reps]),
            "rollback_over_run": spread([rep.rollback_rate / rep.run_rate for rep in reps]),
            "rollback_over_migrate": spread([rep.rollback_rate / rep.migrate_rate for rep in reps]),
            "journal_bytes_per_profile": spread([rep.journal_bytes_per_profile for rep in reps]),
            "run_call_cpu_us_per_profile": spread(
                [rep.call_cpu_us_per_profile(rep.run) for rep in reps]
            ),
            "rollback_call_cpu_us_per_profile": spread(
                [rep.call_cpu_us_per_profile(rep.rollback) for rep in reps]
            ),
            "run_client_us_per_profile": spread([rep.run.client_us_per_profile for rep in reps]),
            "rollback_client_us_per_profile": spread(
                [rep.rollback.client_us_per_profile for rep in reps]
            ),
            "run_engine_us_per_profile": spread([rep.run.engine_us_per_profile for rep in reps]),
            "rollback_engine_us_per_profile": spread(
                [rep.rollback.engine_us_per_profile for rep in reps]
            ),
            "rollback_cores_busy": spread([rep.rollback.cores_busy for rep in reps]),
            "rollback_peak_rss_mib": spread(
                [rep.rollback.client_peak_rss_kib / MIB for rep in reps]
            ),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "profiles": self.profiles,
            "workers": self.workers,
            "repetitions": [rep.to_json() for rep in self.repetitions],
            "summary": self.summary(),
        }


# --- checks ---------------------------------------------------------------------------------


def dump_table(client: DynamoDBClient, table: str) -> dict[ItemKey, RawItem]:
    """Every item of ``table`` in wire format (a consistent scan), by key."""
    items: dict[ItemKey, RawItem] = {}
    for page in client.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            # boto3-stubs' TypedDicts describe the same wire format as RawItem
            raw = cast("RawItem", item)
            items[item_key(raw)] = raw
    return items


def differences(before: dict[ItemKey, RawItem], after: dict[ItemKey, RawItem]) -> list[ItemKey]:
    """The keys of the items that differ between two dumps (gone, new or changed), sorted."""
    return sorted(key for key in before.keys() | after.keys() if before.get(key) != after.get(key))


def check_run(document: dict[str, Any], profiles: int) -> Path:
    """The journal file of a run that migrated all ``profiles`` without a cap; raises
    :class:`RollbackCheckFailedError` otherwise."""
    summary = document.get("summary") or {}
    if not document.get("success") or summary.get("successCount") != profiles:
        raise RollbackCheckFailedError(
            f"the run migrated {summary.get('successCount')} of {profiles} profiles: "
            f"{document.get('message')}"
        )
    if summary.get("maxWriteCapacity") is not None:
        raise RollbackCheckFailedError(f"the run was capped at {summary['maxWriteCapacity']}")
    uri = summary.get("journalUri")
    if not uri or urlparse(uri).scheme != "file":
        raise RollbackCheckFailedError(f"the run kept no local journal: {uri}")
    return Path(unquote(urlparse(uri).path))


def check_rollback(document: dict[str, Any], profiles: int) -> None:
    """Raises :class:`RollbackCheckFailedError` unless the rollback restored all
    ``profiles``, uncapped, and set none aside."""
    summary = document.get("summary") or {}
    counts = {
        name: summary.get(name)
        for name in (
            "restoredCount",
            "keptCount",
            "missingCount",
            "alreadyRestoredCount",
            "failureCount",
        )
    }
    expected = {name: 0 for name in counts} | {"restoredCount": profiles}
    if not document.get("success") or counts != expected:
        raise RollbackCheckFailedError(
            f"the rollback of {profiles} profiles counted {counts}: {document.get('message')}"
        )
    if summary.get("maxWriteCapacity") is not None:
        raise RollbackCheckFailedError(f"the rollback was capped at {summary['maxWriteCapacity']}")


def check_restored(before: dict[ItemKey, RawItem], after: dict[ItemKey, RawItem]) -> None:
    """Raises :class:`RollbackCheckFailedError` unless the two dumps are equal."""
    changed = differences(before, after)
    if changed:
        raise RollbackCheckFailedError(
            f"after the rollback {len(changed):,} of {len(before):,} items differ from the "
            f"seeded table (first: {changed[0]})"
        )


# --- measuring ------------------------------------------------------------------------------


def _child(
    engine: BenchEngine, variant: str, profiles: int, arguments: list[str]
) -> tuple[RunSample, dict[str, Any]]:
    """``python -m bench.rollback ARGUMENTS`` measured as bench/runs.py measures a run."""
    command = [sys.executable, "-m", "bench.rollback", *arguments]
    engine_before = process_cpu_seconds(engine.java_pid)
    # Not checked: a command that answers failure exits 1, and its document says why.
    process = run_measured(command, engine.child_env(), REPO_ROOT, RUN_TIMEOUT_SECONDS, check=False)
    engine_cpu = process_cpu_seconds(engine.java_pid) - engine_before
    try:
        printed: dict[str, Any] = json.loads(process.stdout)
    except ValueError as exc:
        raise RollbackCheckFailedError(
            f"{' '.join(command)} exited {process.returncode} without its document: "
            f"{process.stderr_tail[-500:]}"
        ) from exc
    sample = RunSample(
        variant=variant,
        profiles=profiles,
        wall_s=process.wall_s,
        client_cpu_s=process.cpu_s,
        client_peak_rss_kib=process.peak_rss_kib,
        engine_cpu_s=engine_cpu,
        detail={name: value for name, value in printed.items() if name != "response"},
    )
    return sample, printed["response"]


def run_and_roll_back(
    engine: BenchEngine, profiles: int, workdir: Path, label: str
) -> RollbackRepetition:
    """One run and its rollback on a new table of ``profiles``; checked (see the module's
    docstring). The reports and the journal are deleted once measured."""
    with engine.seeded_table(profiles, label) as table:
        before = dump_table(engine.client, table)
        target = ["--table", table, "--endpoint-url", engine.endpoint_url]
        report = workdir / f"{table}-run.jsonl"
        run_sample, run_document = _child(
            engine, RUN, profiles, ["run", *target, "--report", str(report)]
        )
        journal = check_run(run_document, profiles)
        journal_bytes = journal.stat().st_size
        undo_report = workdir / f"{table}-rollback.jsonl"
        rollback_sample, rollback_document = _child(
            engine,
            ROLLBACK,
            profiles,
            [
                "rollback",
                *target,
                "--run-id",
                str(run_document["runId"]),
                "--report",
                str(undo_report),
            ],
        )
        check_rollback(rollback_document, profiles)
        check_restored(before, dump_table(engine.client, table))
    run_sample.detail["report_bytes"] = report.stat().st_size
    rollback_sample.detail["report_bytes"] = undo_report.stat().st_size
    for path in (report, journal, undo_report):
        path.unlink()
    return RollbackRepetition(profiles, run_sample, rollback_sample, journal_bytes)


def measure_rollback(
    engine: BenchEngine, profiles: int, repetitions: int, quick: bool, workdir: Path
) -> RollbackResult:
    """An uncounted warm-up, then ``repetitions`` runs and rollbacks, each on a new table."""
    warm_up = warm_up_profiles(profiles, quick)
    logger.info("rollback: warm-up, run and rollback of %d profiles (not counted)", warm_up)
    run_and_roll_back(engine, warm_up, workdir, "rollback-warmup")
    result = RollbackResult(profiles)
    for index in range(repetitions):
        rep = run_and_roll_back(engine, profiles, workdir, "rollback")
        result.repetitions.append(rep)
        logger.info(
            "rollback: repetition %d of %d: run %.0f profiles/s (migrate phase %.0f), "
            "rollback %.0f profiles/s, journal %.0f B/profile, rollback CPU %.0f us/profile",
            index + 1,
            repetitions,
            rep.run_rate,
            rep.migrate_rate,
            rep.rollback_rate,
            rep.journal_bytes_per_profile,
            rep.call_cpu_us_per_profile(rep.rollback),
        )
    return result


def _spread(spread: dict[str, float], digits: int = 0) -> str:
    return (
        f"{spread['median']:,.{digits}f} "
        f"({spread['minimum']:,.{digits}f}..{spread['maximum']:,.{digits}f})"
    )


def render_rollback(result: RollbackResult, repetitions: int) -> str:
    s = result.summary()
    rows = [
        ["`command.run` (migrate, then verify), profiles/s", _spread(s["run_rate"])],
        ["  its migrate phase alone, profiles/s", _spread(s["migrate_rate"])],
        ["  its verify phase, wall s", _spread(s["verify_s"], 2)],
        ["`command.rollback`, profiles restored/s", _spread(s["rollback_rate"])],
        ["rollback / run", _spread(s["rollback_over_run"], 2)],
        ["rollback / migrate phase", _spread(s["rollback_over_migrate"], 2)],
        ["journal bytes per migrated profile", _spread(s["journal_bytes_per_profile"])],
        ["run client CPU during the call, us/profile", _spread(s["run_call_cpu_us_per_profile"])],
        [
            "rollback client CPU during the call, us/profile",
            _spread(s["rollback_call_cpu_us_per_profile"]),
        ],
        [
            "rollback client CPU, whole process (start-up included), us/profile",
            _spread(s["rollback_client_us_per_profile"]),
        ],
        ["run engine CPU, us/profile", _spread(s["run_engine_us_per_profile"])],
        ["rollback engine CPU, us/profile", _spread(s["rollback_engine_us_per_profile"])],
        ["rollback cores busy (of 2)", _spread(s["rollback_cores_busy"], 2)],
        ["rollback client peak RSS, MiB", _spread(s["rollback_peak_rss_mib"])],
        [
            "run / rollback, whole process (start-up included), profiles/s",
            f"{_spread(s['run_process_rate'])} / {_spread(s['rollback_process_rate'])}",
        ],
    ]
    header = [
        f"{result.profiles:,} profiles, {repetitions} repetitions, {result.workers} workers, "
        "no cap",
        "median (min..max)",
    ]
    lines = [_row(header), _row(["---", "---"]), *(_row(row) for row in rows)]
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


# --- the child process ----------------------------------------------------------------------


def _target(args: argparse.Namespace) -> TableTarget:
    return TableTarget(
        table=args.table,
        endpoint_url=args.endpoint_url,
        region=BENCH_REGION,
        credentials=BENCH_CREDENTIALS,
    )


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rollback",
        description="One measured command call; prints its timings and document as JSON.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "rollback"):
        command = commands.add_parser(name)
        command.add_argument("--table", required=True)
        command.add_argument("--endpoint-url", required=True)
        command.add_argument("--report", type=Path, required=True)
        if name == "rollback":
            command.add_argument("--run-id", required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    target = _target(args)
    clock = PhaseClock()
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    if args.command == "run":
        response = run(
            RunConfig(
                target=target,
                options=LocalRunOptions(workers=WORKERS),
                report=args.report,
                listener=clock,
            )
        )
    else:
        response = rollback(
            RollbackConfig(target=target, run_id=args.run_id, report=args.report, workers=WORKERS)
        )
    call_s = time.perf_counter() - started
    call_cpu_s = _cpu_seconds() - cpu_before
    printed = {
        "call_s": call_s,
        "call_cpu_s": call_cpu_s,
        "phases_s": {phase: clock.seconds(phase) for phase in clock.finished},
        "response": response.to_wire(),
    }
    sys.stdout.write(json.dumps(printed) + "\n")
    return 0 if response.success else 1


if __name__ == "__main__":
    sys.exit(main())
