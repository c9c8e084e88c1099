"""One measured run of one variant on one freshly seeded table, in its own process.

Every variant is timed the same way: wall seconds from spawning its process to its exit
(interpreter start and imports included), CPU seconds and peak memory of that process
alone, and the CPU seconds DynamoDB Local's JVM spent meanwhile.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from bench.processes import process_cpu_seconds, run_measured

if TYPE_CHECKING:
    from bench.engine import BenchEngine

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_SECONDS = 1_800.0
NAIVE = "naive"
LOOP = "loop"
CEILING = "ceiling"
SCAN_CEILING = "scan-ceiling"
RUNNER = "runner"
VERIFY_ONLY = "runner --verify-only"
STARTUP = "runner startup"


def cli_path() -> Path:
    """The project's ``profile-migrate`` entry point, beside this interpreter."""
    return Path(sys.executable).parent / "profile-migrate"


@dataclass(frozen=True)
class Config:
    """Parallelism of a baseline: scan segments (0: no scan) and writer threads."""

    segments: int
    workers: int

    @property
    def label(self) -> str:
        scan = "no scan" if self.segments == 0 else f"{self.segments} seg"
        return f"{scan} x {self.workers} thr"


@dataclass
class RunSample:
    """One finished run; ``detail`` holds what the process itself printed."""

    variant: str
    profiles: int
    wall_s: float
    client_cpu_s: float
    client_peak_rss_kib: int
    engine_cpu_s: float
    config: Config | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.profiles / self.wall_s

    @property
    def client_us_per_profile(self) -> float:
        return self.client_cpu_s * 1e6 / self.profiles

    @property
    def engine_us_per_profile(self) -> float:
        return self.engine_cpu_s * 1e6 / self.profiles

    @property
    def cores_busy(self) -> float:
        """Client plus engine CPU seconds per wall second (the machine has 2 cores)."""
        return (self.client_cpu_s + self.engine_cpu_s) / self.wall_s

    def to_json(self) -> dict[str, Any]:
        document = asdict(self)
        document.update(
            rate=self.rate,
            client_us_per_profile=self.client_us_per_profile,
            engine_us_per_profile=self.engine_us_per_profile,
            cores_busy=self.cores_busy,
        )
        return document


def _measure(
    engine: BenchEngine, variant: str, profiles: int, command: list[str], cwd: Path
) -> tuple[RunSample, str]:
    engine_before = process_cpu_seconds(engine.java_pid)
    sample = run_measured(command, engine.child_env(), cwd, RUN_TIMEOUT_SECONDS)
    engine_cpu = process_cpu_seconds(engine.java_pid) - engine_before
    run = RunSample(
        variant=variant,
        profiles=profiles,
        wall_s=sample.wall_s,
        client_cpu_s=sample.cpu_s,
        client_peak_rss_kib=sample.peak_rss_kib,
        engine_cpu_s=engine_cpu,
    )
    return run, sample.stdout


def run_baseline(
    engine: BenchEngine,
    variant: str,
    table: str,
    profiles: int,
    config: Config,
    plan: Path,
    tag: str = "",
) -> RunSample:
    """``python -m bench.baselines VARIANT`` on ``table``; checks every profile was written."""
    command = [
        sys.executable,
        "-m",
        "bench.baselines",
        variant,
        "--table",
        table,
        "--endpoint-url",
        engine.endpoint_url,
        "--segments",
        str(config.segments),
        "--workers",
        str(config.workers),
        "--plan",
        str(plan),
    ]
    run, stdout = _measure(engine, variant, profiles, command, REPO_ROOT)
    run.detail = json.loads(stdout)
    run.config = config
    if run.detail["written"] != profiles:
        raise RuntimeError(f"{variant} wrote {run.detail['written']} of {profiles} profiles")
    logger.info(
        "%s%-12s %-18s %7.0f profiles/s  %6.0f us CPU/profile",
        tag,
        variant,
        config.label,
        run.rate,
        run.client_us_per_profile,
    )
    return run


def run_cli(
    engine: BenchEngine,
    table: str,
    profiles: int,
    workdir: Path,
    verify_only: bool = False,
    tag: str = "",
) -> RunSample:
    """``profile-migrate run --table T --endpoint-url URL --json`` with default settings
    (the report goes to ``profile-migrate-reports/`` under ``workdir``)."""
    command = [str(cli_path()), "run", "--table", table, "--endpoint-url", engine.endpoint_url]
    if verify_only:
        command.append("--verify-only")
    command.append("--json")
    variant = VERIFY_ONLY if verify_only else RUNNER
    run, stdout = _measure(engine, variant, profiles, command, workdir)
    document = json.loads(stdout)
    if not document["success"]:
        raise RuntimeError(f"{variant} did not succeed: {document.get('message')}")
    if verify_only:
        checked = document["verification"]["checkedCount"]
        if checked != profiles:
            raise RuntimeError(f"{variant} checked {checked} of {profiles} profiles")
    else:
        migrated = document["summary"]["successCount"]
        if migrated != profiles:
            raise RuntimeError(f"{variant} migrated {migrated} of {profiles} profiles")
        report = Path(url2pathname(urlparse(document["summary"]["reportUri"]).path))
        run.detail["report_bytes"] = report.stat().st_size
        report.unlink()
    run.detail["message"] = document["message"]
    logger.info(
        "%s%-12s %-18s %7.0f profiles/s  %6.0f us CPU/profile  peak RSS %.0f MiB",
        tag,
        variant,
        "defaults",
        run.rate,
        run.client_us_per_profile,
        run.client_peak_rss_kib / 1024,
    )
    return run


def run_startup(engine: BenchEngine, workdir: Path) -> RunSample:
    """``profile-migrate plan --json``: the CLI's interpreter start and imports, no table."""
    run, _ = _measure(engine, STARTUP, 1, [str(cli_path()), "plan", "--json"], workdir)
    return run
