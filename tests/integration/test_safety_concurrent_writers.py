"""Zero lost updates: application writers hammer the table for the whole of a real run.

Each writer thread owns a quarter of the profiles, so the writes to one profile are
serialized and "the last acknowledged value" is well defined. Every acknowledged write is
recorded; afterwards each stored profile must be exactly the migration of the original
with every acknowledged write applied. The application's writes commute with CICADA's
chain (it never touches `appWrites` or `profileData.nickname`, and old code's
`characterName` write only succeeds before the profile is migrated), so that expected
state is exact, not approximate.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from profile_migrations.codec import deserialize_item, serialize_value
from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.loader import load_registry
from profile_migrations.models.requests import RunRequest
from tests.conftest import PROFILE_KEY_NAMES, dump_profiles, item_key, new_client
from tests.integration.helpers import migrated_profile, run

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from profile_migrations.store import RawItem
    from tests.conftest import MakeTable

PROFILES = 3_000
WRITERS = 4
MAX_WRITES_PER_WRITER = 4_000
MAX_WRITER_SECONDS = 40.0
WRITES_PER_SECOND_PER_WRITER = 100
WARM_UP_WRITES = 25 * WRITERS

APPEND = "#aw = list_append(if_not_exists(#aw, :empty), :token)"
PLAIN = "plain"
NICKNAME = "nickname"
LEGACY = "legacy"


@dataclass
class Ledger:
    """What the application was told it wrote to one profile, in order."""

    tokens: list[str] = field(default_factory=list)
    nickname: str | None = None
    legacy_name: str | None = None


@dataclass
class WriterStats:
    acknowledged: int = 0
    touched_profile_data: int = 0
    refused_legacy: int = 0
    uncertain: int = 0
    ack_times: list[float] = field(default_factory=list)


class Writer(threading.Thread):
    """An application instance updating random profiles of its own partition."""

    def __init__(
        self,
        number: int,
        client: DynamoDBClient,
        table_name: str,
        keys: list[RawItem],
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"app-writer-{number}", daemon=True)
        self.number = number
        self._client = client
        self._table_name = table_name
        self._keys = keys
        self._halt = stop
        self._rng = random.Random(1_000 + number)
        self.ledgers: dict[str, Ledger] = {}
        self.stats = WriterStats()
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
            elapsed = time.monotonic() - started
            if self._halt.is_set() or elapsed > MAX_WRITER_SECONDS:
                return
            # Paced (a cap this machine does not reach), so that on a fast machine the
            # writers cannot starve the run they race.
            self._halt.wait(max(0.0, sequence / WRITES_PER_SECOND_PER_WRITER - elapsed))
            self._write_once(sequence)

    def _write_once(self, sequence: int) -> None:
        key = self._rng.choice(self._keys)
        token = f"w{self.number}-{sequence}"
        roll = self._rng.random()
        kind = PLAIN if roll < 0.4 else NICKNAME if roll < 0.85 else LEGACY
        request: dict[str, Any] = {
            "TableName": self._table_name,
            "Key": key,
            "UpdateExpression": f"SET {APPEND}",
            "ExpressionAttributeNames": {"#aw": "appWrites"},
            "ExpressionAttributeValues": {
                ":empty": {"L": []},
                ":token": serialize_value([token]),
            },
        }
        if kind == NICKNAME:
            request["UpdateExpression"] += ", #pd.#nick = :value"
            request["ExpressionAttributeNames"].update({"#pd": "profileData", "#nick": "nickname"})
            request["ExpressionAttributeValues"][":value"] = {"S": token}
        elif kind == LEGACY:
            # Old application code: it only knows `characterName`, so it updates it where
            # it exists (never on a migrated profile, which has `name` instead).
            request["UpdateExpression"] += ", #pd.#cn = :value"
            request["ConditionExpression"] = "attribute_exists(#pd.#cn)"
            request["ExpressionAttributeNames"].update(
                {"#pd": "profileData", "#cn": "characterName"}
            )
            request["ExpressionAttributeValues"][":value"] = {"S": token}
        try:
            self._client.update_item(**request)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                self.stats.refused_legacy += 1
            else:
                self.stats.uncertain += 1
            return
        self.stats.ack_times.append(time.monotonic())
        self.stats.acknowledged += 1
        ledger = self.ledgers.setdefault(item_key(key), Ledger())
        ledger.tokens.append(token)
        if kind == NICKNAME:
            ledger.nickname = token
            self.stats.touched_profile_data += 1
        elif kind == LEGACY:
            ledger.legacy_name = token
            self.stats.touched_profile_data += 1


def with_application_writes(item: RawItem, ledger: Ledger | None) -> RawItem:
    """The original item with every acknowledged application write applied."""
    if ledger is None:
        return item
    profile = deserialize_item(item)
    data = dict(profile["profileData"])
    if ledger.nickname is not None:
        data["nickname"] = ledger.nickname
    if ledger.legacy_name is not None:
        data["characterName"] = ledger.legacy_name
    updated = {**profile, "profileData": data, "appWrites": list(ledger.tokens)}
    return {name: serialize_value(value) for name, value in updated.items()}


def lost_writes(stored: dict[str, Any], ledger: Ledger) -> int:
    """Acknowledged writes of one profile that the stored profile does not show."""
    kept = stored.get("appWrites", [])
    lost = sum(1 for token in ledger.tokens if token not in kept)
    data = stored["profileData"]
    if ledger.nickname is not None and data.get("nickname") != ledger.nickname:
        lost += 1
    if ledger.legacy_name is not None and data.get("name") != ledger.legacy_name:
        lost += 1
    return lost


def test_no_application_write_is_lost_while_writers_race_a_whole_run(
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    dynamodb_local: DynamoDBLocal,
) -> None:
    # Given 3,000 version-1 profiles and four application writers already running
    originals = list(sample_profiles(PROFILES))
    table = make_table(items=originals)
    keys = [{name: item[name] for name in PROFILE_KEY_NAMES} for item in originals]
    app_client = new_client(dynamodb_local)
    stop = threading.Event()
    writers = [
        Writer(number, app_client, table.table_name, keys[number::WRITERS], stop)
        for number in range(WRITERS)
    ]
    for writer in writers:
        writer.start()
    deadline = time.monotonic() + MAX_WRITER_SECONDS
    while sum(writer.stats.acknowledged for writer in writers) < WARM_UP_WRITES:
        assert time.monotonic() < deadline, [writer.crash for writer in writers]
        time.sleep(0.01)

    # When the migration runs (4 segments, 4 workers) while they keep writing
    registry = load_registry()
    run_started = time.monotonic()
    first = run(table, RunRequest(total_segments=4), workers=4)
    run_ended = time.monotonic()
    stop.set()
    for writer in writers:
        writer.join(timeout=60)
    assert [(writer.is_alive(), writer.crash) for writer in writers] == [(False, None)] * WRITERS
    assert first.summary is not None
    needed_rerun = first.summary.failure_count
    if needed_rerun:
        # A profile that changed on every one of its bounded retries is left as the
        # application wrote it; a second pass (writers stopped) must finish it.
        assert all("changed concurrently" in (r.error or "") for r in first.summary.results)
        second = run(table, RunRequest(total_segments=4), workers=4)
        assert second.success, second.message
        assert second.summary is not None
        assert second.summary.success_count == needed_rerun

    # Then every acknowledged write is in the final items, and every profile is exactly
    # the migration of its original plus the application's writes
    stored = dump_profiles(dynamodb_client, table.table_name)
    ledgers = {key: ledger for writer in writers for key, ledger in writer.ledgers.items()}
    stats = [writer.stats for writer in writers]
    acknowledged = sum(s.acknowledged for s in stats)
    during_run = sum(run_started <= t <= run_ended for s in stats for t in s.ack_times)
    profile_data_writes = sum(s.touched_profile_data for s in stats)
    lost = sum(lost_writes(stored[key], ledger) for key, ledger in ledgers.items())
    conflicts = first.summary.conflict_count
    print(
        f"\napplication writes acknowledged: {acknowledged} ({during_run} during the "
        f"{run_ended - run_started:.1f} s run), touching profileData: {profile_data_writes}, "
        f"old-code writes refused: {sum(s.refused_legacy for s in stats)}, "
        f"conflicts counted: {conflicts}, profiles re-run: {needed_rerun}, lost writes: {lost}"
    )
    assert sum(s.uncertain for s in stats) == 0
    assert lost == 0
    assert len(stored) == PROFILES
    assert {profile["version"] for profile in stored.values()} == {5}
    mismatched = [
        key
        for key, item in ((item_key(item), item) for item in originals)
        if stored[key]
        != migrated_profile(with_application_writes(item, ledgers.get(key)), registry)
    ]
    assert mismatched == []
    # ... and the race was real: writes landed throughout the run and the run met them
    assert during_run >= 1_000
    assert any(t > run_ended - 0.2 * (run_ended - run_started) for s in stats for t in s.ack_times)
    assert 0 < conflicts <= profile_data_writes
    assert first.summary.total_profiles == PROFILES
    assert first.summary.success_count + needed_rerun == PROFILES
    assert needed_rerun <= 0.01 * PROFILES
