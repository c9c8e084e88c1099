"""The app's entry point: which table it targets, and the opt-in context values."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra.application import (
    alarm_email_from_context,
    reserved_concurrency_from_context,
    table_name_from_context,
)


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
