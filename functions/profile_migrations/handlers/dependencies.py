"""What the handlers build for themselves when a test does not inject it: built at a
container's first invocation and reused by its warm ones (one connection pool, one
imported registry), as the handler cookbook's cached builders do."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from profile_migrations.dal.control import ControlTable
from profile_migrations.dal.dynamodb import ProfileTable, make_dynamodb_client
from profile_migrations.dal.s3 import RunRecords, make_s3_client
from profile_migrations.loader import load_registry

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.loader import Registry


@functools.cache
def _dynamodb() -> DynamoDBClient:
    return make_dynamodb_client()


@functools.cache
def profile_table(name: str) -> ProfileTable:
    return ProfileTable(_dynamodb(), name)


@functools.cache
def control_table(name: str) -> ControlTable:
    return ControlTable(_dynamodb(), name)


@functools.cache
def run_records(bucket: str) -> RunRecords:
    return RunRecords(make_s3_client(), bucket)


@functools.cache
def registry(module: str | None) -> Registry:
    return load_registry(module)
