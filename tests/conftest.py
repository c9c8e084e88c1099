"""Shared fixtures: one in-memory DynamoDB Local per test session, a fresh table per test."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.codec import deserialize_item
from profile_migrations.dal.dynamodb import ProfileTable, StaticCredentials, make_dynamodb_client
from profile_migrations.dal.seeding import create_table, put_items
from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_dynamodb.client import DynamoDBClient

pytest_plugins = ["tests.cdk_synth"]

EVENTS_DIR = Path(__file__).parent / "events"
TEST_REGION = "us-east-1"
TEST_CREDENTIALS = StaticCredentials(access_key_id="tests", secret_access_key="tests")
_table_numbers = itertools.count()


def load_event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def dynamodb_local() -> Iterator[DynamoDBLocal]:
    with DynamoDBLocal.start() as engine:
        yield engine


@pytest.fixture
def aws_env(dynamodb_local: DynamoDBLocal, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Environment for a subprocess CLI that reaches the test engine through the AWS chain."""
    env = {
        "AWS_ACCESS_KEY_ID": TEST_CREDENTIALS.access_key_id,
        "AWS_SECRET_ACCESS_KEY": TEST_CREDENTIALS.secret_access_key,
        "AWS_DEFAULT_REGION": TEST_REGION,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return env


@pytest.fixture
def dynamodb_client(dynamodb_local: DynamoDBLocal) -> DynamoDBClient:
    return make_dynamodb_client(
        dynamodb_local.endpoint_url, TEST_REGION, credentials=TEST_CREDENTIALS
    )


@pytest.fixture
def make_table(dynamodb_client: DynamoDBClient) -> Callable[..., ProfileTable]:
    """Create a fresh, uniquely named table; by default keyed like CICADA's UserProfiles."""

    def make(
        key_schema: tuple[tuple[str, str], ...] = PROFILE_KEY_SCHEMA, items: list[Any] | None = None
    ) -> ProfileTable:
        table = ProfileTable(dynamodb_client, f"profiles-{next(_table_numbers)}")
        create_table(dynamodb_client, table.table_name, key_schema)
        if items:
            put_items(dynamodb_client, table.table_name, items)
        return table

    return make


def dump_table(client: DynamoDBClient, table_name: str) -> dict[str, Any]:
    """Every item in wire format, keyed by its JSON-encoded key, for exact comparisons."""
    description = client.describe_table(TableName=table_name)["Table"]
    key_names = [key["AttributeName"] for key in description["KeySchema"]]
    items: dict[str, Any] = {}
    paginator = client.get_paginator("scan")
    for page in paginator.paginate(TableName=table_name, ConsistentRead=True):
        for item in page["Items"]:
            key = json.dumps({name: item[name] for name in key_names}, sort_keys=True)
            items[key] = item
    return items


def dump_profiles(client: DynamoDBClient, table_name: str) -> dict[str, dict[str, Any]]:
    return {key: deserialize_item(item) for key, item in dump_table(client, table_name).items()}
