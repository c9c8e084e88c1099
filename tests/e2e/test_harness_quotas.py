"""The harness enforces AWS's quotas: a tiny hand-written definition that exceeds one
fails here as it would fail on AWS (aws_fidelity.py names each quota and its source).

Each definition is the smallest that crosses one limit; the payloads are strings of a
known length, so each size below is exact: ``{"s":"<n chars>"}`` is n + 8 bytes.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError
from moto.stepfunctions.parser.api import HistoryEventType
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext

from tests.e2e.aws_fidelity import (
    DATA_LIMIT_EXCEEDED,
    MAX_HISTORY_EVENTS,
    MAX_LAMBDA_PAYLOAD_BYTES,
    MAX_PAYLOAD_BYTES,
    QuotaMonitor,
    SimulatedKill,
    TrackedEventManager,
)
from tests.e2e.conftest import HarnessError, ManualClock

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.e2e.conftest import StepFunctionsHarness

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
WRAPPER_BYTES = len('{"s":""}')  # what {"s": text} adds to len(text)
AT_THE_QUOTA = MAX_PAYLOAD_BYTES - WRAPPER_BYTES  # ASCII characters filling 256 KiB exactly
DISTRIBUTED = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}


def payload(chars: int, char: str = "x") -> dict[str, str]:
    return {"s": char * chars}


def pass_machine(harness: StepFunctionsHarness, result: Any) -> str:
    return harness.create_state_machine(
        "Big",
        {"StartAt": "Big", "States": {"Big": {"Type": "Pass", "Result": result, "End": True}}},
    )


def function(harness: StepFunctionsHarness, handler: Callable[..., Any], timeout: int = 3) -> str:
    """A function whose handler is ``handler`` (the configured Handler is never imported)."""
    arn = harness.create_function("Fn", "tests.e2e.unused.handler", timeout=timeout)
    harness.override_handler("Fn", handler)
    return arn


def lambda_machine(
    harness: StepFunctionsHarness, function_arn: str, payload_template: Any = None, **task: Any
) -> str:
    """Call the function once (Retry Lambda.Unknown once), catch everything into $.error."""
    call: dict[str, Any] = {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": function_arn, "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "Retry": [{"ErrorEquals": ["Lambda.Unknown"], "MaxAttempts": 1, "IntervalSeconds": 1}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
        "End": True,
        **task,
    }
    if payload_template is not None:
        call["Parameters"] = {"FunctionName": function_arn, "Payload": payload_template}
    return harness.create_state_machine(
        "Call",
        {"StartAt": "Call", "States": {"Call": call, "Caught": {"Type": "Pass", "End": True}}},
    )


def distributed_map(
    processor_states: dict[str, Any], start_at: str, **map_fields: Any
) -> dict[str, Any]:
    return {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": DISTRIBUTED,
                    "StartAt": start_at,
                    "States": processor_states,
                },
                "End": True,
                **map_fields,
            }
        },
    }


# -- 256 KiB per state input and output ----------------------------------------------------


@pytest.mark.parametrize(
    ("result", "size"),
    [
        (payload(AT_THE_QUOTA), MAX_PAYLOAD_BYTES),
        # 2 UTF-8 bytes each: under the quota (moto's own check, ASCII-escaped, refuses it)
        (payload(AT_THE_QUOTA // 2, "é"), MAX_PAYLOAD_BYTES),
    ],
    ids=["ascii", "utf-8"],
)
def test_a_state_output_of_exactly_256_kib_passes(
    sfn_harness: StepFunctionsHarness, result: dict[str, str], size: int
) -> None:
    outcome = sfn_harness.run(pass_machine(sfn_harness, result))

    assert outcome.status == "SUCCEEDED", outcome.cause
    assert sfn_harness.largest_payload is not None
    assert sfn_harness.largest_payload.size == size
    assert sfn_harness.quota_violations == []


def test_a_state_output_one_byte_over_256_kib_fails_the_test(
    sfn_harness: StepFunctionsHarness,
) -> None:
    arn = pass_machine(sfn_harness, payload(AT_THE_QUOTA + 1))

    with pytest.raises(HarnessError) as failure:
        sfn_harness.run(arn, name="one-byte-over")

    message = str(failure.value)
    assert "the output of state 'Big' in execution arn:aws:states:" in message
    assert ":execution:Big:one-byte-over is 262,145 bytes, above AWS's 262,144" in message
    assert "service-quotas.html" in message


def test_an_execution_input_over_256_kib_is_refused(sfn_harness: StepFunctionsHarness) -> None:
    arn = pass_machine(sfn_harness, {})

    with pytest.raises(HarnessError, match=r"StartExecution input is 262,145 bytes"):
        sfn_harness.start(arn, payload(AT_THE_QUOTA + 1))


def test_a_child_execution_input_over_256_kib_fails_the_test(
    sfn_harness: StepFunctionsHarness,
) -> None:
    # Each child's input repeats the Map's 140,000-character string twice.
    definition = distributed_map(
        {"Child": {"Type": "Pass", "Result": {}, "End": True}},
        "Child",
        ItemSelector={"a.$": "$.s", "b.$": "$.s"},
    )
    arn = sfn_harness.create_state_machine("Fan", definition)

    with pytest.raises(HarnessError) as failure:
        sfn_harness.run(arn, {"items": [0], **payload(140_000)})

    message = str(failure.value)
    assert "the input of state 'Child' in execution arn:aws:states:" in message
    assert ":mapRun:Fan/" in message
    assert "/item-0 is 280,015 bytes" in message


# -- Lambda: 256 KiB through a state, 6 MB per synchronous call ------------------------------


def test_a_lambda_request_over_256_kib_fails_before_the_function_runs(
    sfn_harness: StepFunctionsHarness,
) -> None:
    arn = function(sfn_harness, lambda event, context: {})
    machine = lambda_machine(sfn_harness, arn, {"a.$": "$.s", "b.$": "$.s"})

    with pytest.raises(HarnessError, match=r"the Lambda request of state 'Call' in execution"):
        sfn_harness.run(machine, payload(140_000))

    assert sfn_harness.invocations["Fn"] == 0


def test_a_lambda_response_over_256_kib_fails_the_execution_uncaught(
    sfn_harness: StepFunctionsHarness,
) -> None:
    """Discarding the result (ResultPath null) does not help, and States.ALL cannot catch
    States.DataLimitExceeded: the execution fails as it would on AWS."""
    arn = function(sfn_harness, lambda event, context: payload(300_000))
    machine = lambda_machine(sfn_harness, arn, ResultPath=None, OutputPath="$")
    sfn_harness.enforce_quotas = False  # to see the execution fail by itself

    outcome = sfn_harness.run(machine)

    assert (outcome.status, outcome.error) == ("FAILED", DATA_LIMIT_EXCEEDED)
    (violation,) = sfn_harness.quota_violations
    assert (violation.quota, violation.state) == ("task result", "Call")
    assert violation.size > 300_000


def test_a_lambda_response_over_6_mb_fails_the_test(sfn_harness: StepFunctionsHarness) -> None:
    arn = function(sfn_harness, lambda event, context: payload(MAX_LAMBDA_PAYLOAD_BYTES))
    machine = lambda_machine(sfn_harness, arn)

    with pytest.raises(HarnessError) as failure:
        sfn_harness.run(machine)

    assert "the Lambda response (Fn) of state 'Call' in execution" in str(failure.value)
    assert "above AWS's 6,291,456 (https://docs.aws.amazon.com/lambda/" in str(failure.value)


def test_a_direct_invoke_over_6_mb_is_refused(sfn_harness: StepFunctionsHarness) -> None:
    function(sfn_harness, lambda event, context: {})
    body = json.dumps(payload(MAX_LAMBDA_PAYLOAD_BYTES)).encode()

    with pytest.raises(ClientError, match="RequestEntityTooLargeException"):
        sfn_harness.client("lambda").invoke(FunctionName="Fn", Payload=body)

    (violation,) = sfn_harness.quota_violations
    assert (violation.quota, violation.size) == ("Lambda request (Fn)", len(body))
    assert sfn_harness.invocations["Fn"] == 0


# -- a Distributed Map's gathered result -----------------------------------------------------


def test_a_distributed_map_gathers_its_children_outputs_even_with_result_path_null(
    sfn_harness: StepFunctionsHarness,
) -> None:
    """Three children of 100,008 bytes each: every output fits, the gathered list does
    not, and neither ResultPath null nor a Catch of States.ALL saves the execution."""
    definition = distributed_map(
        {"Child": {"Type": "Pass", "End": True}},
        "Child",
        ItemSelector={"s.$": "$.s"},
        ResultPath=None,
        Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
    )
    definition["States"]["Caught"] = {"Type": "Pass", "End": True}
    arn = sfn_harness.create_state_machine("Fan", definition)
    sfn_harness.enforce_quotas = False

    outcome = sfn_harness.run(arn, {"items": [0, 1, 2], **payload(100_000)})

    assert (outcome.status, outcome.error) == ("FAILED", DATA_LIMIT_EXCEEDED)
    (violation,) = sfn_harness.quota_violations
    assert violation.quota == "Distributed Map result (the outputs of 3 children)"
    assert (violation.state, violation.size) == ("Fan", 3 * 100_008 + 4)
    assert violation.execution == outcome.execution_arn


def test_a_distributed_map_whose_children_end_with_an_empty_object_stays_small(
    sfn_harness: StepFunctionsHarness,
) -> None:
    definition = distributed_map(
        {
            "Child": {"Type": "Pass", "Next": "Done"},
            "Done": {"Type": "Pass", "Result": {}, "End": True},
        },
        "Child",
        ItemSelector={"s.$": "$.s"},
        ResultPath=None,
    )
    arn = sfn_harness.create_state_machine("Fan", definition)

    outcome = sfn_harness.run(arn, {"items": [0, 1, 2], **payload(100_000)})

    assert outcome.status == "SUCCEEDED", outcome.cause
    assert sfn_harness.quota_violations == []


# -- 25,000 events per execution history -----------------------------------------------------


FOREVER = {"Again": {"Type": "Pass", "Next": "Again"}}


@pytest.mark.parametrize(
    ("definition", "execution"),
    [
        ({"StartAt": "Again", "States": FOREVER}, ":execution:Loop:loop "),
        (distributed_map(FOREVER, "Again", ResultPath=None), "/item-0 "),
    ],
    ids=["parent", "child"],
)
def test_an_execution_history_over_25000_events_fails_the_test(
    sfn_harness: StepFunctionsHarness, definition: dict[str, Any], execution: str
) -> None:
    arn = sfn_harness.create_state_machine("Loop", definition)

    with pytest.raises(HarnessError) as failure:
        sfn_harness.run(arn, {"items": [0]}, name="loop")

    message = str(failure.value)
    assert "the history (with the end event it still needs) of execution" in message
    assert f"{execution}is 25,001 events, above AWS's 25,000" in message


@pytest.mark.parametrize(
    ("child", "recorded", "last", "violates"),
    [
        (False, MAX_HISTORY_EVENTS, HistoryEventType.ExecutionSucceeded, False),
        (False, MAX_HISTORY_EVENTS, HistoryEventType.PassStateExited, True),
        (True, MAX_HISTORY_EVENTS - 2, HistoryEventType.PassStateExited, False),
        (True, MAX_HISTORY_EVENTS - 1, HistoryEventType.PassStateExited, True),
    ],
    ids=["parent-ends-on-25000", "parent-needs-25001", "child-ends-on-25000", "child-needs-25001"],
)
def test_the_history_quota_counts_the_end_event_an_execution_still_needs(
    child: bool, recorded: int, last: HistoryEventType, violates: bool
) -> None:
    """AWS: "If the event number 25,000 isn't ExecutionSucceeded, ... the execution
    fails"; a child's ExecutionStarted and end event, which moto omits, count too."""
    monitor = QuotaMonitor()
    events = TrackedEventManager(monitor, "execution", "execution", child=child)
    context = EventHistoryContext.of_program_start()

    for _ in range(recorded - 1):
        events.add_event(context, HistoryEventType.PassStateEntered)
    events.add_event(context, last)

    assert bool(monitor.violations) is violates
    assert events.exhausted is violates


# -- a function that does not finish is Lambda.Unknown ----------------------------------------


def outlives_its_timeout(clock: ManualClock) -> Callable[..., Any]:
    def handler(event: Any, context: Any) -> Any:
        clock.advance(2)  # the function's timeout is 1 second
        return {}

    return handler


def killed(writes: list[str]) -> Callable[..., Any]:
    def handler(event: Any, context: Any) -> Any:
        writes.append("page 1")
        raise SimulatedKill

    return handler


def raises(event: Any, context: Any) -> Any:
    raise ValueError("boom")


@pytest.mark.parametrize(
    ("behaviour", "error", "cause", "attempts"),
    [
        ("timeout", "Lambda.Unknown", '"errorType":"Sandbox.Timedout"', 2),
        ("kill", "Lambda.Unknown", "Runtime exited with error: signal: killed", 2),
        ("raise", "ValueError", '"errorMessage":"boom"', 1),
    ],
    ids=["timeout", "kill", "raise"],
)
def test_a_function_that_does_not_finish_is_lambda_unknown(
    sfn_harness: StepFunctionsHarness, behaviour: str, error: str, cause: str, attempts: int
) -> None:
    clock = ManualClock()
    sfn_harness.clock = clock
    writes: list[str] = []
    handlers = {"timeout": outlives_its_timeout(clock), "kill": killed(writes), "raise": raises}
    machine = lambda_machine(sfn_harness, function(sfn_harness, handlers[behaviour], timeout=1))

    outcome = sfn_harness.run(machine)

    assert outcome.status == "SUCCEEDED", outcome.cause
    assert outcome.output["error"]["Error"] == error
    assert cause in outcome.output["error"]["Cause"]
    assert sfn_harness.invocations["Fn"] == attempts  # Retry matches Lambda.Unknown only
    if behaviour == "kill":
        assert writes == ["page 1", "page 1"]  # what a killed turn wrote stays
