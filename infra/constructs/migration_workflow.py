"""The Standard state machine: plan, fan segments out, verify, aggregate, roll back,
tell the truth.

Shape (state names are part of the interface; tests, docs and the e2e harness refer to
them)::

    Plan -(refused)-> RequestRefused (Fail)
      -> ChooseMode -($.plan.mode == "rollback")-> RollbackSegments
                    -($.plan.verifyOnly)-> VerifySegments
                    -(otherwise)-> MigrateSegments -> ChooseVerify -(dryRun)-> Aggregate
                                                                  -(otherwise)-> VerifySegments
      VerifySegments -> Aggregate
      RollbackSegments -> Aggregate
      Aggregate -> ChooseRollback -($.plan is present)-> RollbackSegments
                                  -(otherwise)-> ChooseOutcome
      ChooseOutcome -($.success == true or $.stoppedBy == "window")-> RunSucceeded
                    -(otherwise)-> RunFailed (Fail)

A rollback runs either on request (the plan's ``mode`` is ``"rollback"``) or after a run
started with ``rollbackOnFailure`` failed: that run's document then carries the rollback's
plan as its ``plan`` field (the document has no ``plan`` otherwise), RollbackSegments
undoes the run from its write-ahead journal (its result discarded, so its output is the
document it got) and Aggregate, sent ``$.plan``, aggregates the rollback. The rollback's
own document has no ``plan``, so the loop through ChooseRollback runs at most once per
document that asks for it.

Each Distributed Map runs one child execution per segment (state names of the Migrate
loop; the Verify loop's are VerifyPages, VerifyDone, VerifyComplete, VerifyWindowClosed,
VerifyPaused and VerifyStopped; the Rollback loop's RollbackPages, RollbackDone,
RollbackComplete, RollbackWindowClosed, RollbackPaused and RollbackStopped)::

    MigratePages -(error after its retries)-> SegmentStopped
      -> SegmentDone -($.done == true)-> SegmentComplete
                     -($.stoppedBy == "window")-> SegmentWindowClosed
                     -($.invocation >= MAX_TURNS_PER_SEGMENT)-> SegmentPaused
                     -(otherwise)-> MigratePages

The child loops its Lambda task until the segment reports ``done``, ends it (resumable)
once the task reports that the run's window closed, pauses it (resumable) after
``MAX_TURNS_PER_SEGMENT`` turns, or stops it when the task still fails after its
retries. Whichever way, the child ends in a Pass state whose output is the constant
``{}``: a Distributed Map without a ResultWriter gathers every child's output into its
result even with ``ResultPath: null`` (aws/aws-cdk issue 24799), and a result over the
262,144-byte payload quota ("Maximum input or output size for a task, state, or
execution", https://docs.aws.amazon.com/step-functions/latest/dg/limits.html) fails the
whole execution with ``States.DataLimitExceeded``, which no Catch handles ("Handling
errors in Step Functions workflows",
https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). With
``{}`` per child, 10,000 segments gather 30,001 bytes. No child fails, so the Map needs
no failure tolerance; what a segment did, or why it stopped, is in its records in the
report bucket and the control table, and the Aggregate state reports it.

The run's document (the Aggregate function's output, also written to
``runs/<run id>/output.json``) decides the execution's status: SUCCEEDED, with the
document as the execution's output, when ``success`` is true or when ``stoppedBy`` says
the run stopped at its window's end (an intended stop: ``success: false``,
``resumable: true``); otherwise FAILED with the document's ``errorType`` as the error and
its ``error`` as the cause (a Fail state's ``ErrorPath`` and ``CausePath``, "Fail
workflow state", https://docs.aws.amazon.com/step-functions/latest/dg/state-fail.html).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from aws_cdk import ArnFormat, Duration, Fn, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import constants
from infra.nag import acknowledge_wildcard_resources
from profile_migrations import environment

if TYPE_CHECKING:
    from aws_cdk.aws_lambda import IFunction

# Fields of the plan every turn task carries (the wire names of TurnTask).
_TURN_ITEM_FIELDS = (
    "runId",
    "execution",
    "tableName",
    "totalSegments",
    "targetVersion",
    "keyAttributes",
    "pageSize",
    "maxWriteCapacity",
    "maxReadCapacity",
    "stopAt",
)
# A migrate turn's task (SegmentTask) also carries the run's mode and clock.
_MIGRATE_ITEM_FIELDS = (*_TURN_ITEM_FIELDS, "dryRun", "startedAt")
_VERIFY_ITEM_FIELDS = (*_TURN_ITEM_FIELDS, "deepVerify")
# A rollback turn's task (the wire names of RollbackTask): a turn's fields and the run it
# undoes.
_ROLLBACK_ITEM_FIELDS = (*_TURN_ITEM_FIELDS, "rollsBack")


@dataclass(frozen=True)
class SegmentLoopStates:
    """Names of a child workflow's states: the Lambda task, the Choice after it, and its
    four ends (each a Pass state whose output is ``{}``)."""

    task: str
    done: str
    complete: str
    window_closed: str
    paused: str
    stopped: str


MIGRATE_MAP_LABEL = "Segments"
VERIFY_MAP_LABEL = "Verify"
ROLLBACK_MAP_LABEL = "Rollback"
MIGRATE_LOOP = SegmentLoopStates(
    task="MigratePages",
    done="SegmentDone",
    complete="SegmentComplete",
    window_closed="SegmentWindowClosed",
    paused="SegmentPaused",
    stopped="SegmentStopped",
)
VERIFY_LOOP = SegmentLoopStates(
    task="VerifyPages",
    done="VerifyDone",
    complete="VerifyComplete",
    window_closed="VerifyWindowClosed",
    paused="VerifyPaused",
    stopped="VerifyStopped",
)
ROLLBACK_LOOP = SegmentLoopStates(
    task="RollbackPages",
    done="RollbackDone",
    complete="RollbackComplete",
    window_closed="RollbackWindowClosed",
    paused="RollbackPaused",
    stopped="RollbackStopped",
)
ROLLBACK_MAP = "RollbackSegments"
ROLLBACK_CHOICE = "ChooseRollback"
# The plan's `mode` (RunPlan.mode) that asks for a rollback instead of a migration.
PLAN_MODE_PATH = "$.plan.mode"
PLAN_MODE_ROLLBACK = "rollback"
# Present in the run's document only when the run must be rolled back: the rollback's plan.
DOCUMENT_PLAN_PATH = "$.plan"
# The output of every child execution, whatever happened in it.
CHILD_OUTPUT: dict[str, Any] = {}
OUTCOME_CHOICE = "ChooseOutcome"
RUN_SUCCEEDED = "RunSucceeded"
RUN_FAILED = "RunFailed"
# Fields of the run's document (the TypeScript design's response format) the tail reads.
DOCUMENT_SUCCESS_PATH = "$.success"
# A turn task's and the document's field naming why the run stopped early, if it did.
STOPPED_BY_PATH = "$.stoppedBy"
DOCUMENT_ERROR_TYPE_PATH = "$.errorType"
DOCUMENT_ERROR_PATH = "$.error"


def string_field_equals(path: str, value: str) -> sfn.Condition:
    """True when the field at ``path`` is the string ``value``; false, never an error,
    when the field is null or absent.

    On AWS a comparison whose ``Variable`` path is absent fails the Choice state with
    ``States.Runtime`` ("The choice state's condition path references an invalid
    value"), so ``IsPresent`` and ``IsString`` ("Choice workflow state",
    https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html) come first
    and ``And`` stops at the first rule that is false.
    """
    return sfn.Condition.and_(
        sfn.Condition.is_present(path),
        sfn.Condition.is_string(path),
        sfn.Condition.string_equals(path, value),
    )


def stopped_by_window() -> sfn.Condition:
    """True when ``$.stoppedBy`` is ``"window"``; false, never an error, when the field is
    null or absent (the run's document leaves a null ``stoppedBy`` out; a turn task
    carries it as null)."""
    return string_field_equals(STOPPED_BY_PATH, environment.STOPPED_BY_WINDOW)


def rollback_requested() -> sfn.Condition:
    """True when the plan's ``mode`` is ``"rollback"``; false, never an error, for a plan
    without a ``mode``."""
    return string_field_equals(PLAN_MODE_PATH, PLAN_MODE_ROLLBACK)


class PipelineFunctions(Protocol):
    """The functions the state machine invokes (``MigrationFunctions`` is one)."""

    @property
    def plan(self) -> IFunction: ...

    @property
    def migrate(self) -> IFunction: ...

    @property
    def verify(self) -> IFunction: ...

    @property
    def aggregate(self) -> IFunction: ...

    @property
    def rollback(self) -> IFunction: ...


class MigrationWorkflow(Construct):
    """The ProfileMigration state machine and its log group."""

    def __init__(
        self, scope: Construct, construct_id: str, *, functions: PipelineFunctions
    ) -> None:
        super().__init__(scope, construct_id)
        aggregate_state = self._build_aggregate(functions.aggregate)
        rollback_map = self._build_segment_map(
            ROLLBACK_MAP,
            label=ROLLBACK_MAP_LABEL,
            fields=_ROLLBACK_ITEM_FIELDS,
            processor=self._build_segment_loop(functions.rollback, ROLLBACK_LOOP),
        )
        rollback_map.next(aggregate_state)
        aggregate_state.next(self._build_rollback_choice(rollback_map))
        verify_map = self._build_segment_map(
            "VerifySegments",
            label=VERIFY_MAP_LABEL,
            fields=_VERIFY_ITEM_FIELDS,
            processor=self._build_segment_loop(functions.verify, VERIFY_LOOP),
        ).next(aggregate_state)
        migrate_map = self._build_segment_map(
            "MigrateSegments",
            label=MIGRATE_MAP_LABEL,
            fields=_MIGRATE_ITEM_FIELDS,
            processor=self._build_segment_loop(functions.migrate, MIGRATE_LOOP),
        )
        migrate_map.next(
            sfn.Choice(self, "ChooseVerify")
            .when(sfn.Condition.boolean_equals("$.plan.dryRun", True), aggregate_state)
            .otherwise(verify_map)
        )
        definition = self._build_plan(functions.plan).next(
            sfn.Choice(self, "ChooseMode")
            .when(rollback_requested(), rollback_map)
            .when(sfn.Condition.boolean_equals("$.plan.verifyOnly", True), verify_map)
            .otherwise(migrate_map)
        )
        self.log_group = logs.LogGroup(self, "Logs", retention=constants.LOG_RETENTION)
        self.state_machine = self._build_state_machine(definition)
        self._acknowledge_findings(
            [
                functions.plan,
                functions.migrate,
                functions.verify,
                functions.aggregate,
                functions.rollback,
            ]
        )

    def _build_plan(self, function: IFunction) -> tasks.LambdaInvoke:
        """Validates the input; a refusal ends the execution before anything is read."""
        task = tasks.LambdaInvoke(
            self,
            "Plan",
            lambda_function=function,
            payload=sfn.TaskInput.from_object(
                {
                    "request": sfn.JsonPath.entire_payload,
                    "execution": sfn.JsonPath.string_at("$$.Execution.Name"),
                    "startedAt": sfn.JsonPath.string_at("$$.Execution.StartTime"),
                }
            ),
            result_selector={"plan": sfn.JsonPath.object_at("$.Payload")},
            retry_on_service_exceptions=False,
        )
        self._add_retry(task)
        refused = sfn.Fail(
            self,
            "RequestRefused",
            error=constants.REFUSED_ERROR_NAME,
            cause_path="$.error.Cause",
        )
        task.add_catch(
            refused, errors=list(constants.REQUEST_REFUSED_ERRORS), result_path="$.error"
        )
        return task

    def _build_segment_map(
        self,
        state_id: str,
        *,
        label: str,
        fields: tuple[str, ...],
        processor: sfn.IChainable,
    ) -> sfn.DistributedMap:
        """One child execution per segment, at most ``$.plan.maxConcurrency`` at once."""
        item_selector: dict[str, Any] = {
            "segment": sfn.JsonPath.string_at("$$.Map.Item.Value"),
            **{name: sfn.JsonPath.string_at(f"$.plan.{name}") for name in fields},
            "invocation": 0,
        }
        segment_map = sfn.DistributedMap(
            self,
            state_id,
            label=label,
            items_path="$.plan.segments",
            item_selector=item_selector,
            max_concurrency_path="$.plan.maxConcurrency",
            result_path=sfn.JsonPath.DISCARD,
            map_execution_type=sfn.StateMachineType.STANDARD,
        )
        segment_map.item_processor(processor)
        return segment_map

    def _build_segment_loop(self, function: IFunction, states: SegmentLoopStates) -> sfn.IChainable:
        """Invoke the function with its own last output until it returns ``done: true``.

        Ends, always with the output ``{}``: ``complete`` when the segment is done;
        ``window_closed`` when the turn reports that the run's window closed
        (``stoppedBy: "window"``), the segment resumable from its checkpoint; ``paused``
        once ``$.invocation`` reaches ``MAX_TURNS_PER_SEGMENT``, well before the child's
        history reaches its 25,000-event quota (a turn adds 7 events, a retry 3; "Maximum
        execution history size", Step Functions quotas,
        https://docs.aws.amazon.com/step-functions/latest/dg/limits.html), leaving the
        segment resumable from its checkpoint; ``stopped`` when the task still fails after
        its retries. The Aggregate state reports every segment whose last record is not
        ``done``.
        """
        invoke = tasks.LambdaInvoke(
            self,
            states.task,
            lambda_function=function,
            payload=sfn.TaskInput.from_json_path_at("$"),
            output_path="$.Payload",
            retry_on_service_exceptions=False,
        )
        self._add_retry(invoke)
        self._add_segment_turn_retries(invoke)
        invoke.add_catch(
            self._child_end(states.stopped), errors=[sfn.Errors.ALL], result_path="$.error"
        )
        return invoke.next(
            sfn.Choice(self, states.done)
            .when(sfn.Condition.boolean_equals("$.done", True), self._child_end(states.complete))
            .when(stopped_by_window(), self._child_end(states.window_closed))
            .when(
                sfn.Condition.number_greater_than_equals(
                    "$.invocation", constants.MAX_TURNS_PER_SEGMENT
                ),
                self._child_end(states.paused),
            )
            .otherwise(invoke)
        )

    def _child_end(self, state_id: str) -> sfn.Pass:
        """An end of a child execution: its output is ``{}`` whatever its input."""
        return sfn.Pass(self, state_id, result=sfn.Result.from_object(CHILD_OUTPUT))

    def _add_segment_turn_retries(self, task: tasks.LambdaInvoke) -> None:
        """Two retriers after the shared one, each with its own count.

        A turn killed by its timeout or by running out of memory surfaces as
        ``Lambda.Unknown`` ("Handle Lambda service exceptions",
        https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html):
        retried a few times, the turn resumes from the segment's checkpoint. A turn
        refused because another turn of its segment still runs (``SegmentBusyError``)
        waits a minute at a time, longer in total than a whole turn can last.
        """
        task.add_retry(
            errors=list(constants.KILLED_TURN_ERRORS),
            interval=Duration.seconds(constants.KILLED_TURN_RETRY_INTERVAL_SECONDS),
            backoff_rate=constants.KILLED_TURN_RETRY_BACKOFF_RATE,
            max_attempts=constants.KILLED_TURN_RETRY_MAX_ATTEMPTS,
        )
        task.add_retry(
            errors=list(constants.BUSY_SEGMENT_ERRORS),
            interval=Duration.seconds(constants.BUSY_SEGMENT_RETRY_INTERVAL_SECONDS),
            backoff_rate=constants.BUSY_SEGMENT_RETRY_BACKOFF_RATE,
            max_attempts=constants.BUSY_SEGMENT_RETRY_MAX_ATTEMPTS,
        )

    def _build_aggregate(self, function: IFunction) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            "Aggregate",
            lambda_function=function,
            payload=sfn.TaskInput.from_object({"plan": sfn.JsonPath.object_at("$.plan")}),
            output_path="$.Payload",
            retry_on_service_exceptions=False,
        )
        self._add_retry(task)
        return task

    def _build_rollback_choice(self, rollback_map: sfn.DistributedMap) -> sfn.Choice:
        """Back to ``rollback_map`` when the run's document carries a ``plan`` (a run with
        ``rollbackOnFailure`` that must be undone: the rollback's plan); otherwise on to
        the outcome. The document leaves absent sections out, so ``IsPresent`` is the test.

        This closes a cycle (RollbackSegments -> Aggregate -> ChooseRollback), which a
        Choice may do; it ends because a rollback's own document carries no ``plan``.
        """
        return (
            sfn.Choice(self, ROLLBACK_CHOICE)
            .when(sfn.Condition.is_present(DOCUMENT_PLAN_PATH), rollback_map)
            .otherwise(self._build_outcome())
        )

    def _build_outcome(self) -> sfn.Choice:
        """SUCCEEDED, with the document as the execution's output, only when the document
        says ``success: true`` or ``stoppedBy: "window"`` (the run stopped at its window's
        end, resumable: what a scheduled window is for); otherwise FAILED with error
        ``errorType`` and cause ``error``. The whole document stays readable as the
        Aggregate state's output and in the report bucket.

        The document must hold ``success`` (a boolean) and, when it is false,
        ``errorType`` and ``error`` (strings): a path the Choice or the Fail state cannot
        resolve fails the execution with ``States.Runtime`` instead (still FAILED, but
        without the reason). An execution's error holds at most 256 characters and its
        cause 32,768 ("ExecutionFailedEventDetails",
        https://docs.aws.amazon.com/step-functions/latest/apireference/API_ExecutionFailedEventDetails.html).
        """
        failed = sfn.Fail(
            self,
            RUN_FAILED,
            error_path=sfn.JsonPath.string_at(DOCUMENT_ERROR_TYPE_PATH),
            cause_path=sfn.JsonPath.string_at(DOCUMENT_ERROR_PATH),
        )
        return (
            sfn.Choice(self, OUTCOME_CHOICE)
            .when(
                sfn.Condition.or_(
                    sfn.Condition.boolean_equals(DOCUMENT_SUCCESS_PATH, True),
                    stopped_by_window(),
                ),
                sfn.Succeed(self, RUN_SUCCEEDED),
            )
            .otherwise(failed)
        )

    def _add_retry(self, task: tasks.LambdaInvoke) -> None:
        task.add_retry(
            errors=list(constants.RETRYABLE_ERRORS),
            interval=Duration.seconds(constants.RETRY_INTERVAL_SECONDS),
            backoff_rate=constants.RETRY_BACKOFF_RATE,
            max_attempts=constants.RETRY_MAX_ATTEMPTS,
            max_delay=Duration.seconds(constants.RETRY_MAX_DELAY_SECONDS),
            jitter_strategy=sfn.JitterType.FULL,
        )

    def _build_state_machine(self, definition: sfn.IChainable) -> sfn.StateMachine:
        """Logs every event without execution data: profile contents never reach logs."""
        return sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=constants.STATE_MACHINE_NAME,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            timeout=Duration.days(constants.STATE_MACHINE_TIMEOUT_DAYS),
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=False,
            ),
        )

    def _acknowledge_findings(self, functions: list[IFunction]) -> None:
        """The wildcard resources CDK generates for the state machine's role, each with
        its reason; the infrastructure tests pin these policies' exact statements."""
        role = self.state_machine.role
        acknowledge_wildcard_resources(
            role,
            ["*"],
            "X-Ray tracing (xray:PutTraceSegments, ...) and CloudWatch Logs vended-log "
            "delivery (logs:CreateLogDelivery, ...) do not support resource-level "
            "permissions; CDK generates this statement for tracing and logging.",
        )
        acknowledge_wildcard_resources(
            role,
            [f"{function.function_arn}:*" for function in functions],
            "lambda:InvokeFunction on the versions and aliases of the pipeline's own five "
            "functions, as LambdaInvoke grants it.",
        )
        executions = Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=Fn.select(6, Fn.split(":", self.state_machine.state_machine_arn)),
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        acknowledge_wildcard_resources(
            self.state_machine.node.find_child("DistributedMapPolicy"),
            [
                f"{executions}:*",
                f"{executions}/{MIGRATE_MAP_LABEL}:*",
                f"{executions}/{VERIFY_MAP_LABEL}:*",
                f"{executions}/{ROLLBACK_MAP_LABEL}:*",
            ],
            "Distributed Map child executions of this state machine only (describe, stop, "
            "redrive); their names are generated at run time. CDK generates this policy.",
        )
