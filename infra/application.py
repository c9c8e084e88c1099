"""Builds the CDK app: shared by ``app.py`` and the infrastructure tests."""

from __future__ import annotations

import re
import zoneinfo
from typing import TYPE_CHECKING

from aws_cdk import Validations
from cdk_nag import AwsSolutionsChecks

from infra import constants
from infra.constructs.migration_schedule import ScheduleSettings
from infra.stack import ProfileMigrationStack

if TYPE_CHECKING:
    from aws_cdk import App


# DynamoDB's rule for table names.
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
# One address, no spaces or lists: SNS would only fail the subscription at deploy time.
_EMAIL = re.compile(r"[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+")
_POSITIVE_INTEGER = re.compile(r"[1-9][0-9]*")
# EventBridge Scheduler's three expressions ("Schedule types in EventBridge Scheduler",
# https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html): a rate is a
# positive integer and a unit; a cron has six fields (minutes hours day-of-month month
# day-of-week year); a one-time schedule is a local date and time.
_RATE = re.compile(r"rate\(([1-9][0-9]*) (minute|hour|day)s?\)")
_CRON = re.compile(r"cron\(([^()]+)\)")
_CRON_FIELD = re.compile(r"[0-9A-Za-z*?,/#-]+")
_CRON_FIELDS = 6
_AT = re.compile(r"at\([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\)")
_MINUTES_PER_RATE_UNIT = {"minute": 1, "hour": 60, "day": 24 * 60}


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
    return _positive_integer(
        app, constants.RESERVED_CONCURRENCY_CONTEXT_KEY, "concurrent executions"
    )


def schedule_from_context(app: App) -> ScheduleSettings | None:
    """The ``schedule``, ``scheduleTimezone`` (default UTC) and ``windowMinutes`` context
    values, or None (the default: no schedule).

    Raises ValueError at synth for: an expression EventBridge Scheduler would refuse; a
    time zone that is not an IANA name; a missing window, or one that is not a positive
    number of minutes; a rate schedule whose next start would come before the previous
    run can have released the table's lock (its window plus
    ``SCHEDULE_WINDOW_MARGIN_MINUTES``); ``scheduleTimezone`` or ``windowMinutes``
    without ``schedule``.
    """
    expression = _text(app, constants.SCHEDULE_CONTEXT_KEY)
    timezone = _text(app, constants.SCHEDULE_TIMEZONE_CONTEXT_KEY)
    window_minutes = _positive_integer(app, constants.WINDOW_MINUTES_CONTEXT_KEY, "minutes")
    if expression is None:
        if timezone is not None or window_minutes is not None:
            raise ValueError(
                f"{constants.SCHEDULE_TIMEZONE_CONTEXT_KEY} and "
                f"{constants.WINDOW_MINUTES_CONTEXT_KEY} apply only to a schedule: set "
                f"{constants.SCHEDULE_CONTEXT_KEY} too, or neither"
            )
        return None
    _check_schedule_expression(expression)
    if window_minutes is None:
        raise ValueError(
            f"{constants.SCHEDULE_CONTEXT_KEY}={expression!r} needs "
            f"{constants.WINDOW_MINUTES_CONTEXT_KEY}: how many minutes each window lasts"
        )
    _check_window_fits_rate(expression, window_minutes)
    return ScheduleSettings(
        expression=expression,
        timezone=_time_zone(timezone or constants.DEFAULT_SCHEDULE_TIMEZONE),
        window_minutes=window_minutes,
    )


def _text(app: App, key: str) -> str | None:
    """A context value as stripped text; None when absent or empty."""
    value = app.node.try_get_context(key)
    if value is None:
        return None
    return str(value).strip() or None


def _positive_integer(app: App, key: str, unit: str) -> int | None:
    """A context value that must be a positive integer (``-c key=N`` gives text, cdk.json
    a number); None when absent or empty."""
    value = app.node.try_get_context(key)
    if value is None or value == "":
        return None
    text = str(value).strip()
    if isinstance(value, bool) or not _POSITIVE_INTEGER.fullmatch(text):
        raise ValueError(f"{key}={value!r} is not a positive number of {unit}")
    return int(text)


def _check_schedule_expression(expression: str) -> None:
    """Raises ValueError unless expression is a rate, a one-time ``at`` or a six-field
    cron with ``?`` in exactly one of its day fields (day-of-month and day-of-week cannot
    both be set, same page)."""
    cron = _CRON.fullmatch(expression)
    if cron is not None:
        fields = cron.group(1).split()
        if (
            len(fields) == _CRON_FIELDS
            and all(_CRON_FIELD.fullmatch(field) for field in fields)
            and (fields[2] == "?") != (fields[4] == "?")
        ):
            return
    elif _RATE.fullmatch(expression) or _AT.fullmatch(expression):
        return
    raise ValueError(
        f"{constants.SCHEDULE_CONTEXT_KEY}={expression!r} is not an EventBridge Scheduler "
        "expression: cron(minutes hours day-of-month month day-of-week year) with '?' in "
        "exactly one of the day fields, rate(N minutes|hours|days), or "
        "at(yyyy-mm-ddThh:mm:ss)"
    )


def _check_window_fits_rate(expression: str, window_minutes: int) -> None:
    """A run holds the table's lock for its window and up to
    ``SCHEDULE_WINDOW_MARGIN_MINUTES`` more; a start that finds it locked cannot run."""
    rate = _RATE.fullmatch(expression)
    if rate is None:
        return
    margin = constants.SCHEDULE_WINDOW_MARGIN_MINUTES
    longest = int(rate.group(1)) * _MINUTES_PER_RATE_UNIT[rate.group(2)] - margin
    if window_minutes > longest:
        room = (
            f"a window of at most {longest} minutes fits"
            if longest > 0
            else f"no window fits a rate of {margin} minutes or less"
        )
        raise ValueError(
            f"{constants.WINDOW_MINUTES_CONTEXT_KEY}={window_minutes} does not fit "
            f"{expression}: a run may hold the table's lock up to {margin} minutes after "
            f"its window closes, and the next start would find the table locked; {room}"
        )


def _time_zone(name: str) -> str:
    """An IANA time-zone name, as EventBridge Scheduler takes it (same page)."""
    if name == constants.DEFAULT_SCHEDULE_TIMEZONE:
        return name
    known = zoneinfo.available_timezones()
    if name not in known:
        where = "" if known else " (this machine has no IANA time-zone database: install tzdata)"
        raise ValueError(
            f"{constants.SCHEDULE_TIMEZONE_CONTEXT_KEY}={name!r} is not an IANA time-zone "
            f"name such as Europe/Paris or America/New_York{where}"
        )
    return name


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
        schedule=schedule_from_context(app),
        description="Profile migrations: Step Functions pipeline over an existing DynamoDB table",
    )
    Validations.of(app).add_plugins(nag_checks(app))
    return stack
