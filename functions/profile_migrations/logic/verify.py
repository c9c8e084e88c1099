"""Verification: checks that every profile is at the target version, for half the read cost
of a strongly consistent scan and with the same answer for every profile it reports.

What consistency gives ("Read consistency",
https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.ReadConsistency.html):
a strongly consistent read reflects every write that succeeded before it; an eventually
consistent one costs half (0.5 RRU per 4 KB instead of 1) but "may not reflect the results
of a recently completed write", for a short time: usually under about a second, though AWS
states no bound. Both are read-committed: a read never shows a value that was not written,
so a stale read shows an item as it was a moment earlier, never a value it never held.

So verification scans eventually consistent pages of keys and ``version``, and reads every
profile such a page shows away from the target (below it, above it, without a valid
version, unreadable) again with a strongly consistent ``GetItem`` before reporting it:
- a profile is reported only if that consistent read, made after its page was scanned,
  also finds it away from the target, and with what that read found; so every reported
  profile is exactly what a strongly consistent scan reading it at that moment reports;
- a profile the page showed stale, for example one this run migrated a moment before
  (the local runner verifies right after its last write), is not reported when the
  consistent read finds it at the target; one deleted since is not reported either.

What the cheaper scan can miss is a profile it shows at the target while it is in fact
away from it: only a write that moved the profile away from the target within the
staleness window before its page was read can do that. This tool never makes such a
write: its writes are conditional on the version they read and only ever move a profile
to the target, so a stale view of a profile it wrote, however recently, shows an older
version, away from the target, and that profile is re-read. Such a write can only come
from someone else (the application writing an old version, or deleting and re-creating a
profile) and is not this tool's to catch: a strongly consistent scan misses the same write
made just after it passes the profile, so the eventually consistent scan only moves that
moment back by the staleness window. Likewise ``checked`` counts the items of the
eventually consistent pages, which may still hold an item deleted, or lack one created,
in that window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from profile_migrations.codec import deserialize_item, key_value_json
from profile_migrations.errors import InvalidRequestError, InvalidVersionError, MalformedValueError
from profile_migrations.logic.outcomes import with_key
from profile_migrations.logic.reads import readable_key
from profile_migrations.logic.segment import PageReader, SegmentScan, SegmentStop, stopped
from profile_migrations.models.limits import RESULTS_CAP
from profile_migrations.models.results import InvalidProfile
from profile_migrations.versions import VERSION_ATTRIBUTE, profile_version

if TYPE_CHECKING:
    from collections.abc import Callable

    from profile_migrations.registry import MigrationChain
    from profile_migrations.schemas import ProfileSchema
    from profile_migrations.store import RawItem

logger = logging.getLogger(__name__)


@dataclass
class VerifyRun:
    """A segment's verification so far. Every count covers the finished pages only, so it
    always matches ``cursor``: ``checked`` items scanned, ``invalid_count`` profiles found
    away from the target (the first :data:`RESULTS_CAP` in ``invalid``), ``reread`` the
    strongly consistent GetItems spent on profiles the scan showed away from it, and
    ``consumed_read_capacity_units`` the RCU its scans and re-reads consumed."""

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
    reread: int = 0
    consumed_read_capacity_units: float = 0.0


UNREADABLE_VERSION = "unreadable"
MAX_REREADS_PER_PAGE = 25


def _invalid_entry(
    raw: RawItem,
    profile: dict[str, Any] | None,
    key_attributes: tuple[str, ...],
    reason: str | None = None,
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
    fields: dict[str, Any] = {"version": version}
    if reason is not None:
        fields["reason"] = reason
    return InvalidProfile.model_validate(with_key(key, fields))


def deep_schema(chain: MigrationChain, target_version: int, deep: bool) -> ProfileSchema | None:
    """The schema a deep verification checks profiles at ``target_version`` against (None
    when not ``deep``). Raises :class:`InvalidRequestError` when the registry declares no
    schema for that version: a deep verification would check nothing more."""
    if not deep:
        return None
    schema = chain.schemas.get(target_version)
    if schema is None:
        declared = ", ".join(str(version) for version in sorted(chain.schemas)) or "none"
        raise InvalidRequestError(
            f"a deep verification validates profiles against version {target_version}'s "
            f"schema, and the registry declares none for it (its `schemas`: {declared})"
        )
    return schema


def verify_segment(
    scan: SegmentScan,
    target_version: int,
    key_attributes: tuple[str, ...],
    should_continue: Callable[[], bool] | None = None,
    on_page: Callable[[VerifyRun, int], None] | None = None,
    schema: ProfileSchema | None = None,
) -> VerifyRun:
    """Count profiles not at ``target_version``; writes nothing.

    Reads eventually consistent scan pages of the keys and ``version`` only (0.5 RRU per
    4 KB of items: the projection does not lower the bill), then one strongly consistent
    ``GetItem`` (1 RRU per 4 KB of the item) per profile a page shows away from the
    target, and reports it only if that read confirms it (the module docstring says why
    this reports what a strongly consistent scan reports). A healthy table costs no
    GetItem; a table far from the target costs one per such profile.

    With ``schema`` (a deep verification) the pages hold whole items (the same bill: the
    projection saved nothing), and a profile at the target that does not validate against
    ``schema`` counts as away from it: re-read the same way, and reported with the
    ``reason`` pydantic gives (field paths and reasons, never values).

    Stops as :func:`migrate_segment` does: between pages when ``should_continue`` says so,
    and with ``stop`` set (never raising) when the store stays unavailable, in the scan or
    in a re-read, or anything unexpected happens; the page in hand then counts nothing."""
    run = VerifyRun(segment=scan.segment, cursor=scan.start_key)
    # A table keyed by `version` would name it twice; DynamoDB refuses overlapping paths.
    projection = None if schema else tuple(dict.fromkeys((*key_attributes, VERSION_ATTRIBUTE)))
    check = _Check(target_version, key_attributes, schema)
    reader = PageReader(scan, consistent=False, projection=projection)
    try:
        while True:
            before = reader.consumed
            page = reader.read(run.cursor)
            verdicts = [check.verdict(_decoded(item)) for item in page.items]
            candidates = sum(1 for verdict in verdicts if verdict is not None)
            # Each re-read is a round trip billing at least 1 RCU: past a few, reading the
            # page again strongly consistent (twice its cost) is cheaper and faster.
            consistent = candidates > max(MAX_REREADS_PER_PAGE, 2 * (reader.consumed - before))
            if consistent:
                page = reader.read_again_consistent(run.cursor)
                verdicts = [check.verdict(_decoded(item)) for item in page.items]
            _check_page(reader, page.items, verdicts, check, run, consistent)
            run.consumed_read_capacity_units += reader.consumed - before
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


@dataclass(frozen=True)
class _Verdict:
    """Why a profile is reported: away from the target (``reason`` None), or at it but
    not valid against its schema (``reason`` says why)."""

    reason: str | None = None


_AWAY = _Verdict()


@dataclass(frozen=True)
class _Check:
    target_version: int
    key_attributes: tuple[str, ...]
    schema: ProfileSchema | None

    def verdict(self, profile: dict[str, Any] | None) -> _Verdict | None:
        """None when the profile is at the target (and valid, in a deep verification)."""
        if profile is None or not _at_target(profile, self.target_version):
            return _AWAY
        if self.schema is None:
            return None
        reason = self.schema.problem(profile)
        return None if reason is None else _Verdict(reason)

    def entry(
        self, raw: RawItem, profile: dict[str, Any] | None, verdict: _Verdict
    ) -> InvalidProfile:
        return _invalid_entry(raw, profile, self.key_attributes, verdict.reason)


def _check_page(
    store: PageReader,
    items: list[RawItem],
    verdicts: list[_Verdict | None],
    check: _Check,
    run: VerifyRun,
    consistent: bool = False,
) -> None:
    """Add the page's findings to ``run`` once all of its re-reads succeeded, so a re-read
    that raises leaves ``run`` as its last finished page left it. A ``consistent`` page
    is its own confirmation: what it shows away from the target is reported as it is."""
    found: list[InvalidProfile] = []
    reread = 0
    for scanned, verdict in zip(items, verdicts, strict=True):
        if verdict is None:
            continue
        key = readable_key(scanned, check.key_attributes)
        if key is None or consistent:
            # No key to read it again by (reported unreadable), or no need to.
            found.append(check.entry(scanned, _decoded(scanned), verdict))
            continue
        reread += 1
        current = store.get_item(key)
        if current is None:
            # Deleted since the scan read it: not a profile left behind.
            continue
        profile = _decoded(current)
        confirmed = check.verdict(profile)
        if confirmed is not None:
            found.append(check.entry(current, profile, confirmed))
    if reread:
        logger.info(
            "verification page re-read",
            extra={"segment": run.segment, "reread": reread, "reported": len(found)},
        )
    run.checked += len(items)
    run.reread += reread
    run.invalid_count += len(found)
    run.page_invalid = found
    run.invalid.extend(found[: max(0, RESULTS_CAP - len(run.invalid))])


def _decoded(raw: RawItem) -> dict[str, Any] | None:
    """The item as Python, or None when a value in it cannot be read."""
    try:
        return deserialize_item(raw)
    except MalformedValueError:
        return None


def _at_target(profile: dict[str, Any], target_version: int) -> bool:
    try:
        return profile_version(profile) == target_version
    except InvalidVersionError:
        return False
