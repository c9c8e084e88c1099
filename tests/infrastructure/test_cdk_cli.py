"""The real CDK CLI synthesizes the app offline, without AWS credentials or Docker."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from infra import PROJECT_ROOT

if TYPE_CHECKING:
    from collections.abc import Mapping

CDK_CLI = PROJECT_ROOT / "node_modules" / ".bin" / "cdk"
SYNTH_TIMEOUT_SECONDS = 240


def credential_free_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The current environment without any AWS_* variable, the venv's python first on PATH."""
    env = {name: value for name, value in environ.items() if not name.startswith("AWS_")}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env["CDK_DISABLE_CLI_TELEMETRY"] = "true"
    env.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    return env


@pytest.mark.skipif(not CDK_CLI.exists(), reason="CDK CLI not installed (run npm ci)")
def test_cdk_synth_succeeds_without_credentials(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--quiet", "--no-notices", "--output", str(tmp_path / "out")],
        cwd=PROJECT_ROOT,
        env=credential_free_environment(os.environ),
        capture_output=True,
        text=True,
        timeout=SYNTH_TIMEOUT_SECONDS,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "out" / "ProfileMigrationStack.template.json").is_file()
