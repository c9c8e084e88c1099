"""Request parsing: the seed's event fields, strictly typed, unknown fields refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from profile_migrations.models.requests import RunRequest
from profile_migrations.models.results import MigrationResponse, SegmentCounters
from tests.conftest import load_event


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ("run-default", RunRequest()),
        ("run-dry-run", RunRequest(dry_run=True)),
        ("run-verify-only", RunRequest(verify_only=True)),
        ("run-target-3", RunRequest(target_version=3, total_segments=8)),
    ],
)
def test_sample_events_parse(event: str, expected: RunRequest) -> None:
    assert RunRequest.model_validate(load_event(event)) == expected


@pytest.mark.parametrize(
    "event",
    [
        {"targetVersion": "5"},
        {"targetVersion": 0},
        {"targetVersion": -2},
        {"targetVersion": 2.5},
        {"targetVersion": True},
        {"dryRun": "yes"},
        {"dryRun": 1},
        {"dryRun": True, "verifyOnly": True},
        {"totalSegments": 0},
        {"totalSegments": 1_000_001},
        {"target_version": 5, "bogus": 1},
        {"tableName": "Other"},
    ],
)
def test_malformed_events_are_refused(event: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RunRequest.model_validate(event)


@given(
    st.dictionaries(
        st.sampled_from(["targetVersion", "dryRun", "verifyOnly", "totalSegments", "other"]),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3)),
    )
)
def test_parsing_any_event_either_succeeds_with_valid_fields_or_raises_validation_error(
    event: dict[str, Any],
) -> None:
    try:
        request = RunRequest.model_validate(event)
    except ValidationError:
        return
    assert request.target_version is None or request.target_version >= 1
    assert not (request.dry_run and request.verify_only)
    assert "other" not in event


def test_the_response_omits_absent_sections_on_the_wire() -> None:
    response = MigrationResponse(success=True, message="ok")

    assert response.to_wire() == {"success": True, "message": "ok"}


def test_counters_add_field_by_field() -> None:
    total = SegmentCounters(scanned=1, migrated=1)
    total.add(SegmentCounters(scanned=2, failed=1, conflicts=3))

    assert total == SegmentCounters(scanned=3, migrated=1, failed=1, conflicts=3)
