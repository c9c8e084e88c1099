"""The control table: run locks, per-segment checkpoints, run history and applied steps.

One small on-demand table per migrated table (``<table>-migrations`` by default), created on
first use. Items are keyed ``pk``/``sk``; each record's body is one JSON attribute, so the
records evolve with their pydantic models. Only this table ever sees a DeleteItem.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from profile_migrations.dal.outages import outages_stop
from profile_migrations.environment import CONTROL_TABLE_SUFFIX
from profile_migrations.errors import InvalidRequestError, RunLockedError
from profile_migrations.models.records import (
    AppliedStep,
    Checkpoint,
    LockInfo,
    RollbackCheckpoint,
    RunHistoryEntry,
    SegmentRecord,
    SegmentRecordT,
    TurnLease,
    VerifyCheckpoint,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TableDescriptionTypeDef

logger = logging.getLogger(__name__)

LOCK_SK = "LOCK"
SEGMENT_SK_PREFIX: dict[type[SegmentRecord], str] = {
    Checkpoint: "SEGMENT#",
    VerifyCheckpoint: "VERIFY#",
    RollbackCheckpoint: "ROLLBACK#",
}


def control_table_name(table: str) -> str:
    return f"{table}{CONTROL_TABLE_SUFFIX}"


def _lock_pk(table: str) -> str:
    return f"LOCK#{table}"


def _history_pk(table: str) -> str:
    return f"HISTORY#{table}"


def _steps_pk(table: str) -> str:
    return f"STEPS#{table}"


def _run_pk(run_id: str) -> str:
    return f"RUN#{run_id}"


def _segment_sk(kind: type[SegmentRecord], segment: int) -> str:
    return f"{SEGMENT_SK_PREFIX[kind]}{segment:06d}"


def _turn_sk(phase: str, segment: int) -> str:
    return f"TURN#{phase}#{segment:06d}"


_outages = outages_stop("the control table")

# The lock item's attributes holding the run's caps (absent: no cap).
WRITE_CAP_ATTRIBUTE = "maxWriteCapacity"
READ_CAP_ATTRIBUTE = "maxReadCapacity"


def _cap_attributes(
    write: float | None, read: float | None
) -> tuple[tuple[str, float | None], tuple[str, float | None]]:
    return ((WRITE_CAP_ATTRIBUTE, write), (READ_CAP_ATTRIBUTE, read))


def _cap(value: Mapping[str, Any] | None) -> float | None:
    return None if value is None else float(value["N"])


# The control table's key, as ensure_exists creates it: (name, key type, attribute type).
CONTROL_KEY_SCHEMA: tuple[tuple[str, str, str], ...] = (("pk", "HASH", "S"), ("sk", "RANGE", "S"))


def _key_schema_text(schema: tuple[tuple[str, str, str], ...]) -> str:
    return " and ".join(f"{name} ({key_type}, {kind})" for name, key_type, kind in schema)


class ControlTable:
    def __init__(self, client: DynamoDBClient, name: str) -> None:
        self._client = client
        self.name = name

    def exists(self) -> bool:
        """Whether the table exists, without creating it (read-only commands ask this
        instead of :meth:`ensure_exists`). An existing table with another key schema is
        refused, as is a wrong endpoint, region or credentials."""
        return self._describe() is not None

    def ensure_exists(self) -> bool:
        """Create the table if it is missing; True when this call created it. The first
        call of every command that uses it, so a wrong endpoint, region or credentials, or
        an existing table that is not a control table (another key schema: a profile table
        named by mistake), is reported here as bad input, before anything is written."""
        if self._describe() is not None:
            return False
        try:
            self._client.create_table(
                TableName=self.name,
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ResourceInUseException":
                raise
        self._client.get_waiter("table_exists").wait(TableName=self.name)
        logger.info("control table created", extra={"control_table": self.name})
        return True

    def _describe(self) -> TableDescriptionTypeDef | None:
        """The table's description, None when it does not exist; raises
        :class:`InvalidRequestError` when DynamoDB cannot be asked, or when the table's key
        schema is not the control table's."""
        try:
            table = self._client.describe_table(TableName=self.name)["Table"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ResourceNotFoundException":
                return None
            raise InvalidRequestError(
                f"cannot use control table {self.name!r}: "
                f"{error.get('Code')}: {error.get('Message')}"
            ) from exc
        except BotoCoreError as exc:
            raise InvalidRequestError(f"cannot reach DynamoDB: {exc}") from exc
        types = {
            definition["AttributeName"]: definition["AttributeType"]
            for definition in table.get("AttributeDefinitions", [])
        }
        found = tuple(
            (key["AttributeName"], key["KeyType"], types.get(key["AttributeName"], "?"))
            for key in sorted(table.get("KeySchema", []), key=lambda key: key["KeyType"])
        )
        if found != CONTROL_KEY_SCHEMA:
            raise InvalidRequestError(
                f"control table {self.name!r} is keyed {_key_schema_text(found)}, not "
                f"{_key_schema_text(CONTROL_KEY_SCHEMA)}: it is not a control table (a "
                "profile table named by mistake?); name another --control-table, or leave "
                "it out to use <table>-migrations"
            )
        return table

    @staticmethod
    def _applied(operation: Callable[..., object], **request: Any) -> bool:
        """Send a conditional write; False when DynamoDB refused it for its condition."""
        try:
            operation(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _put(self, pk: str, sk: str, body: str, **condition: Any) -> None:
        self._client.put_item(
            TableName=self.name,
            Item={"pk": {"S": pk}, "sk": {"S": sk}, "body": {"S": body}},
            **condition,
        )

    def _get(self, pk: str, sk: str) -> str | None:
        item = self._client.get_item(
            TableName=self.name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
        ).get("Item")
        return None if item is None else item["body"]["S"]

    def _query(self, pk: str, sk_prefix: str = "", newest_first: bool = False) -> list[str]:
        bodies: list[str] = []
        condition = "pk = :pk"
        values: dict[str, Any] = {":pk": {"S": pk}}
        if sk_prefix:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = {"S": sk_prefix}
        paginator = self._client.get_paginator("query")
        for page in paginator.paginate(
            TableName=self.name,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
            ScanIndexForward=not newest_first,
        ):
            bodies.extend(item["body"]["S"] for item in page.get("Items", []))
        return bodies

    # -- the run lock --------------------------------------------------------------------
    @_outages
    def acquire_lock(self, lock: LockInfo) -> None:
        """Take the table's lock if it is free, expired, or already ``lock.owner``'s (a
        redriven execution); otherwise raise :class:`RunLockedError` with the holder. One
        owner holds it: two processes resuming one run still exclude each other."""
        item: dict[str, Any] = {
            "pk": {"S": _lock_pk(lock.table)},
            "sk": {"S": LOCK_SK},
            "body": {"S": lock.model_dump_json(by_alias=True)},
            "expiresAt": {"N": repr(lock.expires_at)},
            "runId": {"S": lock.run_id},
            "lockOwner": {"S": lock.owner},
        }
        for attribute, cap in _cap_attributes(lock.max_write_capacity, lock.max_read_capacity):
            if cap is not None:
                item[attribute] = {"N": repr(cap)}
        request: dict[str, Any] = {
            "TableName": self.name,
            "Item": item,
            "ConditionExpression": (
                "attribute_not_exists(pk) OR expiresAt < :now OR lockOwner = :me"
            ),
            "ExpressionAttributeValues": {
                ":now": {"N": repr(time.time())},
                ":me": {"S": lock.owner},
            },
        }
        if self._applied(self._client.put_item, **request):
            return
        holder = self.read_lock(lock.table)
        who = (
            f"run {holder.run_id} ({holder.owner}, since {holder.acquired_at})"
            if holder
            else "another run"
        )
        raise RunLockedError(
            f"table {lock.table!r} is locked by {who}; if that run is dead, wait for its "
            "lease to expire or release it with "
            f"`profile-migrate unlock --table {lock.table} --force`",
            holder=holder,
        )

    @_outages
    def renew_lock(self, table: str, owner: str, expires_at: float) -> bool:
        """Extend ``owner``'s lease; False if the lock is no longer theirs (``unlock``)."""
        return self._applied(
            self._client.update_item,
            TableName=self.name,
            Key={"pk": {"S": _lock_pk(table)}, "sk": {"S": LOCK_SK}},
            UpdateExpression="SET expiresAt = :expires",
            ConditionExpression="lockOwner = :me",
            ExpressionAttributeValues={
                ":expires": {"N": repr(expires_at)},
                ":me": {"S": owner},
            },
        )

    @_outages
    def release_lock(self, table: str, owner: str | None = None) -> LockInfo | None:
        """Delete the lock: ``owner``'s only, when given; whoever holds it otherwise
        (``unlock``). Returns what was released, None when nothing was."""
        held = self.read_lock(table)
        if held is None or (owner is not None and held.owner != owner):
            return None
        request: dict[str, Any] = {
            "TableName": self.name,
            "Key": {"pk": {"S": _lock_pk(table)}, "sk": {"S": LOCK_SK}},
            # The lock read above, not one taken since (an earlier release's lock items
            # carry no lockOwner).
            "ConditionExpression": (
                "runId = :run AND (lockOwner = :owner OR attribute_not_exists(lockOwner))"
            ),
            "ExpressionAttributeValues": {
                ":run": {"S": held.run_id},
                ":owner": {"S": held.owner},
            },
        }
        return held if self._applied(self._client.delete_item, **request) else None

    @_outages
    def read_lock(self, table: str) -> LockInfo | None:
        """The table's lock with the caps in force, None when it is not locked."""
        item = self._client.get_item(
            TableName=self.name,
            Key={"pk": {"S": _lock_pk(table)}, "sk": {"S": LOCK_SK}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        lock = LockInfo.model_validate_json(item["body"]["S"])
        # The caps live in their own attributes, which `set_caps` changes in place.
        return lock.model_copy(
            update={
                "max_write_capacity": _cap(item.get(WRITE_CAP_ATTRIBUTE)),
                "max_read_capacity": _cap(item.get(READ_CAP_ATTRIBUTE)),
            }
        )

    @_outages
    def set_caps(self, table: str, write: float | None, read: float | None) -> LockInfo | None:
        """Set the caps of the run holding the table's lock (WCU/s, RCU/s; None: no cap),
        while its lease runs; the lock as changed, None when no live run holds it."""
        held = self.read_lock(table)
        if held is None:
            return None
        assignments: list[str] = []
        removals: list[str] = []
        values: dict[str, Any] = {":run": {"S": held.run_id}, ":now": {"N": repr(time.time())}}
        for attribute, cap in _cap_attributes(write, read):
            if cap is None:
                removals.append(attribute)
            else:
                assignments.append(f"{attribute} = :{attribute}")
                values[f":{attribute}"] = {"N": repr(cap)}
        expression = " ".join(
            part
            for part in (
                f"SET {', '.join(assignments)}" if assignments else "",
                f"REMOVE {', '.join(removals)}" if removals else "",
            )
            if part
        )
        applied = self._applied(
            self._client.update_item,
            TableName=self.name,
            Key={"pk": {"S": _lock_pk(table)}, "sk": {"S": LOCK_SK}},
            UpdateExpression=expression,
            ConditionExpression="runId = :run AND expiresAt >= :now",
            ExpressionAttributeValues=values,
        )
        return self.read_lock(table) if applied else None

    # -- checkpoints ---------------------------------------------------------------------
    @_outages
    def save_checkpoint(self, run_id: str, checkpoint: SegmentRecord) -> None:
        """Store a segment's checkpoint (migration or verification, by its type)."""
        self._put(
            _run_pk(run_id),
            _segment_sk(type(checkpoint), checkpoint.segment),
            checkpoint.model_dump_json(by_alias=True),
        )

    @_outages
    def checkpoint(
        self, kind: type[SegmentRecordT], run_id: str, segment: int
    ) -> SegmentRecordT | None:
        body = self._get(_run_pk(run_id), _segment_sk(kind, segment))
        return None if body is None else kind.model_validate_json(body)

    @_outages
    def checkpoints(self, kind: type[SegmentRecordT], run_id: str) -> dict[int, SegmentRecordT]:
        bodies = self._query(_run_pk(run_id), SEGMENT_SK_PREFIX[kind])
        found = (kind.model_validate_json(body) for body in bodies)
        return {record.segment: record for record in found}

    # -- turn leases -----------------------------------------------------------------------
    @_outages
    def acquire_turn(self, lease: TurnLease) -> bool:
        """Take the segment's turn lease if it is free, expired or already ``lease.holder``'s;
        False when another turn holds it."""
        return self._applied(
            self._client.put_item,
            TableName=self.name,
            Item={
                "pk": {"S": _run_pk(lease.run_id)},
                "sk": {"S": _turn_sk(lease.phase, lease.segment)},
                "body": {"S": lease.model_dump_json(by_alias=True)},
                "expiresAt": {"N": repr(lease.expires_at)},
                "holder": {"S": lease.holder},
            },
            ConditionExpression="attribute_not_exists(pk) OR expiresAt < :now OR holder = :me",
            ExpressionAttributeValues={
                ":now": {"N": repr(time.time())},
                ":me": {"S": lease.holder},
            },
        )

    @_outages
    def release_turn(self, lease: TurnLease) -> None:
        """Give the lease up, if ``lease.holder`` still holds it."""
        self._applied(
            self._client.delete_item,
            TableName=self.name,
            Key={
                "pk": {"S": _run_pk(lease.run_id)},
                "sk": {"S": _turn_sk(lease.phase, lease.segment)},
            },
            ConditionExpression="holder = :me",
            ExpressionAttributeValues={":me": {"S": lease.holder}},
        )

    @_outages
    def active_turns(self, run_id: str, phase: str) -> int:
        """How many turns of ``phase`` of the run hold a lease now (a Query of the run's
        partition, strongly consistent; its turn leases are a few hundred bytes each)."""
        now = time.time()
        leases = (
            TurnLease.model_validate_json(body)
            for body in self._query(_run_pk(run_id), f"TURN#{phase}#")
        )
        return sum(1 for lease in leases if lease.expires_at >= now)

    # -- history -------------------------------------------------------------------------
    @_outages
    def record_run(self, entry: RunHistoryEntry) -> None:
        self._put(
            _history_pk(entry.table),
            f"{entry.started_at}#{entry.run_id}",
            entry.model_dump_json(by_alias=True),
        )

    @_outages
    def run_entry(self, table: str, started_at: str, run_id: str) -> RunHistoryEntry | None:
        body = self._get(_history_pk(table), f"{started_at}#{run_id}")
        return None if body is None else RunHistoryEntry.model_validate_json(body)

    @_outages
    def history(self, table: str) -> list[RunHistoryEntry]:
        """Every recorded run of ``table``, newest first."""
        return [
            RunHistoryEntry.model_validate_json(body)
            for body in self._query(_history_pk(table), newest_first=True)
        ]

    # -- applied steps -------------------------------------------------------------------
    @_outages
    def applied_steps(self, table: str) -> dict[str, AppliedStep]:
        found = (AppliedStep.model_validate_json(body) for body in self._query(_steps_pk(table)))
        return {step.label: step for step in found}

    @_outages
    def record_step(self, table: str, step: AppliedStep) -> None:
        self._put(_steps_pk(table), step.label, step.model_dump_json(by_alias=True))

    @_outages
    def forget_step(self, table: str, label: str) -> None:
        """Remove the record that step ``label`` was applied to ``table``."""
        self._client.delete_item(
            TableName=self.name, Key={"pk": {"S": _steps_pk(table)}, "sk": {"S": label}}
        )
