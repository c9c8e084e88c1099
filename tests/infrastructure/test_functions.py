"""The four Lambda functions: runtime, sizing, concurrency, environment, logging."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from infra import constants
from profile_migrations import environment
from tests.cdk_synth import HANDLERS, TABLE_NAME

if TYPE_CHECKING:
    from tests.cdk_synth import Synthesized

COMMON_ENVIRONMENT = {
    environment.TABLE_NAME: TABLE_NAME,
    environment.SERVICE_NAME: "profile-migrations",
    environment.METRICS_NAMESPACE: "ProfileMigrations",
    environment.LOG_LEVEL: "INFO",
}


def expected_environment(name: str, bucket_ref: object, control_ref: object) -> dict[str, object]:
    segment = {
        environment.REPORT_BUCKET: bucket_ref,
        environment.CONTROL_TABLE: control_ref,
        environment.STOP_MARGIN_SECONDS: "60",
    }
    specific: dict[str, dict[str, object]] = {
        "plan": {
            environment.MAX_CONCURRENCY_LIMIT: str(constants.MIGRATE_RESERVED_CONCURRENCY),
            environment.CONTROL_TABLE: control_ref,
        },
        "migrate": segment,
        "verify": segment,
        "aggregate": {
            environment.REPORT_BUCKET: bucket_ref,
            environment.CONTROL_TABLE: control_ref,
        },
    }
    return {**COMMON_ENVIRONMENT, **specific[name]}


def test_the_stack_has_exactly_the_four_functions(synthesized: Synthesized) -> None:
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
    ("name", "timeout_seconds", "memory_mb", "reserved"),
    [
        ("plan", 60, constants.PLAN_MEMORY_MB, None),
        ("migrate", 900, 1024, constants.MIGRATE_RESERVED_CONCURRENCY),
        ("verify", 900, 1024, constants.VERIFY_RESERVED_CONCURRENCY),
        ("aggregate", 300, constants.AGGREGATE_MEMORY_MB, None),
    ],
)
def test_timeouts_memory_and_reserved_concurrency(
    synthesized: Synthesized,
    name: str,
    timeout_seconds: int,
    memory_mb: int,
    reserved: int | None,
) -> None:
    _, properties = synthesized.function(name)

    assert properties["Timeout"] == timeout_seconds
    assert properties["MemorySize"] == memory_mb
    assert properties.get("ReservedConcurrentExecutions") == reserved


def test_reserved_concurrency_is_the_constant_of_100() -> None:
    assert constants.MIGRATE_RESERVED_CONCURRENCY == 100
    assert constants.VERIFY_RESERVED_CONCURRENCY == 100


@pytest.mark.parametrize("name", HANDLERS)
def test_environment_variables(synthesized: Synthesized, name: str) -> None:
    (bucket_id,) = synthesized.resources("AWS::S3::Bucket")
    (control_id,) = synthesized.resources("AWS::DynamoDB::GlobalTable")
    _, properties = synthesized.function(name)

    assert properties["Environment"]["Variables"] == expected_environment(
        name, {"Ref": bucket_id}, {"Ref": control_id}
    )


def test_plan_limit_is_the_smallest_reserved_concurrency(synthesized: Synthesized) -> None:
    _, properties = synthesized.function("plan")
    limit = int(properties["Environment"]["Variables"][environment.MAX_CONCURRENCY_LIMIT])
    reserved = [
        synthesized.function(name)[1]["ReservedConcurrentExecutions"]
        for name in ("migrate", "verify")
    ]

    assert limit == min(reserved)


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
