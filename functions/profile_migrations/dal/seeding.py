"""Creating and filling tables for the demo, the tests and the benchmarks: never part of a
migration, which only reads and conditionally updates items of a table it did not create.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from profile_migrations.dal.dynamodb import MAX_THROTTLE_ROUNDS, backoff_seconds
from profile_migrations.errors import StoreUnavailableError

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.literals import KeyTypeType

    from profile_migrations.store import RawItem

# BatchWriteItem's limit (DynamoDB API reference, BatchWriteItem: "up to 25 put or delete
# requests").
MAX_ITEMS_PER_BATCH_WRITE = 25


def create_table(
    client: DynamoDBClient, table_name: str, key_schema: Sequence[tuple[str, str]]
) -> None:
    """Create an on-demand table and wait until it is active: ``key_schema`` is
    ``(name, "S"|"N"|"B")`` for the partition key, then optionally the sort key."""
    key_types: tuple[KeyTypeType, ...] = ("HASH", "RANGE")
    client.create_table(
        TableName=table_name,
        KeySchema=[
            {"AttributeName": name, "KeyType": key_type}
            for (name, _), key_type in zip(key_schema, key_types, strict=False)
        ],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": attribute_type}  # type: ignore[typeddict-item]
            for name, attribute_type in key_schema
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=table_name)


def put_items(client: DynamoDBClient, table_name: str, items: Iterable[RawItem]) -> int:
    """Write new items unconditionally, 25 a call; returns how many. Raises
    :class:`StoreUnavailableError` when DynamoDB keeps leaving items unprocessed."""
    written = 0
    batch: list[RawItem] = []
    for item in items:
        batch.append(item)
        if len(batch) == MAX_ITEMS_PER_BATCH_WRITE:
            written += _batch_put(client, table_name, batch)
            batch = []
    if batch:
        written += _batch_put(client, table_name, batch)
    return written


def _batch_put(client: DynamoDBClient, table_name: str, batch: list[RawItem]) -> int:
    requests: list[Any] = [{"PutRequest": {"Item": item}} for item in batch]
    for attempt in range(MAX_THROTTLE_ROUNDS):
        response = client.batch_write_item(RequestItems={table_name: requests})
        requests = list(response.get("UnprocessedItems", {}).get(table_name, []))
        if not requests:
            return len(batch)
        time.sleep(backoff_seconds(attempt))
    raise StoreUnavailableError(f"DynamoDB kept throttling writes to {table_name!r}")
