"""The ProfileMigration state machine's definition, logging and tracing.

Quotas these tests hold the definition to (Step Functions quotas,
https://docs.aws.amazon.com/step-functions/latest/dg/limits.html): a state's or
execution's input or output at most 262,144 bytes (a Distributed Map's gathered result
included, aws/aws-cdk issue 24799), at most 25,000 events in an execution's history, and
an execution time of at most one year.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations import environment
from profile_migrations.models.pipeline import (
    RollbackTask,
    RunPlan,
    SegmentTask,
    TurnTask,
    VerifyTask,
)
from tests.cdk_synth import HANDLERS

if TYPE_CHECKING:
    from pydantic import BaseModel

    from tests.cdk_synth import Synthesized

PAYLOAD_QUOTA_BYTES = 262_144
HISTORY_QUOTA_EVENTS = 25_000
MAX_SEGMENTS = 10_000  # the Plan function's cap on totalSegments
ONE_YEAR_SECONDS = 365 * 24 * 60 * 60
# Events one turn adds to a child's history: TaskStateEntered, TaskScheduled, TaskStarted,
# TaskSucceeded, TaskStateExited, ChoiceStateEntered, ChoiceStateExited; a retry adds
# TaskFailed, TaskScheduled, TaskStarted.
EVENTS_PER_TURN = 7
EVENTS_PER_RETRY = 3

LAMBDA_RETRY = {
    "ErrorEquals": [
        "Lambda.TooManyRequestsException",
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.ClientExecutionTimeoutException",
        environment.ERROR_STORE_UNAVAILABLE,
    ],
    "IntervalSeconds": 2,
    "BackoffRate": 2,
    "MaxAttempts": 6,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}
KILLED_TURN_RETRY = {
    "ErrorEquals": ["Lambda.Unknown"],
    "IntervalSeconds": 10,
    "BackoffRate": 2,
    "MaxAttempts": 3,
}
BUSY_SEGMENT_RETRY = {
    "ErrorEquals": [environment.ERROR_SEGMENT_BUSY],
    "IntervalSeconds": 60,
    "BackoffRate": 1,
    "MaxAttempts": 20,
}
SEGMENT_FIELDS = {
    "runId.$": "$.plan.runId",
    "execution.$": "$.plan.execution",
    "tableName.$": "$.plan.tableName",
    "segment.$": "$$.Map.Item.Value",
    "totalSegments.$": "$.plan.totalSegments",
    "targetVersion.$": "$.plan.targetVersion",
    "keyAttributes.$": "$.plan.keyAttributes",
    "pageSize.$": "$.plan.pageSize",
    "maxWriteCapacity.$": "$.plan.maxWriteCapacity",
    "maxReadCapacity.$": "$.plan.maxReadCapacity",
    "stopAt.$": "$.plan.stopAt",
    "invocation": 0,
}
# Per worker function: what its turn task holds on top of SEGMENT_FIELDS.
EXTRA_SEGMENT_FIELDS = {
    "migrate": {"dryRun.$": "$.plan.dryRun", "startedAt.$": "$.plan.startedAt"},
    "verify": {"deepVerify.$": "$.plan.deepVerify"},
    "rollback": {"rollsBack.$": "$.plan.rollsBack"},
}
# Per worker function: the model its Lambda parses the turn task into (extra="forbid").
TURN_TASK_MODELS: dict[str, type[TurnTask]] = {
    "migrate": SegmentTask,
    "verify": VerifyTask,
    "rollback": RollbackTask,
}
# (map state, label, worker function,
#  child states: task, done, complete, window closed, paused, stopped)
MAPS = [
    (
        "MigrateSegments",
        "Segments",
        "migrate",
        (
            "MigratePages",
            "SegmentDone",
            "SegmentComplete",
            "SegmentWindowClosed",
            "SegmentPaused",
            "SegmentStopped",
        ),
    ),
    (
        "VerifySegments",
        "Verify",
        "verify",
        (
            "VerifyPages",
            "VerifyDone",
            "VerifyComplete",
            "VerifyWindowClosed",
            "VerifyPaused",
            "VerifyStopped",
        ),
    ),
    (
        "RollbackSegments",
        "Rollback",
        "rollback",
        (
            "RollbackPages",
            "RollbackDone",
            "RollbackComplete",
            "RollbackWindowClosed",
            "RollbackPaused",
            "RollbackStopped",
        ),
    ),
]
MAP_STATES = [state_name for state_name, *_ in MAPS]
MAP_CHILDREN = [(state_name, children) for state_name, _, _, children in MAPS]
MAP_FUNCTIONS = [(state_name, function) for state_name, _, function, _ in MAPS]
SEGMENT_TASKS = [(children[0], function) for _, _, function, children in MAPS]

# The largest inputs a child's end states see, measured on today's functions: a Migrate
# turn's payload is about 427 bytes, and a caught error carries the Lambda's error JSON
# with its stack trace (1.5 to 2 KB). Padded, to stay a worst case.
LAST_TURN_PAYLOAD: dict[str, Any] = {
    "runId": "run-" + "x" * 76,
    "execution": "run-" + "x" * 76,
    "tableName": "T" * 40,
    "segment": 9_999,
    "totalSegments": MAX_SEGMENTS,
    "targetVersion": 5,
    "dryRun": False,
    "startedAt": "2026-11-25T10:15:00.000Z",
    "keyAttributes": ["userId", "profileId"],
    "pageSize": 500,
    "invocation": 2_999,
    "cursor": {"userId": "u" * 60, "profileId": "p" * 20},
    "done": False,
    "maxWriteCapacity": 12_345.5,
    "maxReadCapacity": 67_890.25,
    "stopAt": "2026-11-25T13:15:00.000+00:00",
    "stoppedBy": environment.STOPPED_BY_WINDOW,
}
# The null-safe test of `stoppedBy == "window"`, in the child's Choice and the outcome's.
STOPPED_BY_WINDOW_RULE = {
    "And": [
        {"Variable": "$.stoppedBy", "IsPresent": True},
        {"Variable": "$.stoppedBy", "IsString": True},
        {"Variable": "$.stoppedBy", "StringEquals": environment.STOPPED_BY_WINDOW},
    ]
}
# The null-safe test of the plan's `mode == "rollback"`, ChooseMode's first rule.
ROLLBACK_MODE_RULE = {
    "And": [
        {"Variable": "$.plan.mode", "IsPresent": True},
        {"Variable": "$.plan.mode", "IsString": True},
        {"Variable": "$.plan.mode", "StringEquals": "rollback"},
    ]
}
CAUGHT_ERROR = {
    "Error": "ValueError",
    "Cause": json.dumps(
        {
            "errorMessage": "m" * 200,
            "errorType": "ValueError",
            "requestId": "0" * 36,
            "stackTrace": ['  File "/var/task/profile_migrations/logic/segment.py"' * 30],
        }
    ),
}


def choice(variable: str, next_state: str) -> list[dict[str, Any]]:
    return [{"Variable": variable, "BooleanEquals": True, "Next": next_state}]


def invoked_function(state: dict[str, Any]) -> str:
    assert state["Type"] == "Task"
    assert state["Resource"] == "arn:<AWS::Partition>:states:::lambda:invoke"
    function_name: str = state["Parameters"]["FunctionName"]
    return function_name


def child_states(definition: dict[str, Any], map_state: str) -> dict[str, dict[str, Any]]:
    states: dict[str, dict[str, Any]] = definition["States"][map_state]["ItemProcessor"]["States"]
    return states


def end_output(state: dict[str, Any], state_input: dict[str, Any]) -> Any:
    """What a child execution outputs when it ends in this state with this input.

    The ASL rules for the end states a child may have: a Pass state's output is its
    Result (ResultPath "$", no OutputPath), a Succeed state's output is its input. A Fail
    state fails the child, and with it the Map.
    """
    if state["Type"] == "Pass":
        assert set(state) <= {"Type", "Result", "End", "Comment"}, state
        return state.get("Result", state_input)
    if state["Type"] == "Succeed":
        assert set(state) <= {"Type", "Comment"}, state
        return state_input
    raise AssertionError(f"a child may not end in a {state['Type']} state: {state}")


class StatesRuntimeError(Exception):
    """A Choice state AWS would fail with ``States.Runtime``, or stricter (see choose)."""


def choose(choice_state: dict[str, Any], state_input: dict[str, Any]) -> str:
    """The state a Choice state goes to next with this input (JSONPath Choice rules).

    Stricter than AWS on purpose: a comparison of an absent path fails the state (as on
    AWS), and so does a comparison of a value of another type, null included (AWS answers
    false there). ``And`` and ``Or`` stop at the first rule that decides, as the Choice
    state's documentation relies on (``IsPresent`` before a comparison). A rule that
    never fails here never fails on AWS.
    """
    assert choice_state["Type"] == "Choice"
    for rule in choice_state["Choices"]:
        if evaluate(rule, state_input):
            next_state: str = rule["Next"]
            return next_state
    default: str = choice_state["Default"]
    return default


def evaluate(rule: dict[str, Any], state_input: dict[str, Any]) -> bool:
    if "And" in rule:
        return all(evaluate(inner, state_input) for inner in rule["And"])
    if "Or" in rule:
        return any(evaluate(inner, state_input) for inner in rule["Or"])
    if "Not" in rule:
        return not evaluate(rule["Not"], state_input)
    path: str = rule["Variable"]
    present, value = resolve(path, state_input)
    if "IsPresent" in rule:
        return present is rule["IsPresent"]
    if not present:
        raise StatesRuntimeError(f"Invalid path '{path}': no such field")
    if "IsString" in rule:
        return isinstance(value, str) is rule["IsString"]
    comparisons: dict[str, tuple[type | tuple[type, ...], Any]] = {
        "BooleanEquals": (bool, lambda v, x: v is x),
        "StringEquals": (str, lambda v, x: v == x),
        "NumericGreaterThanEquals": ((int, float), lambda v, x: v >= x),
    }
    (operator,) = set(rule) & set(comparisons)
    expected_type, compare = comparisons[operator]
    if not isinstance(value, expected_type) or (
        operator != "BooleanEquals" and isinstance(value, bool)
    ):
        raise StatesRuntimeError(f"'{path}' is {value!r}, which {operator} cannot compare")
    return bool(compare(value, rule[operator]))


def resolve(path: str, state_input: dict[str, Any]) -> tuple[bool, Any]:
    """(whether the JSONPath ``$.a.b`` names a field of the input, its value)."""
    assert path.startswith("$."), path
    value: Any = state_input
    for field in path.removeprefix("$.").split("."):
        if not isinstance(value, dict) or field not in value:
            return False, None
        value = value[field]
    return True, value


def test_the_choice_evaluator_fails_an_unguarded_comparison_of_a_null_or_absent_field() -> None:
    unguarded = {
        "Type": "Choice",
        "Choices": [{"Variable": "$.stoppedBy", "StringEquals": "window", "Next": "Closed"}],
        "Default": "Loop",
    }

    assert choose(unguarded, {"stoppedBy": "window"}) == "Closed"
    for state_input in ({"stoppedBy": None}, {}):
        with pytest.raises(StatesRuntimeError):
            choose(unguarded, state_input)


def test_top_level_states(definition: dict[str, Any]) -> None:
    assert definition["StartAt"] == "Plan"
    assert set(definition["States"]) == {
        "Plan",
        "RequestRefused",
        "ChooseMode",
        "MigrateSegments",
        "ChooseVerify",
        "VerifySegments",
        "RollbackSegments",
        "Aggregate",
        "ChooseRollback",
        "ChooseOutcome",
        "RunSucceeded",
        "RunFailed",
    }


def test_plan_sends_the_input_and_the_execution_identity(
    definition: dict[str, Any], synthesized: Synthesized
) -> None:
    plan = definition["States"]["Plan"]

    assert invoked_function(plan) == f"<{synthesized.function('plan')[0]}.Arn>"
    assert plan["Parameters"]["Payload"] == {
        "request.$": "$",
        "execution.$": "$$.Execution.Name",
        "startedAt.$": "$$.Execution.StartTime",
    }
    assert plan["ResultSelector"] == {"plan.$": "$.Payload"}
    assert plan["Next"] == "ChooseMode"


def test_a_refused_request_ends_in_a_fail_state(definition: dict[str, Any]) -> None:
    (catch,) = definition["States"]["Plan"]["Catch"]

    assert catch["ErrorEquals"] == [environment.ERROR_REQUEST_REFUSED]
    assert catch["ResultPath"] == "$.error"
    assert catch["Next"] == "RequestRefused"
    assert definition["States"]["RequestRefused"] == {
        "Type": "Fail",
        "Error": environment.REFUSED_ERROR_NAME,
        "CausePath": "$.error.Cause",
    }


def test_mode_choices(definition: dict[str, Any]) -> None:
    states = definition["States"]

    assert states["ChooseMode"]["Choices"] == [
        {**ROLLBACK_MODE_RULE, "Next": "RollbackSegments"},
        *choice("$.plan.verifyOnly", "VerifySegments"),
    ]
    assert states["ChooseMode"]["Default"] == "MigrateSegments"
    assert states["MigrateSegments"]["Next"] == "ChooseVerify"
    assert states["ChooseVerify"]["Choices"] == choice("$.plan.dryRun", "Aggregate")
    assert states["ChooseVerify"]["Default"] == "VerifySegments"
    assert states["VerifySegments"]["Next"] == "Aggregate"
    assert states["RollbackSegments"]["Next"] == "Aggregate"


PLAN = {"dryRun": False, "verifyOnly": False, "mode": "migrate", "rollsBack": None}


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        pytest.param(PLAN, "MigrateSegments", id="migrate"),
        pytest.param(PLAN | {"dryRun": True}, "MigrateSegments", id="dry-run"),
        pytest.param(PLAN | {"verifyOnly": True}, "VerifySegments", id="verify-only"),
        pytest.param(PLAN | {"mode": "rollback", "rollsBack": "r1"}, "RollbackSegments", id="rb"),
        pytest.param(
            {k: v for k, v in PLAN.items() if k != "mode"}, "MigrateSegments", id="mode-absent"
        ),
        pytest.param(PLAN | {"mode": None}, "MigrateSegments", id="mode-null"),
    ],
)
def test_the_mode_choice_routes_a_rollback_plan_and_never_fails_without_a_mode(
    definition: dict[str, Any], plan: dict[str, Any], expected: str
) -> None:
    assert choose(definition["States"]["ChooseMode"], {"plan": plan}) == expected


def test_after_the_aggregate_a_document_carrying_a_plan_is_rolled_back(
    definition: dict[str, Any],
) -> None:
    """RollbackSegments -> Aggregate -> ChooseRollback closes a loop; it ends because
    only a document that asks for a rollback carries a plan."""
    states = definition["States"]

    assert states["ChooseRollback"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.plan", "IsPresent": True, "Next": "RollbackSegments"}],
        "Default": "ChooseOutcome",
    }


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param(
            {"success": False, "plan": PLAN | {"mode": "rollback", "rollsBack": "r1"}},
            "RollbackSegments",
            id="rollback-on-failure",
        ),
        pytest.param({"success": False, "rollsBack": "r1"}, "ChooseOutcome", id="rollback-doc"),
        pytest.param({"success": True}, "ChooseOutcome", id="success"),
        pytest.param({"success": False}, "ChooseOutcome", id="failed"),
    ],
)
def test_the_rollback_choice_goes_on_to_the_outcome_without_a_plan(
    definition: dict[str, Any], document: dict[str, Any], expected: str
) -> None:
    assert choose(definition["States"]["ChooseRollback"], document) == expected


@pytest.mark.parametrize(("state_name", "label", "function", "children"), MAPS)
def test_segments_fan_out_on_a_distributed_map(
    definition: dict[str, Any],
    synthesized: Synthesized,
    state_name: str,
    label: str,
    function: str,
    children: tuple[str, ...],
) -> None:
    segment_map = definition["States"][state_name]
    processor = segment_map["ItemProcessor"]
    task_name, done, *_ = children
    expected_selector = SEGMENT_FIELDS | EXTRA_SEGMENT_FIELDS[function]

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
    assert set(processor["States"]) == set(children)
    task = processor["States"][task_name]
    assert invoked_function(task) == f"<{synthesized.function(function)[0]}.Arn>"
    assert task["Parameters"]["Payload.$"] == "$"
    assert task["OutputPath"] == "$.Payload"
    assert task["Next"] == done


def wire_names(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


@pytest.mark.parametrize(("state_name", "function"), MAP_FUNCTIONS)
def test_the_item_selector_builds_the_turn_task_from_the_plan(
    definition: dict[str, Any], state_name: str, function: str
) -> None:
    """Every field the selector sets is one the function's turn task accepts (its model
    forbids others), every required one is set, and every plan path names a plan field."""
    selector = definition["States"][state_name]["ItemSelector"]
    fields = {key.removesuffix(".$") for key in selector}
    model = TURN_TASK_MODELS[function]
    required = {f.alias or n for n, f in model.model_fields.items() if f.is_required()}
    plan_paths = [v for v in selector.values() if isinstance(v, str) and v.startswith("$.plan.")]

    assert fields <= wire_names(model)
    assert required <= fields
    assert {path.removeprefix("$.plan.") for path in plan_paths} <= wire_names(RunPlan)


@pytest.mark.parametrize(("state_name", "children"), MAP_CHILDREN)
def test_a_segment_loops_until_done_or_its_window_closes_pauses_and_stops_on_any_error(
    definition: dict[str, Any], state_name: str, children: tuple[str, ...]
) -> None:
    states = child_states(definition, state_name)
    task_name, done, complete, window_closed, paused, stopped = children

    assert states[done]["Type"] == "Choice"
    assert states[done]["Choices"] == [
        {"Variable": "$.done", "BooleanEquals": True, "Next": complete},
        {**STOPPED_BY_WINDOW_RULE, "Next": window_closed},
        {
            "Variable": "$.invocation",
            "NumericGreaterThanEquals": environment.MAX_TURNS_PER_SEGMENT,
            "Next": paused,
        },
    ]
    assert states[done]["Default"] == task_name
    assert states[task_name]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": stopped}
    ]
    for end in (complete, window_closed, paused, stopped):
        assert states[end] == {"Type": "Pass", "Result": {}, "End": True}


# (what the turn returned, on top of LAST_TURN_PAYLOAD; which child state comes next:
#  0 task, 2 complete, 3 window closed, 4 paused)
TURN_OUTCOMES = [
    pytest.param({"done": False, "stoppedBy": None, "invocation": 5}, 0, id="null-loops"),
    pytest.param({"done": False, "invocation": 5}, 0, id="absent-loops"),
    pytest.param({"done": False, "stoppedBy": "other", "invocation": 5}, 0, id="other-loops"),
    pytest.param({"done": False, "stoppedBy": "window", "invocation": 5}, 3, id="window-ends"),
    pytest.param({"done": True, "stoppedBy": None}, 2, id="done-null"),
    pytest.param({"done": True}, 2, id="done-absent"),
    pytest.param({"done": True, "stoppedBy": "window"}, 2, id="done-before-window"),
    pytest.param({"done": False, "stoppedBy": None, "invocation": 3_000}, 4, id="limit-null"),
    pytest.param({"done": False, "invocation": 3_000}, 4, id="limit-absent"),
    pytest.param({"done": False, "stoppedBy": "window", "invocation": 3_000}, 3, id="window"),
]


@pytest.mark.parametrize(("state_name", "children"), MAP_CHILDREN)
@pytest.mark.parametrize(("turn", "expected"), TURN_OUTCOMES)
def test_the_child_choice_ends_at_the_window_and_never_fails_on_a_null_or_absent_stopped_by(
    definition: dict[str, Any],
    state_name: str,
    children: tuple[str, ...],
    turn: dict[str, Any],
    expected: int,
) -> None:
    states = child_states(definition, state_name)
    last_turn = {k: v for k, v in LAST_TURN_PAYLOAD.items() if k != "stoppedBy"} | turn

    assert choose(states[children[1]], last_turn) == children[expected]


@pytest.mark.parametrize("map_state", MAP_STATES)
def test_every_end_of_a_child_outputs_the_same_tiny_document(
    definition: dict[str, Any], map_state: str
) -> None:
    states = child_states(definition, map_state)
    ends = {
        name: state
        for name, state in states.items()
        if state["Type"] not in {"Task", "Choice"} or state.get("End")
    }

    assert len(ends) == 4
    outputs = {
        json.dumps(end_output(state, {**LAST_TURN_PAYLOAD, "error": CAUGHT_ERROR}))
        for state in ends.values()
    }
    assert outputs == {"{}"}


@pytest.mark.parametrize("map_state", MAP_STATES)
def test_the_gathered_result_of_10000_stopped_segments_stays_far_under_the_quota(
    definition: dict[str, Any], map_state: str
) -> None:
    """Every segment stopped after its retries: each child ends in the Catch's target
    with its last input plus the caught error. The Map gathers all of them, even with
    ResultPath null, and a result over 262,144 bytes fails the execution uncatchably."""
    states = child_states(definition, map_state)
    task = next(state for state in states.values() if state["Type"] == "Task")
    (catch,) = task["Catch"]
    assert catch["ResultPath"] == "$.error"
    stopped_input = {**LAST_TURN_PAYLOAD, "error": CAUGHT_ERROR}

    one_child = end_output(states[catch["Next"]], stopped_input)
    gathered = json.dumps([one_child] * MAX_SEGMENTS, separators=(",", ":"))

    assert len(gathered.encode()) <= PAYLOAD_QUOTA_BYTES // 8


@pytest.mark.parametrize("map_state", MAP_STATES)
def test_the_gathered_result_of_10000_finished_segments_stays_far_under_the_quota(
    definition: dict[str, Any], map_state: str
) -> None:
    states = child_states(definition, map_state)
    choice_state = next(state for state in states.values() if state["Type"] == "Choice")

    for rule in choice_state["Choices"]:
        one_child = end_output(states[rule["Next"]], LAST_TURN_PAYLOAD)
        gathered = json.dumps([one_child] * MAX_SEGMENTS, separators=(",", ":"))
        assert len(gathered.encode()) <= PAYLOAD_QUOTA_BYTES // 8, rule["Next"]


@pytest.mark.parametrize("map_state", MAP_STATES)
def test_a_paused_child_stays_inside_the_history_quota_with_room_for_retries(
    definition: dict[str, Any], map_state: str
) -> None:
    """A child that reaches the turn limit ends cleanly (resumable) instead of being cut
    off by the history quota, with room left for a thousand retries."""
    states = child_states(definition, map_state)
    choice_state = next(state for state in states.values() if state["Type"] == "Choice")
    (limit,) = [
        rule["NumericGreaterThanEquals"]
        for rule in choice_state["Choices"]
        if rule.get("Variable") == "$.invocation"
    ]
    start_and_end_events = 4  # ExecutionStarted, PassStateEntered/Exited, ExecutionSucceeded

    events = limit * EVENTS_PER_TURN + start_and_end_events + 1_000 * EVENTS_PER_RETRY

    assert limit == environment.MAX_TURNS_PER_SEGMENT
    assert events <= HISTORY_QUOTA_EVENTS


@pytest.mark.parametrize(("state_name", "function"), MAP_FUNCTIONS)
def test_each_loop_runs_only_its_own_function(
    definition: dict[str, Any], synthesized: Synthesized, state_name: str, function: str
) -> None:
    states = child_states(definition, state_name)
    functions = {invoked_function(state) for state in states.values() if state["Type"] == "Task"}

    assert functions == {f"<{synthesized.function(function)[0]}.Arn>"}


def test_aggregate_receives_the_plan_and_hands_its_document_to_the_rollback_choice(
    definition: dict[str, Any], synthesized: Synthesized
) -> None:
    aggregate = definition["States"]["Aggregate"]

    assert invoked_function(aggregate) == f"<{synthesized.function('aggregate')[0]}.Arn>"
    assert aggregate["Parameters"]["Payload"] == {"plan.$": "$.plan"}
    assert aggregate["OutputPath"] == "$.Payload"
    assert aggregate["Next"] == "ChooseRollback"
    assert "End" not in aggregate


def test_the_execution_succeeds_only_on_success_or_a_stop_at_the_windows_end(
    definition: dict[str, Any],
) -> None:
    states = definition["States"]

    assert states["ChooseOutcome"] == {
        "Type": "Choice",
        "Choices": [
            {
                "Or": [
                    {"Variable": "$.success", "BooleanEquals": True},
                    STOPPED_BY_WINDOW_RULE,
                ],
                "Next": "RunSucceeded",
            }
        ],
        "Default": "RunFailed",
    }
    assert states["RunSucceeded"] == {"Type": "Succeed"}


FAILED_DOCUMENT = {
    "success": False,
    "errorType": environment.RUN_ERROR_SEGMENTS_UNFINISHED,
    "error": "segments 0 of 3 did not finish",
    "resumable": True,
}
WINDOW_CLOSED_DOCUMENT = {
    "success": False,
    "errorType": environment.RUN_ERROR_WINDOW_CLOSED,
    "error": "the run's window closed",
    "resumable": True,
    "stoppedBy": environment.STOPPED_BY_WINDOW,
}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        pytest.param({"success": True}, "RunSucceeded", id="success-absent"),
        pytest.param({"success": True, "stoppedBy": None}, "RunSucceeded", id="success-null"),
        pytest.param(WINDOW_CLOSED_DOCUMENT, "RunSucceeded", id="window"),
        pytest.param(FAILED_DOCUMENT, "RunFailed", id="failed-absent"),
        pytest.param(FAILED_DOCUMENT | {"stoppedBy": None}, "RunFailed", id="failed-null"),
        pytest.param(FAILED_DOCUMENT | {"stoppedBy": "other"}, "RunFailed", id="failed-other"),
    ],
)
def test_the_outcome_choice_never_fails_on_a_null_or_absent_stopped_by(
    definition: dict[str, Any], document: dict[str, Any], expected: str
) -> None:
    """The document leaves a null stoppedBy out (it omits null sections)."""
    assert choose(definition["States"]["ChooseOutcome"], document) == expected


def test_an_unsuccessful_run_fails_with_the_documents_error_type_and_error(
    definition: dict[str, Any],
) -> None:
    assert definition["States"]["RunFailed"] == {
        "Type": "Fail",
        "ErrorPath": "$.errorType",
        "CausePath": "$.error",
    }


def all_tasks(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    tasks = {}
    for name, state in definition["States"].items():
        if state["Type"] == "Task":
            tasks[name] = state
        for child_name, child in state.get("ItemProcessor", {}).get("States", {}).items():
            if child["Type"] == "Task":
                tasks[child_name] = child
    return tasks


def test_plan_and_aggregate_retry_service_errors_with_full_jitter(
    definition: dict[str, Any],
) -> None:
    tasks = all_tasks(definition)

    assert set(tasks) == {"Plan", "MigratePages", "VerifyPages", "RollbackPages", "Aggregate"}
    for name in ("Plan", "Aggregate"):
        assert tasks[name]["Retry"] == [LAMBDA_RETRY], name


@pytest.mark.parametrize("task_name", [task_name for task_name, _ in SEGMENT_TASKS])
def test_a_segment_turn_retries_service_errors_killed_turns_and_busy_segments(
    definition: dict[str, Any], task_name: str
) -> None:
    """Retriers are matched in order, each with its own count: Lambda.Unknown (a turn
    killed by its timeout or memory) is retried a bounded number of times."""
    task = all_tasks(definition)[task_name]

    assert task["Retry"] == [LAMBDA_RETRY, KILLED_TURN_RETRY, BUSY_SEGMENT_RETRY]


@pytest.mark.parametrize(("task_name", "function"), SEGMENT_TASKS)
def test_a_busy_segment_is_retried_for_longer_than_a_whole_turn(
    definition: dict[str, Any], synthesized: Synthesized, task_name: str, function: str
) -> None:
    task = all_tasks(definition)[task_name]
    (busy,) = [r for r in task["Retry"] if environment.ERROR_SEGMENT_BUSY in r["ErrorEquals"]]
    _, properties = synthesized.function(function)

    assert busy["BackoffRate"] == 1
    assert busy["IntervalSeconds"] * busy["MaxAttempts"] > properties["Timeout"]


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


def test_a_run_may_last_as_long_as_a_standard_execution_may(definition: dict[str, Any]) -> None:
    """10,000 segments of up to MAX_TURNS_PER_SEGMENT 15-minute turns at a small
    maxConcurrency need weeks or months; only the service's one-year limit bounds it."""
    assert definition["TimeoutSeconds"] == ONE_YEAR_SECONDS
