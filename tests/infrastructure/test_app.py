"""The app's entry point: which table it targets, and the opt-in context values."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra.application import (
    alarm_email_from_context,
    reserved_concurrency_from_context,
    schedule_from_context,
    table_name_from_context,
)
from infra.constructs.migration_schedule import ScheduleSettings


def test_table_defaults_to_user_profiles() -> None:
    assert table_name_from_context(App()) == "UserProfiles"


def test_table_comes_from_the_table_name_context_value() -> None:
    app = App(context={"tableName": "CharacterProfiles"})

    assert table_name_from_context(app) == "CharacterProfiles"


@pytest.mark.parametrize("name", ["ab", "User Profiles", "profiles/2", "x" * 256])
def test_a_name_dynamodb_would_refuse_fails_at_synth(name: str) -> None:
    app = App(context={"tableName": name})

    with pytest.raises(ValueError, match="is not a DynamoDB table name"):
        table_name_from_context(app)


def test_no_concurrency_is_reserved_by_default() -> None:
    assert reserved_concurrency_from_context(App()) is None


@pytest.mark.parametrize(("value", "expected"), [("100", 100), (250, 250), (" 7 ", 7)])
def test_reserved_concurrency_comes_from_the_context_value(value: object, expected: int) -> None:
    app = App(context={"reservedConcurrency": value})

    assert reserved_concurrency_from_context(app) == expected


@pytest.mark.parametrize("value", ["0", "-5", "ten", "1.5", True])
def test_a_reservation_that_is_not_a_positive_integer_fails_at_synth(value: object) -> None:
    app = App(context={"reservedConcurrency": value})

    with pytest.raises(ValueError, match="is not a positive number"):
        reserved_concurrency_from_context(app)


def test_no_alarm_email_by_default() -> None:
    assert alarm_email_from_context(App()) is None


def test_the_alarm_email_comes_from_the_context_value() -> None:
    app = App(context={"alarmEmail": "ops@example.com"})

    assert alarm_email_from_context(app) == "ops@example.com"


@pytest.mark.parametrize(
    "value", ["ops", "ops@example", "a@example.com,b@example.com", "o ps@x.io"]
)
def test_an_alarm_email_that_is_not_one_address_fails_at_synth(value: str) -> None:
    app = App(context={"alarmEmail": value})

    with pytest.raises(ValueError, match="is not one e-mail address"):
        alarm_email_from_context(app)


def test_no_schedule_by_default() -> None:
    assert schedule_from_context(App()) is None


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        (
            {"schedule": "cron(0 2 ? * SAT *)", "windowMinutes": "180"},
            ScheduleSettings("cron(0 2 ? * SAT *)", "UTC", 180),
        ),
        (
            {
                "schedule": " cron(30 1 1 * ? *) ",
                "scheduleTimezone": "Europe/Paris",
                "windowMinutes": 90,
            },
            ScheduleSettings("cron(30 1 1 * ? *)", "Europe/Paris", 90),
        ),
        (
            {"schedule": "rate(1 day)", "scheduleTimezone": "", "windowMinutes": "1425"},
            ScheduleSettings("rate(1 day)", "UTC", 1425),
        ),
        (
            {"schedule": "rate(6 hours)", "windowMinutes": "345"},
            ScheduleSettings("rate(6 hours)", "UTC", 345),
        ),
        (
            {
                "schedule": "at(2026-12-05T02:00:00)",
                "scheduleTimezone": "America/New_York",
                "windowMinutes": "240",
            },
            ScheduleSettings("at(2026-12-05T02:00:00)", "America/New_York", 240),
        ),
    ],
)
def test_the_schedule_comes_from_the_context_values(
    context: dict[str, object], expected: ScheduleSettings
) -> None:
    assert schedule_from_context(App(context=context)) == expected


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 2 * * SAT *)",  # both day fields set
        "cron(0 2 ? * ? *)",  # neither
        "cron(0 2 ? * SAT)",  # five fields
        "cron(0 2 ? * SAT * *)",  # seven
        "cron(0 2 ? * SAT *",
        "rate(0 days)",
        "rate(1 week)",
        "rate(2days)",
        "at(2026-12-05 02:00:00)",
        "0 2 * * 6",  # a crontab line
        "every saturday",
    ],
)
def test_an_expression_eventbridge_scheduler_would_refuse_fails_at_synth(expression: str) -> None:
    app = App(context={"schedule": expression, "windowMinutes": "60"})

    with pytest.raises(ValueError, match="is not an EventBridge Scheduler expression"):
        schedule_from_context(app)


def test_a_schedule_without_a_window_fails_at_synth() -> None:
    app = App(context={"schedule": "cron(0 2 ? * SAT *)"})

    with pytest.raises(ValueError, match="needs windowMinutes"):
        schedule_from_context(app)


@pytest.mark.parametrize("value", ["0", "-30", "1.5", "three hours", True])
def test_a_window_that_is_not_a_positive_integer_fails_at_synth(value: object) -> None:
    app = App(context={"schedule": "cron(0 2 ? * SAT *)", "windowMinutes": value})

    with pytest.raises(ValueError, match=r"windowMinutes=.* is not a positive number of minutes"):
        schedule_from_context(app)


@pytest.mark.parametrize("value", ["CET+1", "Mars/Olympus_Mons", "europe/paris", "../etc"])
def test_a_time_zone_that_is_not_an_iana_name_fails_at_synth(value: str) -> None:
    app = App(
        context={
            "schedule": "cron(0 2 ? * SAT *)",
            "scheduleTimezone": value,
            "windowMinutes": "60",
        }
    )

    with pytest.raises(ValueError, match="is not an IANA time-zone name"):
        schedule_from_context(app)


@pytest.mark.parametrize(
    ("expression", "window", "room"),
    [
        ("rate(1 day)", "1426", "a window of at most 1425 minutes fits"),
        ("rate(1 hour)", "60", "a window of at most 45 minutes fits"),
        ("rate(15 minutes)", "1", "no window fits a rate of 15 minutes or less"),
    ],
)
def test_a_rate_whose_next_start_would_find_the_table_locked_fails_at_synth(
    expression: str, window: str, room: str
) -> None:
    """The run holds the lock for its window, then up to the Aggregate's 15 minutes."""
    app = App(context={"schedule": expression, "windowMinutes": window})

    with pytest.raises(ValueError, match=f"does not fit .*; {room}"):
        schedule_from_context(app)


@pytest.mark.parametrize(
    "context",
    [
        {"windowMinutes": "180"},
        {"scheduleTimezone": "Europe/Paris"},
        {"schedule": "", "windowMinutes": "180"},
    ],
)
def test_window_or_time_zone_without_a_schedule_fails_at_synth(
    context: dict[str, object],
) -> None:
    with pytest.raises(ValueError, match="apply only to a schedule"):
        schedule_from_context(App(context=context))
