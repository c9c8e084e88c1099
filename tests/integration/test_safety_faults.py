"""Throttling and transient faults, injected into the runner's own botocore client.

Faults are injected below the SDK's retry loop (``before-send``: the request never reaches
DynamoDB Local and a throttle, 500 or 503 comes back instead) and inside successful
``BatchExecuteStatement`` answers (some statements are withheld from the request and
answered with a per-statement throttle), so both the SDK's adaptive retries and the
store's own statement retries are exercised against a real engine. Proven here:

- 20 % transient faults cost no profile, and every profile ends exactly migrated;
- a write DynamoDB applied but answered with a 500 is retried without harm;
- a persistent outage stops the run with ``StoreUnavailableError``, fails no profile,
  leaves every item either exactly original or exactly migrated, and a re-run finishes.
"""

from __future__ import annotations

import math
import random
import threading
import time
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.config import Config
from botocore.httpsession import URLLib3Session

from profile_migrations.codec import deserialize_item
from profile_migrations.dal import dynamodb as dynamodb_module
from profile_migrations.dal.dynamodb import ProfileTable
from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.loader import load_registry
from profile_migrations.models.requests import RunRequest
from tests.conftest import TEST_CREDENTIALS, TEST_REGION, dump_table, item_key, new_client
from tests.fakes import json_answer, on_event
from tests.integration.helpers import migrated_profile, run

if TYPE_CHECKING:
    from botocore.awsrequest import AWSPreparedRequest, AWSResponse
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from tests.conftest import MakeTable

PROFILES = 400
PAGE = 20
FAULT_RATE = 0.2
WRITE_OPERATIONS = frozenset({"BatchExecuteStatement", "UpdateItem"})
DYNAMODB_ERROR = "com.amazonaws.dynamodb.v20120810#{}"
SERVER_ERRORS = ((500, "InternalServerError"), (503, "ServiceUnavailable"))
THROTTLES = ((400, "ThrottlingException"), (400, "ProvisionedThroughputExceededException"))
STATEMENT_FAULTS = ("ThrottlingError", "ProvisionedThroughputExceeded", "InternalServerError")
# The production client allows 10 retries (botocore's `max_attempts` counts retries, so 11
# attempts); with exponential backoff of up to 20 s a sleep and the adaptive rate limiter,
# a persistently throttled call takes about a minute to reach our code. The same client
# configuration with one retry reports the outage in a second or two.
FEW_RETRIES = 1


def error_response(url: str, status: int, code: str) -> AWSResponse:
    return json_answer(url, status, {"__type": DYNAMODB_ERROR.format(code), "message": "injected"})


class FaultInjector:
    """Seeded faults on one client. Thread-safe: the runner's segments share the client.

    ``call_rate``: share of HTTP attempts answered with a throttle or a 500 instead of being
    sent. ``statement_rate``: share of statements in a ``BatchExecuteStatement`` withheld
    and answered with a per-statement throttle. ``outage_after``: every write attempt after
    that many is throttled (a persistent outage).
    """

    def __init__(
        self,
        client: DynamoDBClient,
        call_rate: float = 0.0,
        call_faults: tuple[tuple[int, str], ...] = SERVER_ERRORS,
        statement_rate: float = 0.0,
        outage_after: int | None = None,
        seed: int = 20,
    ) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.call_rate = call_rate
        self._call_fault_kinds = call_faults
        self.statement_rate = statement_rate
        self.outage_after = outage_after
        self.sends = 0
        self.call_faults = 0
        self.write_calls = 0
        self.statements = 0
        self.statement_faults = 0
        on_event(client, "before-send.dynamodb", self._before_send)
        on_event(client, "provide-client-params.dynamodb.BatchExecuteStatement", self._withhold)
        on_event(client, "after-call.dynamodb.BatchExecuteStatement", self._answer_withheld)

    def _before_send(
        self, request: AWSPreparedRequest, event_name: str, **_: Any
    ) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.sends += 1
            if operation in WRITE_OPERATIONS:
                self.write_calls += 1
                if self.outage_after is not None and self.write_calls > self.outage_after:
                    self.call_faults += 1
                    return error_response(request.url, 400, "ThrottlingException")
            if self._rng.random() >= self.call_rate:
                return None
            self.call_faults += 1
            status, code = self._rng.choice(self._call_fault_kinds)
        return error_response(request.url, status, code)

    def _withhold(
        self, params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> dict[str, Any] | None:
        statements = params["Statements"]
        with self._lock:
            self.statements += len(statements)
            withheld = {
                index: self._rng.choice(STATEMENT_FAULTS)
                for index in range(len(statements))
                if self._rng.random() < self.statement_rate
            }
            withheld.pop(0, None)  # keep one statement, so the call itself is well formed
            self.statement_faults += len(withheld)
        if not withheld:
            return None
        context["withheld"] = (len(statements), withheld)
        return {
            **params,
            "Statements": [s for index, s in enumerate(statements) if index not in withheld],
        }

    def _answer_withheld(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "withheld" not in context or "Responses" not in parsed:
            return
        total, withheld = context["withheld"]
        answers = iter(parsed["Responses"])
        parsed["Responses"] = [
            {"Error": {"Code": withheld[index], "Message": "injected"}}
            if index in withheld
            else next(answers)
            for index in range(total)
        ]


class GhostWrites:
    """Sends a write to DynamoDB, then tells the SDK it failed with a 500.

    The ambiguous outcome a real network or service fault can produce: the statements were
    applied, the SDK retries them, and the conditions must stop them applying twice.
    """

    def __init__(self, client: DynamoDBClient, rate: float, seed: int = 21) -> None:
        self._http = URLLib3Session()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.rate = rate
        self.writes = 0
        self.ghosts = 0
        on_event(client, "before-send.dynamodb.BatchExecuteStatement", self._send)

    def _send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        with self._lock:
            self.writes += 1
            if self._rng.random() >= self.rate:
                return None
            self.ghosts += 1
        applied = self._http.send(request)
        assert applied.status_code == 200
        assert applied.content
        return error_response(request.url, 500, "InternalServerError")


def client_with_few_retries(engine: DynamoDBLocal) -> DynamoDBClient:
    """The production client's configuration, except for the number of SDK retries."""
    return boto3.client(
        "dynamodb",
        endpoint_url=engine.endpoint_url,
        region_name=TEST_REGION,
        aws_access_key_id=TEST_CREDENTIALS.access_key_id,
        aws_secret_access_key=TEST_CREDENTIALS.secret_access_key,
        config=Config(
            retries={"mode": "adaptive", "max_attempts": FEW_RETRIES},
            max_pool_connections=16,
            parameter_validation=False,
        ),
    )


@pytest.fixture
def faulty_client(dynamodb_local: DynamoDBLocal) -> DynamoDBClient:
    """A client built exactly as the CLI builds it, for faults to be registered on."""
    return new_client(dynamodb_local)


def assert_all_migrated(client: DynamoDBClient, table_name: str, originals: list[Any]) -> None:
    registry = load_registry()
    stored = {key: deserialize_item(item) for key, item in dump_table(client, table_name).items()}
    assert len(stored) == len(originals)
    for item in originals:
        key = item_key(item)
        assert stored[key] == migrated_profile(item, registry), key


def within_three_sigma(faults: int, trials: int, rate: float = FAULT_RATE) -> bool:
    return abs(faults / trials - rate) <= 3 * math.sqrt(rate * (1 - rate) / trials)


@pytest.mark.parametrize(
    ("call_faults", "profiles", "segments"),
    [
        pytest.param(SERVER_ERRORS, 1_000, 4, id="500-and-503"),
        # A throttling answer switches on botocore's adaptive client-side rate limiter,
        # which slows the whole client to about one request a second: a small table, one
        # segment (so the seeded faults fall on the same calls every time).
        pytest.param(THROTTLES, 50, 1, id="throttling-exceptions"),
    ],
)
def test_a_fifth_of_calls_and_statements_failing_transiently_costs_no_profile(
    make_table: MakeTable,
    faulty_client: DynamoDBClient,
    call_faults: tuple[tuple[int, str], ...],
    profiles: int,
    segments: int,
) -> None:
    # Given profiles and a client that fails 20 % of HTTP attempts and withholds 20 % of
    # batch statements with a per-statement throttle
    originals = list(sample_profiles(profiles))
    table = make_table(items=originals)
    faults = FaultInjector(
        faulty_client, call_rate=FAULT_RATE, call_faults=call_faults, statement_rate=FAULT_RATE
    )

    # When the run goes through that client
    started = time.monotonic()
    response = run(
        ProfileTable(faulty_client, table.table_name),
        RunRequest(total_segments=segments),
        workers=segments,
        page_limit=PAGE,
    )
    elapsed = time.monotonic() - started

    # Then no profile failed, every profile is exactly migrated, and the faults were real
    print(
        f"\n{profiles} profiles in {elapsed:.1f} s; injected: {faults.call_faults} of "
        f"{faults.sends} HTTP attempts ({faults.call_faults / faults.sends:.0%}), "
        f"{faults.statement_faults} of {faults.statements} statements "
        f"({faults.statement_faults / faults.statements:.0%})"
    )
    assert response.success, response.error
    assert response.summary is not None
    assert response.summary.failure_count == 0
    assert response.summary.success_count == profiles
    assert response.verification is not None
    assert response.verification.checked_count == profiles
    assert_all_migrated(faulty_client, table.table_name, originals)
    assert faults.call_faults > 0
    assert faults.statement_faults > 0
    assert within_three_sigma(faults.call_faults, faults.sends)
    assert within_three_sigma(faults.statement_faults, faults.statements)
    # Every withheld statement was re-sent by the store, and counted as a throttle retry
    assert response.summary.throttle_retry_count == faults.statement_faults


def test_writes_applied_but_answered_500_are_not_applied_twice_or_counted_failed(
    make_table: MakeTable, faulty_client: DynamoDBClient
) -> None:
    # Given a client whose batch writes reach DynamoDB but 20 % of them come back as 500
    originals = list(sample_profiles(PROFILES))
    table = make_table(items=originals)
    ghosts = GhostWrites(faulty_client, rate=FAULT_RATE)

    # When the run goes through it
    response = run(
        ProfileTable(faulty_client, table.table_name),
        RunRequest(total_segments=4),
        workers=4,
        page_limit=PAGE,
    )

    # Then the SDK's retries of those writes met their own applied result, which the
    # conditions refused; those profiles are at the target and nothing failed
    print(f"\nghost writes: {ghosts.ghosts} of {ghosts.writes} batch calls")
    assert ghosts.ghosts > 0
    assert response.success, response.error
    assert response.summary is not None
    assert response.summary.failure_count == 0
    assert response.summary.skipped_count > 0
    assert response.summary.success_count + response.summary.skipped_count == PROFILES
    assert_all_migrated(faulty_client, table.table_name, originals)


@pytest.mark.parametrize(
    ("outage", "segments"),
    [
        # One segment: after the first throttle the adaptive rate limiter meters every
        # further call of the client to about one a second.
        ("calls", 1),
        ("statements", 4),
    ],
)
def test_persistent_throttling_stops_the_run_cleanly_and_a_rerun_finishes_it(
    make_table: MakeTable,
    dynamodb_client: DynamoDBClient,
    dynamodb_local: DynamoDBLocal,
    monkeypatch: pytest.MonkeyPatch,
    outage: str,
    segments: int,
) -> None:
    # Given 400 profiles and a store whose writes are throttled without end after the
    # first few: every HTTP write call, or every statement of a batch but its first
    originals = list(sample_profiles(PROFILES))
    table = make_table(items=originals)
    before = dump_table(dynamodb_client, table.table_name)
    client = client_with_few_retries(dynamodb_local)
    if outage == "calls":
        faults = FaultInjector(client, outage_after=4)
    else:
        # Our own statement retries back off up to 5 s a round; shrunk, not skipped.
        monkeypatch.setattr(dynamodb_module, "BACKOFF_CAP_SECONDS", 0.005)
        faults = FaultInjector(client, statement_rate=1.0)

    # When the run goes through it
    stopped = run(
        ProfileTable(client, table.table_name),
        RunRequest(total_segments=segments),
        workers=segments,
        page_limit=PAGE,
    )

    # Then it reports DynamoDB unavailable, fails no profile, verifies nothing
    assert not stopped.success
    assert (stopped.error or "").startswith("StoreUnavailableError: ")
    assert "throttl" in (stopped.error or "").lower()
    assert stopped.summary is not None
    assert stopped.summary.failure_count == 0
    assert stopped.summary.results == []
    assert stopped.verification is None
    # ... and every stored item is either exactly its original or exactly migrated
    registry = load_registry()
    after = dump_table(dynamodb_client, table.table_name)
    untouched = migrated = 0
    for key, item in before.items():
        if after[key] == item:
            untouched += 1
        else:
            assert deserialize_item(after[key]) == migrated_profile(item, registry), key
            migrated += 1
    print(
        f"\n{outage} outage: {faults.call_faults} throttled calls, {faults.statement_faults} "
        f"throttled statements; {migrated} profiles migrated, {untouched} untouched: "
        f"{stopped.error}"
    )
    assert untouched > 0
    assert stopped.summary.success_count <= migrated

    # When the job is run again without faults
    resumed = run(table, RunRequest(total_segments=4), workers=4)

    # Then it finishes: the rest is migrated, what was already migrated is skipped
    assert resumed.success, resumed.error
    assert resumed.summary is not None
    assert resumed.summary.success_count == untouched
    assert resumed.summary.skipped_count == migrated
    assert_all_migrated(dynamodb_client, table.table_name, originals)
