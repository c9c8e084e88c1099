"""The ProfileMigration state machine's definition, logging and tracing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.cdk_synth import HANDLERS

if TYPE_CHECKING:
    from tests.cdk_synth import Synthesized

LAMBDA_RETRY = {
    "ErrorEquals": [
        "Lambda.TooManyRequestsException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.ClientExecutionTimeoutException",
        "StoreUnavailableError",
    ],
    "IntervalSeconds": 2,
    "BackoffRate": 2,
    "MaxAttempts": 6,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}
SEGMENT_FIELDS = {
    "runId.$": "$.plan.runId",
    "tableName.$": "$.plan.tableName",
    "segment.$": "$$.Map.Item.Value",
    "totalSegments.$": "$.plan.totalSegments",
    "targetVersion.$": "$.plan.targetVersion",
    "keyAttributes.$": "$.plan.keyAttributes",
    "pageSize.$": "$.plan.pageSize",
    "invocation": 0,
}
# (map state, label, worker function, child states: task, stopped, done, complete)
MAPS = [
    (
        "MigrateSegments",
        "Segments",
        "migrate",
        ("MigratePages", "SegmentStopped", "SegmentDone", "SegmentComplete"),
    ),
    (
        "VerifySegments",
        "Verify",
        "verify",
        ("VerifyPages", "VerifyStopped", "VerifyDone", "VerifyComplete"),
    ),
]


def choice(variable: str, next_state: str) -> list[dict[str, Any]]:
    return [{"Variable": variable, "BooleanEquals": True, "Next": next_state}]


def invoked_function(state: dict[str, Any]) -> str:
    assert state["Type"] == "Task"
    assert state["Resource"] == "arn:<AWS::Partition>:states:::lambda:invoke"
    function_name: str = state["Parameters"]["FunctionName"]
    return function_name


def test_top_level_states(definition: dict[str, Any]) -> None:
    assert definition["StartAt"] == "Plan"
    assert set(definition["States"]) == {
        "Plan",
        "RequestRefused",
        "ChooseMode",
        "MigrateSegments",
        "ChooseVerify",
        "VerifySegments",
        "Aggregate",
    }


def test_plan_sends_the_input_and_the_execution_identity(
    definition: dict[str, Any], synthesized: Synthesized
) -> None:
    plan = definition["States"]["Plan"]

    assert invoked_function(plan) == f"<{synthesized.function('plan')[0]}.Arn>"
    assert plan["Parameters"]["Payload"] == {
        "request.$": "$",
        "runId.$": "$$.Execution.Name",
        "startedAt.$": "$$.Execution.StartTime",
    }
    assert plan["ResultSelector"] == {"plan.$": "$.Payload"}
    assert plan["Next"] == "ChooseMode"


def test_a_refused_request_ends_in_a_fail_state(definition: dict[str, Any]) -> None:
    (catch,) = definition["States"]["Plan"]["Catch"]

    assert catch["ErrorEquals"] == ["RequestRefusedError"]
    assert catch["ResultPath"] == "$.error"
    assert catch["Next"] == "RequestRefused"
    assert definition["States"]["RequestRefused"] == {
        "Type": "Fail",
        "Error": "MigrationRefused",
        "CausePath": "$.error.Cause",
    }


def test_mode_choices(definition: dict[str, Any]) -> None:
    states = definition["States"]

    assert states["ChooseMode"]["Choices"] == choice("$.plan.verifyOnly", "VerifySegments")
    assert states["ChooseMode"]["Default"] == "MigrateSegments"
    assert states["MigrateSegments"]["Next"] == "ChooseVerify"
    assert states["ChooseVerify"]["Choices"] == choice("$.plan.dryRun", "Aggregate")
    assert states["ChooseVerify"]["Default"] == "VerifySegments"
    assert states["VerifySegments"]["Next"] == "Aggregate"


@pytest.mark.parametrize(("state_name", "label", "function", "children"), MAPS)
def test_segments_fan_out_on_a_distributed_map(
    definition: dict[str, Any],
    synthesized: Synthesized,
    state_name: str,
    label: str,
    function: str,
    children: tuple[str, str, str, str],
) -> None:
    segment_map = definition["States"][state_name]
    processor = segment_map["ItemProcessor"]
    task_name, stopped, done, complete = children
    expected_selector = dict(SEGMENT_FIELDS)
    if function == "migrate":
        expected_selector |= {
            "dryRun.$": "$.plan.dryRun",
            "startedAt.$": "$.plan.startedAt",
            "checkpointRunId.$": "$.plan.checkpointRunId",
        }

    assert segment_map["Type"] == "Map"
    assert segment_map["Label"] == label
    assert segment_map["ItemsPath"] == "$.plan.segments"
    assert segment_map["ItemSelector"] == expected_selector
    assert segment_map["MaxConcurrencyPath"] == "$.plan.maxConcurrency"
    assert "MaxConcurrency" not in segment_map
    assert segment_map["ResultPath"] is None
    assert "ToleratedFailurePercentage" not in segment_map
    assert processor["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert processor["StartAt"] == task_name
    assert set(processor["States"]) == {task_name, stopped, done, complete}
    task = processor["States"][task_name]
    assert invoked_function(task) == f"<{synthesized.function(function)[0]}.Arn>"
    assert task["Parameters"]["Payload.$"] == "$"
    assert task["OutputPath"] == "$.Payload"
    assert task["Next"] == done


@pytest.mark.parametrize(("state_name", "label", "function", "children"), MAPS)
def test_a_segment_loops_until_done_and_stops_on_any_error(
    definition: dict[str, Any],
    state_name: str,
    label: str,
    function: str,
    children: tuple[str, str, str, str],
) -> None:
    states = definition["States"][state_name]["ItemProcessor"]["States"]
    task_name, stopped, done, complete = children

    assert states[done]["Type"] == "Choice"
    assert states[done]["Choices"] == choice("$.done", complete)
    assert states[done]["Default"] == task_name
    assert states[complete] == {"Type": "Succeed"}
    assert states[task_name]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": stopped}
    ]
    assert states[stopped] == {"Type": "Succeed"}


def test_the_migrate_loop_never_runs_the_verify_function(
    definition: dict[str, Any], synthesized: Synthesized
) -> None:
    migrate_states = definition["States"]["MigrateSegments"]["ItemProcessor"]["States"]
    functions = {
        invoked_function(state) for state in migrate_states.values() if state["Type"] == "Task"
    }

    assert functions == {f"<{synthesized.function('migrate')[0]}.Arn>"}


def test_aggregate_receives_the_plan_and_ends(
    definition: dict[str, Any], synthesized: Synthesized
) -> None:
    aggregate = definition["States"]["Aggregate"]

    assert invoked_function(aggregate) == f"<{synthesized.function('aggregate')[0]}.Arn>"
    assert aggregate["Parameters"]["Payload"] == {"plan.$": "$.plan"}
    assert aggregate["OutputPath"] == "$.Payload"
    assert aggregate["End"] is True


def all_tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tasks = {}
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            tasks[name] = state
        for child_name, child in state.get("ItemProcessor", {}).get("States", {}).items():
            if child["Type"] == "Task":
                tasks[child_name] = child
    return tasks


def test_every_lambda_task_retries_service_errors_with_full_jitter(
    definition: dict[str, Any],
) -> None:
    tasks = all_tasks(definition)

    assert set(tasks) == {"Plan", "MigratePages", "VerifyPages", "Aggregate"}
    for name, task in tasks.items():
        assert task["Retry"] == [LAMBDA_RETRY], name


def test_each_function_is_invoked_by_the_state_machine(
    definition: dict[str, Any], synthesized: Synthesized
) -> None:
    invoked = {invoked_function(task) for task in all_tasks(definition).values()}

    assert invoked == {f"<{synthesized.function(name)[0]}.Arn>" for name in HANDLERS}


def test_standard_workflow_with_logging_without_execution_data_and_tracing(
    synthesized: Synthesized,
) -> None:
    (state_machine,) = synthesized.resources("AWS::StepFunctions::StateMachine").values()
    properties = state_machine["Properties"]
    (destination,) = properties["LoggingConfiguration"]["Destinations"]
    log_group_id = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"][0]
    log_group = synthesized.template_json["Resources"][log_group_id]

    assert properties["StateMachineName"] == "ProfileMigration"
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["LoggingConfiguration"]["Level"] == "ALL"
    assert properties["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert log_group["Properties"]["RetentionInDays"] == 30


def test_a_run_times_out_after_days(definition: dict[str, Any]) -> None:
    assert definition["TimeoutSeconds"] == 3 * 24 * 60 * 60
