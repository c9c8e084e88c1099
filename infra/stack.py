"""The profile-migration stack: a pipeline attached to an existing DynamoDB table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb

from infra.constructs.migration_functions import MigrationFunctions
from infra.constructs.migration_schedule import MigrationSchedule
from infra.constructs.migration_workflow import MigrationWorkflow
from infra.constructs.monitoring import MigrationMonitoring
from infra.constructs.report_bucket import ReportBucket
from profile_migrations import environment

if TYPE_CHECKING:
    from constructs import Construct

    from infra.constructs.migration_schedule import ScheduleSettings


def control_table_name(table_name: str) -> str:
    """``<table>-migrations``: the name the CLI derives too, so both share one lock."""
    return f"{table_name}{environment.CONTROL_TABLE_SUFFIX}"


class ProfileMigrationStack(Stack):
    """Report bucket, five Lambda functions, the state machine, monitoring and alarms;
    with ``schedule``, an EventBridge Scheduler schedule that starts an execution in each
    window.

    Owns no table. The profile table is imported by name: deploying or deleting this
    stack cannot create, replace or delete it. The control table (run locks, checkpoints,
    history) belongs to the tool, not to CloudFormation: whichever runs first, the CLI or
    the Plan function, creates it (``ControlTable.ensure_exists()``); the stack only
    grants access to it by name. So any order of local use, deploy, stack deletion and
    redeploy works, and a stack deletion never loses the history. Environment-agnostic:
    synthesizing looks nothing up.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str,
        reserved_concurrency: int | None = None,
        alarm_email: str | None = None,
        schedule: ScheduleSettings | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.table = dynamodb.Table.from_table_name(self, "ProfileTable", table_name)
        self.control_table = dynamodb.Table.from_table_name(
            self, "ControlTable", control_table_name(table_name)
        )
        self.reports = ReportBucket(self, "Reports")
        self.functions = MigrationFunctions(
            self,
            "Functions",
            table=self.table,
            bucket=self.reports.bucket,
            control_table=self.control_table,
            reserved_concurrency=reserved_concurrency,
        )
        self.workflow = MigrationWorkflow(self, "Workflow", functions=self.functions)
        self.monitoring = MigrationMonitoring(
            self,
            "Monitoring",
            table_name=table_name,
            state_machine=self.workflow.state_machine,
            functions=self.functions.all,
            alarm_email=alarm_email,
        )
        self.schedule = (
            None
            if schedule is None
            else MigrationSchedule(
                self,
                "Schedule",
                table_name=table_name,
                state_machine=self.workflow.state_machine,
                settings=schedule,
            )
        )
        self._build_outputs()

    def _build_outputs(self) -> None:
        CfnOutput(
            self,
            "StateMachineArn",
            value=self.workflow.state_machine.state_machine_arn,
            description="Start a run: aws stepfunctions start-execution --state-machine-arn ...",
        )
        CfnOutput(
            self,
            "ReportBucketName",
            value=self.reports.bucket.bucket_name,
            description="Run records, reports and each run's output, under runs/<execution name>/",
        )
        CfnOutput(
            self,
            "ControlTableName",
            value=self.control_table.table_name,
            description="Run locks, checkpoints and history; created by the tool on first use",
        )
        CfnOutput(
            self,
            "DashboardName",
            value=self.monitoring.dashboard.dashboard_name,
            description="CloudWatch dashboard of the runs' counters",
        )
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=self.monitoring.topic.topic_arn,
            description="Every alarm of the pipeline notifies this topic; subscribe to it",
        )
        if self.schedule is not None:
            CfnOutput(
                self,
                "ScheduleName",
                value=self.schedule.schedule.schedule_name,
                description="Starts an execution in each window (default schedule group)",
            )
