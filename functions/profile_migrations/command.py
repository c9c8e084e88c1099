"""The tool's commands as plain functions, shaped like Alembic's ``command`` module: each
takes one typed configuration and returns a model. The CLI maps its arguments onto these,
and the demo and the benchmarks call them too; nothing else wires the runner.

Every function raises :class:`MigrationInputError` (bad input; nothing written) before it
writes anything, and otherwise returns its result.
"""

from __future__ import annotations

import math
import socket
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from profile_migrations.authoring import add_step
from profile_migrations.clock import iso_timestamp
from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.dal.dynamodb import ProfileTable, make_dynamodb_client
from profile_migrations.errors import InvalidRequestError, NoRunInProgressError, RunLockedError
from profile_migrations.loader import load_registry
from profile_migrations.logic.journal import FileJournal
from profile_migrations.logic.lifecycle import (
    DEFAULT_LEASE_SECONDS,
    Protection,
    _owner_is_dead_here,
    local_owner,
)
from profile_migrations.logic.pacing import Caps
from profile_migrations.logic.report import JsonLinesReport
from profile_migrations.logic.rollback_run import (
    DEFAULT_ROLLBACK_WORKERS,
    LocalRollback,
    rollback_local,
)
from profile_migrations.logic.runner import (
    DEFAULT_LOCAL_WORKERS,
    LocalRun,
    LocalRunOptions,
    default_local_segments,
    run_local,
)
from profile_migrations.logic.status import RunState, count_versions, run_state
from profile_migrations.logic.summary import should_roll_back, with_rollback
from profile_migrations.models.commands import (
    HistoryResult,
    NewResult,
    PlannedStep,
    PlanResult,
    StatusResult,
    ThrottleResult,
    UnlockResult,
)
from profile_migrations.models.limits import MAX_SEGMENTS
from profile_migrations.models.requests import RunRequest

if TYPE_CHECKING:
    import threading

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.dal.dynamodb import StaticCredentials
    from profile_migrations.logic.ports import RunListener
    from profile_migrations.models.records import LockInfo
    from profile_migrations.models.results import MigrationResponse

REPORT_DIR = Path("profile-migrate-reports")


@dataclass(frozen=True)
class TableTarget:
    """Which table, at which endpoint and region, with which control table (default
    ``<table>-migrations``); ``credentials`` only for an engine the caller owns (the demo's
    DynamoDB Local), else the standard AWS chain."""

    table: str
    endpoint_url: str | None = None
    region: str | None = None
    control_table: str | None = None
    credentials: StaticCredentials | None = None

    def client(self, max_connections: int = 16) -> DynamoDBClient:
        return make_dynamodb_client(
            self.endpoint_url, self.region, max_connections, credentials=self.credentials
        )

    def control(self, client: DynamoDBClient) -> ControlTable:
        return ControlTable(client, self.control_table or control_table_name(self.table))


@dataclass(frozen=True)
class RunConfig:
    """``profile-migrate run``: the request, the registry (a dotted module or a ``.py``
    file; default CICADA's chain), how to run it, where the JSON Lines report goes
    (default ``profile-migrate-reports/<table>-<mode>-<time>.jsonl``), and how a real run
    protects the table (``resume``, ``allow_changed``, ``backup``, the lock's lease in
    seconds). ``listener`` sees progress (the CLI's bars); setting ``stop`` stops the run
    between pages, resumable (the CLI sets it on Ctrl-C).

    ``max_write_capacity`` and ``max_read_capacity`` cap the run (WCU/s, RCU/s, all
    workers together, > 0; None: the default, half the provisioned write capacity of a
    provisioned table and no cap otherwise, no read cap); ``stop_at`` ends the run's
    window (timezone-aware): the run then stops resumable, ``stoppedBy: "window"``."""

    target: TableTarget
    request: RunRequest = field(default_factory=RunRequest)
    migrations: str | None = None
    options: LocalRunOptions = field(default_factory=LocalRunOptions)
    report: Path | None = None
    resume: bool = False
    allow_changed: bool = False
    backup: bool = True
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    listener: RunListener | None = None
    stop: threading.Event | None = None
    max_write_capacity: float | None = None
    max_read_capacity: float | None = None
    stop_at: datetime | None = None
    rollback_on_failure: bool = False
    max_failure_percent: float | None = None


def run(config: RunConfig) -> MigrationResponse:
    """Migrate (or dry-run, or verify) every profile of the table; the run's document.

    An unusable report path, a cap that is not a positive number, or a window that has
    already ended (or has no timezone) is refused with :class:`InvalidRequestError` before
    the table is read."""
    stop_at = _window_end(config.stop_at)
    for name, cap in (
        ("--max-write-capacity", config.max_write_capacity),
        ("--max-read-capacity", config.max_read_capacity),
    ):
        if cap is not None and not (math.isfinite(cap) and cap > 0):
            raise InvalidRequestError(f"{name} must be a number above 0, not {cap}")
    request = config.request
    _check_rollback_options(config)
    registry = load_registry(config.migrations)
    client = config.target.client(max_connections=config.options.workers * 2)
    report_path = config.report or _default_report_path(config.target.table, request)
    report = JsonLinesReport(report_path)
    writes = not request.dry_run and not request.verify_only
    journal = FileJournal(journal_path(report_path)) if writes else None
    protection = Protection(
        control=config.target.control(client),
        owner=local_owner(),
        where=config.target.endpoint_url or f"aws:{client.meta.region_name}",
        resume=config.resume,
        allow_changed=config.allow_changed,
        backup=config.backup,
        lease_seconds=config.lease_seconds,
        journal_uri=journal.uri if journal else None,
        journal_size=journal.size if journal else None,
    )
    with report, journal or nullcontext():
        response = run_local(
            LocalRun(
                request=request,
                registry=registry,
                store=ProfileTable(client, config.target.table),
                sink=report,
                report_uri=None if request.verify_only else report.uri,
                options=config.options,
                listener=config.listener,
                protection=protection,
                stop=config.stop,
                caps=Caps(config.max_write_capacity, config.max_read_capacity),
                stop_at=stop_at,
                journal=journal,
                journal_uri=journal.uri if journal else None,
            )
        )
    if config.rollback_on_failure and response.run_id:
        if should_roll_back(response, config.max_failure_percent):
            _roll_back_run(config, response, report_path)
        else:
            response.rolled_back = False
    return response


def _check_rollback_options(config: RunConfig) -> None:
    percent = config.max_failure_percent
    if percent is not None and not config.rollback_on_failure:
        raise InvalidRequestError("--max-failure-percent applies only with --rollback-on-failure")
    if percent is not None and not (math.isfinite(percent) and 0 <= percent <= 100):
        raise InvalidRequestError(f"--max-failure-percent must be from 0 to 100, not {percent}")
    if config.rollback_on_failure and (config.request.dry_run or config.request.verify_only):
        raise InvalidRequestError(
            "--rollback-on-failure applies to a real run: a dry run or a verification "
            "writes nothing to roll back"
        )


def _roll_back_run(config: RunConfig, response: MigrationResponse, report_path: Path) -> None:
    """Roll back the run ``response`` reports, and say so in it."""
    run_id = response.run_id or ""
    undo = rollback(
        RollbackConfig(
            target=config.target,
            run_id=run_id,
            report=report_path.with_name(
                f"{report_path.name.removesuffix('.jsonl')}.rollback.jsonl"
            ),
            workers=config.options.workers,
            max_write_capacity=config.max_write_capacity,
            lease_seconds=config.lease_seconds,
            stop=config.stop,
        )
    )
    table = config.target.table
    resume = f"`profile-migrate rollback --table {table} --run {run_id} --resume` continues it"
    with_rollback(response, undo, resume)


@dataclass(frozen=True)
class RollbackConfig:
    """``profile-migrate rollback``: undo run ``run_id`` of the table item by item from
    its journal (``dry_run``: only report what it would do); ``resume`` continues the
    run's unfinished rollback; the JSON Lines report goes to ``report`` (default
    ``profile-migrate-reports/<table>-rollback-<time>.jsonl``); ``workers`` write batches
    in flight; ``max_write_capacity`` caps its writes (WCU/s, > 0; None: half the
    provisioned write capacity of a provisioned table, no cap on an on-demand one);
    setting ``stop`` stops it between groups of writes, resumable."""

    target: TableTarget
    run_id: str
    dry_run: bool = False
    resume: bool = False
    report: Path | None = None
    workers: int = DEFAULT_ROLLBACK_WORKERS
    max_write_capacity: float | None = None
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    stop: threading.Event | None = None


def rollback(config: RollbackConfig) -> MigrationResponse:
    """Undo a run item by item (logic/rollback.py): its document. Raises
    :class:`InvalidRequestError` before writing anything for a bad cap, an unknown run,
    a run whose journal is gone or elsewhere, an unusable report path, and
    :class:`RunLockedError` when another run holds the table's lock."""
    cap = config.max_write_capacity
    if cap is not None and not (math.isfinite(cap) and cap > 0):
        raise InvalidRequestError(f"--max-write-capacity must be a number above 0, not {cap}")
    if config.dry_run and config.resume:
        raise InvalidRequestError("--dry-run writes nothing, so it has nothing to --resume")
    client = config.target.client(max_connections=config.workers * 2)
    mode = "rollback-dry-run" if config.dry_run else "rollback"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    report = JsonLinesReport(
        config.report or REPORT_DIR / f"{config.target.table}-{mode}-{stamp}.jsonl"
    )
    protection = Protection(
        control=config.target.control(client),
        owner=local_owner(),
        where=config.target.endpoint_url or f"aws:{client.meta.region_name}",
        resume=config.resume,
        lease_seconds=config.lease_seconds,
    )
    with report:
        return rollback_local(
            LocalRollback(
                run_id=config.run_id,
                store=ProfileTable(client, config.target.table),
                protection=protection,
                record=report.record,
                report_uri=report.uri,
                workers=config.workers,
                caps=Caps(cap, None),
                dry_run=config.dry_run,
                stop=config.stop,
            )
        )


def journal_path(report: Path) -> Path:
    """A run's journal file, next to its report: ``<report name>.journal.jsonl``."""
    return report.with_name(f"{report.name.removesuffix('.jsonl')}.journal.jsonl")


def _window_end(stop_at: datetime | None) -> float | None:
    if stop_at is None:
        return None
    if stop_at.tzinfo is None:
        raise InvalidRequestError(
            f"the window's end {stop_at.isoformat()} has no timezone; give an offset "
            "(e.g. 2026-12-01T06:00:00+01:00, or Z for UTC)"
        )
    try:
        end = stop_at.timestamp()
        stop_at.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidRequestError(f"the window's end {stop_at.isoformat()}: {exc}") from exc
    if end <= time.time():
        raise InvalidRequestError(
            f"the window ends at {iso_timestamp(stop_at.astimezone(UTC))}, before the run "
            "would start; nothing was done"
        )
    return end


def _default_report_path(table: str, request: RunRequest) -> Path:
    mode = "dry-run" if request.dry_run else "verify" if request.verify_only else "run"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return REPORT_DIR / f"{table}-{mode}-{stamp}.jsonl"


@dataclass(frozen=True)
class PlanConfig:
    """``profile-migrate plan``: the steps from ``from_version`` (default: the chain's
    first version) to ``target_version`` (default: the registry's current version)."""

    migrations: str | None = None
    target_version: int | None = None
    from_version: int | None = None


def plan(config: PlanConfig) -> PlanResult:
    """The migration path a run would apply, without touching any table; a step not
    written yet is marked ``written: false``."""
    registry = load_registry(config.migrations)
    target = config.target_version or registry.current_version
    start = config.from_version or registry.chain.base
    steps = registry.chain.path(start, target)
    return PlanResult(
        from_version=start,
        target_version=target,
        steps=[
            PlannedStep(
                from_version=step.from_version,
                to_version=step.to_version,
                description=step.description,
                written=step.written,
            )
            for step in steps
        ],
    )


@dataclass(frozen=True)
class NewConfig:
    """``profile-migrate new``: the new step's description, and the registry to append it
    to (a ``.py`` file or a dotted module; default CICADA's
    ``profile_migrations/migrations.py``)."""

    description: str
    migrations: str | None = None


def new(config: NewConfig) -> NewResult:
    """Append the next step (from the registry's highest version to the next) as a stub
    that refuses every profile until written, bump ``CURRENT_PROFILE_VERSION``, and create
    a failing test for the step (authoring.py says where). Touches no table. Raises,
    with nothing changed, :class:`InvalidRequestError` for an empty description,
    :class:`RegistryLoadError` when the registry does not load, and
    :class:`RegistryEditError` when its file cannot be edited safely or the test file
    exists."""
    added = add_step(config.description, config.migrations)
    return NewResult(
        registry=str(added.registry),
        test_file=str(added.test_file),
        step=PlannedStep(
            from_version=added.from_version,
            to_version=added.to_version,
            description=added.description,
            written=False,
        ),
        function=added.function,
        current_profile_version=added.to_version,
        changed=[str(added.registry), str(added.test_file)],
    )


@dataclass(frozen=True)
class StatusConfig:
    """``profile-migrate status``: the table, the registry that gives the target (default
    CICADA's chain; ``target_version`` overrides its ``CURRENT_PROFILE_VERSION``), and the
    scan's parallel segments (None: from the table's size, as ``run`` chooses them) read
    ``workers`` at a time."""

    target: TableTarget
    migrations: str | None = None
    target_version: int | None = None
    total_segments: int | None = None
    workers: int = DEFAULT_LOCAL_WORKERS


def status(config: StatusConfig) -> StatusResult:
    """Profiles per version and the table's runs. Read-only: scans the table (what a
    scan of the whole table costs, eventually consistent: 0.5 RCU per 4 KB of items),
    reads the control table if there is one and creates nothing. Raises
    :class:`RegistryLoadError` or :class:`NoMigrationPathError` for a registry or target
    that cannot be used, and :class:`TableNotFoundError` for a missing table, before
    scanning."""
    if config.total_segments is not None and not 1 <= config.total_segments <= MAX_SEGMENTS:
        raise InvalidRequestError(
            f"--segments must be from 1 to {MAX_SEGMENTS:,} (DynamoDB's TotalSegments), not "
            f"{config.total_segments}"
        )
    registry = load_registry(config.migrations)
    target_version = config.target_version or registry.current_version
    registry.chain.check_target(target_version)
    client = config.target.client(max_connections=config.workers * 2)
    store = ProfileTable(client, config.target.table)
    table = store.describe()
    segments = config.total_segments or default_local_segments(table.item_count, config.workers)
    counts = count_versions(store, segments, table.key_attributes, config.workers)
    control = config.target.control(client)
    runs = run_state(control, table.name) if control.exists() else RunState()
    return StatusResult(
        table=table.name,
        target_version=target_version,
        versions=counts.to_rows(),
        below_target=counts.below(target_version),
        profiles=counts.total,
        running=runs.running,
        unfinished=runs.unfinished,
        last_run=runs.last_run,
        consumed_read_capacity_units=round(counts.consumed_read_capacity_units, 1),
    )


def history(target: TableTarget) -> HistoryResult:
    """Every recorded real run of the table, newest first. Read-only: a table never
    migrated (no control table yet) answers an empty history and nothing is created; a
    table that does not exist either (a mistyped name) is refused with
    :class:`TableNotFoundError`."""
    client = target.client()
    control = target.control(client)
    if not control.exists():
        _require_table(client, target.table)
        return HistoryResult(table=target.table, runs=[])
    return HistoryResult(table=target.table, runs=control.history(target.table))


def unlock(target: TableTarget, force: bool = False) -> UnlockResult:
    """Release the table's lock when its holder is gone (a process of this host that has
    exited, or a lease that has expired); what was released, None when the table was not
    locked. A holder that may still be running (a live process of this host; another host's
    process or an execution whose lease has not expired) is refused with
    :class:`RunLockedError` naming it, unless ``force``. Read-only like :func:`history`
    when there is no control table: nothing is created, a missing table is refused."""
    client = target.client()
    control = target.control(client)
    if not control.exists():
        _require_table(client, target.table)
        return UnlockResult(released=None)
    held = control.read_lock(target.table)
    if held is None:
        return UnlockResult(released=None)
    if not force:
        _refuse_live_holder(held)
    return UnlockResult(released=control.release_lock(target.table, held.owner))


@dataclass(frozen=True)
class ThrottleConfig:
    """``profile-migrate throttle``: the running run's new write cap (WCU/s, >= 0; 0
    pauses its writes; None with ``unlimited``: no cap) and, when given, its new read cap
    (RCU/s, > 0; None: unchanged)."""

    target: TableTarget
    max_write_capacity: float | None = None
    unlimited: bool = False
    max_read_capacity: float | None = None


def throttle(config: ThrottleConfig) -> ThrottleResult:
    """Change the caps of the run holding the table's lock, a local run or a pipeline
    execution alike (its workers read them every 5 seconds). Raises
    :class:`InvalidRequestError` for a bad cap (a write cap below 0, a read cap not above
    0, neither a write cap nor ``unlimited``, or both) and :class:`NoRunInProgressError`
    when no live run holds the lock; nothing is changed then."""
    write = config.max_write_capacity
    if config.unlimited == (write is not None):
        raise InvalidRequestError("give exactly one of --max-write-capacity and --unlimited")
    if write is not None and not (math.isfinite(write) and write >= 0):
        raise InvalidRequestError(f"--max-write-capacity must be 0 or more, not {write}")
    read = config.max_read_capacity
    if read is not None and not (math.isfinite(read) and read > 0):
        raise InvalidRequestError(f"--max-read-capacity must be a number above 0, not {read}")
    client = config.target.client()
    control = config.target.control(client)
    table = config.target.table
    if not control.exists():
        _require_table(client, table)
        raise NoRunInProgressError(f"no run of table {table!r} is in progress")
    held = control.read_lock(table)
    changed = None
    # A process of this host that has exited holds the lock only until `run --resume` or
    # `unlock` releases it: it runs nothing that would follow the caps.
    if held is not None and not _owner_is_dead_here(held.owner):
        changed = control.set_caps(table, write, held.max_read_capacity if read is None else read)
    if changed is None:
        raise NoRunInProgressError(
            f"no run of table {table!r} is in progress (it is not locked, or its lock's "
            "lease has expired); caps apply to a running run: give them to `run` instead"
        )
    return ThrottleResult(
        table=table,
        run_id=changed.run_id,
        owner=changed.owner,
        max_write_capacity=changed.max_write_capacity,
        max_read_capacity=changed.max_read_capacity,
    )


def _require_table(client: DynamoDBClient, table: str) -> None:
    """Raises :class:`TableNotFoundError` (naming ``table``) when it does not exist."""
    ProfileTable(client, table).describe()


def _refuse_live_holder(held: LockInfo) -> None:
    if _owner_is_dead_here(held.owner):
        return
    who = f"run {held.run_id} ({held.owner}, since {held.acquired_at})"
    force = f"`profile-migrate unlock --table {held.table} --force`"
    if _runs_on_this_host(held.owner):
        raise RunLockedError(
            f"table {held.table!r} is locked by {who}, a process of this host that is still "
            f"running; stop it (Ctrl-C stops it between pages), or release the lock anyway "
            f"with {force}",
            holder=held,
        )
    left = held.expires_at - time.time()
    if left > 0:
        expires = iso_timestamp(datetime.fromtimestamp(held.expires_at, UTC))
        raise RunLockedError(
            f"table {held.table!r} is locked by {who}, which may still be running: its lease "
            f"expires at {expires} (in {math.ceil(left)} s) unless it is renewed. If that run "
            f"is dead, wait until then, or release the lock now with {force}",
            holder=held,
        )


def _runs_on_this_host(owner: str) -> bool:
    """Whether the lock's owner is a process of this host (``user@host:pid``, as
    :func:`local_owner` writes it), rather than another host's or an execution."""
    host, _, pid = owner.rpartition("@")[2].rpartition(":")
    return host == socket.gethostname() and pid.isdigit()
