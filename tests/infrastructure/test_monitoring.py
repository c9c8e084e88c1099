"""The ProfileMigration-<table> dashboard, the alarms and the topic they notify."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from infra.constructs.monitoring import alarm_name_prefix, dashboard_name
from profile_migrations import environment
from tests.cdk_synth import HANDLERS, TABLE_NAME, render

if TYPE_CHECKING:
    from tests.cdk_synth import Synthesized

COUNTERS = [
    "ProfilesScanned",
    "ProfilesMigrated",
    "ProfilesFailed",
    "ProfilesSkipped",
    "Conflicts",
    "ThrottleRetries",
]


@pytest.fixture(scope="module")
def dashboard(synthesized: Synthesized) -> dict[str, Any]:
    (resource,) = synthesized.resources("AWS::CloudWatch::Dashboard").values()
    return dict(resource["Properties"])


def widgets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    body = json.loads(render(dashboard["DashboardBody"]))
    found: list[dict[str, Any]] = body["widgets"]
    return found


def graphed_metrics(dashboard: dict[str, Any]) -> list[list[Any]]:
    """Every metric graphed (``[namespace, name, dimension, value, ..., options]``), math
    expressions (``[{"expression": ...}]``) left out."""
    return [
        metric
        for widget in widgets(dashboard)
        for metric in widget["properties"].get("metrics", [])
        if isinstance(metric[0], str)
    ]


def dimensions(metric: list[Any]) -> dict[str, str]:
    """The name/value pairs of a dashboard metric array, before its options object."""
    pairs = [part for part in metric[2:] if isinstance(part, str)]
    return dict(zip(pairs[::2], pairs[1::2], strict=True))


def test_dashboard_is_named_after_the_table(dashboard: dict[str, Any]) -> None:
    assert dashboard["DashboardName"] == f"ProfileMigration-{TABLE_NAME}"


def test_dashboard_names_replace_characters_cloudwatch_refuses() -> None:
    assert dashboard_name("Profiles.v2_prod-1") == "ProfileMigration-Profiles-v2_prod-1"


@pytest.mark.parametrize("counter", COUNTERS)
def test_dashboard_graphs_each_counter_of_this_table(
    dashboard: dict[str, Any], counter: str
) -> None:
    matching = [m for m in graphed_metrics(dashboard) if m[:2] == ["ProfileMigrations", counter]]

    assert len(matching) == 1
    assert dimensions(matching[0]) == {"service": "profile-migrations", "table": TABLE_NAME}
    assert matching[0][-1]["stat"] == "Sum"


def test_dashboard_graphs_executions_and_lambda_health(
    dashboard: dict[str, Any], synthesized: Synthesized
) -> None:
    (state_machine_id,) = synthesized.resources("AWS::StepFunctions::StateMachine")
    graphed = {
        (metric[0], metric[1], *dimensions(metric).values())
        for metric in graphed_metrics(dashboard)
    }

    for name in (
        "ExecutionsSucceeded",
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
    ):
        assert ("AWS/States", name, f"<{state_machine_id}>") in graphed
    for function in HANDLERS:
        function_id, _ = synthesized.function(function)
        for name in ("Errors", "Throttles"):
            assert ("AWS/Lambda", name, f"<{function_id}>") in graphed


def alarms(synthesized: Synthesized) -> list[dict[str, Any]]:
    return [r["Properties"] for r in synthesized.resources("AWS::CloudWatch::Alarm").values()]


def watched(alarm: dict[str, Any]) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """(namespace, metric, dimensions) with references rendered as ``<LogicalId>``."""
    return (
        alarm["Namespace"],
        alarm["MetricName"],
        tuple((d["Name"], render(d["Value"])) for d in alarm["Dimensions"]),
    )


def test_alarms_watch_executions_functions_the_table_and_failed_profiles(
    synthesized: Synthesized,
) -> None:
    (state_machine_id,) = synthesized.resources("AWS::StepFunctions::StateMachine")
    state_machine = (("StateMachineArn", f"<{state_machine_id}>"),)
    expected = {
        ("AWS/States", "ExecutionsFailed", state_machine),
        ("AWS/States", "ExecutionsTimedOut", state_machine),
        ("AWS/States", "ExecutionsAborted", state_machine),
        ("AWS/DynamoDB", "ReadThrottleEvents", (("TableName", TABLE_NAME),)),
        ("AWS/DynamoDB", "WriteThrottleEvents", (("TableName", TABLE_NAME),)),
        (
            "ProfileMigrations",
            "ProfilesFailed",
            (("service", "profile-migrations"), ("table", TABLE_NAME)),
        ),
    }
    for function in HANDLERS:
        function_id, _ = synthesized.function(function)
        for metric in ("Errors", "Throttles"):
            expected.add(("AWS/Lambda", metric, (("FunctionName", f"<{function_id}>"),)))

    found = [watched(alarm) for alarm in alarms(synthesized)]

    assert sorted(found) == sorted(expected)


def test_every_alarm_fires_on_the_first_occurrence_in_five_minutes(
    synthesized: Synthesized,
) -> None:
    for alarm in alarms(synthesized):
        assert alarm["Statistic"] == "Sum", alarm
        assert alarm["Period"] == 300, alarm
        assert alarm["EvaluationPeriods"] == 1, alarm
        assert alarm["Threshold"] == 1, alarm
        assert alarm["ComparisonOperator"] == "GreaterThanOrEqualToThreshold", alarm
        assert alarm["TreatMissingData"] == "notBreaching", alarm


def test_every_alarm_notifies_the_topic(synthesized: Synthesized) -> None:
    (topic_id,) = synthesized.resources("AWS::SNS::Topic")
    found = alarms(synthesized)

    assert found
    for alarm in found:
        assert alarm["AlarmActions"] == [{"Ref": topic_id}], alarm["AlarmName"]
        assert alarm["AlarmName"].startswith(f"{alarm_name_prefix(TABLE_NAME)}-")


def test_the_topic_is_encrypted_with_a_rotated_key_cloudwatch_may_use(
    synthesized: Synthesized,
) -> None:
    """The AWS managed alias/aws/sns key would leave CloudWatch unable to publish."""
    ((key_id, key),) = synthesized.resources("AWS::KMS::Key").items()
    (topic,) = synthesized.resources("AWS::SNS::Topic").values()
    statements = key["Properties"]["KeyPolicy"]["Statement"]

    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    assert {
        "Sid": "AllowCloudWatchAlarmsToUseTheKey",
        "Effect": "Allow",
        "Principal": {"Service": "cloudwatch.amazonaws.com"},
        "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
        "Resource": "*",
    } in statements


def test_the_topic_refuses_requests_without_tls_and_accepts_this_tables_alarms(
    synthesized: Synthesized,
) -> None:
    (topic_id,) = synthesized.resources("AWS::SNS::Topic")
    (policy,) = synthesized.resources("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (deny,) = [s for s in statements if s["Effect"] == "Deny"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]

    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Principal"] == "*"
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Resource"] == {"Ref": topic_id}
    assert render(allow["Condition"]["ArnLike"]["aws:SourceArn"]) == (
        "arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:"
        f"{alarm_name_prefix(TABLE_NAME)}-*"
    )
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_the_topic_has_no_subscription_by_default(synthesized: Synthesized) -> None:
    assert synthesized.resources("AWS::SNS::Subscription") == {}


def test_the_alarm_email_context_value_subscribes_an_address(
    synthesized_opt_in: Synthesized,
) -> None:
    (topic_id,) = synthesized_opt_in.resources("AWS::SNS::Topic")
    (subscription,) = synthesized_opt_in.resources("AWS::SNS::Subscription").values()

    assert subscription["Properties"] == {
        "Endpoint": "ops@example.com",
        "Protocol": "email",
        "TopicArn": {"Ref": topic_id},
    }


def test_alarm_names_fit_cloudwatch_for_the_longest_table_name() -> None:
    prefix = alarm_name_prefix("t" * 255)

    assert len(f"{prefix}-TableWriteThrottleEvents") <= 255
    assert len(dashboard_name("t" * 255)) <= 255


# (title, unit, the run's consumed units and cap, the table's consumed and provisioned units)
CAPACITY_GRAPHS = [
    (
        "Write capacity (WCU/s)",
        "WCU/s",
        environment.METRIC_CONSUMED_WRITE_CAPACITY,
        environment.METRIC_MAX_WRITE_CAPACITY,
        "ConsumedWriteCapacityUnits",
        "ProvisionedWriteCapacityUnits",
    ),
    (
        "Read capacity (RCU/s)",
        "RCU/s",
        environment.METRIC_CONSUMED_READ_CAPACITY,
        environment.METRIC_MAX_READ_CAPACITY,
        "ConsumedReadCapacityUnits",
        "ProvisionedReadCapacityUnits",
    ),
]
RUN_DIMENSIONS = {"service": "profile-migrations", "table": TABLE_NAME}
TURN_PERIOD_SECONDS = 15 * 60  # a segment turn lasts up to the Lambda timeout


@pytest.mark.parametrize(
    ("title", "unit", "run_consumed", "run_cap", "table_consumed", "table_provisioned"),
    CAPACITY_GRAPHS,
)
def test_dashboard_graphs_the_runs_capacity_under_its_cap_and_the_tables_headroom(
    dashboard: dict[str, Any],
    title: str,
    unit: str,
    run_consumed: str,
    run_cap: str,
    table_consumed: str,
    table_provisioned: str,
) -> None:
    """Units per second: a per-period Sum divided by the period's seconds (PERIOD())."""
    (graph,) = [w for w in widgets(dashboard) if w["properties"].get("title") == title]
    rows = graph["properties"]["metrics"]
    expressions = {row[0]["expression"]: row[0] for row in rows if isinstance(row[0], dict)}
    metrics = {row[-1].get("id", row[1]): row for row in rows if isinstance(row[0], str)}

    assert set(expressions) == {"run / PERIOD(run)", "table / PERIOD(table)"}
    assert metrics["run"][:2] == ["ProfileMigrations", run_consumed]
    assert dimensions(metrics["run"]) == RUN_DIMENSIONS
    assert metrics["table"][:2] == ["AWS/DynamoDB", table_consumed]
    assert dimensions(metrics["table"]) == {"TableName": TABLE_NAME}
    for hidden in ("run", "table"):
        assert metrics[hidden][-1] | {"id": hidden} == {
            "id": hidden,
            "visible": False,
            "stat": "Sum",
            "period": TURN_PERIOD_SECONDS,
        }
    assert metrics[run_cap][:2] == ["ProfileMigrations", run_cap]
    assert dimensions(metrics[run_cap]) == RUN_DIMENSIONS
    assert metrics[run_cap][-1]["stat"] == "Maximum"
    assert metrics[table_provisioned][:2] == ["AWS/DynamoDB", table_provisioned]
    assert dimensions(metrics[table_provisioned]) == {"TableName": TABLE_NAME}
    # a dashboard metric without "stat" is graphed as its Average
    assert metrics[table_provisioned][-1].get("stat", "Average") == "Average"
    assert expressions["run / PERIOD(run)"]["label"] == f"Run consumed {unit}"
    assert expressions["table / PERIOD(table)"]["label"].startswith(f"Table consumed {unit}")
    for options in (
        metrics[run_cap][-1],
        metrics[table_provisioned][-1],
        *expressions.values(),
    ):
        assert options["period"] == TURN_PERIOD_SECONDS
    assert graph["properties"]["yAxis"]["left"] == {"label": unit, "min": 0, "showUnits": False}
