"""Shared pieces of the integration tests: profiles, registries, the local runner with a
fixed clock, the console script in a subprocess, and a lock another run holds."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from profile_migrations.clock import run_clock
from profile_migrations.codec import deserialize_item, serialize_item
from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.loader import Registry, load_registry
from profile_migrations.logic.runner import (
    DEFAULT_LOCAL_PAGE_LIMIT,
    DEFAULT_LOCAL_WORKERS,
    LocalRun,
    LocalRunOptions,
    run_local,
)
from profile_migrations.models.records import LockInfo
from profile_migrations.registry import MigrationChain
from tests.fakes import ListSink

if TYPE_CHECKING:
    from collections.abc import Mapping

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.codec import Profile
    from profile_migrations.logic.ports import OutcomeSink, ProtectableStore
    from profile_migrations.models.requests import RunRequest
    from profile_migrations.models.results import MigrationResponse
    from profile_migrations.registry import ProfileMigration
    from profile_migrations.store import RawItem

STARTED_AT = "2026-11-25T00:00:00.000Z"
PROFILE_MIGRATE = str(Path(sys.executable).parent / "profile-migrate")


def profile(user: str, **fields: Any) -> RawItem:
    """A stored profile of ``user`` (profile ``main``) with ``fields``, in wire format."""
    return serialize_item({"userId": user, "profileId": "main", **fields})


def registry_of(*steps: ProfileMigration) -> Registry:
    """A registry of ``steps`` whose current version is the chain's head."""
    chain = MigrationChain(steps)
    return Registry(chain=chain, current_version=chain.head, source="test")


def run(
    store: ProtectableStore,
    request: RunRequest,
    registry: Registry | None = None,
    sink: OutcomeSink | None = None,
    *,
    workers: int = DEFAULT_LOCAL_WORKERS,
    page_limit: int | None = DEFAULT_LOCAL_PAGE_LIMIT,
) -> MigrationResponse:
    """The local runner without protection (no lock, history or backup), its clock fixed at
    :data:`STARTED_AT` so expected states are computable."""
    return run_local(
        LocalRun(
            request=request,
            registry=registry or load_registry(),
            store=store,
            sink=sink or ListSink(),
            report_uri="file:///report.jsonl",
            options=LocalRunOptions(workers=workers, page_limit=page_limit),
            started_at=STARTED_AT,
        )
    )


def migrated_profile(item: RawItem, registry: Registry, target: int | None = None) -> Profile:
    """What a run with :data:`STARTED_AT` must store for ``item``, as a Python profile."""
    with run_clock(STARTED_AT):
        return registry.chain.apply(deserialize_item(item), target or registry.current_version)


def profile_migrate(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``profile-migrate *args`` as a user runs it: the console script in a subprocess, its
    stdout and stderr captured as text, whatever its exit status."""
    return subprocess.run(
        [PROFILE_MIGRATE, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=env,
    )


def hold_lock(
    client: DynamoDBClient,
    table: str,
    owner: str = "ops@elsewhere:1",
    lease_left: float = 600,
    run_id: str = "held-run",
) -> ControlTable:
    """Another run (of ``owner``: a process or an execution) holding ``table``'s lock, its
    lease ending ``lease_left`` seconds from now."""
    control = ControlTable(client, control_table_name(table))
    control.ensure_exists()
    control.acquire_lock(
        LockInfo(
            table=table,
            run_id=run_id,
            owner=owner,
            acquired_at="2026-11-25T00:00:00.000Z",
            expires_at=time.time() + lease_left,
        )
    )
    return control
