"""Builds the CDK app: shared by ``app.py`` and the infrastructure tests."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks

from infra import constants
from infra.stack import ProfileMigrationStack

if TYPE_CHECKING:
    from aws_cdk import App


# DynamoDB's rule for table names.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
# One address, no spaces or lists: SNS would only fail the subscription at deploy time.
_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")
_POSITIVE_INTEGER = re.compile(r"[1-9][0-9]*")


def table_name_from_context(app: App) -> str:
    """The ``tableName`` context value (``cdk deploy -c tableName=...``), or the default.

    Raises ValueError at synth for a name DynamoDB would refuse, so a typo fails before
    any deployment.
    """
    value = app.node.try_get_context(constants.TABLE_NAME_CONTEXT_KEY)
    table_name = str(value) if value else constants.DEFAULT_TABLE_NAME
    if not _TABLE_NAME.fullmatch(table_name):
        raise ValueError(
            f"{constants.TABLE_NAME_CONTEXT_KEY}={table_name!r} is not a DynamoDB table name "
            "(3-255 characters: letters, digits, '_', '-', '.')"
        )
    return table_name


def reserved_concurrency_from_context(app: App) -> int | None:
    """The ``reservedConcurrency`` context value, or None (the default: reserve nothing).

    Raises ValueError at synth for anything but a positive integer.
    """
    value = app.node.try_get_context(constants.RESERVED_CONCURRENCY_CONTEXT_KEY)
    if value is None or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not _POSITIVE_INTEGER.fullmatch(text):
        raise ValueError(
            f"{constants.RESERVED_CONCURRENCY_CONTEXT_KEY}={value!r} is not a positive "
            "number of concurrent executions"
        )
    return int(text)


def alarm_email_from_context(app: App) -> str | None:
    """The ``alarmEmail`` context value, or None (the topic then has no subscription).

    Raises ValueError at synth for a value that is not one e-mail address.
    """
    value = app.node.try_get_context(constants.ALARM_EMAIL_CONTEXT_KEY)
    if value is None or value == "":
        return None
    email = str(value).strip()
    if not _EMAIL.fullmatch(email):
        raise ValueError(f"{constants.ALARM_EMAIL_CONTEXT_KEY}={value!r} is not one e-mail address")
    return email


def nag_checks(app: App) -> AwsSolutionsChecks:
    """The AwsSolutions pack; acknowledged rules are also written to the template's
    resource Metadata (``cdk_nag.rules_to_suppress``) as an audit trail."""
    return AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)


def build_app(app: App) -> ProfileMigrationStack:
    """Adds the stack to app and registers cdk-nag's AwsSolutions rules.

    cdk-nag 3 runs as a CDK policy-validation plugin (no longer an Aspect): any finding
    not acknowledged with a reason interrupts ``app.synth()`` with the report. Makes no
    AWS, SDK or git call: the stack is environment-agnostic. Every context value is
    validated here, before any construct is built.
    """
    stack = ProfileMigrationStack(
        app,
        constants.STACK_NAME,
        table_name=table_name_from_context(app),
        reserved_concurrency=reserved_concurrency_from_context(app),
        alarm_email=alarm_email_from_context(app),
        description="Profile migrations: Step Functions pipeline over an existing DynamoDB table",
    )
    Validations.of(app).add_plugins(nag_checks(app))
    return stack
