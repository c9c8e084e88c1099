"""The five Lambda functions: runtime, sizing, concurrency, environment, logging."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from infra import constants
from profile_migrations import environment
from tests.cdk_synth import HANDLERS, TABLE_NAME

if TYPE_CHECKING:
    from tests.cdk_synth import Synthesized

CONTROL_TABLE_NAME = f"{TABLE_NAME}-migrations"
COMMON_ENVIRONMENT = {
    environment.TABLE_NAME: TABLE_NAME,
    environment.SERVICE_NAME: "profile-migrations",
    environment.METRICS_NAMESPACE: "ProfileMigrations",
    environment.LOG_LEVEL: "INFO",
}
# Lambda's default concurrency quota of an account and Region.
LAMBDA_DEFAULT_ACCOUNT_CONCURRENCY = 1_000
OPT_IN_RESERVATION = 100  # tests.cdk_synth.OPT_IN_CONTEXT


def expected_environment(name: str, bucket_ref: object, limit: int) -> dict[str, object]:
    segment = {
        environment.REPORT_BUCKET: bucket_ref,
        environment.CONTROL_TABLE: CONTROL_TABLE_NAME,
        environment.STOP_MARGIN_SECONDS: "60",
    }
    specific: dict[str, dict[str, object]] = {
        "plan": {
            environment.MAX_CONCURRENCY_LIMIT: str(limit),
            environment.CONTROL_TABLE: CONTROL_TABLE_NAME,
        },
        "migrate": segment,
        "verify": segment,
        "aggregate": {
            environment.REPORT_BUCKET: bucket_ref,
            environment.CONTROL_TABLE: CONTROL_TABLE_NAME,
        },
        "rollback": segment,
    }
    return {**COMMON_ENVIRONMENT, **specific[name]}


def test_the_stack_has_exactly_the_five_functions(synthesized: Synthesized) -> None:
    handlers = {
        resource["Properties"]["Handler"]
        for resource in synthesized.resources("AWS::Lambda::Function").values()
    }

    assert handlers == set(HANDLERS.values())


@pytest.mark.parametrize("name", HANDLERS)
def test_every_function_runs_python_3_13_on_arm64_with_json_logs(
    synthesized: Synthesized, name: str
) -> None:
    _, properties = synthesized.function(name)

    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["arm64"]
    assert properties["LoggingConfig"]["LogFormat"] == "JSON"
    assert "Ref" in properties["LoggingConfig"]["LogGroup"]


@pytest.mark.parametrize(
    ("name", "timeout_seconds", "memory_mb"),
    [
        ("plan", 60, constants.PLAN_MEMORY_MB),
        ("migrate", 900, 1024),
        ("verify", 900, 1024),
        ("aggregate", 900, constants.AGGREGATE_MEMORY_MB),
        ("rollback", 900, 1024),
    ],
)
def test_timeouts_and_memory(
    synthesized: Synthesized, name: str, timeout_seconds: int, memory_mb: int
) -> None:
    _, properties = synthesized.function(name)

    assert properties["Timeout"] == timeout_seconds
    assert properties["MemorySize"] == memory_mb


@pytest.mark.parametrize("name", HANDLERS)
def test_no_function_reserves_concurrency_by_default(synthesized: Synthesized, name: str) -> None:
    """Lambda lets an account reserve only up to its unreserved concurrency minus 100, so
    a default reservation fails to deploy in new accounts."""
    _, properties = synthesized.function(name)

    assert "ReservedConcurrentExecutions" not in properties


def test_without_a_reservation_plan_accepts_up_to_the_default_account_concurrency(
    synthesized: Synthesized,
) -> None:
    _, properties = synthesized.function("plan")

    assert properties["Environment"]["Variables"][environment.MAX_CONCURRENCY_LIMIT] == str(
        LAMBDA_DEFAULT_ACCOUNT_CONCURRENCY
    )


@pytest.mark.parametrize(
    ("name", "reserved"),
    [
        ("plan", None),
        ("migrate", OPT_IN_RESERVATION),
        ("verify", OPT_IN_RESERVATION),
        ("aggregate", None),
        ("rollback", OPT_IN_RESERVATION),
    ],
)
def test_the_reserved_concurrency_context_value_reserves_for_the_segment_functions(
    synthesized_opt_in: Synthesized, name: str, reserved: int | None
) -> None:
    _, properties = synthesized_opt_in.function(name)

    assert properties.get("ReservedConcurrentExecutions") == reserved


def test_with_a_reservation_plan_accepts_up_to_the_reservation(
    synthesized_opt_in: Synthesized,
) -> None:
    _, properties = synthesized_opt_in.function("plan")
    limit = int(properties["Environment"]["Variables"][environment.MAX_CONCURRENCY_LIMIT])
    reserved = {
        synthesized_opt_in.function(name)[1]["ReservedConcurrentExecutions"]
        for name in ("migrate", "verify", "rollback")
    }

    assert reserved == {limit} == {OPT_IN_RESERVATION}


@pytest.mark.parametrize("name", HANDLERS)
def test_environment_variables(synthesized: Synthesized, name: str) -> None:
    (bucket_id,) = synthesized.resources("AWS::S3::Bucket")
    _, properties = synthesized.function(name)

    assert properties["Environment"]["Variables"] == expected_environment(
        name, {"Ref": bucket_id}, LAMBDA_DEFAULT_ACCOUNT_CONCURRENCY
    )


@pytest.mark.parametrize("name", HANDLERS)
def test_each_function_logs_to_its_own_log_group_with_retention(
    synthesized: Synthesized, name: str
) -> None:
    _, properties = synthesized.function(name)
    log_group_id = properties["LoggingConfig"]["LogGroup"]["Ref"]
    log_group = synthesized.template_json["Resources"][log_group_id]

    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == 30
    others = [
        synthesized.function(other)[1]["LoggingConfig"]["LogGroup"]["Ref"]
        for other in HANDLERS
        if other != name
    ]
    assert log_group_id not in others


def test_no_function_uses_the_deprecated_log_retention_custom_resource(
    synthesized: Synthesized,
) -> None:
    assert synthesized.resources("Custom::LogRetention") == {}
