"""The profile-migration stack: a pipeline attached to an existing DynamoDB table."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_dynamodb as dynamodb

from infra.constructs.control_table import ControlTable
from infra.constructs.migration_functions import MigrationFunctions
from infra.constructs.migration_workflow import MigrationWorkflow
from infra.constructs.monitoring import MigrationMonitoring
from infra.constructs.report_bucket import ReportBucket

if TYPE_CHECKING:
    from constructs import Construct


class ProfileMigrationStack(Stack):
    """Report bucket, control table, four Lambda functions, the state machine, monitoring.

    The table is imported by name, never owned: deploying or deleting this stack cannot
    create, replace or delete it. Environment-agnostic: synthesizing looks nothing up.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, table_name: str, **kwargs: Any
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.table = dynamodb.Table.from_table_name(self, "ProfileTable", table_name)
        self.reports = ReportBucket(self, "Reports")
        self.control = ControlTable(self, "Control", table_name=table_name)
        self.functions = MigrationFunctions(
            self,
            "Functions",
            table=self.table,
            bucket=self.reports.bucket,
            control_table=self.control.table,
        )
        self.workflow = MigrationWorkflow(
            self,
            "Workflow",
            plan=self.functions.plan,
            migrate=self.functions.migrate,
            verify=self.functions.verify,
            aggregate=self.functions.aggregate,
        )
        self.monitoring = MigrationMonitoring(
            self,
            "Monitoring",
            table_name=table_name,
            state_machine=self.workflow.state_machine,
            functions=self.functions.all,
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
            description="Run records and per-profile reports, under runs/<execution name>/",
        )
        CfnOutput(
            self,
            "ControlTableName",
            value=self.control.table.table_name,
            description="Run locks, checkpoints and history (profile-migrate history --table ...)",
        )
        CfnOutput(
            self,
            "DashboardName",
            value=self.monitoring.dashboard.dashboard_name,
            description="CloudWatch dashboard of the runs' counters",
        )
