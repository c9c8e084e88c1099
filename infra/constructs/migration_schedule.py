"""Scheduled windows: an EventBridge Scheduler schedule that starts an execution in each.

Each start sends ``{"scheduled": true, "windowMinutes": N}``: the Plan function turns the
window into the run's ``stopAt``, continues the table's unfinished run (or starts one, or
ends at once when the last run at the target completed), and the run stops, resumable, at
the window's end; its execution then SUCCEEDS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_cdk import Duration, Stack, TimeZone
from aws_cdk import aws_iam as iam
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as targets
from constructs import Construct

from infra import constants

if TYPE_CHECKING:
    from aws_cdk.aws_stepfunctions import IStateMachine

SCHEDULER_SERVICE = "scheduler.amazonaws.com"


@dataclass(frozen=True)
class ScheduleSettings:
    """A validated schedule (``infra.application.schedule_from_context``): an EventBridge
    Scheduler expression, the IANA time zone it is evaluated in, and each window's length
    in minutes."""

    expression: str
    timezone: str
    window_minutes: int

    @property
    def execution_input(self) -> dict[str, Any]:
        """What each start sends the state machine: the Plan function's request."""
        return {"scheduled": True, "windowMinutes": self.window_minutes}

    @property
    def max_event_age(self) -> Duration:
        """How long the scheduler keeps retrying a start it could not make: at most one
        window, within the bounds EventBridge Scheduler accepts. A start made later than
        that would run its whole window outside the maintenance window it belongs to."""
        seconds = min(
            max(self.window_minutes * 60, constants.SCHEDULE_MIN_EVENT_AGE_SECONDS),
            constants.SCHEDULE_MAX_EVENT_AGE_SECONDS,
        )
        return Duration.seconds(seconds)


class MigrationSchedule(Construct):
    """The schedule, in the account's ``default`` schedule group, and the role it assumes.

    No flexible time window: each start happens at the expression's time (to the minute,
    "Schedule types in EventBridge Scheduler",
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html). The role
    may only ``states:StartExecution`` on this state machine, and trusts the scheduler only
    for this account's ``default`` group (``aws:SourceAccount`` and ``aws:SourceArn``,
    "Confused deputy prevention in EventBridge Scheduler",
    https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str,
        state_machine: IStateMachine,
        settings: ScheduleSettings,
    ) -> None:
        super().__init__(scope, construct_id)
        self._group = scheduler.ScheduleGroup.from_default_schedule_group(self, "DefaultGroup")
        self.role = self._build_role()
        self.schedule = scheduler.Schedule(
            self,
            "Schedule",
            description=(
                f"Starts a {settings.window_minutes}-minute profile-migration window on "
                f"table {table_name}"
            ),
            schedule=scheduler.ScheduleExpression.expression(
                settings.expression, TimeZone.of(settings.timezone)
            ),
            schedule_group=self._group,
            time_window=scheduler.TimeWindow.off(),
            # the target grants the role states:StartExecution on this state machine only
            target=targets.StepFunctionsStartExecution(
                state_machine,
                input=scheduler.ScheduleTargetInput.from_object(settings.execution_input),
                role=self.role,
                max_event_age=settings.max_event_age,
            ),
        )

    def _build_role(self) -> iam.Role:
        stack = Stack.of(self)
        return iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                SCHEDULER_SERVICE,
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnEquals": {"aws:SourceArn": self._group.schedule_group_arn},
                },
            ),
            description="Profile migration pipeline: the schedule that starts its windows",
        )
