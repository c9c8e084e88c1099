"""Turning measurements into the summary, the target checks, the JSON file and the tables."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.costs import MeasuredInputs
from bench.runs import CEILING, LOOP, NAIVE, RUNNER, SCAN_CEILING
from bench.stats import Spread
from profile_migrations.devtools.dynamodb_local import find_jar_dir

if TYPE_CHECKING:
    from bench.costs import RetentionLever, ScenarioCost
    from bench.runs import RunSample
    from bench.throughput import ThroughputResult

MIB = 1024
RATIO_BASES = {
    "runner / naive": NAIVE,
    "runner / per-item loop": LOOP,
    "runner / ceiling": CEILING,
    "runner / scan+ceiling": SCAN_CEILING,
}
LABELS = {
    NAIVE: "1. naive (sequential scan, 1 conditional PutItem each)",
    LOOP: "2. per-item loop (parallel scan, 1 conditional UpdateItem each)",
    CEILING: "3. ceiling (BatchWriteItem of the new items, no scan)",
    SCAN_CEILING: "3b. scan + BatchWriteItem (no condition)",
    RUNNER: "4. runner (profile-migrate run, defaults)",
}


@dataclass(frozen=True)
class Target:
    """A goal and the measured figure; an ``informational`` row has no goal to meet (its
    ``met`` is None) and is shown so that nothing the targets leave out is hidden."""

    name: str
    goal: str
    measured: float | None
    met: bool | None
    unit: str = ""
    informational: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "goal": self.goal,
            "measured": self.measured,
            "met": self.met,
            "unit": self.unit,
            "informational": self.informational,
        }


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text()
    meminfo = Path("/proc/meminfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.MULTILINE)
    total = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.MULTILINE)
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model.group(1) if model else "unknown",
        "memory_gib": round(int(total.group(1)) / 1024 / 1024, 1) if total else None,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "java": java.stderr.splitlines()[0] if java.stderr else "unknown",
        "dynamodb_local": find_jar_dir().name,
    }


def _variant_summary(runs: list[RunSample]) -> dict[str, Any]:
    config = runs[0].config
    return {
        "config": vars(config) if config else None,
        "config_label": config.label if config else "defaults",
        "rate": Spread.of([run.rate for run in runs]).to_json(),
        "wall_s": Spread.of([run.wall_s for run in runs]).to_json(),
        "client_us_per_profile": Spread.of([run.client_us_per_profile for run in runs]).to_json(),
        "engine_us_per_profile": Spread.of([run.engine_us_per_profile for run in runs]).to_json(),
        "client_peak_rss_mib": Spread.of([run.client_peak_rss_kib / MIB for run in runs]).to_json(),
        "cores_busy": Spread.of([run.cores_busy for run in runs]).to_json(),
    }


def throughput_summary(result: ThroughputResult) -> dict[str, Any]:
    variants = {variant: _variant_summary(result.samples(variant)) for variant in LABELS}
    ratios = {
        name: Spread.of([rep[RUNNER].rate / rep[base].rate for rep in result.repetitions]).to_json()
        for name, base in RATIO_BASES.items()
    }
    profiles = result.profiles
    runner_cpu = [run.client_cpu_s for run in result.samples(RUNNER)]
    verify_cpu = [run.client_cpu_s for run in result.verify_only]
    startup_cpu = [run.client_cpu_s for run in result.startup]
    report_bytes = [run.detail["report_bytes"] for run in result.samples(RUNNER)]
    breakdown = {
        "startup_wall_s": Spread.of([run.wall_s for run in result.startup]).to_json(),
        "startup_cpu_s": Spread.of(startup_cpu).to_json(),
        "verify_only_wall_s": Spread.of([run.wall_s for run in result.verify_only]).to_json(),
        "verify_only_cpu_s": Spread.of(verify_cpu).to_json(),
        "migrate_cpu_us_per_profile": Spread.of(
            [(r - v) * 1e6 / profiles for r, v in zip(runner_cpu, verify_cpu, strict=True)]
        ).to_json(),
        "verify_cpu_us_per_profile": Spread.of(
            [(v - s) * 1e6 / profiles for v, s in zip(verify_cpu, startup_cpu, strict=True)]
        ).to_json(),
        "migrate_phase_rate": Spread.of(
            [
                profiles / (run.wall_s - verify.wall_s)
                for run, verify in zip(result.samples(RUNNER), result.verify_only, strict=True)
            ]
        ).to_json(),
        "report_bytes_per_profile": sum(report_bytes) / len(report_bytes) / profiles,
    }
    return {"variants": variants, "ratios": ratios, "runner_breakdown": breakdown}


def cost_inputs(summary: dict[str, Any], framework: dict[str, Any]) -> MeasuredInputs:
    breakdown = summary["runner_breakdown"]
    points = tuple(
        (entry["mean_item_bytes"], entry["framework_us"]["median"])
        for entry in framework["by_item_size"].values()
    )
    return MeasuredInputs(
        migrate_cpu_us_per_profile=breakdown["migrate_cpu_us_per_profile"]["median"],
        verify_cpu_us_per_profile=max(0.0, breakdown["verify_cpu_us_per_profile"]["median"]),
        measured_item_bytes=framework["by_item_size"]["sample"]["mean_item_bytes"],
        framework_us_by_item_bytes=points,
        report_bytes_per_profile=breakdown["report_bytes_per_profile"],
        # the local runner journals its writes since 2026-11-30 (command.py's FileJournal)
        journal_in_migrate_cpu=True,
    )


def targets(
    summary: dict[str, Any] | None,
    framework: dict[str, Any] | None,
    memory: list[RunSample] | None,
    costs: list[ScenarioCost] | None,
) -> list[Target]:
    """Every target of the issue with the measured figure; ``met`` None if not measured."""

    def target(name: str, goal: str, value: float | None, ok: bool, unit: str = "") -> Target:
        return Target(name, goal, value, ok if value is not None else None, unit)

    ratio = summary["ratios"] if summary else None
    loop_ratio = ratio["runner / per-item loop"]["median"] if ratio else None
    ceiling_ratio = ratio["runner / ceiling"]["median"] if ratio else None
    runner_cpu = summary["variants"][RUNNER]["client_us_per_profile"]["median"] if summary else None
    framework_us = framework["us_per_profile"]["framework"]["median"] if framework else None
    growth = (
        memory[-1].client_peak_rss_kib / memory[0].client_peak_rss_kib
        if memory and len(memory) > 1
        else None
    )
    transitions = max(cost.transitions_per_million for cost in costs) if costs else None
    share = max(cost.orchestration_share for cost in costs) if costs else None
    journal = max(cost.journal_share for cost in costs) if costs else None
    everything = max(cost.all_but_writes_share for cost in costs) if costs else None
    return [
        target("runner / per-item loop", ">= 2.0", loop_ratio, (loop_ratio or 0) >= 2.0, "x"),
        target("runner / ceiling", ">= 0.6", ceiling_ratio, (ceiling_ratio or 0) >= 0.6, "x"),
        target(
            "runner client CPU per written profile",
            "<= 300 us",
            runner_cpu,
            (runner_cpu or 0) <= 300,
            "us",
        ),
        target(
            "framework CPU per profile (no I/O)",
            "<= 50 us",
            framework_us,
            (framework_us or 0) <= 50,
            "us",
        ),
        target(
            "peak RSS, largest / smallest table",
            "<= 1.10",
            growth,
            (growth or 0) <= 1.10,
            "x",
        ),
        target(
            "state transitions per 1 M profiles (worst scenario)",
            "<= 5,000",
            transitions,
            (transitions or 0) <= 5_000,
        ),
        target(
            "orchestration / DynamoDB write bill (worst scenario)",
            "<= 10 %",
            None if share is None else share * 100,
            (share or 0) <= 0.10,
            "%",
        ),
        Target(
            "journal (S3 PUTs, storage) / DynamoDB write bill (worst scenario)",
            "none (information)",
            None if journal is None else journal * 100,
            None,
            "%",
            informational=True,
        ),
        Target(
            "orchestration + journal / DynamoDB write bill (worst scenario)",
            "none (information)",
            None if everything is None else everything * 100,
            None,
            "%",
            informational=True,
        ),
    ]


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = [_row(header), _row(["---"] * len(header))]
    lines.extend(_row(row) for row in rows)
    return "\n".join(lines)


def _spread(spread: dict[str, float], digits: int = 0) -> str:
    return (
        f"{spread['median']:,.{digits}f} "
        f"({spread['minimum']:,.{digits}f}..{spread['maximum']:,.{digits}f})"
    )


def render_throughput(summary: dict[str, Any], profiles: int, repetitions: int) -> str:
    rows = [
        [
            LABELS[variant],
            entry["config_label"],
            _spread(entry["rate"]),
            _spread(entry["client_us_per_profile"]),
            _spread(entry["engine_us_per_profile"]),
            _spread(entry["cores_busy"], 2),
            f"{entry['client_peak_rss_mib']['maximum']:,.0f}",
        ]
        for variant, entry in summary["variants"].items()
    ]
    throughput = _table(
        [
            f"variant ({profiles:,} profiles, {repetitions} repetitions)",
            "best config",
            "profiles/s median (min..max)",
            "client CPU us/profile",
            "engine CPU us/profile",
            "cores busy (of 2)",
            "client peak RSS MiB",
        ],
        rows,
    )
    ratios = _table(
        ["ratio (per repetition)", "median (min..max)"],
        [[name, _spread(value, 2)] for name, value in summary["ratios"].items()],
    )
    b = summary["runner_breakdown"]
    breakdown = _table(
        ["runner breakdown", "median (min..max)"],
        [
            ["CLI start-up (`plan --json`), wall s", _spread(b["startup_wall_s"], 2)],
            ["verify-only pass, wall s", _spread(b["verify_only_wall_s"], 2)],
            [
                "migrate phase alone (run - verify-only), profiles/s",
                _spread(b["migrate_phase_rate"]),
            ],
            [
                "migrate CPU (run - verify-only), us/profile",
                _spread(b["migrate_cpu_us_per_profile"]),
            ],
            [
                "verify CPU (verify-only - start-up), us/profile",
                _spread(b["verify_cpu_us_per_profile"]),
            ],
            ["report bytes per profile", f"{b['report_bytes_per_profile']:.0f}"],
        ],
    )
    return "\n\n".join([throughput, ratios, breakdown])


def render_sweep(sweep: list[RunSample]) -> str:
    return _table(
        ["swept variant", "config", "profiles/s", "client CPU us/profile"],
        [
            [
                run.variant,
                run.config.label if run.config else "",
                f"{run.rate:,.0f}",
                f"{run.client_us_per_profile:,.0f}",
            ]
            for run in sweep
        ],
    )


def render_framework(framework: dict[str, Any]) -> str:
    rows = [[name, _spread(spread, 1)] for name, spread in framework["us_per_profile"].items()]
    rows.extend(
        [
            f"framework at {entry['mean_item_bytes']:,.0f} B/item ({label})",
            _spread(entry["framework_us"], 1),
        ]
        for label, entry in framework["by_item_size"].items()
    )
    return _table(
        [f"CPU us/profile over {framework['profiles']:,} in-memory profiles", "median (min..max)"],
        rows,
    )


def render_memory(memory: list[RunSample]) -> str:
    return _table(
        ["runner on", "peak RSS MiB", "wall s", "profiles/s", "client CPU us/profile"],
        [
            [
                f"{run.profiles:,} profiles",
                f"{run.client_peak_rss_kib / MIB:,.1f}",
                f"{run.wall_s:,.1f}",
                f"{run.rate:,.0f}",
                f"{run.client_us_per_profile:,.0f}",
            ]
            for run in memory
        ],
    )


def render_costs(costs: list[ScenarioCost]) -> str:
    rows = []
    for cost in costs:
        s = cost.scenario
        d = cost.dollars
        rows.append(
            [
                f"{s.profiles / 1e6:,.0f} M x {s.item_bytes // 1024} KB",
                f"{s.write_capacity:,}",
                f"{cost.segments:,}",
                f"{cost.lambda_invocations:,}",
                f"{cost.state_transitions:,}",
                f"{d['dynamodb_writes']:,.2f}",
                f"{d['dynamodb_scans']:,.2f}",
                f"{d['lambda']:,.3f}",
                f"{d['step_functions']:,.3f}",
                f"{d['s3'] + d['cloudwatch'] + d['control_table']:,.3f}",
                f"{d['journal']:,.3f}",
                f"{cost.orchestration_share * 100:,.1f} %",
                f"{cost.journal_share * 100:,.1f} %",
                f"{cost.all_but_writes_share * 100:,.1f} %",
                f"{cost.total:,.2f}",
                f"{cost.backup_dollars_per_month:,.2f}",
                f"{cost.minutes:,.0f}",
                cost.limited_by,
            ]
        )
    return _table(
        [
            "profiles",
            "WCU/s",
            "segments",
            "Lambda calls",
            "state transitions",
            "writes $",
            "scans $",
            "Lambda $",
            "Step Functions $",
            "S3, CloudWatch, control table $",
            "journal $",
            "orchestration / writes",
            "journal / writes",
            "orchestration + journal / writes",
            "total $",
            "backup $/month kept",
            "minutes",
            "limited by",
        ],
        rows,
    )


def render_journal_costs(costs: list[ScenarioCost], levers: list[RetentionLever]) -> str:
    """The journal as measured for each item size, and what shorter retentions give."""
    samples = {cost.scenario.item_bytes: cost for cost in costs if cost.journal is not None}
    measured = _table(
        [
            "journal of a migrate page",
            "profiles per page",
            "item bytes",
            "JSON Lines B/profile",
            "gzip B/profile",
            "ratio",
            "object KB",
            "CPU us/profile (gzip)",
            "Lambda ms/profile",
        ],
        [
            [
                f"{size // 1024} KB items",
                f"{journal.profiles_per_page:,}",
                f"{journal.mean_item_bytes:,.0f}",
                f"{journal.json_lines_bytes_per_profile:,.0f}",
                f"{journal.gzip_bytes_per_profile:,.0f}",
                f"{journal.ratio:.2f}",
                f"{journal.object_bytes / 1000:,.0f}",
                f"{journal.cpu_us_per_profile:,.0f} ({journal.gzip_cpu_us_per_profile:,.0f})",
                f"{cost.journal_lambda_s_per_profile * 1e3:.2f}",
            ]
            for size, cost in sorted(samples.items())
            if (journal := cost.journal) is not None
        ],
    )
    retention = _table(
        [
            "journal kept",
            "journal / writes, worst",
            "orchestration + journal / writes, worst",
            "journal $, costliest scenario",
        ],
        [
            [
                f"{lever.days:,.0f} days",
                f"{lever.journal_share * 100:,.1f} %",
                f"{lever.all_but_writes_share * 100:,.1f} %",
                f"{lever.largest_journal_dollars:,.2f}",
            ]
            for lever in levers
        ],
    )
    return "\n\n".join([measured, retention])


def render_targets(checks: list[Target]) -> str:
    def verdict(check: Target) -> str:
        if check.measured is not None and check.informational:
            return "information"
        if check.met is None:
            return "not measured"
        return "met" if check.met else "MISSED"

    return _table(
        ["target", "goal", "measured", "verdict"],
        [
            [
                check.name,
                check.goal,
                "—" if check.measured is None else f"{check.measured:,.2f} {check.unit}".strip(),
                verdict(check),
            ]
            for check in checks
        ],
    )
