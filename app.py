#!/usr/bin/env python3
"""CDK entry point: ``cdk deploy -c tableName=UserProfiles`` (the default table)."""

from __future__ import annotations

from aws_cdk import App

from infra.application import build_app

app = App()
build_app(app)
app.synth()
