"""Verification's eventually consistent scan on DynamoDB Local, with a replica that lags.

DynamoDB Local never serves a stale read, so a store wrapper plays the lagging replica:
verification's pages (the scans with a projection) show chosen profiles as an earlier read
saw them, while every ``GetItem`` goes to the real table. What a run reports must be what
the table holds, as a strongly consistent scan would report it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.models.requests import RunRequest
from profile_migrations.versions import VERSION_ATTRIBUTE
from tests.conftest import dump_profiles, item_key
from tests.fakes import DelegatingStore
from tests.integration.helpers import profile, run

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.dal.dynamodb import ProfileTable
    from profile_migrations.store import AttributeValue, RawItem, ScanPage
    from tests.conftest import MakeTable

TARGET = 5
PROFILES = 300


class LaggingReplica(DelegatingStore):
    """The real table behind a lagging replica: a verification page shows every profile in
    ``stale`` (keys as :func:`item_key` writes them) with the version it had when the
    migrate phase first scanned it, or with ``stale``'s own version when given; ``after_page``
    runs once a verification page is read, before anything is re-read."""

    def __init__(
        self,
        table: ProfileTable,
        stale: Mapping[str, AttributeValue | None],
        after_page: Callable[[list[RawItem]], None] | None = None,
    ) -> None:
        super().__init__(table)
        self._stale = stale
        self._after_page = after_page
        self._first_seen: dict[str, AttributeValue | None] = {}
        self.verify_scans: list[bool] = []
        self.re_reads: list[str] = []

    def scan_page(
        self,
        segment: int,
        total_segments: int,
        start_key: RawItem | None = None,
        limit: int | None = None,
        projection: Sequence[str] | None = None,
        consistent_read: bool = False,
    ) -> ScanPage:
        page = super().scan_page(
            segment, total_segments, start_key, limit, projection, consistent_read
        )
        if projection is None:
            for raw in page.items:
                self._first_seen.setdefault(item_key(raw), raw.get(VERSION_ATTRIBUTE))
            return page
        self.verify_scans.append(consistent_read)
        items = [self._as_replica_shows(raw) for raw in page.items]
        if self._after_page is not None:
            self._after_page(items)
        return replace(page, items=items)

    def get_item(self, key: RawItem) -> RawItem | None:
        self.re_reads.append(item_key(key))
        return super().get_item(key)

    def _as_replica_shows(self, raw: RawItem) -> RawItem:
        key = item_key(raw)
        if key not in self._stale:
            return raw
        version = self._stale[key] or self._first_seen.get(key)
        shown = {name: value for name, value in raw.items() if name != VERSION_ATTRIBUTE}
        return shown if version is None else {**shown, VERSION_ATTRIBUTE: version}


def test_profiles_this_run_migrated_but_a_stale_page_shows_unmigrated_are_not_reported(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # Given: a run whose verification pages show every 10th profile as it was before the
    # run migrated it (an eventually consistent read right after the write)
    items = list(sample_profiles(PROFILES))
    table = make_table(items=items)
    lagging = {item_key(raw): None for raw in items[::10]}
    store = LaggingReplica(table, lagging)

    # When
    response = run(store, RunRequest(total_segments=4), workers=4)

    # Then: every verification scan was eventually consistent, exactly the stale profiles
    # were read again, and the run verifies clean, as the table is
    assert store.verify_scans
    assert not any(store.verify_scans)
    assert sorted(store.re_reads) == sorted(lagging)
    assert response.verification is not None
    assert (response.verification.valid, response.verification.checked_count) == (
        True,
        PROFILES,
    )
    profiles = dump_profiles(dynamodb_client, table.table_name)
    assert {stored[VERSION_ATTRIBUTE] for stored in profiles.values()} == {TARGET}


def test_verify_only_reports_what_the_table_holds_not_what_a_stale_page_shows(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # Given: one profile at the target, one below it, one at the target that the page shows
    # below, one below it that is deleted between its page and its re-read
    table = make_table(
        items=[
            profile("at-target", version=TARGET, profileData={}),
            profile("below", version=3, profileData={}),
            profile("stale", version=TARGET, profileData={}),
            profile("deleted", version=2, profileData={}),
        ]
    )
    deleted = {"userId": {"S": "deleted"}, "profileId": {"S": "main"}}

    def delete_after_its_page(items: list[RawItem]) -> None:
        if any(raw["userId"] == deleted["userId"] for raw in items):
            dynamodb_client.delete_item(TableName=table.table_name, Key=deleted)

    stale_key = item_key({"userId": {"S": "stale"}, "profileId": {"S": "main"}})
    store = LaggingReplica(table, {stale_key: {"N": "4"}}, delete_after_its_page)

    # When
    response = run(store, RunRequest(verify_only=True))

    # Then: only the profile still below the target is reported, with its stored version;
    # the three profiles the pages showed away from the target were each read once more
    assert response.verification is not None
    assert [
        ((entry.model_extra or {})["userId"], entry.version)
        for entry in response.verification.invalid_profiles
    ] == [("below", 3)]
    assert (response.verification.invalid_count, response.verification.checked_count) == (1, 4)
    assert sorted(store.re_reads) == sorted(
        item_key({"userId": {"S": user}, "profileId": {"S": "main"}})
        for user in ("below", "deleted", "stale")
    )
    assert not any(store.verify_scans)
