"""Turning counters and capped failure lists into the run's response document.

Shared by the local runner and the pipeline's aggregate step, so both print the same
document for the same table and request.
"""

from __future__ import annotations

import heapq
import json
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError

from profile_migrations import environment
from profile_migrations.errors import MigrationInputError
from profile_migrations.models.limits import RESULTS_CAP
from profile_migrations.models.results import (
    InvalidProfile,
    MigrationResponse,
    ProfileResult,
    SegmentCounters,
    Summary,
    Verification,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

    from profile_migrations.models.records import RunOutcome

EntryT = TypeVar("EntryT", ProfileResult, InvalidProfile)


def _by_key(entry: ProfileResult | InvalidProfile) -> str:
    return json.dumps(entry.model_extra or {}, sort_keys=True, default=str)


def first_by_key(entries: Iterable[EntryT], cap: int = RESULTS_CAP) -> list[EntryT]:
    """The ``cap`` entries with the smallest keys: the same list whatever order the
    segments finished in, so the local runner and the pipeline report alike."""
    return heapq.nsmallest(cap, entries, key=_by_key)


def summarize(
    counters: SegmentCounters,
    failures: Iterable[ProfileResult],
    report_uri: str | None,
    dry_run: bool,
) -> Summary:
    kept = first_by_key(failures)
    return Summary(
        total_profiles=counters.scanned,
        success_count=counters.migrated,
        failure_count=counters.failed,
        skipped_count=counters.skipped,
        results=kept,
        results_truncated=counters.failed > len(kept),
        from_versions=counters.from_versions,
        conflict_count=counters.conflicts,
        throttle_retry_count=counters.throttle_retries,
        report_uri=report_uri,
        dry_run=dry_run,
        consumed_write_capacity_units=round(counters.consumed_write_capacity_units, 1),
        consumed_read_capacity_units=round(counters.consumed_read_capacity_units, 1),
    )


def verification_of(
    checked: int,
    invalid_count: int,
    invalid: Iterable[InvalidProfile],
    complete: bool,
    consumed_read_capacity_units: float = 0.0,
) -> Verification:
    """``valid`` only when every segment was checked to its end and none was off target: a
    verification cut short proves nothing about the profiles it did not reach."""
    kept = first_by_key(invalid)
    return Verification(
        valid=complete and invalid_count == 0,
        invalid_profiles=kept,
        checked_count=checked,
        invalid_count=invalid_count,
        invalid_profiles_truncated=invalid_count > len(kept),
        consumed_read_capacity_units=round(consumed_read_capacity_units, 1),
        complete=complete,
    )


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def _summary_sentence(summary: Summary, target: int) -> str:
    if summary.dry_run:
        return (
            f"Dry run to version {target}: {_count(summary.success_count, 'profile')} would be "
            f"migrated, {summary.failure_count:,} would fail, {summary.skipped_count:,} skipped "
            "(already at the target). Nothing was written."
        )
    return (
        f"Migrated {_count(summary.success_count, 'profile')} to version {target}; "
        f"{summary.failure_count:,} failed; {summary.skipped_count:,} skipped."
    )


def _verification_sentence(verification: Verification, target: int) -> str:
    if verification.valid:
        checked = _count(verification.checked_count, "profile")
        return f"Verification: all {checked} are at version {target}."
    checked = _count(verification.checked_count, "profile")
    if verification.invalid_count == 0:
        return f"Verification did not finish: the {checked} it checked are at version {target}."
    if not verification.complete:
        return (
            f"Verification did not finish: of the {checked} it checked, "
            f"{verification.invalid_count:,} are not at version {target}."
        )
    return (
        f"Verification: {verification.invalid_count:,} of "
        f"{_count(verification.checked_count, 'profile')} are not at version {target}."
    )


def build_response(
    target_version: int, summary: Summary | None, verification: Verification | None
) -> MigrationResponse:
    """``success`` holds when no profile failed and verification (if run) found none invalid;
    otherwise ``errorType`` says which (``ProfilesFailed`` first) and ``error`` repeats the
    message after it. The summary's read capacity becomes the run's total: the
    verification's reads added to the migration's."""
    if summary is not None and verification is not None:
        summary.consumed_read_capacity_units = round(
            summary.consumed_read_capacity_units + verification.consumed_read_capacity_units, 1
        )
    sentences = []
    if summary is not None:
        sentences.append(_summary_sentence(summary, target_version))
    if verification is not None:
        sentences.append(_verification_sentence(verification, target_version))
    error_type: str | None = None
    if summary is not None and summary.failure_count:
        error_type = environment.RUN_ERROR_PROFILES_FAILED
    elif verification is not None and not verification.valid:
        error_type = environment.RUN_ERROR_VERIFICATION_FAILED
    message = " ".join(sentences)
    return MigrationResponse(
        success=error_type is None,
        message=message,
        target_version=target_version,
        summary=summary,
        verification=verification,
        error=None if error_type is None else f"{error_type}: {message}",
        error_type=error_type,
    )


FINISHED_WITH_FAILURES = frozenset(
    {environment.RUN_ERROR_PROFILES_FAILED, environment.RUN_ERROR_VERIFICATION_FAILED}
)


def outcome_of(response: MigrationResponse) -> RunOutcome:
    """How the history records a run: ``stopped`` (resumable) unless it went to the end."""
    if response.success:
        return "succeeded"
    return "failed" if response.error_type in FINISHED_WITH_FAILURES else "stopped"


def stopped_early(response: MigrationResponse, error_type: str, message: str) -> None:
    """Mark a run that did not finish: ``success`` false, ``error`` and ``errorType`` say
    what stopped it (this outranks failed profiles: the run is resumable)."""
    response.success = False
    response.error_type = error_type
    response.error = f"{error_type}: {message}"


def stopped_by_window(response: MigrationResponse, message: str) -> None:
    """Mark a run its window's end stopped: an intended, resumable stop, said first."""
    stopped_early(response, environment.RUN_ERROR_WINDOW_CLOSED, message)
    response.stopped_by = environment.STOPPED_BY_WINDOW
    response.message = f"Stopped at the end of the run's window. {response.message}"


def error_response(exc: Exception, target_version: int | None = None) -> MigrationResponse:
    if isinstance(exc, MigrationInputError | ValidationError):
        message = "Nothing was written: the request was refused."
    else:
        message = "The run stopped before it finished; every write so far was conditional."
    return MigrationResponse(
        success=False,
        message=message,
        target_version=target_version,
        error=f"{type(exc).__name__}: {exc}",
        error_type=type(exc).__name__,
    )


def fit_within(response: MigrationResponse, max_bytes: int) -> MigrationResponse:
    """Trim the listed failures and invalid profiles until the JSON document fits.

    Step Functions caps a state's output at 256 KiB; counts and the report stay complete,
    and each trimmed list says so with its ``...Truncated`` flag.
    """
    while len(json.dumps(response.to_wire())) > max_bytes:
        summary, verification = response.summary, response.verification
        longest = max(
            len(summary.results) if summary else 0,
            len(verification.invalid_profiles) if verification else 0,
        )
        if longest == 0:
            break
        if summary is not None and len(summary.results) == longest:
            summary.results = summary.results[: longest // 2]
            summary.results_truncated = True
        elif verification is not None:
            verification.invalid_profiles = verification.invalid_profiles[: longest // 2]
            verification.invalid_profiles_truncated = True
    return response


def should_roll_back(response: MigrationResponse, max_failure_percent: float | None) -> bool:
    """Whether a run with automatic rollback must undo its writes: it went to its end (a
    run stopped early is resumable instead) and more than ``max_failure_percent`` % (None:
    0) of the profiles it tried failed, or verification found profiles below the target
    that are not among its failures (it should have migrated them)."""
    summary = response.summary
    if response.error_type not in FINISHED_WITH_FAILURES or summary is None:
        return False
    tried = summary.success_count + summary.failure_count
    if tried and summary.failure_count * 100 / tried > (max_failure_percent or 0.0):
        return True
    verification = response.verification
    return verification is not None and verification.invalid_count > summary.failure_count


def with_rollback(response: MigrationResponse, rollback: MigrationResponse, resume: str) -> None:
    """Say in a run's document that it rolled back its writes (``rolledBack``, the
    rollback's document under ``rollback``), or that its rollback stopped before its end
    (``resume`` says how to continue it)."""
    response.rollback = rollback
    response.rolled_back = rollback.resumable is not True
    if response.rolled_back:
        response.message = f"{response.message} Rolled back on failure: {rollback.message}"
    else:
        response.message = (
            f"{response.message} The rollback on failure stopped before its end "
            f"({rollback.error}); {resume}."
        )
