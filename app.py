#!/usr/bin/env python3
"""CDK entry point: ``cdk deploy -c tableName=UserProfiles`` (the default table).

A context value the app refuses (``-c schedule=...``, ``-c reservedConcurrency=...``)
ends it with the reason on stderr and exit status 2, not a traceback."""

from __future__ import annotations

import sys

from aws_cdk import App

from infra.application import build_app


def main() -> int:
    app = App()
    try:
        build_app(app)
    except ValueError as exc:
        sys.stderr.write(f"profile-migrations: cdk context refused: {exc}\n")
        return 2
    app.synth()
    return 0


if __name__ == "__main__":
    sys.exit(main())
