"""Bad input never writes: every malformed argument, registry or event is refused with
exit status 2 (or the pipeline's RequestRefusedError), a message naming the problem, and
the table exactly as it was.

The CLI table runs `profile-migrate run` in process against DynamoDB Local; the fuzzers
feed the request models, the argument parser and the pipeline's plan step arbitrary input.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from profile_migrations.cli import main
from profile_migrations.dal.dynamodb import ProfileTable
from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.errors import RequestRefusedError
from profile_migrations.loader import load_registry
from profile_migrations.logic.pipeline import plan_run
from profile_migrations.models.pipeline import PlanEvent, RunPlan
from profile_migrations.models.requests import PipelineRequest, RunRequest
from profile_migrations.store import TableInfo
from tests.conftest import dump_table, new_client, new_table

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from profile_migrations.logic.ports import ControlStore, ProtectableStore

STEP = "from profile_migrations import ProfileMigration as M\n"
KEEP = "lambda p: p"
NO_SUCH_TABLE = "no-such-table-anywhere"


@dataclass(frozen=True)
class BadInput:
    """``argv`` after `profile-migrate`; ``{table}`` and ``{file}`` are filled in.

    ``registry`` is the text of the migrations file ``{file}`` names, if any.
    """

    name: str
    argv: tuple[str, ...]
    message: str
    registry: str | None = None


def run_args(*extra: str) -> tuple[str, ...]:
    return ("run", "--table", "{table}", *extra)


def with_registry(name: str, text: str, message: str, *extra: str) -> BadInput:
    return BadInput(name, run_args("--migrations", "{file}", *extra), message, text)


BAD_INPUTS = [
    # wrong types
    BadInput("target-not-a-number", run_args("--target-version", "two"), "'two' is not an integer"),
    BadInput("target-fraction", run_args("--target-version", "2.5"), "'2.5' is not an integer"),
    BadInput("segments-not-a-number", run_args("--segments", "abc"), "'abc' is not an integer"),
    BadInput("workers-empty", run_args("--workers", ""), "'' is not an integer"),
    BadInput("page-size-exponent", run_args("--page-size", "1e3"), "'1e3' is not an integer"),
    BadInput("log-level-unknown", run_args("--log-level", "TRACE"), "invalid choice: 'TRACE'"),
    BadInput("flag-with-a-value", run_args("--dry-run=yes"), "ignored explicit argument 'yes'"),
    # out of range
    BadInput("target-zero", run_args("--target-version", "0"), "0 is not a positive integer"),
    BadInput("target-negative", run_args("--target-version", "-1"), "-1 is not a positive"),
    BadInput(
        "target-unknown", run_args("--target-version", "6"), "no migration path leads to version 6"
    ),
    BadInput(
        "target-huge",
        run_args("--target-version", "9" * 40),
        f"no migration path leads to version {'9' * 40}",
    ),
    BadInput("segments-zero", run_args("--segments", "0"), "0 is not a positive integer"),
    BadInput("segments-too-many", run_args("--segments", "1000001"), "less than or equal to"),
    BadInput("workers-zero", run_args("--workers", "0"), "0 is not a positive integer"),
    BadInput("page-size-negative", run_args("--page-size", "-5"), "-5 is not a positive"),
    # the table
    BadInput("table-missing", ("run",), "the following arguments are required: --table"),
    BadInput("table-unknown", ("run", "--table", NO_SUCH_TABLE), "does not exist"),
    BadInput("table-name-invalid", ("run", "--table", "bad name!"), "cannot describe table"),
    # unknown or contradictory flags, commands
    BadInput("flag-unknown", run_args("--unknown-flag"), "unrecognized arguments: --unknown-flag"),
    BadInput("flag-misspelled", run_args("--dryrun"), "unrecognized arguments: --dryrun"),
    BadInput("flag-ambiguous", ("run", "--t", "x"), "ambiguous option: --t"),
    BadInput("modes-both", run_args("--dry-run", "--verify-only"), "not allowed with argument"),
    BadInput("command-unknown", ("explode",), "invalid choice: 'explode'"),
    BadInput("command-missing", (), "the following arguments are required"),
    # invalid registries
    with_registry(
        "registry-gap",
        STEP + f"migrations = [M(1, 2, 'a', {KEEP}), M(3, 4, 'c', {KEEP})]\n",
        "step 3->4 starts from version 3",
    ),
    with_registry(
        "registry-duplicate",
        STEP + f"migrations = [M(1, 2, 'a', {KEEP}), M(1, 3, 'b', {KEEP})]\n",
        "both start from version 1",
    ),
    with_registry(
        "registry-backward-step",
        STEP + f"migrations = [M(1, 2, 'a', {KEEP}), M(2, 1, 'back', {KEEP})]\n",
        "to_version must be greater than from_version",
    ),
    with_registry(
        "registry-self-loop",
        STEP + f"migrations = [M(1, 1, 'loop', {KEEP})]\n",
        "to_version must be greater than from_version",
    ),
    with_registry(
        "registry-non-step-entry",
        STEP + f"migrations = [M(1, 2, 'a', {KEEP}), {{'from': 2, 'to': 3}}]\n",
        "registry entry 1 is a dict, not a ProfileMigration",
    ),
    with_registry("registry-empty", "migrations = []\n", "the registry holds no migrations"),
    with_registry(
        "registry-version-zero",
        STEP + f"migrations = [M(0, 1, 'a', {KEEP})]\n",
        "from_version must be a positive integer",
    ),
    with_registry(
        "registry-not-callable",
        STEP + "migrations = [M(1, 2, 'a', 'not a function')]\n",
        "migrate is not callable",
    ),
    with_registry(
        "registry-not-a-list",
        "migrations = 'M(1, 2)'\n",
        "does not expose a `migrations` list",
    ),
    with_registry(
        "registry-current-version-unreachable",
        STEP + f"migrations = [M(1, 2, 'a', {KEEP})]\nCURRENT_PROFILE_VERSION = 9\n",
        "CURRENT_PROFILE_VERSION no migration path leads to version 9",
    ),
    with_registry(
        "registry-current-version-text",
        STEP + f"migrations = [M(1, 2, 'a', {KEEP})]\nCURRENT_PROFILE_VERSION = '2'\n",
        "CURRENT_PROFILE_VERSION must be an integer",
    ),
    with_registry(
        "registry-target-beyond-its-chain",
        STEP + f"migrations = [M(1, 2, 'a', {KEEP})]\n",
        "no migration path leads to version 3",
        "--target-version",
        "3",
    ),
    # migrations that do not import
    with_registry("module-syntax-error", "migrations = [\n", "SyntaxError"),
    with_registry(
        "module-raises-on-import",
        "raise RuntimeError('refusing to load')\n",
        "RuntimeError: refusing to load",
    ),
    with_registry(
        "module-without-migrations", "STEPS = []\n", "does not expose a `migrations` list"
    ),
    BadInput("file-missing", run_args("--migrations", "{file}"), "does not exist", registry=None),
    BadInput(
        "module-missing",
        run_args("--migrations", "no_such_module_anywhere"),
        "cannot import migrations from 'no_such_module_anywhere'",
    ),
    BadInput("module-relative", run_args("--migrations", ".migrations"), "relative import"),
    BadInput("module-empty-name", run_args("--migrations", ""), "Empty module name"),
    BadInput(
        "module-is-a-directory", run_args("--migrations", "{dir}"), "cannot import migrations"
    ),
]

# Each of these once escaped as a traceback or a wrong exit status; kept as regressions.
REGRESSIONS = [
    with_registry("module-exits-on-import", "raise SystemExit(0)\n", "SystemExit"),
    BadInput("endpoint-not-a-url", run_args("--endpoint-url", "not-a-url"), "not-a-url"),
    BadInput("region-malformed", run_args("--region", "us_east!"), "us_east!"),
    BadInput("report-is-a-directory", run_args("--report", "{dir}"), "{dir}"),
]


@pytest.fixture(scope="module")
def shared_client(dynamodb_local: DynamoDBLocal) -> DynamoDBClient:
    return new_client(dynamodb_local)


@pytest.fixture(scope="module")
def shared_table(shared_client: DynamoDBClient) -> ProfileTable:
    """One table for every bad input: none of them may change it."""
    return new_table(shared_client, items=list(sample_profiles(15)), prefix="bad-input")


@dataclass
class CliRun:
    status: int | str | None
    stdout: str
    stderr: str

    @property
    def error(self) -> str:
        """The refusal's message: the JSON document's ``error`` and whatever reached stderr."""
        document = json.loads(self.stdout) if self.stdout.strip() else {}
        return f"{document.get('error', '')}\n{self.stderr}"


def invoke(argv: Sequence[str], capsys: pytest.CaptureFixture[str]) -> CliRun:
    try:
        status: int | str | None = main(argv)
    except SystemExit as exc:
        status = exc.code
    out, err = capsys.readouterr()
    return CliRun(status, out, " ".join(err.split()))


@pytest.mark.parametrize("bad", [*BAD_INPUTS, *REGRESSIONS], ids=lambda bad: bad.name)
def test_bad_input_exits_2_with_a_clear_message_and_changes_nothing(
    bad: BadInput,
    shared_table: ProfileTable,
    shared_client: DynamoDBClient,
    dynamodb_local: DynamoDBLocal,
    aws_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # Given the table, a report path, and (for registry cases) a migrations file
    migrations_file = tmp_path / "bad_registry.py"
    if bad.registry is not None:
        migrations_file.write_text(bad.registry)
    report = tmp_path / "report.jsonl"
    values = {
        "table": shared_table.table_name,
        "file": str(migrations_file),
        "dir": str(tmp_path),
    }
    argv = [part.format(**values) for part in bad.argv]
    if argv[:1] == ["run"]:
        for flag, value in (("--report", report), ("--endpoint-url", dynamodb_local.endpoint_url)):
            if flag not in argv:
                argv += [flag, str(value)]
    before = dump_table(shared_client, shared_table.table_name)

    # When the CLI runs with it
    result = invoke([*argv, "--json"], capsys)

    # Then it refuses with status 2 and a message naming the problem, writing nothing
    assert bad.message.format(**values) in result.error, result
    assert result.status == 2, result
    assert dump_table(shared_client, shared_table.table_name) == before
    assert not report.exists()


# --- fuzzing the request models and the argument parser ---------------------------------

REQUEST_FIELDS = [
    "targetVersion",
    "target_version",
    "dryRun",
    "dry_run",
    "verifyOnly",
    "verify_only",
    "totalSegments",
    "total_segments",
    "maxConcurrency",
    "pageSize",
    "page_size",
    "TargetVersion",
    "tableName",
    "",
]
json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-3, max_value=12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["5", "true", "1e3", "NaN", "0x10", " 3 "]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
requests = st.one_of(
    st.dictionaries(
        st.one_of(st.sampled_from(REQUEST_FIELDS), st.text(max_size=12)), json_values, max_size=6
    ),
    json_values,
)


@pytest.mark.parametrize("model", [RunRequest, PipelineRequest])
@settings(max_examples=400, deadline=None)
@given(payload=requests)
def test_any_json_request_is_either_a_valid_request_or_a_validation_error(
    model: type[RunRequest], payload: Any
) -> None:
    try:
        request = model.model_validate(payload)
    except ValidationError:
        return
    assert isinstance(payload, dict)
    assert not (request.dry_run and request.verify_only)
    assert request.target_version is None or request.target_version >= 1
    assert request.total_segments is None or request.total_segments >= 1
    assert model.model_validate(request.to_wire()) == request


FLAGS = [
    "run",
    "plan",
    "demo",
    "--table",
    "--endpoint-url",
    "--region",
    "--target-version",
    "--migrations",
    "--dry-run",
    "--verify-only",
    "--segments",
    "--workers",
    "--page-size",
    "--report",
    "--json",
    "--log-level",
    "--from-version",
    "--profiles",
    "--",
    "-",
    "--=",
    "-x",
    "INFO",
    "0",
    "-1",
    "3",
    "1e3",
    "",
]
arguments = st.lists(
    st.one_of(
        st.sampled_from(FLAGS),
        st.text(max_size=10),
        st.integers().map(str),
        st.builds(
            lambda flag, value: f"{flag}={value}", st.sampled_from(FLAGS), st.text(max_size=5)
        ),
    ),
    max_size=8,
)


# --- the pipeline's plan step -----------------------------------------------------------

PIPELINE_LIMIT = 100
REGISTRY = load_registry()


class ReachedTheGuardError(Exception):
    """Planning got past validation and reached the real run's lock and protection step."""


class Untouchable:
    """A control store for refusals: validation must refuse before it is consulted."""

    def __getattr__(self, name: str) -> Any:
        raise ReachedTheGuardError(name)


class CreatesOnly(Untouchable):
    """A control store past validation: every mode creates the control table (it
    checkpoints there); anything more is the real run's guard."""

    def ensure_exists(self) -> bool:
        return False


def plan(event: PlanEvent, store: ProtectableStore, control: ControlStore | None = None) -> RunPlan:
    return plan_run(
        event,
        REGISTRY,
        store,
        control=control or Untouchable(),
        max_concurrency_limit=PIPELINE_LIMIT,
    )


class CountingStore:
    """A real table that records every call, so "nothing was read" can be asserted."""

    def __init__(self, table: ProfileTable) -> None:
        self._table = table
        self.calls: list[str] = []

    def describe(self) -> TableInfo:
        self.calls.append("describe")
        return self._table.describe()

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self._table, name)


MALFORMED_EXECUTION_INPUTS: list[tuple[dict[str, Any], str]] = [
    ({"targetVersion": "5"}, "targetVersion"),
    ({"targetVersion": 5.0}, "targetVersion"),
    ({"targetVersion": True}, "targetVersion"),
    ({"targetVersion": 0}, "targetVersion"),
    ({"targetVersion": 9}, "no migration path leads to version 9"),
    ({"targetVersion": None, "dryRun": None}, "dryRun"),
    ({"dryRun": "false"}, "dryRun"),
    ({"dryRun": True, "verifyOnly": True}, "cannot both be true"),
    ({"totalSegments": 0}, "totalSegments"),
    ({"totalSegments": 10_001}, "above the pipeline's limit"),
    ({"totalSegments": [4]}, "totalSegments"),
    ({"maxConcurrency": 101}, "above 100"),
    ({"maxConcurrency": 0}, "maxConcurrency"),
    ({"pageSize": 0}, "pageSize"),
    ({"pageSize": 10_001}, "pageSize"),
    ({"tableName": "Other"}, "tableName"),
    ({"TargetVersion": 5}, "TargetVersion"),
    ({"targetVersion": {"N": "5"}}, "targetVersion"),
]


@pytest.mark.parametrize(
    ("request_input", "message"),
    MALFORMED_EXECUTION_INPUTS,
    ids=[json.dumps(case) for case, _ in MALFORMED_EXECUTION_INPUTS],
)
def test_a_malformed_execution_input_is_refused_before_anything_is_read(
    shared_table: ProfileTable, request_input: dict[str, Any], message: str
) -> None:
    store = CountingStore(shared_table)
    event = PlanEvent(request=request_input, execution="run-1", started_at="2026-11-25T00:00:00Z")

    with pytest.raises(RequestRefusedError) as refused:
        plan(event, store)

    assert message in str(refused.value)
    assert store.calls == []


@pytest.mark.parametrize(
    ("started_at", "table_name", "message"),
    [
        ("yesterday", None, "Invalid isoformat string"),
        ("2026-11-25T00:00:00Z", NO_SUCH_TABLE, "does not exist"),
    ],
)
def test_a_bad_start_time_or_a_missing_table_is_refused_too(
    shared_table: ProfileTable,
    shared_client: DynamoDBClient,
    started_at: str,
    table_name: str | None,
    message: str,
) -> None:
    store = CountingStore(ProfileTable(shared_client, table_name or shared_table.table_name))
    event = PlanEvent(request={}, execution="run-1", started_at=started_at)

    with pytest.raises(RequestRefusedError) as refused:
        plan(event, store)

    assert message in str(refused.value)
    assert set(store.calls) <= {"describe"}


class DescribeOnly:
    """A table that only answers DescribeTable; anything more is the real run's guard."""

    def describe(self) -> TableInfo:
        return TableInfo("fuzzed", ("userId", "profileId"), item_count=10, size_bytes=10_000)

    def __getattr__(self, name: str) -> Any:
        raise ReachedTheGuardError(name)


def acceptable(request_input: dict[str, Any]) -> PipelineRequest | None:
    """The request if the pipeline should accept it, else None."""
    try:
        request = PipelineRequest.model_validate(request_input)
    except ValidationError:
        return None
    target = request.target_version or REGISTRY.current_version
    fits = (
        target in REGISTRY.chain.versions
        and (request.total_segments or 1) <= 10_000
        and (request.max_concurrency or 1) <= PIPELINE_LIMIT
    )
    return request if fits else None


@settings(max_examples=300, deadline=None)
@given(request_input=st.dictionaries(st.sampled_from(REQUEST_FIELDS), json_values, max_size=5))
def test_any_execution_input_is_planned_if_valid_and_refused_otherwise(
    request_input: dict[str, Any],
) -> None:
    event = PlanEvent(request=request_input, execution="fuzz", started_at="2026-11-25T00:00:00Z")
    expected = acceptable(request_input)
    try:
        planned = plan(event, DescribeOnly(), CreatesOnly())
    except RequestRefusedError:
        assert expected is None, request_input
        return
    except ReachedTheGuardError:
        assert expected is not None, request_input
        assert not expected.dry_run and not expected.verify_only
        return
    assert expected is not None, request_input
    assert sorted(planned.segments) == list(range(planned.total_segments))
    assert 1 <= planned.max_concurrency <= PIPELINE_LIMIT
