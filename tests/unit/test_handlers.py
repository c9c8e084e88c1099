"""The Lambda handlers with injected fakes and a dataclass context: what each returns and
the metrics each emits (Powertools' EMF blob, parsed as its docs' example does)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from profile_migrations.codec import serialize_item
from profile_migrations.handlers import migrate_segment
from profile_migrations.models.records import Checkpoint
from profile_migrations.models.results import SegmentCounters
from profile_migrations.settings import LambdaSettings
from tests.fakes import MemoryControl, MemoryRecords, PagedStore, locked_control

if TYPE_CHECKING:
    from collections.abc import Iterator

SETTINGS = LambdaSettings(
    table_name="UserProfiles",
    report_bucket="reports",
    control_table="UserProfiles-migrations",
)


@dataclass
class LambdaContext:
    function_name: str = "migrate"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:migrate"
    aws_request_id: str = "request-1"
    deadline: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.time()) * 1000)


@pytest.fixture(autouse=True)
def region(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # boto3's default session caches the credentials it first resolves: the one built
    # here must not outlive the test and hand them to later tests' clients.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unit")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit")
    yield


def context() -> LambdaContext:
    return LambdaContext(deadline=time.time() + 900)


def task(**fields: Any) -> dict[str, Any]:
    return {
        "runId": "exec-1",
        "execution": "exec-1",
        "tableName": "UserProfiles",
        "segment": 0,
        "totalSegments": 1,
        "targetVersion": 5,
        "startedAt": "2026-11-25T10:00:00.000Z",
        "keyAttributes": ["userId", "profileId"],
        **fields,
    }


def profiles(*users: str, profile_data: Any = None) -> list[dict[str, Any]]:
    return [
        serialize_item(
            {"userId": user, "profileId": "p", "profileData": profile_data or {"x": "y"}}
        )
        for user in users
    ]


def emitted(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """The one EMF blob the invocation printed: metric name -> its one value."""
    lines = capsys.readouterr().out.splitlines()
    (blob,) = [json.loads(line) for line in lines if '"_aws"' in line]
    (directive,) = blob["_aws"]["CloudWatchMetrics"]
    assert blob["table"] == "UserProfiles"
    counts: dict[str, float] = {}
    for metric in directive["Metrics"]:
        (counts[metric["Name"]],) = blob[metric["Name"]]
    return counts


def test_a_turn_emits_its_counts_and_returns_the_next_task(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = PagedStore(pages=[profiles("a", "b") + profiles("c", profile_data="bad")])

    result = migrate_segment.handler(
        task(),
        context(),
        settings=SETTINGS,
        store=store,
        records=MemoryRecords(),
        control=locked_control(),
    )

    assert (result["done"], result["invocation"]) == (True, 1)
    assert emitted(capsys) == {
        "ProfilesScanned": 3.0,
        "ProfilesMigrated": 2.0,
        "ProfilesFailed": 1.0,
        "ProfilesSkipped": 0.0,
        "Conflicts": 0.0,
        "ThrottleRetries": 0.0,
    }


def test_a_dry_run_turn_emits_only_the_profiles_scanned(
    capsys: pytest.CaptureFixture[str],
) -> None:
    store = PagedStore(pages=[profiles("a", "b")])

    migrate_segment.handler(
        task(dryRun=True),
        context(),
        settings=SETTINGS,
        store=store,
        records=MemoryRecords(),
        control=MemoryControl(),
    )

    assert emitted(capsys) == {"ProfilesScanned": 2.0}


def test_the_first_turn_of_a_resumed_segment_emits_only_its_own_counts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Given: the segment's checkpoint already counts 1,000 profiles, 7 of them failed
    store = PagedStore(pages=[profiles("z0"), profiles("z1", "z2")])
    control = locked_control()
    control.save_checkpoint(
        "exec-1",
        Checkpoint(
            segment=0,
            cursor={"page": {"N": "1"}},
            done=False,
            counters=SegmentCounters(scanned=1_000, migrated=993, failed=7),
            pages=1,
        ),
    )

    result = migrate_segment.handler(
        task(), context(), settings=SETTINGS, store=store, records=MemoryRecords(), control=control
    )

    # Then: the task carries the segment's totals; the metrics only this turn's
    assert result["counters"]["scanned"] == 1_002
    counts = emitted(capsys)
    assert (counts["ProfilesScanned"], counts["ProfilesMigrated"]) == (2.0, 2.0)
    assert counts["ProfilesFailed"] == 0.0
