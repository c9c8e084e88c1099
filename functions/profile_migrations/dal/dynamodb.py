"""The one module that talks to DynamoDB.

Writes go out as PartiQL ``BatchExecuteStatement`` calls of up to 25 conditional
``UPDATE`` statements (one round trip for 25 profiles, each accepted or refused on its
own); a write PartiQL cannot be trusted to carry (a statement over 8,192 characters, any
attribute name outside ``[A-Za-z0-9_]+``) goes out as a conditional ``UpdateItem`` with
the same condition, where every name is an ``ExpressionAttributeNames`` value.
"""

from __future__ import annotations

import logging
import random
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoRegionError

from profile_migrations.dal.fast_scan import ScanRetries, select_scan
from profile_migrations.errors import (
    BackupFailedError,
    InvalidRequestError,
    StoreUnavailableError,
    TableNotFoundError,
)
from profile_migrations.models.results import BackupResult
from profile_migrations.store import (
    MAX_WRITES_PER_BATCH,
    ProfileWrite,
    RawItem,
    ScanPage,
    TableInfo,
    WriteBatchResult,
    WriteOutcome,
    WriteStatus,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import BatchStatementRequestTypeDef

logger = logging.getLogger(__name__)

# BatchStatementRequest.Statement's maximum length (botocore's model: PartiQLStatement,
# max 8192); a longer statement fails the whole BatchExecuteStatement request.
MAX_STATEMENT_LENGTH = 8192
# Attribute names a PartiQL write may quote, by allowlist: ASCII letters, digits and "_",
# characters with no meaning in PartiQL nor in the expression syntax DynamoDB translates a
# statement into. Probed on DynamoDB Local (jar 2026-05-28): names starting with "#" or
# ":" ("#text", ":count", "#", "#pk") are taken there for placeholders the statement never
# defines, and a name holding '"' cannot be quoted at all; every other name probed (".",
# "[0]", spaces, quotes, control characters, non-ASCII, reserved words) did work, but
# AWS's PartiQL is another implementation, so only names that cannot be misread go there.
# Every other name takes the conditional UpdateItem path, which carries any legal name.
PARTIQL_NAME = re.compile(r"[A-Za-z0-9_]+")
# An expression attribute name placeholder as update_item_arguments writes it.
NAME_PLACEHOLDER = re.compile(r"#n[0-9]+")
# How much of an attribute name an error message quotes (characters).
QUOTED_NAME_CHARS = 80
SDK_MAX_RETRIES = 10
MAX_THROTTLE_ROUNDS = 10
BACKOFF_BASE_SECONDS = 0.05
BACKOFF_CAP_SECONDS = 5.0
RETRYABLE_STATEMENT_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceeded",
        "ThrottlingError",
        "RequestLimitExceeded",
        "InternalServerError",
        "TransactionConflict",
    }
)
THROTTLING_CALL_ERRORS = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
    }
)


@dataclass(frozen=True)
class StaticCredentials:
    """Credentials for an engine the caller owns (the demo's embedded DynamoDB Local)."""

    access_key_id: str
    secret_access_key: str


def make_dynamodb_client(
    endpoint_url: str | None = None,
    region: str | None = None,
    max_connections: int = 16,
    credentials: StaticCredentials | None = None,
) -> DynamoDBClient:
    """A client with adaptive SDK retries; credentials come from the standard AWS chain
    unless the caller owns the engine and passes its own."""
    config = Config(
        retries={"mode": "adaptive", "max_attempts": SDK_MAX_RETRIES},
        max_pool_connections=max_connections,
        # Requests are built here, never from user input; botocore's per-attribute
        # validation of them cost 40 % of the client's CPU per profile.
        parameter_validation=False,
    )
    try:
        return boto3.client(
            "dynamodb",
            endpoint_url=endpoint_url,
            region_name=region,
            config=config,
            aws_access_key_id=credentials.access_key_id if credentials else None,
            aws_secret_access_key=credentials.secret_access_key if credentials else None,
        )
    except NoRegionError as exc:
        raise InvalidRequestError(
            "no AWS region is configured: pass --region or set AWS_DEFAULT_REGION"
        ) from exc
    except ValueError as exc:
        raise InvalidRequestError(f"invalid endpoint URL or region: {exc}") from exc


def _quote(name: str) -> str:
    return f'"{name}"'


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter: how long to wait before retry ``attempt``."""
    return random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))  # noqa: S311 - jitter, not crypto


# The fast scan path retries as the client's SDK does (make_dynamodb_client).
SCAN_RETRIES = ScanRetries(
    max_retries=SDK_MAX_RETRIES, retryable_codes=THROTTLING_CALL_ERRORS, backoff=backoff_seconds
)


def update_item_arguments(write: ProfileWrite) -> dict[str, Any]:
    """``UpdateItem`` arguments for a write, with the same condition as its PartiQL form:
    the item exists and every attribute it sets or removes still holds the value read.

    Every attribute name, key attributes included, is an ``ExpressionAttributeNames``
    value behind a ``#n<index>`` placeholder, one per distinct name, so any name DynamoDB
    accepts (1 byte to 64 KB of UTF-8, any characters) is carried verbatim: the expression
    itself holds only placeholders, operators and ``:v<index>`` value placeholders.
    """
    tokens: dict[str, str] = {}
    values: dict[str, Any] = {}

    def name_token(name: str) -> str:
        token = tokens.get(name)
        if token is None:
            token = tokens[name] = f"#n{len(tokens)}"
        return token

    def value_token(value: Any) -> str:
        token = f":v{len(values)}"
        values[token] = value
        return token

    assignments = [
        f"{name_token(name)} = {value_token(value)}" for name, value in write.set_values.items()
    ]
    expression = "SET " + ", ".join(assignments) if assignments else ""
    if write.removed:
        expression += " REMOVE " + ", ".join(name_token(name) for name in write.removed)
    conditions = [f"attribute_exists({name_token(name)})" for name in write.key]
    for name, expected in write.expected.items():
        if expected is None:
            conditions.append(f"attribute_not_exists({name_token(name)})")
        else:
            conditions.append(f"{name_token(name)} = {value_token(expected)}")
    arguments: dict[str, Any] = {
        "Key": write.key,
        "UpdateExpression": expression.strip(),
        "ConditionExpression": " AND ".join(conditions),
        "ExpressionAttributeNames": {token: name for name, token in tokens.items()},
    }
    if values:
        arguments["ExpressionAttributeValues"] = values
    return arguments


def _partiql_can_carry(names: Iterable[str]) -> bool:
    return all(PARTIQL_NAME.fullmatch(name) for name in names)


def _describe_name(name: str) -> str:
    size = len(name.encode())
    if len(name) <= QUOTED_NAME_CHARS:
        return f"attribute {name!r}"
    return f"attribute {name[:QUOTED_NAME_CHARS]!r}... ({size:,} bytes)"


def _name_placeholders(message: str, names: dict[str, str]) -> str:
    """DynamoDB's error message with each ``#n<index>`` it cites followed by the attribute
    name it stands for, so a refused write names the attribute, not a placeholder."""

    def explain(match: re.Match[str]) -> str:
        token = match.group(0)
        name = names.get(token)
        return token if name is None else f"{token} ({_describe_name(name)})"

    return NAME_PLACEHOLDER.sub(explain, message)


def _units(consumed: Any) -> float | None:
    """The capacity units of a ``ConsumedCapacity`` answer (one, or a list of one per
    table); None when there is none."""
    if isinstance(consumed, dict):
        consumed = [consumed]
    if not consumed:
        return None
    try:
        return float(sum(float(entry["CapacityUnits"]) for entry in consumed))
    except (KeyError, TypeError, ValueError):
        return None


class _Consumed:
    """The units a group of requests consumed; None once any answer said nothing."""

    def __init__(self) -> None:
        self.units: float | None = 0.0

    def add(self, consumed: Any) -> None:
        units = _units(consumed)
        self.units = None if units is None or self.units is None else self.units + units


class ProfileTable:
    """Reads and conditionally updates the items of one table.

    Scans take the fast path of :mod:`profile_migrations.dal.fast_scan` when the client
    carries it, else ``client.scan``; the same pages either way. ``fast_scan=False``
    forces ``client.scan``, ``True`` ignores the environment variable
    ``PROFILE_MIGRATIONS_FAST_SCAN`` (``0``/``false``/``off``/``no`` disable the fast
    path), None (the default) reads it. Decided once, here, and logged.
    """

    def __init__(
        self, client: DynamoDBClient, table_name: str, *, fast_scan: bool | None = None
    ) -> None:
        self._client = client
        self.table_name = table_name
        self._quoted_table = _quote(table_name)
        self._scan_path = select_scan(client, SCAN_RETRIES, enabled=fast_scan)
        self._scan = self._scan_path.scan

    @property
    def scan_path(self) -> str:
        """The path this table's scans take: ``fast`` or ``botocore``."""
        return self._scan_path.name

    def describe(self) -> TableInfo:
        """The table's key schema and size; the first call of a run, so every problem
        reaching the table (no credentials, wrong endpoint, no access) is reported here as
        bad input, before anything is read or written."""
        try:
            table = self._client.describe_table(TableName=self.table_name)["Table"]
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "ResourceNotFoundException":
                raise TableNotFoundError(f"table {self.table_name!r} does not exist") from exc
            raise InvalidRequestError(
                f"cannot describe table {self.table_name!r}: "
                f"{error.get('Code')}: {error.get('Message')}"
            ) from exc
        except BotoCoreError as exc:
            raise InvalidRequestError(f"cannot reach DynamoDB: {exc}") from exc
        keys = sorted(table["KeySchema"], key=lambda key: key["KeyType"] != "HASH")
        # A table created without a billing mode is provisioned, and its description then
        # has no BillingModeSummary (DescribeTable, TableDescription.BillingModeSummary).
        mode = table.get("BillingModeSummary", {}).get("BillingMode", "PROVISIONED")
        provisioned = table.get("ProvisionedThroughput", {}).get("WriteCapacityUnits", 0)
        return TableInfo(
            name=self.table_name,
            key_attributes=tuple(key["AttributeName"] for key in keys),
            item_count=int(table.get("ItemCount", 0)),
            size_bytes=int(table.get("TableSizeBytes", 0)),
            provisioned_write_capacity=(
                int(provisioned) if mode == "PROVISIONED" and provisioned else None
            ),
        )

    def scan_page(
        self,
        segment: int,
        total_segments: int,
        start_key: RawItem | None = None,
        limit: int | None = None,
        projection: Sequence[str] | None = None,
        consistent_read: bool = False,
    ) -> ScanPage:
        """One page of one parallel-scan segment; ``last_evaluated_key`` None means done."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Segment": segment,
            "TotalSegments": total_segments,
            "ConsistentRead": consistent_read,
            "ReturnConsumedCapacity": "TOTAL",
        }
        if start_key is not None:
            request["ExclusiveStartKey"] = start_key
        if limit is not None:
            request["Limit"] = limit
        if projection:
            names = {f"#p{index}": name for index, name in enumerate(projection)}
            request["ProjectionExpression"] = ", ".join(names)
            request["ExpressionAttributeNames"] = names
        response = self._call_with_throttle_guard(self._scan, request)
        return ScanPage(
            items=response.get("Items", []),
            last_evaluated_key=response.get("LastEvaluatedKey"),
            consumed_read_units=_units(response.get("ConsumedCapacity")),
        )

    def get_item(self, key: RawItem) -> RawItem | None:
        """The item's current value by a strongly consistent ``GetItem``; None when it does
        not exist. A run re-reads an item this way when an answer it got for the item (a
        scan page, a conflict's returned item) held a value it could not decode."""
        response = self._call_with_throttle_guard(
            self._client.get_item,
            {"TableName": self.table_name, "Key": key, "ConsistentRead": True},
        )
        item: RawItem | None = response.get("Item")
        return item

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        """Apply each write only if its expected values still hold; one outcome per write.

        Throttled statements are re-sent with exponential backoff and jitter; when DynamoDB
        keeps throttling, :class:`StoreUnavailableError` is raised and no outcome is invented.
        """
        outcomes: list[WriteOutcome | None] = [None] * len(writes)
        statements: list[tuple[int, BatchStatementRequestTypeDef]] = []
        throttle_retries = 0
        consumed = _Consumed()
        for index, write in enumerate(writes):
            statement = self._render_statement(write)
            if statement is None:
                outcomes[index] = self._update_item(write, consumed)
            else:
                statements.append((index, statement))
        for start in range(0, len(statements), MAX_WRITES_PER_BATCH):
            chunk = statements[start : start + MAX_WRITES_PER_BATCH]
            throttle_retries += self._execute_chunk(chunk, outcomes, consumed)
        answered = [outcome for outcome in outcomes if outcome is not None]
        if len(answered) != len(writes):
            raise RuntimeError("DynamoDB left a write without an answer")
        return WriteBatchResult(
            outcomes=answered,
            throttle_retries=throttle_retries,
            consumed_write_units=consumed.units,
        )

    def _execute_chunk(
        self,
        chunk: list[tuple[int, BatchStatementRequestTypeDef]],
        outcomes: list[WriteOutcome | None],
        consumed: _Consumed,
    ) -> int:
        retries = 0
        pending = chunk
        for attempt in range(MAX_THROTTLE_ROUNDS):
            response = self._call_with_throttle_guard(
                self._client.batch_execute_statement,
                {
                    "Statements": [statement for _, statement in pending],
                    "ReturnConsumedCapacity": "TOTAL",
                },
            )
            consumed.add(response.get("ConsumedCapacity"))
            still_pending: list[tuple[int, BatchStatementRequestTypeDef]] = []
            for (index, statement), answer in zip(pending, response["Responses"], strict=True):
                error = answer.get("Error")
                if error is None:
                    outcomes[index] = WriteOutcome(WriteStatus.WRITTEN)
                elif error.get("Code") == "ConditionalCheckFailed":
                    outcomes[index] = WriteOutcome(WriteStatus.CONFLICT, current=error.get("Item"))
                elif error.get("Code") in RETRYABLE_STATEMENT_ERRORS:
                    still_pending.append((index, statement))
                else:
                    outcomes[index] = WriteOutcome(
                        WriteStatus.REJECTED,
                        message=f"{error.get('Code')}: {error.get('Message')}",
                    )
            if not still_pending:
                return retries
            retries += len(still_pending)
            pending = still_pending
            time.sleep(backoff_seconds(attempt))
        raise StoreUnavailableError(
            f"DynamoDB throttled {len(pending)} writes on {self.table_name!r} "
            f"{MAX_THROTTLE_ROUNDS} times in a row"
        )

    def _render_statement(self, write: ProfileWrite) -> BatchStatementRequestTypeDef | None:
        """The write as one conditional PartiQL ``UPDATE``, or None when it must go out as
        ``UpdateItem``: a name outside :data:`PARTIQL_NAME` (key attributes included) or a
        statement over :data:`MAX_STATEMENT_LENGTH` characters. Names that pass are ASCII,
        as is the table name (``[a-zA-Z0-9_.-]``), so the length in characters is the
        length in bytes, whichever of the two an engine counts."""
        if not _partiql_can_carry((*write.set_values, *write.removed, *write.key, *write.expected)):
            return None
        parameters: list[Any] = []
        parts = [f"UPDATE {self._quoted_table}"]
        for name, value in write.set_values.items():
            parts.append(f"SET {_quote(name)}=?")
            parameters.append(value)
        parts.extend(f"REMOVE {_quote(name)}" for name in write.removed)
        conditions: list[str] = []
        for name, value in write.key.items():
            conditions.append(f"{_quote(name)}=?")
            parameters.append(value)
        for name, expected in write.expected.items():
            if expected is None:
                conditions.append(f"{_quote(name)} IS MISSING")
            else:
                conditions.append(f"{_quote(name)}=?")
                parameters.append(expected)
        text = " ".join(parts) + " WHERE " + " AND ".join(conditions)
        if len(text) > MAX_STATEMENT_LENGTH:
            return None
        return {
            "Statement": text,
            "Parameters": parameters,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def _update_item(self, write: ProfileWrite, consumed: _Consumed) -> WriteOutcome:
        """One write as a conditional ``UpdateItem``; the stored item is unchanged unless
        the answer is WRITTEN. A write DynamoDB refuses as invalid (a name it does not
        accept, such as an empty one or one of 64 KB or more; an expression over 4 KB; an
        item over 400 KB) fails that profile only, with DynamoDB's message in which every
        placeholder it cites is followed by the attribute name it stands for.

        DynamoDB Local (jar 2026-05-28) stores names of at most 50,000 bytes: a longer one
        (legal on AWS up to 65,535) is refused by its PutItem with InternalFailure, while its
        UpdateItem answers success and leaves the item unreadable (every read of it fails
        with InternalFailure); nothing here can tell that engine's answer from AWS's."""
        arguments = update_item_arguments(write)
        request: dict[str, Any] = {
            "TableName": self.table_name,
            **arguments,
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            "ReturnConsumedCapacity": "TOTAL",
        }
        try:
            response = self._call_with_throttle_guard(self._client.update_item, request)
        except ClientError as exc:
            # A refused write's answer carries no consumed capacity; the run estimates it.
            consumed.add(None)
            error = exc.response.get("Error", {})
            if error.get("Code") == "ConditionalCheckFailedException":
                current: RawItem | None = exc.response.get("Item")  # type: ignore[assignment]
                return WriteOutcome(WriteStatus.CONFLICT, current=current)
            if error.get("Code") == "ValidationException":
                message = _name_placeholders(
                    str(error.get("Message")), arguments["ExpressionAttributeNames"]
                )
                return WriteOutcome(WriteStatus.REJECTED, message=f"ValidationException: {message}")
            raise
        consumed.add(response.get("ConsumedCapacity"))
        return WriteOutcome(WriteStatus.WRITTEN)

    def protect(self, backup_name: str) -> BackupResult:
        """Make the table restorable before a run writes: report point-in-time recovery
        when it is on, else take an on-demand backup. DynamoDB Local has neither; that is
        reported, not fatal. Any other failure raises :class:`BackupFailedError`."""
        try:
            continuous = self._client.describe_continuous_backups(TableName=self.table_name)
            recovery = continuous["ContinuousBackupsDescription"].get(
                "PointInTimeRecoveryDescription", {}
            )
            if recovery.get("PointInTimeRecoveryStatus") == "ENABLED":
                earliest = recovery.get("EarliestRestorableDateTime")
                return BackupResult(
                    point_in_time_recovery=(
                        f"enabled; restorable from {earliest:%Y-%m-%dT%H:%M:%SZ} to the "
                        "latest restorable time (about 5 minutes ago)"
                        if earliest
                        else "enabled"
                    )
                )
            backup = self._client.create_backup(TableName=self.table_name, BackupName=backup_name)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") == "UnknownOperationException":
                return BackupResult(
                    skipped="this endpoint has no backup API (DynamoDB Local); no backup taken"
                )
            raise BackupFailedError(
                f"could not back up {self.table_name!r} before writing: {error.get('Code')}: "
                f"{error.get('Message')}; enable point-in-time recovery, grant "
                "dynamodb:CreateBackup, or opt out explicitly with --no-backup"
            ) from exc
        return BackupResult(backup_arn=backup["BackupDetails"]["BackupArn"])

    def _call_with_throttle_guard(self, operation: Any, request: dict[str, Any]) -> Any:
        try:
            return operation(**request)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in THROTTLING_CALL_ERRORS:
                raise StoreUnavailableError(
                    f"DynamoDB kept answering {code} after {SDK_MAX_RETRIES} retries"
                ) from exc
            if code == "ResourceNotFoundException":
                raise TableNotFoundError(f"table {self.table_name!r} does not exist") from exc
            raise
        except BotoCoreError as exc:
            raise StoreUnavailableError(f"DynamoDB could not be reached: {exc}") from exc
