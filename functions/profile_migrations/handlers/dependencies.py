"""What each handler works with, built from its settings at a container's first invocation
and reused by its warm ones (one connection pool, one imported registry), as the handler
cookbook's cached builders do. Tests pass their own (fakes) instead."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from profile_migrations.dal.control import ControlTable
from profile_migrations.dal.dynamodb import ProfileTable, make_dynamodb_client
from profile_migrations.dal.s3 import RunRecords, make_s3_client
from profile_migrations.loader import load_registry
from profile_migrations.settings import AggregateSettings, PlanSettings, SegmentSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.loader import Registry
    from profile_migrations.logic.ports import (
        ControlStore,
        ProfileStore,
        ProtectableStore,
        RunRecordStore,
    )


@dataclass(frozen=True)
class PlanDependencies:
    settings: PlanSettings
    registry: Registry
    store: ProtectableStore
    control: ControlStore


@dataclass(frozen=True)
class SegmentDependencies:
    """Migrate's and Verify's (Verify reads the registry's schemas for a deep verification)."""

    settings: SegmentSettings
    registry: Registry
    store: ProfileStore
    records: RunRecordStore
    control: ControlStore


@dataclass(frozen=True)
class AggregateDependencies:
    settings: AggregateSettings
    records: RunRecordStore
    control: ControlStore


@functools.cache
def plan_dependencies() -> PlanDependencies:
    settings = PlanSettings.from_environ()
    store, control = _tables(settings.table_name, settings.control_table)
    return PlanDependencies(settings, load_registry(settings.migrations_module), store, control)


@functools.cache
def segment_dependencies() -> SegmentDependencies:
    settings = SegmentSettings.from_environ()
    store, control = _tables(settings.table_name, settings.control_table)
    registry = load_registry(settings.migrations_module)
    records = RunRecords(make_s3_client(), settings.report_bucket)
    return SegmentDependencies(settings, registry, store, records, control)


@functools.cache
def aggregate_dependencies() -> AggregateDependencies:
    settings = AggregateSettings.from_environ()
    records = RunRecords(make_s3_client(), settings.report_bucket)
    return AggregateDependencies(
        settings, records, ControlTable(_dynamodb(), settings.control_table)
    )


@functools.cache
def _dynamodb() -> DynamoDBClient:
    return make_dynamodb_client()


def _tables(table_name: str, control_table: str) -> tuple[ProfileTable, ControlTable]:
    return ProfileTable(_dynamodb(), table_name), ControlTable(_dynamodb(), control_table)
