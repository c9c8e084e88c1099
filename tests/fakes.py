"""Stand-ins for what the logic talks to (logic/ports.py): in-memory stores, outcome sinks,
a wrapper around a real table, and botocore answers built without a network.

Every fake is passed where its port is expected, so mypy checks it against the port.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ClientError

from profile_migrations.errors import RunLockedError, StoreUnavailableError
from profile_migrations.models.records import LockInfo
from profile_migrations.models.results import BackupResult
from profile_migrations.store import (
    ScanPage,
    TableInfo,
    WriteBatchResult,
    WriteOutcome,
    WriteStatus,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.logic.outcomes import ProfileOutcome
    from profile_migrations.logic.ports import ProtectableStore
    from profile_migrations.models.pipeline import PageFailures, PageInvalid
    from profile_migrations.models.records import (
        AppliedStep,
        RunHistoryEntry,
        SegmentRecord,
        SegmentRecordT,
        TurnLease,
    )
    from profile_migrations.models.results import InvalidProfile, MigrationResponse, ProfileResult
    from profile_migrations.store import ProfileWrite, RawItem


@dataclass
class MemoryControl:
    """The control table's behaviour (logic/ports.py's ControlStore) in a few dicts."""

    lock: LockInfo | None = None
    saved: dict[tuple[str, str, int], SegmentRecord] = field(default_factory=dict)
    turns: dict[tuple[str, str, int], TurnLease] = field(default_factory=dict)
    runs: dict[tuple[str, str], RunHistoryEntry] = field(default_factory=dict)
    steps: dict[str, dict[str, AppliedStep]] = field(default_factory=dict)

    def exists(self) -> bool:
        return True

    def ensure_exists(self) -> bool:
        return False

    def acquire_lock(self, lock: LockInfo) -> None:
        held = self.lock
        if held is not None and held.expires_at >= time.time() and held.owner != lock.owner:
            raise RunLockedError(f"table {lock.table!r} is locked by run {held.run_id}", held)
        self.lock = lock

    def renew_lock(self, table: str, owner: str, expires_at: float) -> bool:
        if self.lock is None or self.lock.owner != owner:
            return False
        self.lock = self.lock.model_copy(update={"expires_at": expires_at})
        return True

    def release_lock(self, table: str, owner: str | None = None) -> LockInfo | None:
        held = self.lock
        if held is None or (owner is not None and held.owner != owner):
            return None
        self.lock = None
        return held

    def read_lock(self, table: str) -> LockInfo | None:
        return self.lock

    def set_caps(self, table: str, write: float | None, read: float | None) -> LockInfo | None:
        if self.lock is None or self.lock.expires_at < time.time():
            return None
        self.lock = self.lock.model_copy(
            update={"max_write_capacity": write, "max_read_capacity": read}
        )
        return self.lock

    def active_turns(self, run_id: str, phase: str) -> int:
        now = time.time()
        return sum(
            1
            for (run, kind, _), lease in self.turns.items()
            if run == run_id and kind == phase and lease.expires_at >= now
        )

    def save_checkpoint(self, run_id: str, checkpoint: SegmentRecord) -> None:
        self.saved[(type(checkpoint).__name__, run_id, checkpoint.segment)] = checkpoint

    def checkpoint(
        self, kind: type[SegmentRecordT], run_id: str, segment: int
    ) -> SegmentRecordT | None:
        found = self.saved.get((kind.__name__, run_id, segment))
        return found if isinstance(found, kind) else None

    def checkpoints(self, kind: type[SegmentRecordT], run_id: str) -> dict[int, SegmentRecordT]:
        return {
            record.segment: record
            for (name, run, _), record in self.saved.items()
            if name == kind.__name__ and run == run_id and isinstance(record, kind)
        }

    def acquire_turn(self, lease: TurnLease) -> bool:
        key = (lease.run_id, lease.phase, lease.segment)
        held = self.turns.get(key)
        if held is not None and held.expires_at >= time.time() and held.holder != lease.holder:
            return False
        self.turns[key] = lease
        return True

    def release_turn(self, lease: TurnLease) -> None:
        key = (lease.run_id, lease.phase, lease.segment)
        held = self.turns.get(key)
        if held is not None and held.holder == lease.holder:
            del self.turns[key]

    def record_run(self, entry: RunHistoryEntry) -> None:
        self.runs[(entry.table, f"{entry.started_at}#{entry.run_id}")] = entry

    def run_entry(self, table: str, started_at: str, run_id: str) -> RunHistoryEntry | None:
        return self.runs.get((table, f"{started_at}#{run_id}"))

    def history(self, table: str) -> list[RunHistoryEntry]:
        return [entry for (t, _), entry in sorted(self.runs.items(), reverse=True) if t == table]

    def applied_steps(self, table: str) -> dict[str, AppliedStep]:
        return dict(self.steps.get(table, {}))

    def record_step(self, table: str, step: AppliedStep) -> None:
        self.steps.setdefault(table, {})[step.label] = step

    def forget_step(self, table: str, label: str) -> None:
        self.steps.get(table, {}).pop(label, None)


MiB = 1024 * 1024


def _base64(value: object) -> str:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(type(value).__name__)


def key_text(key: Mapping[str, object]) -> str:
    """A key (wire format or Python values) as canonical JSON, binary values in base64: how
    the fakes find an item and ``tests.conftest.dump_table`` files one."""
    return json.dumps(key, sort_keys=True, default=_base64)


@dataclass
class PagedStore:
    """A table served from a list of pages (the cursor is the next page's number); writes
    are recorded and answered from ``answers`` once, then as written. ``scan_error`` is
    raised by every scan after the first page (what nothing in the worker expects)."""

    pages: list[list[RawItem]] = field(default_factory=list)
    answers: list[WriteOutcome] | None = None
    writes: list[ProfileWrite] = field(default_factory=list)
    unavailable: bool = False
    fail_writes: bool = False
    size_bytes: int = 10 * MiB
    current: dict[str, RawItem] = field(default_factory=dict)
    reads: list[RawItem] = field(default_factory=list)
    table_name: str = "UserProfiles"
    scan_error: Exception | None = None

    def describe(self) -> TableInfo:
        return TableInfo(self.table_name, ("userId", "profileId"), 1000, self.size_bytes)

    def protect(self, backup_name: str) -> BackupResult:
        return BackupResult(backup_arn=f"arn:aws:dynamodb:backup/{backup_name}")

    def scan_page(
        self,
        segment: int,
        total_segments: int,
        start_key: RawItem | None = None,
        limit: int | None = None,
        projection: Sequence[str] | None = None,
        consistent_read: bool = False,
    ) -> ScanPage:
        if self.unavailable:
            raise StoreUnavailableError("throttled")
        if self.scan_error is not None and start_key is not None:
            raise self.scan_error
        index = 0 if start_key is None else int(start_key["page"]["N"])
        more = index + 1 < len(self.pages)
        return ScanPage(self.pages[index], {"page": {"N": str(index + 1)}} if more else None)

    def get_item(self, key: RawItem) -> RawItem | None:
        """``current`` (by the key's JSON) first, else the item as the pages hold it."""
        self.reads.append(key)
        wanted = key_text(key)
        if wanted in self.current:
            return self.current[wanted]
        for page in self.pages:
            for item in page:
                if key_text({name: item.get(name) for name in key}) == wanted:
                    return item
        return None

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        if self.fail_writes:
            raise StoreUnavailableError("throttled")
        self.writes.extend(writes)
        answers = self.answers or [WriteOutcome(WriteStatus.WRITTEN)] * len(writes)
        self.answers = None
        return WriteBatchResult(outcomes=answers[: len(writes)], throttle_retries=0)


@dataclass
class MemoryRecords:
    """The report bucket's run records (logic/ports.py's RunRecordStore) in dicts, keyed as
    dal/s3.py keys its objects: by run, segment and page."""

    reports: dict[tuple[str, int, int], bytes] = field(default_factory=dict)
    page_failures: dict[tuple[str, int, int], PageFailures] = field(default_factory=dict)
    page_invalid: dict[tuple[str, int, int], PageInvalid] = field(default_factory=dict)
    outputs: dict[str, MigrationResponse] = field(default_factory=dict)
    journals: list[tuple[str, int, int, bytes]] = field(default_factory=list)

    def report_uri(self, run_id: str) -> str:
        return f"s3://bucket/runs/{run_id}/report/"

    def journal_uri(self, run_id: str) -> str:
        return f"s3://bucket/runs/{run_id}/journal/"

    def put_journal(self, run_id: str, segment: int, page: int, body: bytes) -> None:
        self.journals.append((run_id, segment, page, body))

    def journal_keys(self, run_id: str, segment: int) -> list[str]:
        """``run/segment/page/n``: sorted as dal/s3.py's keys sort, by page then round."""
        return sorted(
            f"{run}/{seg:06d}/{page:08d}/{index:06d}"
            for index, (run, seg, page, _) in enumerate(self.journals)
            if (run, seg) == (run_id, segment)
        )

    def read_journal(self, key: str) -> bytes:
        return self.journals[int(key.rsplit("/", 1)[1])][3]

    def put_page_report(self, run_id: str, segment: int, page: int, body: bytes) -> None:
        self.reports[(run_id, segment, page)] = body

    def put_page_failures(self, run_id: str, record: PageFailures) -> None:
        self.page_failures[(run_id, record.segment, record.page)] = record

    def put_page_invalid(self, run_id: str, record: PageInvalid) -> None:
        self.page_invalid[(run_id, record.segment, record.page)] = record

    def put_output(self, run_id: str, response: MigrationResponse) -> str:
        self.outputs[run_id] = response.model_copy(deep=True)
        return f"s3://bucket/runs/{run_id}/output.json"

    def output(self, run_id: str) -> MigrationResponse | None:
        return self.outputs.get(run_id)

    def failures(self, run_id: str) -> Iterator[ProfileResult]:
        for (run, _, _), record in sorted(self.page_failures.items()):
            if run == run_id:
                yield from record.failures

    def invalid(self, run_id: str) -> Iterator[InvalidProfile]:
        for (run, _, _), record in sorted(self.page_invalid.items()):
            if run == run_id:
                yield from record.invalid

    def report_lines(self, run_id: str) -> list[dict[str, Any]]:
        return [
            json.loads(line)
            for (run, _, _), body in sorted(self.reports.items())
            if run == run_id
            for line in body.decode().splitlines()
        ]


def locked_control(run_id: str = "exec-1", table: str = "UserProfiles") -> MemoryControl:
    """A control table whose lock execution ``run_id`` holds for its run of the same id, as
    after that execution's Plan state."""
    control = MemoryControl()
    control.acquire_lock(
        LockInfo(
            table=table,
            run_id=run_id,
            owner=f"execution {run_id}",
            acquired_at="t",
            expires_at=time.time() + 60,
        )
    )
    return control


@dataclass
class ListSink:
    """Keeps every outcome a run reports (logic/ports.py's OutcomeSink); thread-safe, since
    segments report from worker threads."""

    outcomes: list[ProfileOutcome] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def record(self, outcomes: Sequence[ProfileOutcome]) -> None:
        with self._lock:
            self.outcomes.extend(outcomes)


class DelegatingStore:
    """A real table (logic/ports.py's ProtectableStore) behind a wrapper: every call goes
    through to ``table``; subclasses step in before the calls they watch."""

    def __init__(self, table: ProtectableStore) -> None:
        self._table = table
        self.table_name = table.table_name

    def describe(self) -> TableInfo:
        return self._table.describe()

    def protect(self, backup_name: str) -> BackupResult:
        return self._table.protect(backup_name)

    def scan_page(self, *args: Any, **kwargs: Any) -> ScanPage:
        return self._table.scan_page(*args, **kwargs)

    def get_item(self, key: RawItem) -> RawItem | None:
        return self._table.get_item(key)

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        return self._table.conditional_update(writes)


# --- botocore answers, without a network ----------------------------------------------------


def client_error(
    code: str, message: str = "m", status: int = 400, operation: str = "UpdateItem"
) -> ClientError:
    """The error botocore raises for an error answer of DynamoDB or S3."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {
                "RequestId": "request-1",
                "HostId": "host-1",
                "HTTPStatusCode": status,
                "HTTPHeaders": {},
                "RetryAttempts": 0,
            },
        },
        operation,
    )


class _Body:
    def __init__(self, payload: bytes) -> None:
        self._payload = payload

    def stream(self, **_: Any) -> list[bytes]:
        return [self._payload]


def json_answer(url: str, status: int, payload: dict[str, Any]) -> AWSResponse:
    """An HTTP answer of DynamoDB's JSON protocol, as a ``before-send`` hook returns it."""
    headers = HTTPHeaders.from_dict({"Content-Type": "application/x-amz-json-1.0"})
    return AWSResponse(url, status, headers, _Body(json.dumps(payload).encode()))


def on_event(client: DynamoDBClient, event_name: str, hook: Callable[..., object]) -> None:
    """Registers ``hook`` on the client's events. botocore reads what some hooks return (a
    ``before-send`` answer replaces the call, ``provide-client-params`` replaces the
    parameters); botocore-stubs types every hook as returning None, hence the cast."""
    client.meta.events.register(event_name, cast("Callable[..., None]", hook))


@dataclass
class ConditionalStore:
    """A table with DynamoDB's conditional-update semantics: a write applies only if the
    item exists and every expected attribute holds its value (None: absent)."""

    items: dict[str, RawItem] = field(default_factory=dict)
    batches: list[list[str]] = field(default_factory=list)
    table_name: str = "UserProfiles"
    key_attributes: tuple[str, ...] = ("userId", "profileId")

    def put(self, item: RawItem) -> None:
        self.items[key_text({name: item[name] for name in self.key_attributes})] = dict(item)

    def get_item(self, key: RawItem) -> RawItem | None:
        item = self.items.get(key_text(key))
        return None if item is None else dict(item)

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        self.batches.append([key_text(write.key) for write in writes])
        outcomes = []
        for write in writes:
            item = self.items.get(key_text(write.key))
            holds = item is not None and all(
                item.get(name) == value for name, value in write.expected.items()
            )
            if item is None or not holds:
                outcomes.append(WriteOutcome(WriteStatus.CONFLICT, current=item))
                continue
            for name in write.removed:
                item.pop(name, None)
            item.update(write.set_values)
            outcomes.append(WriteOutcome(WriteStatus.WRITTEN))
        return WriteBatchResult(outcomes=outcomes, throttle_retries=0)

    def scan_page(self, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a rollback never scans")
