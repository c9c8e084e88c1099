"""The Standard state machine: plan, fan segments out, verify, aggregate.

Shape (state names are part of the interface; tests and docs refer to them)::

    Plan -(refused)-> RequestRefused
      -> ChooseMode -(verifyOnly)-> VerifySegments
                    -(otherwise)-> MigrateSegments -> ChooseVerify -(dryRun)-> Aggregate
                                                                  -(otherwise)-> VerifySegments
      VerifySegments -> Aggregate

Each Distributed Map runs one child execution per segment; the child loops its Lambda
task until the segment reports ``done``. A child whose task still fails after its retries
is caught and ends (so no child execution fails and the Map needs no failure tolerance):
the Aggregate state notices the segment never finished and reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aws_cdk import ArnFormat, Duration, Fn, Stack
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from infra import constants
from infra.nag import acknowledge_wildcard_resources

if TYPE_CHECKING:
    from aws_cdk.aws_lambda import IFunction

# Fields of the plan every segment task starts from (the wire names of SegmentTask).
_MIGRATE_ITEM_FIELDS = (
    "runId",
    "checkpointRunId",
    "tableName",
    "totalSegments",
    "targetVersion",
    "dryRun",
    "startedAt",
    "keyAttributes",
    "pageSize",
)
_VERIFY_ITEM_FIELDS = (
    "runId",
    "tableName",
    "totalSegments",
    "targetVersion",
    "keyAttributes",
    "pageSize",
)


@dataclass(frozen=True)
class SegmentLoopStates:
    """Names of a child workflow's states."""

    task: str
    stopped: str
    done: str
    complete: str


MIGRATE_MAP_LABEL = "Segments"
VERIFY_MAP_LABEL = "Verify"
MIGRATE_LOOP = SegmentLoopStates("MigratePages", "SegmentStopped", "SegmentDone", "SegmentComplete")
VERIFY_LOOP = SegmentLoopStates("VerifyPages", "VerifyStopped", "VerifyDone", "VerifyComplete")


class MigrationWorkflow(Construct):
    """The ProfileMigration state machine and its log group."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        plan: IFunction,
        migrate: IFunction,
        verify: IFunction,
        aggregate: IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        aggregate_state = self._build_aggregate(aggregate)
        verify_map = self._build_segment_map(
            "VerifySegments",
            label=VERIFY_MAP_LABEL,
            fields=_VERIFY_ITEM_FIELDS,
            processor=self._build_segment_loop(verify, VERIFY_LOOP),
        ).next(aggregate_state)
        migrate_map = self._build_segment_map(
            "MigrateSegments",
            label=MIGRATE_MAP_LABEL,
            fields=_MIGRATE_ITEM_FIELDS,
            processor=self._build_segment_loop(migrate, MIGRATE_LOOP),
        )
        migrate_map.next(
            sfn.Choice(self, "ChooseVerify")
            .when(sfn.Condition.boolean_equals("$.plan.dryRun", True), aggregate_state)
            .otherwise(verify_map)
        )
        definition = self._build_plan(plan).next(
            sfn.Choice(self, "ChooseMode")
            .when(sfn.Condition.boolean_equals("$.plan.verifyOnly", True), verify_map)
            .otherwise(migrate_map)
        )
        self.log_group = logs.LogGroup(self, "Logs", retention=constants.LOG_RETENTION)
        self.state_machine = self._build_state_machine(definition)
        self._acknowledge_findings([plan, migrate, verify, aggregate])

    def _build_plan(self, function: IFunction) -> tasks.LambdaInvoke:
        """Validates the input; a refusal ends the execution before anything is read."""
        task = tasks.LambdaInvoke(
            self,
            "Plan",
            lambda_function=function,
            payload=sfn.TaskInput.from_object(
                {
                    "request": sfn.JsonPath.entire_payload,
                    "runId": sfn.JsonPath.string_at("$$.Execution.Name"),
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

        Any error left after the retries stops the segment (a Succeed state): the
        Aggregate state reports a segment whose last record is not ``done``.
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
        invoke.add_catch(
            sfn.Succeed(self, states.stopped), errors=[sfn.Errors.ALL], result_path="$.error"
        )
        return invoke.next(
            sfn.Choice(self, states.done)
            .when(sfn.Condition.boolean_equals("$.done", True), sfn.Succeed(self, states.complete))
            .otherwise(invoke)
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
            "lambda:InvokeFunction on the versions and aliases of the pipeline's own four "
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
            ],
            "Distributed Map child executions of this state machine only (describe, stop, "
            "redrive); their names are generated at run time. CDK generates this policy.",
        )
