"""`profile-migrate` where a new user's first tries went wrong, on DynamoDB Local: Ctrl-C
during a run, a wrong control table, a mistyped table name, and `unlock` of a live run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.dal.dynamodb import StaticCredentials, make_dynamodb_client
from profile_migrations.dal.seeding import create_table, put_items
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA, sample_profiles
from profile_migrations.models.records import Checkpoint
from tests.conftest import dump_profiles, dump_table
from tests.integration.helpers import PROFILE_MIGRATE, hold_lock, profile_migrate

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from tests.conftest import MakeTable
    from tests.integration.conftest import Cli
DELAY_ENV = "SLOW_STEP_SECONDS"
# One step, 1 -> 2, that sleeps DELAY_ENV seconds a profile: a run slow enough to be
# interrupted where a test wants it, while an in-process resume (no delay) is quick.
SLOW_REGISTRY = f"""\
import os
import time

from profile_migrations import ProfileMigration

DELAY = float(os.environ.get({DELAY_ENV!r}, "0"))


def flag(profile):
    time.sleep(DELAY)
    return {{**profile, "flag": True}}


migrations = [ProfileMigration(1, 2, "flag, slowly", flag)]
CURRENT_PROFILE_VERSION = 2
"""


def one_document(text: str) -> dict[str, Any]:
    """A ``--json`` command's stdout: exactly one JSON document, nothing else."""
    document, end = json.JSONDecoder().raw_decode(text)
    assert text[end:].strip() == "", f"more than one document: {text!r}"
    assert isinstance(document, dict)
    return document


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return found


def table_exists(client: DynamoDBClient, name: str) -> bool:
    try:
        client.describe_table(TableName=name)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise
    return True


# -- Ctrl-C ------------------------------------------------------------------------------


class SlowRun:
    """A real run of the slow registry on a table of its own, in a subprocess of the console
    script, its stderr in a file the test can watch."""

    def __init__(
        self, table: str, client: DynamoDBClient, engine: DynamoDBLocal, tmp_path: Path
    ) -> None:
        self.table = table
        self.client = client
        self.control = ControlTable(client, control_table_name(table))
        self.engine = engine
        self.tmp_path = tmp_path
        self.stderr_path = tmp_path / "stderr.txt"
        self.options: list[str] = []
        self.process: subprocess.Popen[str] | None = None

    def start(self, profiles: int, segments: int, delay: float) -> str:
        """Runs over ``profiles`` sample profiles in ``segments`` segments, 2 at a time, 10
        profiles a page, ``delay`` seconds a profile; returns the run's id once it has begun.
        ``options`` are the arguments a resume repeats."""
        put_items(self.client, self.table, sample_profiles(profiles))
        registry = self.tmp_path / "slow.py"
        registry.write_text(SLOW_REGISTRY)
        self.options = ["--migrations", str(registry), "--segments", str(segments)]
        self.options += ["--workers", "2", "--page-size", "10"]
        with self.stderr_path.open("w") as stderr:
            self.process = subprocess.Popen(
                [
                    PROFILE_MIGRATE,
                    "run",
                    "--table",
                    self.table,
                    "--endpoint-url",
                    self.engine.endpoint_url,
                    "--report",
                    str(self.tmp_path / "interrupted.jsonl"),
                    "--json",
                    *self.options,
                ],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env={**os.environ, DELAY_ENV: str(delay)},
            )
        run_id: str = wait_for(self.running_run_id, "the run to begin")
        return run_id

    def interrupt(self) -> None:
        """Ctrl-C."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def running_run_id(self) -> str | None:
        """The run's id once it has begun (its history entry is ``running``)."""
        if not table_exists(self.client, self.control.name):
            return None
        entries = self.control.history(self.table)
        return entries[0].run_id if entries and entries[0].outcome == "running" else None

    def finish(self, timeout: float = 60) -> tuple[int, str]:
        assert self.process is not None
        stdout, _ = self.process.communicate(timeout=timeout)
        return self.process.returncode, stdout


@pytest.fixture
def slow_run(
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    dynamodb_local: DynamoDBLocal,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> SlowRun:
    """A slow run, not started yet, of an empty table."""
    return SlowRun(make_table().table_name, dynamodb_client, dynamodb_local, tmp_path)


def test_the_first_ctrl_c_stops_the_run_between_pages_and_resume_finishes_it(
    cli: Cli, dynamodb_client: DynamoDBClient, slow_run: SlowRun
) -> None:
    # Given: a real run of 4 segments, 2 at a time, about 0.1 s a page
    profiles = 240
    run_id = slow_run.start(profiles, segments=4, delay=0.01)
    control, table = slow_run.control, slow_run.table

    # When: Ctrl-C once a segment has finished, while others have not
    wait_for(
        lambda: any(c.done for c in control.checkpoints(Checkpoint, run_id).values()),
        "a finished segment",
    )
    slow_run.interrupt()
    status, stdout = slow_run.finish()

    # Then: exit 130, the run's own document saying Interrupted, no traceback
    document = one_document(stdout)
    stderr = slow_run.stderr()
    assert status == 130, stderr
    assert document["success"] is False
    assert document["errorType"] == "Interrupted"
    assert document["runId"] == run_id
    assert "stopping after the pages in hand" in stderr
    assert "Traceback" not in stderr
    # ... the history says stopped, the lock is free, some segments are left to do
    _, history = cli("history", "--table", table)
    assert [(run["runId"], run["outcome"]) for run in history["runs"]] == [(run_id, "stopped")]
    assert control.read_lock(table) is None
    checkpoints = control.checkpoints(Checkpoint, run_id)
    assert any(c.done for c in checkpoints.values())
    assert not all(c.done for c in checkpoints.values()) or len(checkpoints) < 4

    # When: resumed
    resumed_status, resumed = cli("run", "--table", table, "--resume", *slow_run.options)

    # Then: every profile migrated, each counted once (no finished segment rescanned)
    assert resumed_status == 0, resumed
    assert resumed["message"].startswith(f"Resumed run {run_id}.")
    assert resumed["summary"]["totalProfiles"] == profiles
    assert resumed["summary"]["successCount"] == profiles
    assert resumed["verification"]["checkedCount"] == profiles
    stored = dump_profiles(dynamodb_client, table).values()
    assert len(stored) == profiles
    assert all(item["version"] == 2 and item["flag"] is True for item in stored)


def test_a_second_ctrl_c_aborts_at_once_with_one_document_and_resume_finishes_the_run(
    cli: Cli, dynamodb_client: DynamoDBClient, slow_run: SlowRun
) -> None:
    # Given: a real run whose pages take 2 s each
    profiles = 40
    slow_run.start(profiles, segments=2, delay=0.2)

    # When: Ctrl-C, then Ctrl-C again while the pages in hand are still being migrated
    slow_run.interrupt()
    wait_for(lambda: "Ctrl-C again" in slow_run.stderr(), "the first Ctrl-C's message")
    aborted_at = time.monotonic()
    slow_run.interrupt()
    status, stdout = slow_run.finish()
    took = time.monotonic() - aborted_at

    # Then: it ends at once, exit 130, one document, no traceback
    stderr = slow_run.stderr()
    document = one_document(stdout)
    assert status == 130, stderr
    assert took < 1.0, "the abort waited for the pages in hand"
    assert document["success"] is False
    assert document["errorType"] == "Interrupted"
    assert "Traceback" not in stderr
    assert "aborted" in stderr

    # When: resumed (the lock of the aborted process is released as a dead process's)
    resumed_status, resumed = cli("run", "--table", slow_run.table, "--resume", *slow_run.options)

    # Then
    assert resumed_status == 0, resumed
    assert resumed["message"].startswith("Resumed run ")
    assert resumed["summary"]["totalProfiles"] == profiles
    stored = dump_profiles(dynamodb_client, slow_run.table).values()
    assert all(item["version"] == 2 for item in stored)


# -- a wrong control table -----------------------------------------------------------------


@pytest.mark.parametrize(
    "key_schema",
    [
        (("userId", "S"), ("profileId", "S")),
        (("pk", "S"),),
        (("pk", "S"), ("sk", "N")),
        (("sk", "S"), ("pk", "S")),
    ],
    ids=["a-profile-table", "no-sort-key", "numeric-sort-key", "keys-swapped"],
)
@pytest.mark.parametrize("command", ["run", "history", "unlock"])
def test_a_control_table_with_another_key_schema_is_refused_as_bad_input(
    cli: Cli,
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    key_schema: tuple[tuple[str, str], ...],
    command: str,
) -> None:
    # Given: a profile table, and another table named as its control table
    table = make_table(items=list(sample_profiles(10)))
    wrong = make_table(key_schema=key_schema)
    before = dump_table(dynamodb_client, table.table_name)

    # When
    status, document = cli(
        command, "--table", table.table_name, "--control-table", wrong.table_name
    )

    # Then: exit 2, a clear refusal, nothing written anywhere
    assert status == 2
    assert document["errorType"] == "InvalidRequestError"
    assert f"control table {wrong.table_name!r}" in document["error"]
    assert "pk (HASH, S) and sk (RANGE, S)" in document["error"]
    assert dump_table(dynamodb_client, table.table_name) == before
    assert dump_table(dynamodb_client, wrong.table_name) == {}


# -- read-only commands on a table without a control table ---------------------------------


@pytest.mark.parametrize("command", ["history", "unlock"])
def test_a_read_only_command_on_a_missing_table_is_refused_and_creates_nothing(
    cli: Cli, dynamodb_client: DynamoDBClient, command: str
) -> None:
    missing = f"NoSuchTable-{uuid.uuid4().hex[:8]}"

    status, document = cli(command, "--table", missing)

    assert status == 2
    assert document["errorType"] == "TableNotFoundError"
    assert repr(missing) in document["error"]
    assert not table_exists(dynamodb_client, control_table_name(missing))


def test_history_and_unlock_of_a_never_migrated_table_answer_without_creating_anything(
    cli: Cli,
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
) -> None:
    table = make_table(items=list(sample_profiles(3)))

    history_status, history = cli("history", "--table", table.table_name)
    unlock_status, unlocked = cli("unlock", "--table", table.table_name)

    assert (history_status, history["runs"]) == (0, [])
    assert (unlock_status, unlocked["released"]) == (0, None)
    assert not table_exists(dynamodb_client, control_table_name(table.table_name))


# -- unlock of a live run -----------------------------------------------------------------


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


HERE = socket.gethostname()
DEAD_HERE = "a process of this host that has exited"


@pytest.mark.parametrize(
    ("owner", "lease_left", "refusal"),
    [
        (f"tests@{HERE}:{os.getpid()}", 600, "a process of this host that is still running"),
        (f"tests@{HERE}:{os.getpid()}", -5, "a process of this host that is still running"),
        ("ops@elsewhere:1", 600, "its lease expires at "),
        ("execution run-20261125", 600, "its lease expires at "),
    ],
    ids=["alive-here", "alive-here-lease-expired", "other-host", "execution"],
)
def test_unlock_refuses_a_live_holder_unless_forced(
    cli: Cli,
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    owner: str,
    lease_left: float,
    refusal: str,
) -> None:
    # Given: a lock whose holder may still be running
    table = make_table()
    control = hold_lock(dynamodb_client, table.table_name, owner, lease_left)

    # When
    status, document = cli("unlock", "--table", table.table_name)

    # Then: refused, naming the holder and the way out; the lock stays
    assert status == 2
    assert document["errorType"] == "RunLockedError"
    assert f"run held-run ({owner}" in document["error"]
    assert refusal in document["error"]
    assert "--force" in document["error"]
    held = control.read_lock(table.table_name)
    assert held is not None
    assert held.owner == owner

    # When: forced
    forced_status, forced = cli("unlock", "--table", table.table_name, "--force")

    # Then
    assert forced_status == 0
    assert forced["released"]["runId"] == "held-run"
    assert control.read_lock(table.table_name) is None


@pytest.mark.parametrize(
    ("owner", "lease_left"),
    [("ops@elsewhere:1", -5), ("execution run-20261125", -5), (DEAD_HERE, 600)],
    ids=["other-host-expired", "execution-expired", "dead-here"],
)
def test_unlock_releases_an_expired_lease_or_a_dead_holder_of_this_host(
    cli: Cli,
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    owner: str,
    lease_left: float,
) -> None:
    if owner == DEAD_HERE:
        owner = f"tests@{HERE}:{_dead_pid()}"
    table = make_table()
    control = hold_lock(dynamodb_client, table.table_name, owner, lease_left)

    status, document = cli("unlock", "--table", table.table_name)

    assert status == 0
    assert document["released"]["owner"] == owner
    assert control.read_lock(table.table_name) is None


# -- scripts/dynamodb-local ------------------------------------------------------------------

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "dynamodb-local"
README_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": "us-east-1",
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_scripts_dynamodb_local_serves_the_cli_with_the_readme_credentials(
    tmp_path: Path,
) -> None:
    # Given: the script on a port of our choosing, in the foreground of its own process
    port = _free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = {**os.environ, **README_CREDENTIALS}
    env.pop("AWS_PROFILE", None)
    engine = subprocess.Popen([str(SCRIPT), str(port)], stdout=subprocess.DEVNULL, env=env)
    try:
        wait_for(lambda: _listening(port) or engine.poll() is not None, "DynamoDB Local")
        assert engine.poll() is None, "the script exited"
        # ... a table created with other dummy credentials (one shared database)
        client = make_dynamodb_client(
            endpoint, "eu-west-1", credentials=StaticCredentials("other", "other")
        )
        create_table(client, "UserProfiles", PROFILE_KEY_SCHEMA)
        put_items(client, "UserProfiles", list(sample_profiles(20)))

        # When: the README's commands
        common = ["--table", "UserProfiles", "--endpoint-url", endpoint, "--json"]
        migrated = profile_migrate("run", *common, "--report", str(tmp_path / "r.jsonl"), env=env)

        # Then
        assert migrated.returncode == 0, migrated.stderr
        assert json.loads(migrated.stdout)["summary"]["successCount"] == 20
    finally:
        engine.terminate()
        engine.wait(timeout=30)


def test_scripts_dynamodb_local_says_what_is_missing(tmp_path: Path) -> None:
    # Given: a PATH without java (dirname only, which the script needs to find its root)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    dirname = subprocess.run(
        ["bash", "-c", "command -v dirname"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (bin_dir / "dirname").symlink_to(dirname)
    bash = subprocess.run(
        ["bash", "-c", "command -v bash"], capture_output=True, text=True, check=True
    ).stdout.strip()

    def script(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [bash, str(SCRIPT), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
            env={**os.environ, **env},
        )

    no_java = script(PATH=str(bin_dir))
    no_jar = script(DYNAMODB_LOCAL_DIR=str(tmp_path / "nowhere"))
    bad_port = script("eighty")

    assert no_java.returncode == 1
    assert "Java is not installed" in no_java.stderr
    assert no_jar.returncode == 1
    assert "DynamoDB Local's jar is not installed" in no_jar.stderr
    assert "npm ci" in no_jar.stderr
    assert bad_port.returncode == 2
    assert "usage: scripts/dynamodb-local [PORT]" in bad_port.stderr
