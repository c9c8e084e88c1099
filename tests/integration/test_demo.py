"""`profile-migrate demo` as a new user runs it, and what it says when a piece is missing."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from tests.integration.helpers import profile_migrate

if TYPE_CHECKING:
    import subprocess


def run_demo(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return profile_migrate("demo", *args, env=env, timeout=300)


def clean_env() -> dict[str, str]:
    """A machine with no AWS configuration at all: the demo must not need any."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name != "DYNAMODB_LOCAL_DIR"
    }


def test_demo_runs_dry_run_run_and_verify_on_an_embedded_engine() -> None:
    completed = run_demo(clean_env(), "--profiles", "400")

    assert completed.returncode == 0, completed.stderr
    output = completed.stdout
    assert "Seeded 400 version-1 profiles" in output
    assert "Dry run to version 5: 400 profiles would be migrated" in output
    assert "Migrated 400 profiles to version 5; 0 failed" in output
    assert "Verification: all 400 profiles are at version 5." in output
    assert "Real run throughput:" in output


def test_demo_without_the_jar_says_what_to_install_and_exits_2(tmp_path: Path) -> None:
    env = {**clean_env(), "DYNAMODB_LOCAL_DIR": str(tmp_path)}

    completed = run_demo(env)

    assert completed.returncode == 2
    assert "does not contain DynamoDBLocal.jar" in completed.stderr


def test_demo_without_java_says_what_to_install_and_exits_2(tmp_path: Path) -> None:
    env = {**clean_env(), "PATH": str(Path(sys.executable).parent)}

    completed = run_demo(env)

    assert completed.returncode == 2
    assert "Java is not installed" in completed.stderr
    assert "openjdk-17" in completed.stderr
