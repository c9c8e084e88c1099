"""``app.py`` as the CDK CLI runs it: a refused context value is one line on stderr and
exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_app(context: dict[str, object], outdir: Path) -> subprocess.CompletedProcess[str]:
    # What `cdk synth -c ...` hands the app: the context as JSON, and where to write.
    env = {**os.environ, "CDK_CONTEXT_JSON": json.dumps(context), "CDK_OUTDIR": str(outdir)}
    return subprocess.run(
        [sys.executable, str(ROOT / "app.py")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_refused_context_value_is_one_message_and_exit_2(tmp_path: Path) -> None:
    result = run_app({"schedule": "cron(0 2 * * *)", "windowMinutes": 60}, tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("profile-migrations: cdk context refused: ")
    assert "schedule" in result.stderr
    assert not (tmp_path / "manifest.json").exists()


def test_valid_context_synthesizes_the_cloud_assembly(tmp_path: Path) -> None:
    result = run_app({"tableName": "UserProfiles"}, tmp_path)

    assert result.returncode == 0, result.stderr
    assert (tmp_path / "manifest.json").exists()
