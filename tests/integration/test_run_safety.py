"""Run lock, history, step checksums, backups and resume after SIGKILL, on DynamoDB Local."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from profile_migrations.cli import main
from profile_migrations.dal.seeding import put_items
from profile_migrations.devtools.sample_profiles import sample_profiles
from tests.conftest import dump_profiles, dump_table
from tests.integration.helpers import PROFILE_MIGRATE, hold_lock, profile_migrate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from tests.conftest import MakeTable
    from tests.integration.conftest import Cli

COUNTING = str(Path(__file__).parent.parent / "registries" / "counting.py")


def test_a_real_run_is_recorded_in_the_history_with_its_step_checksums(
    cli: Cli, make_table: MakeTable
) -> None:
    table = make_table(items=list(sample_profiles(50)))

    status, run = cli("run", "--table", table.table_name)
    _, history = cli("history", "--table", table.table_name)

    assert status == 0
    assert run["backup"] == {
        "skipped": "this endpoint has no backup API (DynamoDB Local); no backup taken"
    }
    (entry,) = history["runs"]
    assert entry["runId"] == run["runId"]
    assert entry["outcome"] == "succeeded"
    assert entry["targetVersion"] == 5
    assert entry["counters"]["migrated"] == 50
    assert entry["counters"]["fromVersions"] == [1]
    assert set(entry["stepChecksums"]) == {"1->2", "2->3", "3->4", "4->5"}
    assert entry["endedAt"] is not None
    assert "@" in entry["owner"]


def test_dry_runs_and_verifications_are_not_recorded(cli: Cli, make_table: MakeTable) -> None:
    table = make_table(items=list(sample_profiles(5)))

    cli("run", "--table", table.table_name, "--dry-run")
    cli("run", "--table", table.table_name, "--verify-only")
    _, history = cli("history", "--table", table.table_name)

    assert history["runs"] == []


def test_a_second_run_on_a_locked_table_is_refused_with_exit_2_and_writes_nothing(
    cli: Cli,
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
) -> None:
    table = make_table(items=list(sample_profiles(20)))
    hold_lock(dynamodb_client, table.table_name, run_id="other-run")
    before = dump_table(dynamodb_client, table.table_name)

    status, document = cli("run", "--table", table.table_name)

    assert status == 2
    assert "locked by run other-run (ops@elsewhere:1" in document["error"]
    assert "profile-migrate unlock --table" in document["error"]
    assert dump_table(dynamodb_client, table.table_name) == before

    unlock_status, released = cli("unlock", "--table", table.table_name, "--force")
    status_after, _ = cli("run", "--table", table.table_name)

    assert unlock_status == 0
    assert released["released"]["runId"] == "other-run"
    assert status_after == 0


def test_an_expired_lease_does_not_block_the_next_run(
    cli: Cli,
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
) -> None:
    table = make_table(items=list(sample_profiles(5)))
    control = hold_lock(dynamodb_client, table.table_name, lease_left=-1, run_id="dead-run")

    status, _ = cli("run", "--table", table.table_name)

    assert status == 0
    assert control.read_lock(table.table_name) is None


def test_a_step_changed_since_it_was_applied_is_refused_unless_allowed(
    cli: Cli,
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    tmp_path: Path,
) -> None:
    registry = tmp_path / "chain.py"
    registry.write_text(
        "from profile_migrations import ProfileMigration\n"
        "def flag(p):\n    return {**p, 'flag': 'a'}\n"
        "migrations = [ProfileMigration(1, 2, 'flag', flag)]\n"
    )
    table = make_table(items=list(sample_profiles(10)))
    first, _ = cli("run", "--table", table.table_name, "--migrations", str(registry))
    registry.write_text(registry.read_text().replace("'a'", "'b'"))
    put_items(dynamodb_client, table.table_name, list(sample_profiles(12))[10:])
    before = dump_table(dynamodb_client, table.table_name)

    refused, document = cli("run", "--table", table.table_name, "--migrations", str(registry))
    allowed, _ = cli(
        "run", "--table", table.table_name, "--migrations", str(registry), "--allow-changed"
    )

    assert (first, refused, allowed) == (0, 2, 0)
    assert "step(s) 1->2 changed since they were applied" in document["error"]
    assert "--allow-changed" in document["error"]
    assert len(before) == 12


def test_resume_with_nothing_to_resume_says_so_and_runs(cli: Cli, make_table: MakeTable) -> None:
    table = make_table(items=list(sample_profiles(10)))

    status, document = cli("run", "--table", table.table_name, "--resume")

    assert status == 0
    assert document["message"].startswith("Nothing to resume; started a new run.")
    assert document["summary"]["successCount"] == 10


def _report_lines(path: Path) -> int:
    try:
        return sum(1 for _ in path.open())
    except FileNotFoundError:
        return 0


@pytest.mark.parametrize("kill_after_profiles", [300, 1_500, 2_700])
def test_a_run_killed_at_any_point_resumes_to_the_state_of_an_uninterrupted_run(
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    dynamodb_local: DynamoDBLocal,
    aws_env: dict[str, str],
    tmp_path: Path,
    kill_after_profiles: int,
) -> None:
    items = list(sample_profiles(3_000))
    killed = make_table(items=items)
    uninterrupted = make_table(items=items)
    common = [
        "--endpoint-url",
        dynamodb_local.endpoint_url,
        "--migrations",
        COUNTING,
        "--segments",
        "4",
        "--workers",
        "2",
        "--page-size",
        "100",
        "--json",
    ]
    report = tmp_path / "killed.jsonl"

    process = subprocess.Popen(
        [PROFILE_MIGRATE, "run", "--table", killed.table_name, "--report", str(report), *common],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 60
    while _report_lines(report) < kill_after_profiles and process.poll() is None:
        assert time.monotonic() < deadline, "the run never reached the kill point"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    migrated_before_kill = sum(
        item.get("version") == 3
        for item in dump_profiles(dynamodb_client, killed.table_name).values()
    )
    resumed = profile_migrate(
        "run", "--table", killed.table_name, "--resume", "--report", f"{report}.resumed", *common
    )
    straight = profile_migrate(
        "run", "--table", uninterrupted.table_name, "--report", f"{report}.straight", *common
    )

    assert 0 < migrated_before_kill < 3_000
    assert resumed.returncode == 0, resumed.stderr
    document = json.loads(resumed.stdout)
    assert document["message"].startswith("Resumed run local-")
    assert straight.returncode == 0, straight.stderr
    after_resume = dump_profiles(dynamodb_client, killed.table_name)
    assert after_resume == dump_profiles(dynamodb_client, uninterrupted.table_name)
    assert all(item["appliedSteps"] == ["1->2", "2->3"] for item in after_resume.values())


def test_a_control_command_against_an_unreachable_endpoint_exits_2(
    aws_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # `history` and `unlock` reach the control table the same way; the SDK's retries of a
    # refused connection make each such test take seconds, so one stands for both.
    status = main(
        ["history", "--table", "UserProfiles", "--endpoint-url", "http://127.0.0.1:9", "--json"]
    )

    assert status == 2
    assert "cannot reach DynamoDB" in json.loads(capsys.readouterr().out)["error"]
