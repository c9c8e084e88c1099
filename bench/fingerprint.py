"""A digest of the code under measurement, so a result names the code it measured.

The package under ``functions/`` may change while a long benchmark runs; the harness takes
the digest before and after and says so when they differ (then figures may mix versions).
"""

from __future__ import annotations

import hashlib

from bench.runs import REPO_ROOT

PACKAGE = REPO_ROOT / "functions" / "profile_migrations"


def code_digest() -> str:
    """SHA-256 over every ``.py`` file of the package: relative path, then contents."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
