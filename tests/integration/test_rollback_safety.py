"""`profile-migrate rollback` under stress, on DynamoDB Local: application writers racing it
lose nothing, a rollback SIGKILLed at any point and resumed ends byte for byte where an
uninterrupted one does, and a refused rollback writes nothing.

The run writes three attributes of each profile (``profileData``, ``version``,
``lastAccessedAt``; see the journal). An application write to one of them before the
rollback reaches the profile makes it ``kept`` (left as the application wrote it); one after
lands on the restored profile. Writes to other attributes (``appWrites`` here) never stop a
restore. So once the rollback's report says what happened to a profile, its final state is
exact: its pre-run item (restored) or its migrated item (kept) with every acknowledged
application write applied on top, or nothing (deleted).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from profile_migrations import command
from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.logic.rollback import CHECKPOINT_SECONDS
from profile_migrations.logic.runner import LocalRunOptions
from profile_migrations.models.records import RollbackCheckpoint
from profile_migrations.models.requests import RunRequest
from profile_migrations.store import MAX_WRITES_PER_BATCH
from tests.conftest import (
    PROFILE_KEY_NAMES,
    TEST_CREDENTIALS,
    TEST_REGION,
    dump_table,
    item_key,
    new_client,
    new_table,
)
from tests.integration.helpers import PROFILE_MIGRATE, hold_lock, profile_migrate

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from profile_migrations.models.records import RunHistoryEntry
    from profile_migrations.store import RawItem
    from tests.conftest import MakeTable
    from tests.integration.conftest import Cli

# --- shared ---------------------------------------------------------------------------------


def target_of(engine: DynamoDBLocal, table: str) -> command.TableTarget:
    return command.TableTarget(
        table, engine.endpoint_url, TEST_REGION, credentials=TEST_CREDENTIALS
    )


def migrate(engine: DynamoDBLocal, table: str, report: Path, one_worker: bool = False) -> str:
    """Migrate every profile of ``table`` (a real run, in process, by default as the CLI
    runs it: 4 segments, 4 workers, pages of 500; ``one_worker``: 1 segment, 1 worker,
    pages of 100, so its journal is one page after another); the run's id."""
    options = LocalRunOptions(workers=1, page_limit=100) if one_worker else LocalRunOptions()
    request = RunRequest(total_segments=1) if one_worker else RunRequest()
    response = command.run(
        command.RunConfig(target_of(engine, table), request, report=report, options=options)
    )
    assert response.success, response.message
    assert response.summary is not None
    assert response.summary.failure_count == 0
    assert response.run_id is not None
    return response.run_id


def control_of(client: DynamoDBClient, table: str) -> ControlTable:
    return ControlTable(client, control_table_name(table))


def rollbacks(control: ControlTable, table: str) -> list[RunHistoryEntry]:
    return [entry for entry in control.history(table) if entry.kind == "rollback"]


def report_statuses(report: Path) -> dict[str, str]:
    """The rollback report's status of each profile, by :func:`item_key`."""
    statuses: dict[str, str] = {}
    for line in report.read_text().splitlines():
        record = json.loads(line)
        key = item_key({name: {"S": record[name]} for name in PROFILE_KEY_NAMES})
        assert key not in statuses, f"{key} reported twice"
        statuses[key] = record["status"]
    return statuses


# --- 1. application writers racing the rollback ---------------------------------------------

RACE_PROFILES = 2_000
WRITERS = 4
WRITES_PER_SECOND_PER_WRITER = 40
MAX_WRITES_PER_WRITER = 3_000
MAX_DELETES_PER_WRITER = 4
# A cap the rollback keeps to, so it lasts several seconds while the writers write (WCU/s).
RACE_WRITE_CAP = "500"

CHARACTER_TYPE = "characterType"
VERSION = "version"
PLAIN = "plain"
DELETE = "delete"
# Application writes to attributes the run wrote: they make a profile `kept`.
RUN_ATTRIBUTE_WRITES = frozenset({CHARACTER_TYPE, VERSION})
# Application writes acknowledged before the rollback starts: how many of each kind.
WARM_UP = ((DELETE, 5), (CHARACTER_TYPE, 20), (VERSION, 20), (PLAIN, 20))
APPEND = "#aw = list_append(if_not_exists(#aw, :empty), :token)"


@dataclass(frozen=True)
class AppWrite:
    """One acknowledged application write: what, and when it was sent and acknowledged
    (monotonic seconds)."""

    kind: str
    token: str
    sent: float
    acked: float


@dataclass
class Ledger:
    """What the application was told it wrote to one profile, in order."""

    writes: list[AppWrite] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    character_type: str | None = None
    version: int | None = None
    deleted: bool = False

    def run_attribute_writes(self) -> list[AppWrite]:
        return [write for write in self.writes if write.kind in RUN_ATTRIBUTE_WRITES]


class Application:
    """The application's writes to profiles, each one recorded once acknowledged. Writes to
    one profile come from one thread only (the warm-up, or the writer owning it)."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table_name = table_name
        self.ledgers: dict[str, Ledger] = {}
        self.uncertain = 0

    def write(self, key: RawItem, kind: str, token: str, number: int) -> bool:
        """Send one write of ``kind``; whether DynamoDB acknowledged it."""
        sent = time.monotonic()
        try:
            if kind == DELETE:
                self._client.delete_item(TableName=self._table_name, Key=key)
            else:
                self._client.update_item(**self._update(key, kind, token, number))
        except ClientError:
            self.uncertain += 1
            return False
        ledger = self.ledgers.setdefault(item_key(key), Ledger())
        ledger.writes.append(AppWrite(kind, token, sent, time.monotonic()))
        if kind == DELETE:
            ledger.deleted = True
            return True
        ledger.tokens.append(token)
        if kind == CHARACTER_TYPE:
            ledger.character_type = token
        elif kind == VERSION:
            ledger.version = number
        return True

    def _update(self, key: RawItem, kind: str, token: str, number: int) -> dict[str, Any]:
        request: dict[str, Any] = {
            "TableName": self._table_name,
            "Key": key,
            "UpdateExpression": f"SET {APPEND}",
            "ExpressionAttributeNames": {"#aw": "appWrites"},
            "ExpressionAttributeValues": {":empty": {"L": []}, ":token": {"L": [{"S": token}]}},
            # The application updates profiles that exist; it never recreates a deleted one.
            "ConditionExpression": "attribute_exists(#user)",
        }
        request["ExpressionAttributeNames"]["#user"] = PROFILE_KEY_NAMES[0]
        if kind == CHARACTER_TYPE:
            request["UpdateExpression"] += ", #pd.#ct = :value"
            request["ExpressionAttributeNames"].update({"#pd": "profileData", "#ct": kind})
            request["ExpressionAttributeValues"][":value"] = {"S": token}
        elif kind == VERSION:
            request["UpdateExpression"] += ", #v = :value"
            request["ExpressionAttributeNames"]["#v"] = "version"
            request["ExpressionAttributeValues"][":value"] = {"N": str(number)}
        return request


class Writer(threading.Thread):
    """An application instance updating (and now and then deleting) random profiles of its
    own partition until told to stop."""

    def __init__(
        self, number: int, app: Application, keys: list[RawItem], stop: threading.Event
    ) -> None:
        super().__init__(name=f"app-writer-{number}", daemon=True)
        self.number = number
        self._app = app
        self._keys = list(keys)
        self._halt = stop
        self._rng = random.Random(2_000 + number)
        self.deletes = 0
        self.crash: BaseException | None = None

    def run(self) -> None:
        try:
            self._write_until_stopped()
        except BaseException as exc:
            self.crash = exc
            raise

    def _write_until_stopped(self) -> None:
        started = time.monotonic()
        for sequence in range(MAX_WRITES_PER_WRITER):
            if self._halt.is_set():
                return
            elapsed = time.monotonic() - started
            self._halt.wait(max(0.0, sequence / WRITES_PER_SECOND_PER_WRITER - elapsed))
            index = self._rng.randrange(len(self._keys))
            key = self._keys[index]
            roll = self._rng.random()
            if roll < 0.015 and self.deletes < MAX_DELETES_PER_WRITER:
                kind = DELETE
            elif roll < 0.35:
                kind = CHARACTER_TYPE
            elif roll < 0.6:
                kind = VERSION
            else:
                kind = PLAIN
            # Versions the run and the sample data never use (1 and 5), one per write.
            number = 100_000 * (self.number + 1) + sequence
            if self._app.write(key, kind, f"w{self.number}-{sequence}", number) and (
                kind == DELETE
            ):
                self.deletes += 1
                self._keys.pop(index)


def with_application_writes(base: RawItem, ledger: Ledger | None) -> RawItem | None:
    """``base`` with every acknowledged application write applied, in wire format (every
    other value byte for byte as in ``base``); None when the application deleted it."""
    if ledger is None:
        return base
    if ledger.deleted:
        return None
    item = dict(base)
    if ledger.tokens:
        item["appWrites"] = {"L": [{"S": token} for token in ledger.tokens]}
    if ledger.character_type is not None:
        data = base["profileData"]["M"]
        item["profileData"] = {"M": {**data, CHARACTER_TYPE: {"S": ledger.character_type}}}
    if ledger.version is not None:
        item["version"] = {"N": str(ledger.version)}
    return item


def lost_writes(stored: RawItem | None, ledger: Ledger) -> int:
    """Acknowledged application writes the stored profile does not show (a profile the
    application deleted must be gone)."""
    if ledger.deleted:
        return 0 if stored is None else 1
    if stored is None:
        return len(ledger.writes)
    kept = [value["S"] for value in stored.get("appWrites", {"L": []})["L"]]
    lost = sum(1 for token in ledger.tokens if token not in kept)
    if ledger.character_type is not None:
        stored_type = stored["profileData"]["M"].get(CHARACTER_TYPE)
        lost += stored_type != {"S": ledger.character_type}
    if ledger.version is not None:
        lost += stored.get("version") != {"N": str(ledger.version)}
    return lost


def test_application_writers_racing_a_rollback_lose_nothing_and_the_rest_comes_back(
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    dynamodb_local: DynamoDBLocal,
    aws_env: dict[str, str],
    tmp_path: Path,
) -> None:
    # Given 2,000 profiles migrated by a real run
    originals = list(sample_profiles(RACE_PROFILES))
    table = make_table(items=originals)
    before = dump_table(dynamodb_client, table.table_name)
    run_id = migrate(dynamodb_local, table.table_name, tmp_path / "run.jsonl")
    migrated = dump_table(dynamodb_client, table.table_name)
    assert len(migrated) == RACE_PROFILES
    assert all(migrated[key] != item for key, item in before.items())
    keys = [{name: item[name] for name in PROFILE_KEY_NAMES} for item in originals]
    random.Random(11).shuffle(keys)
    app = Application(new_client(dynamodb_local), table.table_name)
    # ... and application writes that land before the rollback starts: deletes, writes to
    # attributes the run wrote, writes to another attribute only
    warm_up: dict[str, list[RawItem]] = {}
    taken = 0
    for kind, count in WARM_UP:
        warm_up[kind] = keys[taken : taken + count]
        taken += count
        for number, key in enumerate(warm_up[kind]):
            assert app.write(key, kind, f"warm-{kind}-{number}", 900_000 + number)
    racing = keys[taken:]
    stop = threading.Event()
    writers = [Writer(n, app, racing[n::WRITERS], stop) for n in range(WRITERS)]
    for writer in writers:
        writer.start()

    # When the rollback runs (the console script, capped so that it lasts a few seconds)
    # while four application writers keep updating and deleting profiles
    report = tmp_path / "rollback.jsonl"
    rollback_started = time.monotonic()
    finished = subprocess.run(
        [
            PROFILE_MIGRATE,
            "rollback",
            "--table",
            table.table_name,
            "--run",
            run_id,
            "--endpoint-url",
            dynamodb_local.endpoint_url,
            "--report",
            str(report),
            "--max-write-capacity",
            RACE_WRITE_CAP,
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=150,
        env=os.environ.copy(),
    )
    rollback_ended = time.monotonic()
    stop.set()
    for writer in writers:
        writer.join(timeout=30)
    assert [(writer.is_alive(), writer.crash) for writer in writers] == [(False, None)] * WRITERS

    # Then it succeeded, and its counts add up to the profiles the run wrote
    assert finished.returncode == 0, finished.stderr
    document = json.loads(finished.stdout)
    summary = document["summary"]
    statuses = report_statuses(report)
    counts = Counter(statuses.values())
    stored = dump_table(dynamodb_client, table.table_name)
    ledgers = app.ledgers
    run_attribute_keys = {key for key, ledger in ledgers.items() if ledger.run_attribute_writes()}
    acknowledged = sum(len(ledger.writes) for ledger in ledgers.values())
    during = sum(
        rollback_started <= write.acked <= rollback_ended
        for ledger in ledgers.values()
        for write in ledger.writes
    )
    deleted = {key for key, ledger in ledgers.items() if ledger.deleted}
    lost = sum(lost_writes(stored.get(key), ledger) for key, ledger in ledgers.items())
    untouched = [key for key in before if key not in ledgers]
    kept = {key for key, status in statuses.items() if status == "kept"}
    # Profiles with a write to an attribute the run wrote acknowledged before the rollback
    # started: it cannot have reached them first.
    early = {
        key
        for key, ledger in ledgers.items()
        if any(write.acked < rollback_started for write in ledger.run_attribute_writes())
        and not ledger.deleted
    }
    racing_keys = {item_key(key) for key in racing}
    kept_in_the_race = kept & racing_keys - early
    restored_then_written = {
        key
        for key in run_attribute_keys & racing_keys
        if statuses[key] == "restored" and not ledgers[key].deleted
    }
    print(
        f"\nrollback of {RACE_PROFILES} profiles: restored {summary['restoredCount']}, kept "
        f"{summary['keptCount']}, missing {summary['missingCount']}, already restored "
        f"{summary['alreadyRestoredCount']}, failed {summary['failureCount']}; application "
        f"writes acknowledged: {acknowledged} ({during} during the rollback) to "
        f"{len(ledgers)} profiles ({len(run_attribute_keys)} in attributes the run wrote, "
        f"{len(deleted)} deleted); kept because written before the rollback started: "
        f"{len(early)}, while it ran: {len(kept_in_the_race)}; restored, then written: "
        f"{len(restored_then_written)}; untouched: {len(untouched)}; uncertain writes: "
        f"{app.uncertain}; lost writes: {lost}"
    )
    assert document["success"] is True
    assert document["rollsBack"] == run_id
    assert document["runId"].startswith("rollback-")
    assert summary["failureCount"] == 0
    assert summary["alreadyRestoredCount"] == 0
    assert (
        summary["restoredCount"]
        + summary["keptCount"]
        + summary["missingCount"]
        + summary["alreadyRestoredCount"]
        == summary["totalProfiles"]
        == RACE_PROFILES
    )
    assert set(statuses) == set(before)
    assert counts == Counter(
        {
            "restored": summary["restoredCount"],
            "kept": summary["keptCount"],
            "missing": summary["missingCount"],
        }
    )
    # ... no acknowledged application write is lost
    assert app.uncertain == 0
    assert lost == 0
    # ... every profile the application never touched is its pre-run item, byte for byte
    assert len(untouched) > 0
    assert [key for key in untouched if statuses[key] != "restored"] == []
    assert [key for key in untouched if stored.get(key) != before[key]] == []
    # ... and every other profile is exactly its pre-run (restored) or migrated (kept) item
    # with the application's writes on top, or gone (deleted)
    bases = {"restored": before, "kept": migrated}
    mismatched = [
        (key, status)
        for key, status in statuses.items()
        if status in bases
        and stored.get(key) != with_application_writes(bases[status][key], ledgers.get(key))
    ]
    assert mismatched == []
    assert {key for key, status in statuses.items() if status == "missing"} <= deleted
    assert [key for key in deleted if key in stored] == []
    # ... a profile is kept only when the application wrote an attribute the run wrote,
    # with a write sent before the rollback ended
    assert kept <= run_attribute_keys
    assert all(
        min(write.sent for write in ledgers[key].run_attribute_writes()) < rollback_ended
        for key in kept
    )
    # ... and every write acknowledged before the rollback started made its profile kept
    # (or missing, if deleted first)
    for kind in (CHARACTER_TYPE, VERSION):
        assert {statuses[item_key(key)] for key in warm_up[kind]} == {"kept"}
    assert {statuses[item_key(key)] for key in warm_up[DELETE]} == {"missing"}
    assert {statuses[item_key(key)] for key in warm_up[PLAIN]} == {"restored"}
    assert early <= kept
    assert summary["keptCount"] >= len(early) >= len(warm_up[CHARACTER_TYPE] + warm_up[VERSION])
    assert summary["missingCount"] >= len(warm_up[DELETE])
    # ... and the race was real: application writes landed on profiles the rollback had
    # not reached yet (kept) and on profiles it had already restored
    assert during > 0
    assert len(kept_in_the_race) > 0
    assert len(restored_then_written) > 0


# --- 2. SIGKILL at any point, then --resume -------------------------------------------------

KILL_PROFILES = 600
# Makes the rollback killed in the middle last several seconds (WCU/s): killed once its
# report holds two thirds of the profiles, it has been undoing for at least
# (KILL_PROFILES * 2 / 3 - one batch) / KILL_WRITE_CAP seconds.
KILL_WRITE_CAP = 100
KILL_AFTER_LINES = KILL_PROFILES * 2 // 3
POLL_SECONDS = 0.02
KILL_DEADLINE_SECONDS = 120.0

# The CLI in a subprocess that stops for good at one point of the rollback (after writing
# a marker file), so that it can be killed exactly there: once it has recorded itself in
# the history as running (after taking the lock), before it records its journal done (after
# its last write), or before it records its end in the history.
PAUSING_CLI = """
import os
import sys
import time
from pathlib import Path

from profile_migrations.cli.main import main
from profile_migrations.dal.control import ControlTable

POINT = os.environ["ROLLBACK_PAUSE_AT"]
record_run = ControlTable.record_run
save_checkpoint = ControlTable.save_checkpoint


def pause():
    Path(os.environ["ROLLBACK_PAUSED"]).write_text(POINT)
    while True:
        time.sleep(60)


def record_and_pause(self, entry):
    if POINT == "before-finish" and entry.kind == "rollback" and entry.outcome != "running":
        pause()
    record_run(self, entry)
    if POINT == "before-writes" and entry.kind == "rollback" and entry.outcome == "running":
        pause()


def save_and_pause(self, run_id, checkpoint):
    if POINT == "before-done-checkpoint" and checkpoint.done:
        pause()
    save_checkpoint(self, run_id, checkpoint)


ControlTable.record_run = record_and_pause
ControlTable.save_checkpoint = save_and_pause
sys.exit(main())
"""


@pytest.fixture(scope="module")
def uninterrupted(
    dynamodb_local: DynamoDBLocal, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, RawItem]:
    """The table an uninterrupted rollback leaves: :data:`KILL_PROFILES` sample profiles
    migrated, then rolled back in one go."""
    client = new_client(dynamodb_local)
    table = new_table(client, items=list(sample_profiles(KILL_PROFILES)))
    reports = tmp_path_factory.mktemp("uninterrupted")
    run_id = migrate(dynamodb_local, table.table_name, reports / "run.jsonl")
    response = command.rollback(
        command.RollbackConfig(
            target_of(dynamodb_local, table.table_name),
            run_id,
            report=reports / "rollback.jsonl",
        )
    )
    assert response.success, response.message
    assert response.summary is not None
    assert response.summary.success_count == KILL_PROFILES
    return dump_table(client, table.table_name)


def line_count(path: Path) -> int:
    try:
        return len(path.read_bytes().splitlines())
    except FileNotFoundError:
        return 0


def kill_when(
    process: subprocess.Popen[bytes], reached: Callable[[], bool], what: str, stderr: Path
) -> None:
    """SIGKILL ``process`` as soon as ``reached()``; fails if it ends first."""
    deadline = time.monotonic() + KILL_DEADLINE_SECONDS
    try:
        while not reached():
            assert process.poll() is None, f"the rollback ended before {what}: {stderr.read_text()}"
            assert time.monotonic() < deadline, f"the rollback never reached {what}"
            time.sleep(POLL_SECONDS)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()


@pytest.mark.parametrize(
    ("point", "one_worker"),
    [
        pytest.param("before-writes", False, id="before-writes"),
        pytest.param("middle", False, id="middle"),
        pytest.param("middle", True, id="middle-of-a-one-worker-run"),
        pytest.param("before-done-checkpoint", False, id="after-the-last-write"),
        pytest.param("before-finish", False, id="before-finishing"),
    ],
)
def test_a_rollback_killed_at_any_point_resumes_to_the_table_of_an_uninterrupted_one(
    dynamodb_client: DynamoDBClient,
    dynamodb_local: DynamoDBLocal,
    aws_env: dict[str, str],
    tmp_path: Path,
    uninterrupted: dict[str, RawItem],
    point: str,
    one_worker: bool,
) -> None:
    # Given 600 profiles migrated by a real run
    table = new_table(dynamodb_client, items=list(sample_profiles(KILL_PROFILES)))
    name = table.table_name
    before = dump_table(dynamodb_client, name)
    assert before == uninterrupted
    run_id = migrate(dynamodb_local, name, tmp_path / "run.jsonl", one_worker)
    migrated = dump_table(dynamodb_client, name)
    control = control_of(dynamodb_client, name)
    endpoint = ["--endpoint-url", dynamodb_local.endpoint_url, "--json"]

    # When a rollback (the CLI in a subprocess) is SIGKILLed at ``point``: right after it
    # took the lock and recorded itself; with two thirds of its report written; after its
    # last write, before it records that its journal is done; before it records its end
    report = tmp_path / "killed.jsonl"
    stderr = tmp_path / "killed.stderr"
    marker = tmp_path / "paused"
    arguments = ["rollback", "--table", name, "--run", run_id, "--report", str(report)]
    if point == "middle":
        program = [PROFILE_MIGRATE, *arguments, "--max-write-capacity", str(KILL_WRITE_CAP)]
    else:
        program = [sys.executable, "-c", PAUSING_CLI, *arguments]
    environment = {**os.environ, "ROLLBACK_PAUSE_AT": point, "ROLLBACK_PAUSED": str(marker)}
    with stderr.open("w") as errors:
        process = subprocess.Popen(
            [*program, *endpoint], stdout=subprocess.DEVNULL, stderr=errors, env=environment
        )
        if point == "middle":
            kill_when(process, lambda: line_count(report) >= KILL_AFTER_LINES, point, stderr)
        else:
            kill_when(process, marker.exists, point, stderr)
    assert process.returncode == -signal.SIGKILL

    # Then it left its lock, a running history entry, and every profile either exactly
    # as the run left it or exactly restored
    (killed,) = rollbacks(control, name)
    assert killed.outcome == "running"
    assert killed.rolls_back == run_id
    lock = control.read_lock(name)
    assert lock is not None
    assert lock.run_id == killed.run_id
    after_kill = dump_table(dynamodb_client, name)
    restored_at_kill = sum(after_kill[key] == item for key, item in before.items())
    assert [key for key in before if after_kill[key] not in (before[key], migrated[key])] == []
    checkpoint = control.checkpoints(RollbackCheckpoint, killed.run_id).get(0)
    checkpointed = checkpoint.counters.restored if checkpoint else 0
    print(
        f"\nkilled {point} ({'one' if one_worker else 'four'}-worker run): "
        f"{restored_at_kill} of {KILL_PROFILES} profiles restored, {checkpointed} of them "
        f"checkpointed (checkpoint: {checkpoint.model_dump() if checkpoint else None})"
    )
    if point == "before-writes":
        assert restored_at_kill == 0
        assert checkpoint is None
    elif point == "middle":
        assert KILL_AFTER_LINES <= restored_at_kill < KILL_PROFILES
        assert checkpoint is None or not checkpoint.done
    elif point == "before-done-checkpoint":
        assert restored_at_kill == KILL_PROFILES
        assert checkpoint is None or not checkpoint.done
    else:
        assert restored_at_kill == KILL_PROFILES
        assert checkpoint is not None
        assert checkpoint.done
        assert checkpointed == KILL_PROFILES

    # When it is resumed
    resumed = profile_migrate(
        *arguments[:-1], f"{report}.resumed", "--resume", *endpoint, env=os.environ.copy()
    )

    # Then it finishes the same rollback: the table is its pre-run self, byte for byte, as
    # an uninterrupted rollback leaves it; what the killed part restored past its last
    # checkpoint is found already restored
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    document = json.loads(resumed.stdout)
    summary = document["summary"]
    already = restored_at_kill - checkpointed
    assert document["message"].startswith(f"Resumed rollback {killed.run_id}.")
    assert document["runId"] == killed.run_id
    assert document["rollsBack"] == run_id
    assert summary["alreadyRestoredCount"] == already
    assert summary["restoredCount"] == KILL_PROFILES - already
    assert (summary["keptCount"], summary["missingCount"], summary["failureCount"]) == (0, 0, 0)
    assert summary["totalProfiles"] == KILL_PROFILES
    final = dump_table(dynamodb_client, name)
    assert final == before
    assert final == uninterrupted
    (entry,) = rollbacks(control, name)
    assert entry.run_id == killed.run_id
    assert entry.outcome == "succeeded"
    assert len(entry.parts) == 2
    assert control.read_lock(name) is None

    # When the run is rolled back once more
    again = profile_migrate(*arguments[:-1], f"{report}.again", *endpoint, env=os.environ.copy())

    # Then it restores nothing: every profile already holds its pre-run values
    assert again.returncode == 0, again.stdout + again.stderr
    third = json.loads(again.stdout)["summary"]
    assert third["restoredCount"] == 0
    assert third["alreadyRestoredCount"] == KILL_PROFILES
    assert dump_table(dynamodb_client, name) == before

    # ... and a rollback killed in the middle, after undoing for longer than
    # CHECKPOINT_SECONDS at KILL_WRITE_CAP, had saved a checkpoint to resume from
    if point == "middle":
        assert (KILL_AFTER_LINES - MAX_WRITES_PER_BATCH) / KILL_WRITE_CAP > CHECKPOINT_SECONDS
        assert checkpoint is not None, (
            "no rollback checkpoint after undoing two thirds of the journal: the resume "
            "started again from the journal's end"
        )
        assert 0 < checkpointed <= restored_at_kill


# --- 3. refusals ----------------------------------------------------------------------------


def test_a_rollback_is_refused_with_exit_2_while_another_run_holds_the_lock(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # Given a migrated table whose lock another run holds
    table = make_table(items=list(sample_profiles(40)))
    before = dump_table(dynamodb_client, table.table_name)
    status, run = cli("run", "--table", table.table_name)
    assert status == 0
    migrated = dump_table(dynamodb_client, table.table_name)
    control = hold_lock(dynamodb_client, table.table_name, run_id="other-run")

    # When the run is rolled back
    status, document = cli("rollback", "--table", table.table_name, "--run", run["runId"])

    # Then it is refused, naming the holder, and writes nothing: not the table, not the
    # history, not the lock
    assert status == 2
    assert document["success"] is False
    assert "locked by run other-run (ops@elsewhere:1" in document["error"]
    assert dump_table(dynamodb_client, table.table_name) == migrated
    assert rollbacks(control, table.table_name) == []
    lock = control.read_lock(table.table_name)
    assert lock is not None
    assert lock.run_id == "other-run"

    # When the other run has released the lock, the same rollback goes through
    control.release_lock(table.table_name, "ops@elsewhere:1")
    status, undone = cli("rollback", "--table", table.table_name, "--run", run["runId"])

    assert status == 0, undone
    assert undone["summary"]["restoredCount"] == 40
    assert dump_table(dynamodb_client, table.table_name) == before


@pytest.mark.parametrize("which", ["unknown", "a-rollback"])
def test_a_rollback_of_a_run_the_table_never_had_is_refused_with_exit_2(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient, which: str
) -> None:
    # Given a migrated table (and, for "a-rollback", a rollback of its run and a new run)
    table = make_table(items=list(sample_profiles(20)))
    status, run = cli("run", "--table", table.table_name)
    assert status == 0
    run_id = "local-20991231T000000Z-000000"
    if which == "a-rollback":
        status, undone = cli("rollback", "--table", table.table_name, "--run", run["runId"])
        assert status == 0
        run_id = undone["runId"]
        status, _ = cli("run", "--table", table.table_name)
        assert status == 0
    control = control_of(dynamodb_client, table.table_name)
    history = control.history(table.table_name)
    current = dump_table(dynamodb_client, table.table_name)

    # When a rollback names a run id that is not a migration of this table
    status, document = cli("rollback", "--table", table.table_name, "--run", run_id)

    # Then it is refused, naming the id, and nothing changes
    assert status == 2
    assert document["success"] is False
    expected = (
        f"{run_id} is a rollback (of run {run['runId']})"
        if which == "a-rollback"
        else f"has no recorded run {run_id!r}"
    )
    assert expected in document["error"]
    assert dump_table(dynamodb_client, table.table_name) == current
    assert control.history(table.table_name) == history
    assert control.read_lock(table.table_name) is None
