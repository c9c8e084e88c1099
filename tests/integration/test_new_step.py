"""`profile-migrate new` twice on a copy of CICADA's registry, then `plan` and a real `run`
on DynamoDB Local: both new steps show as not written, and the run writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import profile_migrations.migrations as cicada
from tests.conftest import dump_table
from tests.integration.helpers import profile

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from tests.conftest import MakeTable
    from tests.integration.conftest import Cli


def test_two_new_steps_plan_as_not_written_and_a_run_writes_nothing(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient, tmp_path: Path
) -> None:
    # Given: a copy of CICADA's registry given two new steps
    registry = tmp_path / "registry.py"
    registry.write_text(Path(cicada.__file__).read_text())
    first_status, first = cli("new", "Add a nickname field", "--migrations", str(registry))
    second_status, second = cli("new", "Add a title", "--migrations", str(registry))
    table = make_table(
        items=[
            profile(f"user-{n}", version=5, profileData={"characterType": "MAGE"}) for n in range(3)
        ]
    )
    before = dump_table(dynamodb_client, table.table_name)

    # When
    plan_status, planned = cli("plan", "--migrations", str(registry), "--from-version", "4")
    run_status, document = cli("run", "--table", table.table_name, "--migrations", str(registry))

    # Then
    assert (first_status, second_status) == (0, 0)
    assert first["changed"] == [str(registry), str(tmp_path / "test_registry_5_to_6.py")]
    assert second["changed"] == [str(registry), str(tmp_path / "test_registry_6_to_7.py")]
    assert all(Path(path).is_file() for path in (*first["changed"], *second["changed"]))
    assert plan_status == 0
    assert planned["targetVersion"] == 7
    assert [(s["fromVersion"], s["toVersion"], s["written"]) for s in planned["steps"]] == [
        (4, 5, True),
        (5, 6, False),
        (6, 7, False),
    ]
    assert run_status == 1
    summary = document["summary"]
    assert (summary["successCount"], summary["failureCount"]) == (0, 3)
    assert {result["error"] for result in summary["results"]} == {
        "step 5->6 is not written yet: write add_a_nickname_field and remove its "
        "@ProfileMigration.not_written"
    }
    assert dump_table(dynamodb_client, table.table_name) == before


def test_new_refuses_a_registry_it_cannot_edit_and_changes_nothing(
    cli: Cli, tmp_path: Path
) -> None:
    registry = tmp_path / "registry.py"
    source = Path(cicada.__file__).read_text() + "\nmigrations = list(migrations)\n"
    registry.write_text(source)

    status, document = cli("new", "Add a title", "--migrations", str(registry))

    assert status == 2
    assert "cannot edit" in document["error"]
    assert registry.read_text() == source
    assert sorted(tmp_path.iterdir()) == [registry]
