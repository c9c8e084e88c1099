"""Verification: a consistent scan that checks every profile is at the target version."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from profile_migrations.codec import key_value_json
from profile_migrations.errors import InvalidVersionError
from profile_migrations.logic.outcomes import with_key
from profile_migrations.logic.reads import read_item
from profile_migrations.logic.segment import SegmentScan, SegmentStop, stopped
from profile_migrations.models.limits import RESULTS_CAP
from profile_migrations.models.results import InvalidProfile
from profile_migrations.versions import VERSION_ATTRIBUTE, profile_version

if TYPE_CHECKING:
    from collections.abc import Callable

    from profile_migrations.logic.ports import ProfileStore
    from profile_migrations.store import RawItem


@dataclass
class VerifyRun:
    segment: int
    checked: int = 0
    invalid_count: int = 0
    invalid: list[InvalidProfile] = field(default_factory=list)
    cursor: RawItem | None = None
    done: bool = False
    stop: SegmentStop | None = None
    # What the page in hand found away from the target, uncapped (a page holds at most
    # 1 MB of items); ``on_page`` sees it, then it is cleared.
    page_invalid: list[InvalidProfile] = field(default_factory=list)


UNREADABLE_VERSION = "unreadable"


def _invalid_entry(
    raw: RawItem, profile: dict[str, Any] | None, key_attributes: tuple[str, ...]
) -> InvalidProfile:
    version: int | str | None
    if profile is None:
        version = UNREADABLE_VERSION
    else:
        try:
            version = profile_version(profile)
        except InvalidVersionError:
            raw_version = profile.get(VERSION_ATTRIBUTE)
            version = None if raw_version is None else str(raw_version)
    key = {name: key_value_json(raw.get(name)) for name in key_attributes}
    return InvalidProfile.model_validate(with_key(key, {"version": version}))


def verify_segment(
    scan: SegmentScan,
    target_version: int,
    key_attributes: tuple[str, ...],
    should_continue: Callable[[], bool] | None = None,
    on_page: Callable[[VerifyRun, int], None] | None = None,
) -> VerifyRun:
    """Count profiles not at ``target_version`` with strongly consistent reads of the keys
    and ``version`` only; writes nothing. Stops as :func:`migrate_segment` does: between
    pages when ``should_continue`` says so, and with ``stop`` set (never raising) when the
    store stays unavailable or anything unexpected happens."""
    run = VerifyRun(segment=scan.segment, cursor=scan.start_key)
    # A table keyed by `version` would name it twice; DynamoDB refuses overlapping paths.
    projection = tuple(dict.fromkeys((*key_attributes, VERSION_ATTRIBUTE)))
    try:
        while True:
            page = scan.store.scan_page(
                scan.segment,
                scan.total_segments,
                run.cursor,
                scan.page_limit,
                projection,
                consistent_read=True,
            )
            _check_page(scan.store, page.items, target_version, key_attributes, run)
            run.cursor = page.last_evaluated_key
            run.done = run.cursor is None
            if on_page is not None:
                on_page(run, len(page.items))
            run.page_invalid = []
            if run.done:
                return run
            if should_continue is not None and not should_continue():
                return run
    # As in the migrate phase: whatever stops a segment is reported with its progress.
    except Exception as exc:
        run.stop = stopped(scan.segment, exc)
        return run


def _check_page(
    store: ProfileStore,
    items: list[RawItem],
    target_version: int,
    key_attributes: tuple[str, ...],
    run: VerifyRun,
) -> None:
    for scanned in items:
        reading = read_item(store, scanned, key_attributes)
        if reading.raw is None:
            # Deleted since the scan read it: not a profile left behind.
            continue
        try:
            at_target = (
                reading.profile is not None and profile_version(reading.profile) == target_version
            )
        except InvalidVersionError:
            at_target = False
        if not at_target:
            entry = _invalid_entry(reading.raw, reading.profile, key_attributes)
            run.invalid_count += 1
            run.page_invalid.append(entry)
            if len(run.invalid) < RESULTS_CAP:
                run.invalid.append(entry)
    run.checked += len(items)
