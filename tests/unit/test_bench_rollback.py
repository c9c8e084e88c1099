"""The rollback benchmark's checks and arithmetic (bench/rollback.py): what makes it fail
loudly, and how its figures are derived from the samples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.rollback import (
    RollbackCheckFailedError,
    RollbackRepetition,
    RollbackResult,
    check_restored,
    check_rollback,
    check_run,
    differences,
)
from bench.runs import RunSample
from profile_migrations.logic.runner import MIGRATE_PHASE, VERIFY_PHASE

PROFILES = 1_000
JOURNAL = Path("/tmp/bench/Bench-rollback-1-run.journal.jsonl")


def item(user: str, version: str = "1") -> dict[str, Any]:
    return {"userId": {"S": user}, "profileId": {"S": "p"}, "version": {"N": version}}


def dump(*items: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(raw["userId"]["S"], raw["profileId"]["S"]): raw for raw in items}


def run_document(**summary: Any) -> dict[str, Any]:
    return {
        "success": True,
        "message": "Migrated.",
        "runId": "local-1",
        "summary": {"successCount": PROFILES, "journalUri": JOURNAL.as_uri(), **summary},
    }


def rollback_document(**summary: Any) -> dict[str, Any]:
    counts = {
        "restoredCount": PROFILES,
        "keptCount": 0,
        "missingCount": 0,
        "alreadyRestoredCount": 0,
        "failureCount": 0,
    }
    return {"success": True, "message": "Rolled back.", "summary": {**counts, **summary}}


def sample(variant: str, wall_s: float, cpu_s: float, **detail: Any) -> RunSample:
    return RunSample(variant, PROFILES, wall_s, cpu_s, 65 * 1024, 1.0, detail=detail)


def repetition(run_s: float, migrate_s: float, rollback_s: float) -> RollbackRepetition:
    run = sample(
        "run",
        run_s + 0.3,
        0.5,
        call_s=run_s,
        call_cpu_s=0.4,
        phases_s={MIGRATE_PHASE: migrate_s, VERIFY_PHASE: run_s - migrate_s},
    )
    rollback = sample("rollback", rollback_s + 0.3, 0.3, call_s=rollback_s, call_cpu_s=0.2)
    return RollbackRepetition(PROFILES, run, rollback, journal_bytes=1_117_000)


def test_equal_dumps_have_no_differences() -> None:
    assert differences(dump(item("a"), item("b")), dump(item("b"), item("a"))) == []
    check_restored(dump(item("a")), dump(item("a")))


def test_a_changed_a_gone_and_a_new_item_all_differ() -> None:
    # Given: "b" still migrated, "c" deleted, "d" new
    before = dump(item("a"), item("b"), item("c"))
    after = dump(item("a"), item("b", version="5"), item("d"))

    assert differences(before, after) == [("b", "p"), ("c", "p"), ("d", "p")]
    with pytest.raises(RollbackCheckFailedError, match="3 of 3 items differ"):
        check_restored(before, after)


def test_a_run_that_migrated_every_profile_gives_its_journal() -> None:
    assert check_run(run_document(), PROFILES) == JOURNAL


@pytest.mark.parametrize(
    "document",
    [
        run_document(successCount=PROFILES - 1),
        run_document(maxWriteCapacity=200.0),
        run_document(journalUri=None),
        run_document(journalUri="s3://bucket/journal"),
        {**run_document(), "success": False},
    ],
)
def test_a_run_that_did_not_do_it_all_uncapped_fails_the_benchmark(
    document: dict[str, Any],
) -> None:
    with pytest.raises(RollbackCheckFailedError):
        check_run(document, PROFILES)


def test_a_rollback_that_restored_every_profile_passes() -> None:
    check_rollback(rollback_document(), PROFILES)


@pytest.mark.parametrize(
    "summary",
    [
        {"restoredCount": PROFILES - 1, "keptCount": 1},
        {"restoredCount": PROFILES - 1, "missingCount": 1},
        {"restoredCount": PROFILES - 1, "alreadyRestoredCount": 1},
        {"restoredCount": PROFILES - 1, "failureCount": 1},
        {"maxWriteCapacity": 100.0},
    ],
)
def test_a_rollback_that_set_anything_aside_fails_the_benchmark(summary: dict[str, Any]) -> None:
    with pytest.raises(RollbackCheckFailedError):
        check_rollback(rollback_document(**summary), PROFILES)


def test_rates_are_taken_over_the_command_calls_and_the_migrate_phase() -> None:
    rep = repetition(run_s=2.0, migrate_s=1.6, rollback_s=2.5)

    assert rep.run_rate == pytest.approx(500)
    assert rep.migrate_rate == pytest.approx(625)
    assert rep.rollback_rate == pytest.approx(400)
    assert rep.journal_bytes_per_profile == pytest.approx(1_117)
    assert rep.call_cpu_us_per_profile(rep.rollback) == pytest.approx(200)
    assert rep.to_json()["rollback_over_run"] == pytest.approx(0.8)


def test_ratios_are_taken_within_each_repetition() -> None:
    # Given: a slow repetition where both were slow, and a fast one
    result = RollbackResult(PROFILES)
    result.repetitions += [repetition(4.0, 3.0, 2.0), repetition(1.0, 0.8, 2.0)]

    summary = result.summary()

    assert summary["rollback_over_run"]["minimum"] == pytest.approx(0.5)
    assert summary["rollback_over_run"]["maximum"] == pytest.approx(2.0)
    assert summary["rollback_rate"]["median"] == pytest.approx(500)
    assert summary["rollback_client_us_per_profile"]["median"] == pytest.approx(300)
    assert result.to_json()["workers"] == 4
