"""Scheduled windows: the EventBridge Scheduler schedule, only with the context values."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from infra.constructs.migration_schedule import ScheduleSettings
from tests.cdk_synth import OPT_IN_CONTEXT, TABLE_NAME, render

if TYPE_CHECKING:
    from tests.cdk_synth import Synthesized

WINDOW_MINUTES = int(OPT_IN_CONTEXT["windowMinutes"])
DEFAULT_GROUP_ARN = (
    "arn:<AWS::Partition>:scheduler:<AWS::Region>:<AWS::AccountId>:schedule-group/default"
)


def the_schedule(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    ((logical_id, schedule),) = synthesized.resources("AWS::Scheduler::Schedule").items()
    return logical_id, schedule["Properties"]


def the_schedule_role(synthesized: Synthesized) -> tuple[str, dict[str, Any]]:
    _, schedule = the_schedule(synthesized)
    role_id: str = schedule["Target"]["RoleArn"]["Fn::GetAtt"][0]
    role: dict[str, Any] = synthesized.template_json["Resources"][role_id]["Properties"]
    return role_id, role


def test_no_schedule_without_the_context_value(synthesized: Synthesized) -> None:
    assert synthesized.resources("AWS::Scheduler::Schedule") == {}
    assert "ScheduleName" not in synthesized.template_json["Outputs"]
    assert "scheduler.amazonaws.com" not in json.dumps(synthesized.template_json)


def test_the_schedule_starts_this_state_machine_at_the_expression_in_its_time_zone(
    synthesized_opt_in: Synthesized,
) -> None:
    (state_machine_id,) = synthesized_opt_in.resources("AWS::StepFunctions::StateMachine")
    _, schedule = the_schedule(synthesized_opt_in)

    assert schedule["ScheduleExpression"] == OPT_IN_CONTEXT["schedule"]
    assert schedule["ScheduleExpressionTimezone"] == OPT_IN_CONTEXT["scheduleTimezone"]
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert schedule["State"] == "ENABLED"
    assert schedule["GroupName"] == "default"
    assert schedule["Target"]["Arn"] == {"Ref": state_machine_id}
    assert TABLE_NAME in schedule["Description"]


def test_each_start_asks_for_a_scheduled_run_of_one_window(
    synthesized_opt_in: Synthesized,
) -> None:
    _, schedule = the_schedule(synthesized_opt_in)

    assert json.loads(schedule["Target"]["Input"]) == {
        "scheduled": True,
        "windowMinutes": WINDOW_MINUTES,
    }


def test_a_start_the_scheduler_could_not_make_is_dropped_after_one_window(
    synthesized_opt_in: Synthesized,
) -> None:
    _, schedule = the_schedule(synthesized_opt_in)

    assert schedule["Target"]["RetryPolicy"]["MaximumEventAgeInSeconds"] == WINDOW_MINUTES * 60


@pytest.mark.parametrize(
    ("window_minutes", "seconds"),
    [(1, 60), (180, 10_800), (1_440, 86_400), (10_000, 86_400)],
)
def test_the_retry_age_stays_within_the_schedulers_bounds(
    window_minutes: int, seconds: int
) -> None:
    settings = ScheduleSettings("rate(7 days)", "UTC", window_minutes)

    assert settings.max_event_age.to_seconds() == seconds


def test_the_scheduler_assumes_a_role_only_for_this_accounts_default_group(
    synthesized_opt_in: Synthesized,
) -> None:
    _, role = the_schedule_role(synthesized_opt_in)
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]

    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert render(trust["Condition"]["ArnEquals"]["aws:SourceArn"]) == DEFAULT_GROUP_ARN
    assert "ManagedPolicyArns" not in role
    assert "Policies" not in role


def test_the_schedules_role_may_only_start_executions_of_this_state_machine(
    synthesized_opt_in: Synthesized,
) -> None:
    (state_machine_id,) = synthesized_opt_in.resources("AWS::StepFunctions::StateMachine")
    role_id, _ = the_schedule_role(synthesized_opt_in)

    assert synthesized_opt_in.role_statements(role_id) == [
        {
            "Action": "states:StartExecution",
            "Effect": "Allow",
            "Resource": {"Ref": state_machine_id},
        }
    ]


def test_the_schedule_name_is_an_output(synthesized_opt_in: Synthesized) -> None:
    logical_id, _ = the_schedule(synthesized_opt_in)

    assert synthesized_opt_in.template_json["Outputs"]["ScheduleName"]["Value"] == {
        "Ref": logical_id
    }
