"""The dashboard of the runs' counters, capacity and health, the alarms, and the topic they
notify.

Every alarm notifies one SNS topic, encrypted with a customer managed KMS key and refusing
requests without TLS. A customer managed key, not the AWS managed ``alias/aws/sns``:
CloudWatch can publish to an encrypted topic only when the key's policy lets it use the
key, and the AWS managed key's policy cannot be changed ("Enable compatibility between
event sources from AWS services and encrypted topics", Amazon SNS developer guide,
https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services;
AWS Knowledge Center, https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from infra import constants
from profile_migrations import environment

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aws_cdk.aws_lambda import IFunction
    from aws_cdk.aws_stepfunctions import IStateMachine

_NOT_IN_DASHBOARD_NAMES = re.compile(r"[^A-Za-z0-9_-]")
CLOUDWATCH_SERVICE = "cloudwatch.amazonaws.com"
# CloudWatch's longest dashboard name and alarm name (PutDashboard, PutMetricAlarm).
CLOUDWATCH_NAME_MAX_LENGTH = 255  # characters
# Room left after an alarm name's prefix for "-<what it watches>".
ALARM_SUFFIX_MAX_LENGTH = 32  # characters
DYNAMODB_NAMESPACE = "AWS/DynamoDB"


@dataclass(frozen=True)
class CapacityGraph:
    """One capacity graph: what the run consumes and its cap (the functions' metrics), next
    to what the table consumes in all and, for a provisioned table, its capacity (DynamoDB's
    own metrics), all in units per second."""

    title: str
    unit: str
    run_consumed: str
    run_cap: str
    table_consumed: str
    table_provisioned: str


CAPACITY_GRAPHS = (
    CapacityGraph(
        title="Write capacity",
        unit="WCU/s",
        run_consumed=environment.METRIC_CONSUMED_WRITE_CAPACITY,
        run_cap=environment.METRIC_MAX_WRITE_CAPACITY,
        table_consumed="ConsumedWriteCapacityUnits",
        table_provisioned="ProvisionedWriteCapacityUnits",
    ),
    CapacityGraph(
        title="Read capacity",
        unit="RCU/s",
        run_consumed=environment.METRIC_CONSUMED_READ_CAPACITY,
        run_cap=environment.METRIC_MAX_READ_CAPACITY,
        table_consumed="ConsumedReadCapacityUnits",
        table_provisioned="ProvisionedReadCapacityUnits",
    ),
)


def dashboard_name(table_name: str) -> str:
    """``ProfileMigration-<table>``; characters a dashboard name cannot hold become ``-``
    (DynamoDB allows ``.`` in table names, CloudWatch does not in dashboard names), cut
    to the longest name CloudWatch accepts."""
    name = f"{constants.DASHBOARD_NAME_PREFIX}-{_NOT_IN_DASHBOARD_NAMES.sub('-', table_name)}"
    return name[:CLOUDWATCH_NAME_MAX_LENGTH]


def alarm_name_prefix(table_name: str) -> str:
    """What every alarm name of this table starts with: the dashboard's name, cut so that
    ``<prefix>-<what it watches>`` fits CloudWatch's limit."""
    return dashboard_name(table_name)[: CLOUDWATCH_NAME_MAX_LENGTH - ALARM_SUFFIX_MAX_LENGTH]


class MigrationMonitoring(Construct):
    """The ``ProfileMigration-<table>`` dashboard, the alarms and their topic.

    Alarms (each notifies the topic when it enters ALARM): executions failed, timed out
    or aborted (``AWS/States`` by StateMachineArn, "Step Functions metrics for
    CloudWatch", https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html);
    each function's ``Errors`` and ``Throttles`` (``AWS/Lambda`` by FunctionName); the
    profile table's ``ReadThrottleEvents`` and ``WriteThrottleEvents`` (``AWS/DynamoDB``
    by TableName, "DynamoDB Metrics and dimensions",
    https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html);
    and the functions' own ``ProfilesFailed`` counter. Alarm names start with the
    dashboard's name, so the topic accepts alarms of this table only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table_name: str,
        state_machine: IStateMachine,
        functions: Sequence[IFunction],
        alarm_email: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._table_name = table_name
        self._alarm_prefix = alarm_name_prefix(table_name)
        self.key = self._build_key()
        self.topic = self._build_topic(alarm_email)
        self.alarms: list[cloudwatch.Alarm] = []
        self.failed_profiles_alarm = self._add_alarm(
            "ProfilesFailed",
            metric=self._counter(
                environment.METRIC_PROFILES_FAILED, constants.ALARM_PERIOD_MINUTES
            ),
            threshold=constants.FAILED_PROFILES_THRESHOLD,
            description=(
                f"Profiles of table {table_name} failed to migrate; the run's report in the "
                "report bucket lists them."
            ),
        )
        self._build_execution_alarms(state_machine)
        self._build_function_alarms(functions)
        self._build_table_throttle_alarms()
        self.dashboard = self._build_dashboard(state_machine, functions)

    # --- the topic --------------------------------------------------------------------

    def _alarm_arn_pattern(self) -> str:
        return Stack.of(self).format_arn(
            service="cloudwatch",
            resource="alarm",
            resource_name=f"{self._alarm_prefix}-*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )

    def _build_key(self) -> kms.Key:
        """A key for the alarm topic alone, rotated yearly. It protects notifications in
        flight only (nothing is stored under it), so it is scheduled for deletion with
        the stack instead of being retained."""
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"Encrypts the profile-migration alarm topic of table {self._table_name}",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # The statement AWS documents for CloudWatch alarms publishing to a topic
        # encrypted with a customer managed key (see the module docstring). In a key
        # policy, "*" is this key.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKey",
                principals=[iam.ServicePrincipal(CLOUDWATCH_SERVICE)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
            )
        )
        return key

    def _build_topic(self, alarm_email: str | None) -> sns.Topic:
        """Encrypted, TLS only, published to by this table's alarms only."""
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"Profile migration alarms: {self._table_name}",
            master_key=self.key,
            enforce_ssl=True,
        )
        # CloudWatch alarms publish as the cloudwatch.amazonaws.com service; the topic
        # policy that enforce_ssl creates replaces SNS's default one, so it must allow
        # them explicitly ("Why didn't I receive an SNS notification for my CloudWatch
        # alarm trigger?", https://repost.aws/knowledge-center/cloudwatch-receive-sns-for-alarm-trigger),
        # restricted to this account's alarms of this table.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisTablesAlarmsToPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH_SERVICE)],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "ArnLike": {"aws:SourceArn": self._alarm_arn_pattern()},
                    "StringEquals": {"aws:SourceAccount": Stack.of(self).account},
                },
            )
        )
        if alarm_email is not None:
            topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        return topic

    # --- the alarms -------------------------------------------------------------------

    def _add_alarm(
        self,
        name: str,
        *,
        metric: cloudwatch.IMetric,
        threshold: int,
        description: str,
    ) -> cloudwatch.Alarm:
        """``<dashboard name>-<name>``: in ALARM when one period's sum reaches the
        threshold; a period without data is not a breach. Notifies the topic."""
        alarm = cloudwatch.Alarm(
            self,
            f"{name}Alarm",
            alarm_name=f"{self._alarm_prefix}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            evaluation_periods=constants.ALARM_EVALUATION_PERIODS,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _build_execution_alarms(self, state_machine: IStateMachine) -> None:
        period = Duration.minutes(constants.ALARM_PERIOD_MINUTES)
        for name, metric, what in (
            ("ExecutionsFailed", state_machine.metric_failed(period=period), "failed"),
            ("ExecutionsTimedOut", state_machine.metric_timed_out(period=period), "timed out"),
            ("ExecutionsAborted", state_machine.metric_aborted(period=period), "were aborted"),
        ):
            self._add_alarm(
                name,
                metric=metric,
                threshold=constants.FAILED_EXECUTIONS_THRESHOLD,
                description=(
                    f"Profile-migration executions on table {self._table_name} {what}. A "
                    "failed run's error names why (ProfilesFailed, SegmentsUnfinished, "
                    "VerificationFailed, MigrationRefused); its document is the Aggregate "
                    "state's output and runs/<execution name>/output.json in the report "
                    "bucket."
                ),
            )

    def _build_function_alarms(self, functions: Sequence[IFunction]) -> None:
        period = Duration.minutes(constants.ALARM_PERIOD_MINUTES)
        for function in functions:
            name = function.node.id
            self._add_alarm(
                f"{name}Errors",
                metric=function.metric_errors(period=period),
                threshold=constants.FUNCTION_ERRORS_THRESHOLD,
                description=(
                    f"The {name} function of table {self._table_name} ended invocations in "
                    "an error (the state machine retries transient ones; the execution's "
                    "status says whether the run finished)."
                ),
            )
            self._add_alarm(
                f"{name}Throttles",
                metric=function.metric_throttles(period=period),
                threshold=constants.FUNCTION_THROTTLES_THRESHOLD,
                description=(
                    f"Lambda throttled invocations of the {name} function of table "
                    f"{self._table_name}: lower maxConcurrency or raise the account's "
                    "concurrency."
                ),
            )

    def _build_table_throttle_alarms(self) -> None:
        for metric_name in ("ReadThrottleEvents", "WriteThrottleEvents"):
            self._add_alarm(
                f"Table{metric_name}",
                metric=self._table_metric(
                    metric_name,
                    statistic=cloudwatch.Stats.SUM,
                    period=Duration.minutes(constants.ALARM_PERIOD_MINUTES),
                ),
                threshold=constants.TABLE_THROTTLE_EVENTS_THRESHOLD,
                description=(
                    f"DynamoDB throttled requests to table {self._table_name} (the "
                    "application's or a run's): lower maxConcurrency, or raise the table's "
                    "capacity."
                ),
            )

    # --- the dashboard ----------------------------------------------------------------

    def _counter(self, metric_name: str, period_minutes: int) -> cloudwatch.Metric:
        """A counter the Migrate function emits, summed over each period."""
        return self._run_metric(
            metric_name, statistic=cloudwatch.Stats.SUM, period=Duration.minutes(period_minutes)
        )

    def _run_metric(
        self, metric_name: str, *, statistic: str, period: Duration, label: str | None = None
    ) -> cloudwatch.Metric:
        """A metric the functions emit (Powertools: service and table dimensions)."""
        return cloudwatch.Metric(
            namespace=environment.NAMESPACE,
            metric_name=metric_name,
            dimensions_map={
                "service": environment.SERVICE,
                environment.METRIC_TABLE_DIMENSION: self._table_name,
            },
            statistic=statistic,
            period=period,
            label=label,
        )

    def _table_metric(
        self, metric_name: str, *, statistic: str, period: Duration, label: str | None = None
    ) -> cloudwatch.Metric:
        """One of DynamoDB's own metrics of the profile table ("DynamoDB Metrics and
        dimensions",
        https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/metrics-dimensions.html)."""
        return cloudwatch.Metric(
            namespace=DYNAMODB_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"TableName": self._table_name},
            statistic=statistic,
            period=period,
            label=label,
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
        dashboard.add_widgets(*(self._build_capacity_graph(graph) for graph in CAPACITY_GRAPHS))
        dashboard.add_widgets(
            self._build_executions_graph(state_machine), self._build_lambda_graph(functions)
        )
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms",
                alarms=list(self.alarms),
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

    def _build_capacity_graph(self, graph: CapacityGraph) -> cloudwatch.GraphWidget:
        """The headroom: the run's consumption under its cap, and the table's consumption
        (the application's and the run's together) under its provisioned capacity.

        Consumed units are sums; a sum over a period divided by the period's seconds is
        the average per second (as DynamoDB's metrics page says of its consumed-capacity
        metrics; ``PERIOD()``, "Metric math syntax and functions",
        https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html).
        The cap is the largest in force during the period (``throttle`` may change it).
        A provisioned capacity is per second already; an on-demand table has none.
        """
        period = Duration.minutes(constants.CAPACITY_GRAPH_PERIOD_MINUTES)
        return cloudwatch.GraphWidget(
            title=f"{graph.title} ({graph.unit})",
            left=[
                self._per_second(
                    "run",
                    self._run_metric(
                        graph.run_consumed, statistic=cloudwatch.Stats.SUM, period=period
                    ),
                    label=f"Run consumed {graph.unit}",
                    period=period,
                ),
                self._run_metric(
                    graph.run_cap,
                    statistic=cloudwatch.Stats.MAXIMUM,
                    period=period,
                    label=f"Run's cap ({graph.run_cap})",
                ),
                self._per_second(
                    "table",
                    self._table_metric(
                        graph.table_consumed, statistic=cloudwatch.Stats.SUM, period=period
                    ),
                    label=f"Table consumed {graph.unit} (application and run)",
                    period=period,
                ),
                self._table_metric(
                    graph.table_provisioned,
                    statistic=cloudwatch.Stats.AVERAGE,
                    period=period,
                    label=f"Table provisioned {graph.unit} (provisioned mode only)",
                ),
            ],
            left_y_axis=cloudwatch.YAxisProps(min=0, label=graph.unit, show_units=False),
            width=constants.DASHBOARD_GRAPH_WIDTH,
            height=constants.DASHBOARD_GRAPH_HEIGHT,
        )

    @staticmethod
    def _per_second(
        metric_id: str, units: cloudwatch.Metric, *, label: str, period: Duration
    ) -> cloudwatch.MathExpression:
        """``units`` (a sum per period) as units per second."""
        return cloudwatch.MathExpression(
            expression=f"{metric_id} / PERIOD({metric_id})",
            using_metrics={metric_id: units},
            label=label,
            period=period,
        )

    def _build_executions_graph(self, state_machine: IStateMachine) -> cloudwatch.GraphWidget:
        period = Duration.minutes(constants.DASHBOARD_PERIOD_MINUTES)
        return cloudwatch.GraphWidget(
            title="Executions",
            left=[
                state_machine.metric_succeeded(period=period),
                state_machine.metric_failed(period=period),
                state_machine.metric_timed_out(period=period),
                state_machine.metric_aborted(period=period),
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
