"""Schemas per version on DynamoDB Local: a step whose result does not validate fails its
profiles and writes nothing; `run --verify-only --deep` reports profiles at the target that
do not validate, with pydantic's reason."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from profile_migrations.devtools.sample_profiles import sample_profiles
from tests.conftest import dump_table, item_key
from tests.integration.helpers import profile

if TYPE_CHECKING:
    from pathlib import Path

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from tests.conftest import MakeTable
    from tests.integration.conftest import Cli

# Version 2 requires a string `name`; step 1->2 copies `nick` there whatever its type.
REGISTRY = textwrap.dedent(
    """
    from pydantic import BaseModel

    from profile_migrations.registry import ProfileMigration


    class ProfileV2(BaseModel):
        name: str


    def name_from_nick(profile):
        return {**profile, "name": profile.get("nick")}


    migrations = [ProfileMigration(1, 2, "name from nick", name_from_nick)]
    schemas = {2: ProfileV2}
    """
)


def registry_file(tmp_path: Path) -> str:
    path = tmp_path / "registry.py"
    path.write_text(REGISTRY)
    return str(path)


def test_profiles_whose_result_does_not_validate_fail_and_are_not_written(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient, tmp_path: Path
) -> None:
    # Given: one profile whose nick is text, two whose nick is a number or absent
    table = make_table(
        items=[profile("ok", nick="Ada"), profile("number", nick=7), profile("none")]
    )
    before = dump_table(dynamodb_client, table.table_name)

    # When
    status, document = cli(
        "run", "--table", table.table_name, "--migrations", registry_file(tmp_path)
    )

    # Then: the two fail with the field path and reason; only the valid one is written
    assert status == 1
    errors = {result["userId"]: result["error"] for result in document["summary"]["results"]}
    assert errors == {
        "none": "step 1->2: the result does not match version 2's schema (ProfileV2): "
        "name: Input should be a valid string",
        "number": "step 1->2: the result does not match version 2's schema (ProfileV2): "
        "name: Input should be a valid string",
    }
    after = dump_table(dynamodb_client, table.table_name)
    changed = {key for key in after if after[key] != before[key]}
    assert changed == {item_key(profile("ok"))}
    assert document["summary"]["successCount"] == 1


def test_deep_verification_reports_profiles_at_the_target_that_do_not_validate(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient, tmp_path: Path
) -> None:
    # Given: profiles already at version 2, one with a valid name, one with a number, one
    # without; and one still at version 1
    table = make_table(
        items=[
            profile("valid", version=2, name="Ada"),
            profile("number", version=2, name=7),
            profile("missing", version=2),
            profile("behind", version=1, nick="Bo"),
        ]
    )
    before = dump_table(dynamodb_client, table.table_name)
    registry = registry_file(tmp_path)

    # When
    shallow_status, shallow = cli(
        "run", "--table", table.table_name, "--migrations", registry, "--verify-only"
    )
    status, document = cli(
        "run", "--table", table.table_name, "--migrations", registry, "--verify-only", "--deep"
    )

    # Then: the plain verification sees versions only; the deep one also the shapes
    assert shallow_status == 1
    assert [entry["userId"] for entry in shallow["verification"]["invalidProfiles"]] == ["behind"]
    assert status == 1
    verification = document["verification"]
    assert (verification["checkedCount"], verification["invalidCount"]) == (4, 3)
    assert sorted(verification["invalidProfiles"], key=lambda entry: entry["userId"]) == [
        {"userId": "behind", "profileId": "main", "version": 1},
        {
            "userId": "missing",
            "profileId": "main",
            "version": 2,
            "reason": "name: Field required",
        },
        {
            "userId": "number",
            "profileId": "main",
            "version": 2,
            "reason": "name: Input should be a valid string",
        },
    ]
    assert dump_table(dynamodb_client, table.table_name) == before


def test_deep_verification_of_cicada_sample_profiles_after_a_run_finds_them_valid(
    cli: Cli, make_table: MakeTable
) -> None:
    table = make_table(items=list(sample_profiles(60)))

    run_status, _ = cli("run", "--table", table.table_name, "--deep")
    status, document = cli("run", "--table", table.table_name, "--verify-only", "--deep")

    assert (run_status, status) == (0, 0)
    assert document["verification"]["valid"] is True
    assert document["verification"]["checkedCount"] == 60


def test_deep_without_a_schema_for_the_target_or_with_a_dry_run_is_refused(
    cli: Cli, make_table: MakeTable, tmp_path: Path
) -> None:
    table = make_table(items=[profile("a", version=1)])
    no_schema = tmp_path / "plain.py"
    no_schema.write_text(REGISTRY.replace("schemas = {2: ProfileV2}", ""))

    status, document = cli(
        "run", "--table", table.table_name, "--migrations", str(no_schema), "--deep"
    )
    dry_status, dry = cli("run", "--table", table.table_name, "--dry-run", "--deep")

    assert status == 2
    assert "declares none for it" in document["error"]
    assert dry_status == 2
    assert "deepVerify does not apply" in dry["error"]
    assert dry["message"] == "Nothing was written: the request was refused."
