"""Shared pieces of the safety tests: a thread-safe outcome sink, keys, expected states."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from typing import TYPE_CHECKING, Any

from profile_migrations.clock import run_clock
from profile_migrations.codec import deserialize_item
from profile_migrations.dal.dynamodb import ProfileTable, make_dynamodb_client
from profile_migrations.dal.seeding import create_table, put_items
from profile_migrations.loader import load_registry
from profile_migrations.logic.runner import LocalRun, LocalRunOptions, run_local
from tests.conftest import TEST_CREDENTIALS, TEST_REGION

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from profile_migrations.loader import Registry
    from profile_migrations.logic.outcomes import ProfileOutcome
    from profile_migrations.logic.ports import DescribableStore
    from profile_migrations.models.requests import RunRequest
    from profile_migrations.models.results import MigrationResponse
    from profile_migrations.store import RawItem

STARTED_AT = "2026-11-25T00:00:00.000Z"


class ListSink:
    """Keeps every outcome; thread-safe, since segments report from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: list[ProfileOutcome] = []

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None:
        with self._lock:
            self.outcomes.extend(outcomes)

    def by_key(self) -> dict[str, ProfileOutcome]:
        """The last outcome of each profile, keyed by its JSON-encoded key attributes."""
        return {json.dumps(outcome.key, sort_keys=True): outcome for outcome in self.outcomes}


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(type(value).__name__)


def wire_key(item: RawItem, key_names: Sequence[str]) -> str:
    """The key ``tests.conftest.dump_table`` files an item under (binary as base64)."""
    return json.dumps({name: item[name] for name in key_names}, sort_keys=True, default=_text)


def dump_items(client: DynamoDBClient, table_name: str) -> dict[str, RawItem]:
    """``tests.conftest.dump_table`` for any key type, binary keys included."""
    description = client.describe_table(TableName=table_name)["Table"]
    key_names = [key["AttributeName"] for key in description["KeySchema"]]
    items: dict[str, RawItem] = {}
    for page in client.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        for item in page["Items"]:
            items[wire_key(item, key_names)] = item  # type: ignore[arg-type]
    return items


def new_client(engine: DynamoDBLocal) -> DynamoDBClient:
    return make_dynamodb_client(engine.endpoint_url, TEST_REGION, credentials=TEST_CREDENTIALS)


def new_table(
    client: DynamoDBClient,
    key_schema: tuple[tuple[str, str], ...],
    items: Sequence[RawItem] = (),
    prefix: str = "safety",
) -> ProfileTable:
    """A fresh table with a unique name, for fixtures wider than one test."""
    table = ProfileTable(client, f"{prefix}-{uuid.uuid4().hex[:12]}")
    create_table(client, table.table_name, key_schema)
    if items:
        put_items(client, table.table_name, items)
    return table


def run(
    store: DescribableStore,
    request: RunRequest,
    registry: Registry | None = None,
    sink: ListSink | None = None,
    **options: Any,
) -> MigrationResponse:
    """The local runner with a fixed run clock, so expected states are computable."""
    return run_local(
        LocalRun(
            request=request,
            registry=registry or load_registry(),
            store=store,
            sink=sink or ListSink(),
            report_uri="file:///safety-report.jsonl",
            options=LocalRunOptions(**options),
            started_at=STARTED_AT,
        )
    )


def migrated_profile(item: RawItem, registry: Registry, target: int | None = None) -> Any:
    """What a run with :data:`STARTED_AT` must store for ``item``, as a Python profile."""
    with run_clock(STARTED_AT):
        return registry.chain.apply(deserialize_item(item), target or registry.current_version)
