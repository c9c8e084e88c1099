"""Protecting the table before a run writes, against moto's DynamoDB (no network)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import boto3
import pytest
from moto import mock_aws

from profile_migrations.dal.dynamodb import ProfileTable
from profile_migrations.dal.seeding import create_table
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_dynamodb.client import DynamoDBClient


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoDBClient]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("dynamodb", region_name="eu-west-1")


def test_without_point_in_time_recovery_an_on_demand_backup_is_taken(
    client: DynamoDBClient,
) -> None:
    table = ProfileTable(client, "UserProfiles")
    create_table(client, "UserProfiles", PROFILE_KEY_SCHEMA)

    result = table.protect("UserProfiles-before-run-1")

    assert result.backup_arn is not None
    (backup,) = client.list_backups(TableName="UserProfiles")["BackupSummaries"]
    assert backup["BackupArn"] == result.backup_arn
    assert backup["BackupName"] == "UserProfiles-before-run-1"


def test_with_point_in_time_recovery_no_backup_is_taken_and_the_window_is_named(
    client: DynamoDBClient,
) -> None:
    table = ProfileTable(client, "UserProfiles")
    create_table(client, "UserProfiles", PROFILE_KEY_SCHEMA)
    client.update_continuous_backups(
        TableName="UserProfiles",
        PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
    )

    result = table.protect("UserProfiles-before-run-1")

    assert result.backup_arn is None
    assert result.point_in_time_recovery is not None
    assert result.point_in_time_recovery.startswith("enabled")
    assert client.list_backups(TableName="UserProfiles")["BackupSummaries"] == []
