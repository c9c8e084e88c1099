"""Turning counters and capped failure lists into the seed's response document.

Shared by the local runner and the pipeline's aggregate step, so both print the same
document for the same table and request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from profile_migrations.errors import MigrationInputError
from profile_migrations.models import (
    RESULTS_CAP,
    InvalidProfile,
    MigrationResponse,
    ProfileResult,
    SegmentCounters,
    Summary,
    Verification,
)

if TYPE_CHECKING:
    from collections.abc import Sequence


def summarize(
    counters: SegmentCounters,
    failures: Sequence[ProfileResult],
    report_uri: str | None,
    dry_run: bool,
) -> Summary:
    kept = list(failures[:RESULTS_CAP])
    return Summary(
        total_profiles=counters.scanned,
        success_count=counters.migrated,
        failure_count=counters.failed,
        skipped_count=counters.skipped,
        results=kept,
        results_truncated=counters.failed > len(kept),
        conflict_count=counters.conflicts,
        throttle_retry_count=counters.throttle_retries,
        report_uri=report_uri,
        dry_run=dry_run,
    )


def verification_of(
    checked: int, invalid_count: int, invalid: Sequence[InvalidProfile]
) -> Verification:
    kept = list(invalid[:RESULTS_CAP])
    return Verification(
        valid=invalid_count == 0,
        invalid_profiles=kept,
        checked_count=checked,
        invalid_count=invalid_count,
        invalid_profiles_truncated=invalid_count > len(kept),
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
    return (
        f"Verification: {verification.invalid_count:,} of "
        f"{_count(verification.checked_count, 'profile')} are not at version {target}."
    )


def build_response(
    target_version: int, summary: Summary | None, verification: Verification | None
) -> MigrationResponse:
    """``success`` holds when no profile failed and verification (if run) found none invalid."""
    sentences = []
    if summary is not None:
        sentences.append(_summary_sentence(summary, target_version))
    if verification is not None:
        sentences.append(_verification_sentence(verification, target_version))
    success = (summary is None or summary.failure_count == 0) and (
        verification is None or verification.valid
    )
    return MigrationResponse(
        success=success,
        message=" ".join(sentences),
        target_version=target_version,
        summary=summary,
        verification=verification,
    )


def error_response(exc: Exception, target_version: int | None = None) -> MigrationResponse:
    if isinstance(exc, MigrationInputError):
        message = "Nothing was written: the request was refused."
    else:
        message = "The run stopped before it finished; every write so far was conditional."
    return MigrationResponse(
        success=False,
        message=message,
        target_version=target_version,
        error=f"{type(exc).__name__}: {exc}",
    )
