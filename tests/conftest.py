"""Shared fixtures and table helpers: one in-memory DynamoDB Local per test session, a fresh
table per test, and exact dumps of a table's items."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import pytest

from profile_migrations.codec import deserialize_item, serialize_item
from profile_migrations.dal.dynamodb import ProfileTable, StaticCredentials, make_dynamodb_client
from profile_migrations.dal.seeding import create_table, put_items
from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA
from tests.fakes import key_text

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.codec import Profile
    from profile_migrations.store import RawItem

pytest_plugins = ["tests.cdk_synth"]

EVENTS_DIR = Path(__file__).parent / "events"
TEST_REGION = "us-east-1"
TEST_CREDENTIALS = StaticCredentials(access_key_id="tests", secret_access_key="tests")

KeySchema = tuple[tuple[str, str], ...]
PROFILE_KEY_NAMES = tuple(name for name, _ in PROFILE_KEY_SCHEMA)


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / f"{name}.json").read_text())
    return event


# --- tables on DynamoDB Local ---------------------------------------------------------------


def new_client(engine: DynamoDBLocal) -> DynamoDBClient:
    """A client of the test engine, built as the CLI builds one."""
    return make_dynamodb_client(engine.endpoint_url, TEST_REGION, credentials=TEST_CREDENTIALS)


def new_table(
    client: DynamoDBClient,
    key_schema: KeySchema = PROFILE_KEY_SCHEMA,
    items: Sequence[RawItem] = (),
    prefix: str = "profiles",
) -> ProfileTable:
    """A fresh table with a unique name holding ``items``; by default keyed like CICADA's
    UserProfiles."""
    table = ProfileTable(client, f"{prefix}-{uuid.uuid4().hex[:12]}")
    create_table(client, table.table_name, key_schema)
    if items:
        put_items(client, table.table_name, items)
    return table


class MakeTable(Protocol):
    """The ``make_table`` fixture: :func:`new_table` on the test's client."""

    def __call__(
        self, key_schema: KeySchema = PROFILE_KEY_SCHEMA, items: Sequence[RawItem] = ()
    ) -> ProfileTable: ...


def item_key(item: RawItem, key_names: Sequence[str] = PROFILE_KEY_NAMES) -> str:
    """The key :func:`dump_table` files ``item`` under (binary values in base64)."""
    return key_text({name: item[name] for name in key_names})


def dump_table(client: DynamoDBClient, table_name: str) -> dict[str, RawItem]:
    """Every item in wire format, keyed by its JSON-encoded key, for exact comparisons."""
    description = client.describe_table(TableName=table_name)["Table"]
    key_names = [key["AttributeName"] for key in description["KeySchema"]]
    items: dict[str, RawItem] = {}
    for page in client.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        for item in page["Items"]:
            # boto3-stubs' TypedDicts describe the same wire format as RawItem
            raw = cast("RawItem", item)
            items[item_key(raw, key_names)] = raw
    return items


def dump_profiles(client: DynamoDBClient, table_name: str) -> dict[str, Profile]:
    """:func:`dump_table` with every item as a Python profile."""
    return {key: deserialize_item(item) for key, item in dump_table(client, table_name).items()}


# --- fixtures -------------------------------------------------------------------------------


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
    return new_client(dynamodb_local)


@pytest.fixture
def make_table(dynamodb_client: DynamoDBClient) -> MakeTable:
    """Creates a fresh, uniquely named table (see :func:`new_table`)."""

    def make(
        key_schema: KeySchema = PROFILE_KEY_SCHEMA, items: Sequence[RawItem] = ()
    ) -> ProfileTable:
        return new_table(dynamodb_client, key_schema, items)

    return make


def empty_prefs_profile(number: int) -> RawItem:
    """A version-1 profile with an empty map nested in profileData: DynamoDB Local
    answers a conflict on it with that map malformed (``{}`` for ``{"M": {}}``)."""
    return serialize_item(
        {
            "userId": f"user-{number:05d}",
            "profileId": "main",
            "version": 1,
            "profileData": {
                "characterName": f"hero-{number}",
                "prefs": {},
                "visits": 0,
                "createdBy": "signup",
                "tags": ["new"],
            },
            "appWrites": 0,
            "updatedAt": "2026-11-01T00:00:00.000Z",
        }
    )
