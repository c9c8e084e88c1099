"""The ProfileMigration-<table> dashboard and the failed-profiles alarm."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from infra.constructs.monitoring import dashboard_name
from tests.cdk_synth import HANDLERS, TABLE_NAME, render

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

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


def graphed_metrics(dashboard: dict[str, Any]) -> list[list[Any]]:
    body = json.loads(render(dashboard["DashboardBody"]))
    return [
        metric for widget in body["widgets"] for metric in widget["properties"].get("metrics", [])
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

    for name in ("ExecutionsSucceeded", "ExecutionsFailed"):
        assert ("AWS/States", name, f"<{state_machine_id}>") in graphed
    for function in HANDLERS:
        function_id, _ = synthesized.function(function)
        for name in ("Errors", "Throttles"):
            assert ("AWS/Lambda", name, f"<{function_id}>") in graphed


def test_any_failed_profile_raises_the_alarm(template: Template) -> None:
    template.resource_count_is("AWS::CloudWatch::Alarm", 1)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "Namespace": "ProfileMigrations",
            "MetricName": "ProfilesFailed",
            "Dimensions": [
                {"Name": "service", "Value": "profile-migrations"},
                {"Name": "table", "Value": TABLE_NAME},
            ],
            "Statistic": "Sum",
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
        },
    )
