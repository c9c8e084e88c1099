"""The AWS CDK app that deploys the profile-migration pipeline next to an existing table.

The CDK side imports exactly one module from ``functions/``:
``profile_migrations.environment``, the names of the environment variables the Lambda
functions read. ``functions/`` is appended to ``sys.path`` so that import also works when
the package is not installed in the interpreter running ``cdk synth``.
"""

from __future__ import annotations

import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = PROJECT_ROOT / "functions"

if str(FUNCTIONS_DIR) not in sys.path:
    sys.path.append(str(FUNCTIONS_DIR))
