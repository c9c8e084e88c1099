"""`profile-migrate` end to end against DynamoDB Local: output contract and exit statuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from profile_migrations.cli import main
from profile_migrations.devtools.sample_profiles import sample_profiles
from tests.conftest import dump_table
from tests.integration.helpers import profile, profile_migrate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from tests.conftest import MakeTable
    from tests.integration.conftest import Cli

SEED_KEYS = {"success", "message", "summary", "verification", "targetVersion"}
SUMMARY_KEYS = {"totalProfiles", "successCount", "failureCount", "skippedCount", "results"}


def test_run_prints_one_seed_format_document_and_exits_0(
    cli: Cli, make_table: MakeTable, tmp_path: Path
) -> None:
    table = make_table(items=list(sample_profiles(120)))

    status, document = cli("run", "--table", table.table_name, "--segments", "3")

    assert status == 0
    assert set(document) >= SEED_KEYS
    assert set(document["summary"]) >= SUMMARY_KEYS
    assert document["success"] is True
    assert document["summary"]["successCount"] == 120
    verification_reads = document["verification"].pop("consumedReadCapacityUnits")
    assert 0 < verification_reads < document["summary"]["consumedReadCapacityUnits"]
    assert document["verification"] == {
        "valid": True,
        "invalidProfiles": [],
        "checkedCount": 120,
        "invalidCount": 0,
        "invalidProfilesTruncated": False,
        "complete": True,
    }
    report = Path(document["summary"]["reportUri"].removeprefix("file://"))
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert len(lines) == 120
    assert {line["status"] for line in lines} == {"success"}


def test_failures_exit_1_and_results_are_capped_with_the_full_list_in_the_report(
    cli: Cli, make_table: MakeTable
) -> None:
    broken = [profile(f"broken-{n:04d}") for n in range(1_005)]
    table = make_table(items=[*broken, *sample_profiles(10)])

    status, document = cli("run", "--table", table.table_name)

    summary = document["summary"]
    assert status == 1
    assert document["success"] is False
    assert summary["failureCount"] == 1_005
    assert len(summary["results"]) == 1_000
    assert summary["resultsTruncated"] is True
    first = summary["results"][0]
    assert set(first) == {"userId", "profileId", "fromVersion", "toVersion", "status", "error"}
    assert (first["fromVersion"], first["toVersion"], first["status"]) == (1, 5, "failed")
    report = Path(summary["reportUri"].removeprefix("file://"))
    statuses = [json.loads(line)["status"] for line in report.read_text().splitlines()]
    assert statuses.count("failed") == 1_005
    assert statuses.count("success") == 10
    assert document["verification"]["invalidCount"] == 1_005
    assert len(document["verification"]["invalidProfiles"]) == 1_000
    assert document["verification"]["invalidProfilesTruncated"] is True


def test_dry_run_has_no_verification_and_verify_only_has_no_summary(
    cli: Cli, make_table: MakeTable
) -> None:
    table = make_table(items=list(sample_profiles(20)))

    dry_status, dry = cli("run", "--table", table.table_name, "--dry-run")
    verify_status, verify = cli("run", "--table", table.table_name, "--verify-only")

    assert (dry_status, "verification" in dry, dry["summary"]["successCount"]) == (0, False, 20)
    assert (verify_status, "summary" in verify) == (1, False)
    assert verify["verification"]["invalidCount"] == 20


@pytest.mark.parametrize(
    ("arguments", "expected_error"),
    [
        (["--table", "no-such-table"], "does not exist"),
        (["--target-version", "9"], "no migration path leads to version 9"),
        (["--migrations", "no_such_module_anywhere"], "cannot import migrations"),
        (["--migrations", "tests/events/not-a-registry.py"], "does not exist"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    cli: Cli,
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    arguments: list[str],
    expected_error: str,
) -> None:
    table = make_table(items=list(sample_profiles(15)))
    before = dump_table(dynamodb_client, table.table_name)
    if "--table" not in arguments:
        arguments = ["--table", table.table_name, *arguments]

    status, document = cli("run", *arguments)

    assert status == 2
    assert document["success"] is False
    assert expected_error in document["error"]
    assert dump_table(dynamodb_client, table.table_name) == before


def test_an_invalid_registry_file_is_refused_before_anything_is_read(
    cli: Cli,
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    tmp_path: Path,
) -> None:
    registry = tmp_path / "gapped.py"
    registry.write_text(
        "from profile_migrations import ProfileMigration\n"
        "migrations = [\n"
        "    ProfileMigration(1, 2, 'one', lambda p: p),\n"
        "    ProfileMigration(3, 4, 'three', lambda p: p),\n"
        "]\n"
    )
    table = make_table(items=list(sample_profiles(5)))
    before = dump_table(dynamodb_client, table.table_name)

    status, document = cli("run", "--table", table.table_name, "--migrations", str(registry))

    assert status == 2
    assert "step 3->4" in document["error"]
    assert dump_table(dynamodb_client, table.table_name) == before


def test_a_registry_file_with_its_own_current_version_sets_the_default_target(
    cli: Cli,
    make_table: MakeTable,
    tmp_path: Path,
) -> None:
    registry = tmp_path / "mine.py"
    registry.write_text(
        "from profile_migrations import ProfileMigration\n"
        "migrations = [\n"
        "    ProfileMigration(1, 2, 'flag', lambda p: {**p, 'flag': True}),\n"
        "    ProfileMigration(2, 3, 'unflag', lambda p: {k: p[k] for k in p if k != 'flag'}),\n"
        "]\n"
        "CURRENT_PROFILE_VERSION = 2\n"
    )
    table = make_table(items=[profile("a"), profile("b")])

    status, document = cli("run", "--table", table.table_name, "--migrations", str(registry))

    assert status == 0
    assert document["targetVersion"] == 2
    assert document["summary"]["successCount"] == 2


@pytest.mark.parametrize(
    "arguments",
    [
        ["run"],
        ["run", "--table", "t", "--segments", "0"],
        ["run", "--table", "t", "--target-version", "-1"],
        ["run", "--table", "t", "--target-version", "two"],
        ["run", "--table", "t", "--dry-run", "--verify-only"],
        ["run", "--table", "t", "--unknown-flag"],
        ["explode"],
    ],
)
def test_malformed_arguments_exit_2_and_print_one_json_document_with_json(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    # Refused like any other bad input: a status, not argparse's SystemExit, and with
    # --json the one document the output contract promises.
    assert main(arguments) == 2
    assert capsys.readouterr().out == ""

    assert main([*arguments, "--json"]) == 2
    document = json.loads(capsys.readouterr().out)
    assert (document["success"], document["errorType"]) == (False, "UsageError")


def test_plan_lists_the_steps_in_order(cli: Cli) -> None:
    status, document = cli("plan", "--target-version", "4")

    assert status == 0
    assert [(s["fromVersion"], s["toVersion"]) for s in document["steps"]] == [
        (1, 2),
        (2, 3),
        (3, 4),
    ]


def test_the_console_script_runs_and_prints_only_json_on_stdout(
    make_table: MakeTable,
    dynamodb_local: DynamoDBLocal,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    table = make_table(items=list(sample_profiles(30)))

    completed = profile_migrate(
        "run",
        "--table",
        table.table_name,
        "--endpoint-url",
        dynamodb_local.endpoint_url,
        "--report",
        str(tmp_path / "r.jsonl"),
        "--json",
        "--log-level",
        "INFO",
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["summary"]["successCount"] == 30
    log_lines = [json.loads(line) for line in completed.stderr.splitlines() if line.startswith("{")]
    assert {"run started", "page migrated", "run finished"} <= {
        line["message"] for line in log_lines
    }
    assert all("profileData" not in json.dumps(line) for line in log_lines)
