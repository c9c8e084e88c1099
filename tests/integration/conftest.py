"""The CLI run in process against the session's DynamoDB Local, for the integration tests."""

from __future__ import annotations

import itertools
import json
from typing import TYPE_CHECKING, Any, Protocol

import pytest

from profile_migrations.cli import main

if TYPE_CHECKING:
    from pathlib import Path

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal

TABLE_COMMANDS = frozenset({"run", "history", "unlock", "status", "rollback"})


class Cli(Protocol):
    """The ``cli`` fixture: ``cli(*args)`` is ``(exit status, parsed stdout)``."""

    def __call__(self, *args: str) -> tuple[int, Any]: ...


@pytest.fixture
def cli(
    dynamodb_local: DynamoDBLocal,
    aws_env: dict[str, str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Cli:
    """``cli(*args)`` runs ``profile-migrate *args --json`` in process; returns the exit
    status and the parsed stdout. Table commands reach the test engine; each run gets its
    own report file unless the arguments name one."""
    reports = itertools.count()

    def invoke(*args: str) -> tuple[int, Any]:
        argv = list(args)
        if argv[0] in TABLE_COMMANDS:
            argv += ["--endpoint-url", dynamodb_local.endpoint_url]
        if argv[0] in ("run", "rollback") and "--report" not in argv:
            argv += ["--report", str(tmp_path / f"report-{next(reports)}.jsonl")]
        status = main([*argv, "--json"])
        return status, json.loads(capsys.readouterr().out)

    return invoke
