"""What a person sees: live progress bars per segment and a readable final report."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from profile_migrations.models.results import RollbackSummary

if TYPE_CHECKING:
    from rich.console import Console

    from profile_migrations.models.commands import (
        HistoryResult,
        NewResult,
        PlanResult,
        RunProgress,
        StatusResult,
        ThrottleResult,
    )
    from profile_migrations.models.results import MigrationResponse

MAX_SEGMENT_BARS = 16
FAILURES_SHOWN = 20


class ProgressBars:
    """A RunListener drawing an overall bar and one bar per segment (up to 16) on stderr."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._overall: TaskID | None = None
        self._segment_tasks: dict[int, TaskID] = {}
        self._estimate = 0

    def phase_started(self, phase: str, segments: int, estimated_items: int) -> None:
        with self._lock:
            self._progress = Progress(
                TextColumn("{task.description}", justify="right"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self._console,
                transient=False,
            )
            self._estimate = max(1, estimated_items)
            self._overall = self._progress.add_task(f"{phase}: all", total=self._estimate)
            per_segment = max(1, estimated_items // segments)
            self._segment_tasks = {}
            if segments <= MAX_SEGMENT_BARS:
                for segment in range(segments):
                    self._segment_tasks[segment] = self._progress.add_task(
                        f"segment {segment}", total=per_segment
                    )
            self._progress.start()

    def page_done(self, phase: str, segment: int, items: int) -> None:
        with self._lock:
            if self._progress is None or self._overall is None:
                return
            self._advance(self._overall, items)
            task = self._segment_tasks.get(segment)
            if task is not None:
                self._advance(task, items)

    def _advance(self, task: TaskID, items: int) -> None:
        assert self._progress is not None
        current = self._progress.tasks[task]
        if current.total is not None and current.completed + items > current.total:
            self._progress.update(task, total=current.completed + items)
        self._progress.advance(task, items)

    def phase_finished(self, phase: str) -> None:
        with self._lock:
            if self._progress is None:
                return
            for task in self._progress.tasks:
                self._progress.update(task.id, total=task.completed)
            self._progress.stop()
            self._progress = None


def print_report(console: Console, response: MigrationResponse, elapsed_seconds: float) -> None:
    """The readable counterpart of ``--json``: counts, first failures, verification."""
    style, title = _title(response)
    console.print(f"[bold {style}]{title}[/] {escape(response.message)}")
    summary = response.summary
    if summary is not None:
        table = Table(title="Summary", show_header=False)
        table.add_row("profiles scanned", f"{summary.total_profiles:,}")
        table.add_row(
            "migrated" if not summary.dry_run else "would migrate", f"{summary.success_count:,}"
        )
        table.add_row("failed", f"{summary.failure_count:,}")
        table.add_row("skipped", f"{summary.skipped_count:,}")
        table.add_row("conflicts re-migrated", f"{summary.conflict_count:,}")
        table.add_row("throttled retries", f"{summary.throttle_retry_count:,}")
        table.add_row(
            "write capacity consumed",
            f"{summary.consumed_write_capacity_units:,.1f} WCU"
            f" (cap {_cap_text(summary.max_write_capacity, 'WCU/s')})",
        )
        table.add_row(
            "read capacity consumed",
            f"{summary.consumed_read_capacity_units:,.1f} RCU"
            f" (cap {_cap_text(summary.max_read_capacity, 'RCU/s')})",
        )
        if elapsed_seconds > 0:
            table.add_row("profiles/s", f"{summary.total_profiles / elapsed_seconds:,.0f}")
        if summary.report_uri:
            table.add_row("report", escape(summary.report_uri))
        console.print(table)
        if summary.results:
            failures = Table(title=f"Failed profiles (first {FAILURES_SHOWN})")
            failures.add_column("key")
            failures.add_column("from")
            failures.add_column("error")
            for result in summary.results[:FAILURES_SHOWN]:
                failures.add_row(
                    _key_text(result.model_extra),
                    str(result.from_version),
                    escape(result.error or ""),
                )
            console.print(failures)
    verification = response.verification
    if verification is not None and verification.invalid_profiles:
        invalid = Table(title=f"Profiles not at the target, or not valid (first {FAILURES_SHOWN})")
        invalid.add_column("key")
        invalid.add_column("version")
        invalid.add_column("reason")
        for entry in verification.invalid_profiles[:FAILURES_SHOWN]:
            invalid.add_row(
                _key_text(entry.model_extra),
                escape(str(entry.version)),
                escape(entry.reason or "not at the target"),
            )
        console.print(invalid)
    if response.backup is not None:
        backup = response.backup
        console.print(
            "backup: "
            + escape(backup.backup_arn or backup.point_in_time_recovery or backup.skipped or "-")
        )
    if response.error:
        console.print(f"[red]error:[/] {escape(response.error)}")
    if response.resumable:
        console.print("resumable: `profile-migrate run --resume` continues this run")
    if response.rollback is not None:
        console.print("[bold]Rollback on failure[/]")
        print_rollback(console, response.rollback)


def print_rollback(console: Console, response: MigrationResponse) -> None:
    """The readable counterpart of a rollback's ``--json``."""
    style, title = _title(response)
    console.print(f"[bold {style}]{title}[/] {escape(response.message)}")
    summary = response.summary
    if isinstance(summary, RollbackSummary):
        table = Table(title="Rollback", show_header=False)
        verb = "would restore" if summary.dry_run else "restored"
        table.add_row(verb, f"{summary.restored_count:,}")
        table.add_row("kept (changed since by the application)", f"{summary.kept_count:,}")
        table.add_row("missing (deleted since)", f"{summary.missing_count:,}")
        table.add_row("already restored", f"{summary.already_restored_count:,}")
        table.add_row("failed", f"{summary.failure_count:,}")
        table.add_row(
            "write capacity consumed",
            f"{summary.consumed_write_capacity_units:,.1f} WCU"
            f" (cap {_cap_text(summary.max_write_capacity, 'WCU/s')})",
        )
        if summary.report_uri:
            table.add_row("report", escape(summary.report_uri))
        console.print(table)
        for result in summary.results[:FAILURES_SHOWN]:
            console.print(f"failed: {_key_text(result.model_extra)}: {escape(result.error or '')}")
    if response.error:
        console.print(f"[red]error:[/] {escape(response.error)}")
    if response.resumable and response.rolls_back:
        console.print(
            f"resumable: `profile-migrate rollback --run {escape(response.rolls_back)} "
            "--resume` continues this rollback"
        )


def _title(response: MigrationResponse) -> tuple[str, str]:
    """The first word of the report and its colour: a resumable stop is no failure."""
    if response.success:
        return "green", "SUCCESS"
    if response.resumable or response.stopped_by:
        return "yellow", "STOPPED"
    return "red", "FAILED"


def _cap_text(cap: float | None, unit: str) -> str:
    if cap is None:
        return "none"
    return "paused" if cap == 0 else f"{cap:,g} {unit}"


def print_throttle(console: Console, result: ThrottleResult) -> None:
    console.print(
        f"Run {escape(result.run_id)} ({escape(result.owner)}) of {escape(result.table)}: "
        f"write cap {_cap_text(result.max_write_capacity, 'WCU/s')}, "
        f"read cap {_cap_text(result.max_read_capacity, 'RCU/s')}; "
        "its workers follow within 10 seconds."
    )


def _key_text(key: dict[str, Any] | None) -> str:
    """A result's key attributes as ``name=value, ...``, escaped for rich."""
    return escape(", ".join(f"{name}={value}" for name, value in (key or {}).items()))


def print_history(console: Console, result: HistoryResult) -> None:
    if not result.runs:
        console.print(f"No recorded runs of {escape(repr(result.table))}.")
        return
    table = Table(title=f"Runs of {escape(result.table)} (newest first)")
    # Run ids are what `rollback --run` takes: folded, never cut short.
    table.add_column("run", overflow="fold")
    for column in (
        "outcome",
        "target",
        "from",
        "migrated",
        "failed",
        "started",
        "ended",
        "who",
    ):
        table.add_column(column)
    for entry in result.runs:
        rollback = entry.rollback_counters
        migrated = f"{entry.counters.migrated:,}"
        if entry.kind == "rollback":
            restored = rollback.restored if rollback else 0
            migrated = f"{restored:,} restored (rollback of {escape(entry.rolls_back or '?')})"
        table.add_row(
            escape(entry.run_id),
            entry.outcome,
            str(entry.target_version),
            ",".join(str(v) for v in entry.counters.from_versions) or "-",
            migrated,
            f"{rollback.failed if rollback else entry.counters.failed:,}",
            escape(entry.started_at),
            escape(entry.ended_at or "-"),
            escape(", ".join(part.owner for part in entry.parts) or entry.owner),
        )
    console.print(table)


def print_plan(console: Console, result: PlanResult) -> None:
    if not result.steps:
        console.print(f"Version {result.from_version} is already the target; nothing to run.")
        return
    table = Table(title=f"Migration plan: version {result.from_version} -> {result.target_version}")
    table.add_column("step")
    table.add_column("description")
    table.add_column("written")
    for step in result.steps:
        table.add_row(
            f"{step.from_version}->{step.to_version}",
            escape(step.description),
            "yes" if step.written else "[bold red]not written[/]",
        )
    console.print(table)


def print_status(console: Console, result: StatusResult) -> None:
    versions = Table(title=f"Profiles of {escape(result.table)} by version")
    versions.add_column("version")
    versions.add_column("profiles", justify="right")
    for version, count in result.versions.items():
        versions.add_row(version, f"{count:,}")
    versions.add_row("[bold]all[/]", f"[bold]{result.profiles:,}[/]")
    console.print(versions)
    console.print(
        f"target version {result.target_version}: {result.below_target:,} profile(s) below it"
        f" (scan: {result.consumed_read_capacity_units:,.1f} RCU)"
    )
    running = result.running
    if running is not None:
        console.print(
            f"running: run {escape(running.run_id)} by {escape(running.holder)} since "
            f"{escape(running.since)}, {_progress_text(running.progress)}"
        )
    else:
        console.print("running: none")
    unfinished = result.unfinished
    if unfinished is not None:
        console.print(
            f"unfinished: run {escape(unfinished.run_id)} to version "
            f"{unfinished.target_version} ({unfinished.outcome}, last by "
            f"{escape(unfinished.last_owner)}), {_progress_text(unfinished.progress)}; "
            "`profile-migrate run --resume` continues it"
        )
    last = result.last_run
    if last is not None:
        console.print(
            f"last finished run: {escape(last.run_id)} to version {last.target_version}, "
            f"{last.outcome} at {escape(last.ended_at or '-')} "
            f"({last.counters.migrated:,} migrated, {last.counters.failed:,} failed)"
        )
    else:
        console.print("last finished run: none")


def _progress_text(progress: RunProgress) -> str:
    total = "?" if progress.total_segments is None else str(progress.total_segments)
    return (
        f"{progress.segments_done}/{total} segments done, {progress.scanned:,} scanned, "
        f"{progress.migrated:,} migrated, {progress.failed:,} failed"
    )


def print_new(console: Console, result: NewResult) -> None:
    step = result.step
    console.print(
        f"Added step {step.from_version}->{step.to_version} ({escape(step.description)}) as "
        f"{escape(result.function)}, not written yet; CURRENT_PROFILE_VERSION is now "
        f"{result.current_profile_version}. Write the step, remove its "
        "@ProfileMigration.not_written, and complete its test. Changed:"
    )
    for path in result.changed:
        console.print(f"  {escape(path)}", soft_wrap=True)
