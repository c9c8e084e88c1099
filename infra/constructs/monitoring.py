"""A dashboard of the run's counters and health, and an alarm on failed profiles."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from infra import constants
from profile_migrations import environment

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_cdk.aws_lambda import IFunction
    from aws_cdk.aws_stepfunctions import IStateMachine

_NOT_IN_DASHBOARD_NAMES = re.compile(r"[^A-Za-z0-9_-]")


def dashboard_name(table_name: str) -> str:
    """``ProfileMigration-<table>``; characters a dashboard name cannot hold become ``-``
    (DynamoDB allows ``.`` in table names, CloudWatch does not in dashboard names)."""
    return f"{constants.DASHBOARD_NAME_PREFIX}-{_NOT_IN_DASHBOARD_NAMES.sub('-', table_name)}"


class MigrationMonitoring(Construct):
    """The ``ProfileMigration-<table>`` dashboard and the failed-profiles alarm."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str,
        state_machine: IStateMachine,
        functions: Sequence[IFunction],
    ) -> None:
        super().__init__(scope, construct_id)
        self._table_name = table_name
        self.failed_profiles_alarm = self._build_failed_profiles_alarm()
        self.dashboard = self._build_dashboard(state_machine, functions)

    def _counter(self, metric_name: str, period_minutes: int) -> cloudwatch.Metric:
        """A counter the Migrate function emits (Powertools: service and table dimensions)."""
        return cloudwatch.Metric(
            namespace=environment.NAMESPACE,
            metric_name=metric_name,
            dimensions_map={
                "service": environment.SERVICE,
                environment.METRIC_TABLE_DIMENSION: self._table_name,
            },
            statistic=cloudwatch.Stats.SUM,
            period=Duration.minutes(period_minutes),
        )

    def _build_failed_profiles_alarm(self) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self,
            "ProfilesFailedAlarm",
            alarm_description=(
                f"Profiles of table {self._table_name} failed to migrate; the run's report "
                "in the report bucket lists them."
            ),
            metric=self._counter(
                environment.METRIC_PROFILES_FAILED, constants.ALARM_PERIOD_MINUTES
            ),
            threshold=constants.FAILED_PROFILES_THRESHOLD,
            evaluation_periods=constants.ALARM_EVALUATION_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )

    def _build_dashboard(
        self, state_machine: IStateMachine, functions: Sequence[IFunction]
    ) -> cloudwatch.Dashboard:
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=dashboard_name(self._table_name),
            default_interval=Duration.hours(constants.DASHBOARD_DEFAULT_INTERVAL_HOURS),
        )
        dashboard.add_widgets(self._build_profiles_graph(), self._build_contention_graph())
        dashboard.add_widgets(
            self._build_executions_graph(state_machine), self._build_lambda_graph(functions)
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms",
                alarms=[self.failed_profiles_alarm],
                width=constants.DASHBOARD_GRAPH_WIDTH * 2,
            )
        )
        return dashboard

    def _build_profiles_graph(self) -> cloudwatch.GraphWidget:
        period = constants.DASHBOARD_PERIOD_MINUTES
        return cloudwatch.GraphWidget(
            title="Profiles",
            left=[
                self._counter(environment.METRIC_PROFILES_SCANNED, period),
                self._counter(environment.METRIC_PROFILES_MIGRATED, period),
                self._counter(environment.METRIC_PROFILES_SKIPPED, period),
                self._counter(environment.METRIC_PROFILES_FAILED, period),
            ],
            width=constants.DASHBOARD_GRAPH_WIDTH,
            height=constants.DASHBOARD_GRAPH_HEIGHT,
        )

    def _build_contention_graph(self) -> cloudwatch.GraphWidget:
        period = constants.DASHBOARD_PERIOD_MINUTES
        return cloudwatch.GraphWidget(
            title="Write conflicts and throttle retries",
            left=[
                self._counter(environment.METRIC_CONFLICTS, period),
                self._counter(environment.METRIC_THROTTLE_RETRIES, period),
            ],
            width=constants.DASHBOARD_GRAPH_WIDTH,
            height=constants.DASHBOARD_GRAPH_HEIGHT,
        )

    def _build_executions_graph(self, state_machine: IStateMachine) -> cloudwatch.GraphWidget:
        period = Duration.minutes(constants.DASHBOARD_PERIOD_MINUTES)
        return cloudwatch.GraphWidget(
            title="Executions",
            left=[
                state_machine.metric_succeeded(period=period),
                state_machine.metric_failed(period=period),
            ],
            width=constants.DASHBOARD_GRAPH_WIDTH,
            height=constants.DASHBOARD_GRAPH_HEIGHT,
        )

    def _build_lambda_graph(self, functions: Sequence[IFunction]) -> cloudwatch.GraphWidget:
        period = Duration.minutes(constants.DASHBOARD_PERIOD_MINUTES)
        return cloudwatch.GraphWidget(
            title="Lambda errors and throttles",
            left=[
                metric
                for function in functions
                for metric in (
                    function.metric_errors(period=period, label=f"{function.node.id} errors"),
                    function.metric_throttles(period=period, label=f"{function.node.id} throttles"),
                )
            ],
            width=constants.DASHBOARD_GRAPH_WIDTH,
            height=constants.DASHBOARD_GRAPH_HEIGHT,
        )
