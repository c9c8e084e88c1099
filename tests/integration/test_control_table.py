"""The control table's pipeline records on DynamoDB Local: turn leases, and the three kinds
of record a run's partition holds (checkpoints, verification checkpoints, turn leases)."""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from profile_migrations.dal.control import ControlTable
from profile_migrations.models.records import Checkpoint, TurnLease, VerifyCheckpoint
from profile_migrations.models.results import SegmentCounters

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


def control_table(client: DynamoDBClient) -> ControlTable:
    control = ControlTable(client, f"control-{uuid.uuid4().hex[:10]}")
    control.ensure_exists()
    return control


def lease(holder: str, expires_in: float) -> TurnLease:
    return TurnLease(
        run_id="exec-1",
        phase="migrate",
        segment=7,
        holder=holder,
        expires_at=time.time() + expires_in,
    )


def test_one_turn_at_a_time_holds_a_segment(dynamodb_client: DynamoDBClient) -> None:
    control = control_table(dynamodb_client)

    assert control.acquire_turn(lease("first", 60))
    assert not control.acquire_turn(lease("second", 60))
    assert control.acquire_turn(lease("first", 120)), "the holder may take it again"
    control.release_turn(lease("second", 60))
    assert not control.acquire_turn(lease("second", 60)), "only the holder releases it"
    control.release_turn(lease("first", 60))
    assert control.acquire_turn(lease("second", 60))


def test_an_expired_turn_lease_is_taken_over(dynamodb_client: DynamoDBClient) -> None:
    control = control_table(dynamodb_client)
    assert control.acquire_turn(lease("killed", -1))

    assert control.acquire_turn(lease("retry", 60))


def test_a_runs_records_are_read_back_by_kind(dynamodb_client: DynamoDBClient) -> None:
    control = control_table(dynamodb_client)
    control.save_checkpoint(
        "exec-1",
        Checkpoint(segment=7, cursor=None, done=True, counters=SegmentCounters(scanned=3), pages=2),
    )
    control.save_checkpoint(
        "exec-1", VerifyCheckpoint(segment=7, cursor=None, done=False, checked=1, error="E: x")
    )
    control.acquire_turn(lease("holder", 60))

    assert set(control.checkpoints(Checkpoint, "exec-1")) == {7}
    assert control.checkpoints(Checkpoint, "exec-1")[7].pages == 2
    assert control.checkpoints(VerifyCheckpoint, "exec-1")[7].error == "E: x"
    assert (
        control.checkpoint(VerifyCheckpoint, "exec-1", 7)
        == control.checkpoints(VerifyCheckpoint, "exec-1")[7]
    )
