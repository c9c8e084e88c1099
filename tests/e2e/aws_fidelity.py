"""What AWS enforces and moto 5.2.5's Step Functions interpreter does not, enforced here.

The e2e harness (conftest.py) runs the synthesized definition in moto. moto checks a
state's final output and a task's raw result against 256 KB itself, but with Python's
default JSON separators and ASCII escapes (so it over-counts), as a ``States.DataLimitExceeded``
that ``States.ALL`` then catches; it measures nothing else: not a state's input, not a
Lambda request, not the result a Distributed Map gathers from its children, not any
execution's history. A definition that AWS would kill therefore passes in moto. The hooks
below (installed by :meth:`QuotaMonitor.patches` for the fixture's lifetime) measure
every payload the way AWS does and record each breach as a :class:`QuotaViolation`; the
harness's ``wait()`` turns a violation into a failed test, naming the quota, the state,
the execution and the size.

The quotas, with the documents they come from:

* **256 KiB per payload** (:data:`MAX_PAYLOAD_BYTES`). Step Functions service quotas,
  https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html: "Maximum input
  or output size for a task, state, or execution: 256 KiB of data as a UTF-8 encoded
  string. This quota affects tasks (activity, Lambda function, or integrated service),
  state or execution output, and input data when scheduling a task, entering a state, or
  starting an execution." Measured as compact JSON (no spaces) encoded as UTF-8. A breach
  is ``States.DataLimitExceeded``, "a terminal error that can't be caught by the
  States.ALL error type" (Error handling in Step Functions,
  https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html),
  which the harness makes uncatchable by ``States.ALL`` in moto too.
* **A Distributed Map's gathered result** is that state's result, so the same 256 KiB:
  without a ``ResultWriter`` that exports to S3, the Map returns the array of its child
  executions' outputs ("COMPACT ... Default when ResultWriter is not specified", ResultWriter
  (Map), https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html),
  and Step Functions gathers it even when ``ResultPath`` is null (aws/aws-cdk issue 24799,
  https://github.com/aws/aws-cdk/issues/24799).
* **25,000 events per execution history** (:data:`MAX_HISTORY_EVENTS`), the parent's and
  each child execution's of a Distributed Map alike: the quotas page above ("Maximum
  execution history size: 25,000 events") and "Avoid reaching the history quota",
  https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html: "If the
  event number 25,000 isn't ExecutionSucceeded, the ExecutionFailed event is logged and the
  state machine execution fails". moto records no ExecutionStarted or ExecutionSucceeded
  event for a child execution, so the harness adds those two to a child's count.
* **6 MB per synchronous Lambda request and response** (:data:`MAX_LAMBDA_PAYLOAD_BYTES`):
  Lambda Invoke API, https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html: "For
  synchronous invocations, the maximum payload size is 6 MB" (also Lambda quotas,
  https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). Enforced in
  the harness's routed invoke (conftest.py). Passed through a state, a Lambda request is
  the task's input and its response the task's result: 256 KiB, as above.

And one error mapping, from "Handle Lambda service exceptions",
https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html:
"Unhandled errors in Lambda are reported as Lambda.Unknown in the error output. These
include out-of-memory errors and function timeouts." The harness puts on the wire what
Lambda does for a function that did not finish (``Sandbox.Timedout`` when it outlived its
timeout, ``Runtime.ExitError`` when it was killed), and the Lambda task hook below
reports those to the state machine as ``Lambda.Unknown``, its cause the returned payload.
"""

from __future__ import annotations

import datetime
import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple, cast
from unittest import mock

from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.custom_error_name import (
    CustomErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
    ErrorEqualsDecl,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
    FailureEventException,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.distributed_iteration_component import (  # noqa: E501
    DistributedIterationComponent,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor.distributed_item_processor_worker import (  # noqa: E501
    DistributedItemProcessorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.iterator.distributed_iterator_worker import (  # noqa: E501
    DistributedIteratorWorker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (  # noqa: E501
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
    StateTaskLambda,
)
from moto.stepfunctions.parser.asl.component.state.state import CommonStateField
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from moto.stepfunctions.parser.asl.eval.environment import Environment
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

MAX_PAYLOAD_BYTES = 256 * 1024  # bytes: 262,144, UTF-8 JSON of one state's input or output
MAX_HISTORY_EVENTS = 25_000  # events in one execution's history (parent or child)
MAX_LAMBDA_PAYLOAD_BYTES = 6 * 1024 * 1024  # bytes: synchronous Invoke request or response

STEP_FUNCTIONS_QUOTAS = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html"
LAMBDA_INVOKE = "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html"

DATA_LIMIT_EXCEEDED = StatesErrorNameType.StatesStatesDataLimitExceeded.to_name()
# What the harness fails an execution with when its history outgrows the quota. AWS logs
# ExecutionFailed then; the name is the harness's own, as AWS documents none.
HISTORY_LIMIT_ERROR = "E2E.HistoryLimitExceeded"
# Errors no States.ALL (or States.TaskFailed) can catch or retry.
TERMINAL_ERRORS = frozenset({DATA_LIMIT_EXCEEDED, HISTORY_LIMIT_ERROR})

LAMBDA_UNKNOWN = "Lambda.Unknown"
# What Lambda's response names when the function did not finish: it outlived its timeout,
# or its runtime was killed (out of memory, or a test's SimulatedKill).
TIMEOUT_ERROR_TYPE = "Sandbox.Timedout"
KILLED_ERROR_TYPE = "Runtime.ExitError"
UNFINISHED_ERROR_TYPES = frozenset({TIMEOUT_ERROR_TYPE, KILLED_ERROR_TYPE})

_END_EVENTS = frozenset(
    {
        HistoryEventType.ExecutionSucceeded,
        HistoryEventType.ExecutionFailed,
        HistoryEventType.ExecutionAborted,
        HistoryEventType.ExecutionTimedOut,
    }
)


class SimulatedKill(BaseException):
    """Raise it from inside a handler (a test's store wrapper, say) to kill the invocation
    there, as a timeout or an out-of-memory kill would: what the handler wrote so far
    stays, the rest of the turn never happens, and the state machine sees ``Lambda.Unknown``.

    A BaseException, so the handler's ``except Exception`` cannot swallow it. Unlike a
    real kill, the ``finally`` blocks and context-manager exits on the way out still run.
    """


class QuotaViolation(NamedTuple):
    """One breach of an AWS quota, as the failed test reports it."""

    quota: str  # what was measured: "output", "task result", "history", "Lambda request"...
    execution: str  # the execution's ARN, or a child execution's name
    state: str | None
    size: int
    limit: int
    unit: str
    source: str  # the AWS document that sets the quota

    def __str__(self) -> str:
        where = f"of state {self.state!r} in" if self.state else "of"
        return (
            f"AWS quota exceeded: the {self.quota} {where} execution {self.execution} is "
            f"{self.size:,} {self.unit}, above AWS's {self.limit:,} ({self.source})"
        )


class PayloadSize(NamedTuple):
    """A measured payload: its UTF-8 JSON size and where it was seen."""

    size: int
    what: str
    state: str | None
    execution: str


def utf8_json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON in UTF-8: how AWS measures a payload."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=_json_default)
    return len(text.encode("utf-8"))


def _json_default(obj: object) -> object:
    if isinstance(obj, datetime.date | datetime.datetime):
        return obj.isoformat()
    return str(obj)


class TrackedEventManager(EventManager):
    """An execution's event list that counts its events against the history quota.

    ``execution`` names the execution (the parent's ARN, or a child's name) and ``root``
    is the ARN of the execution the test started. moto records a child execution's state
    events but not its ExecutionStarted and end event (ExecutionSucceeded...): the count
    adds both, as AWS's history of the child would hold them.
    """

    def __init__(
        self,
        monitor: QuotaMonitor,
        execution: str,
        root: str,
        *,
        child: bool,
        cloud_watch_logging_session: Any = None,
    ) -> None:
        super().__init__(cloud_watch_logging_session=cloud_watch_logging_session)
        self.monitor = monitor
        self.execution = execution
        self.root = root
        self.child = child
        self.exhausted = False

    @property
    def aws_event_count(self) -> int:
        """The events AWS's history of this execution holds (of an ended child: with its
        ExecutionStarted and end event)."""
        with self._mutex:
            recorded = len(self._history_event_list)
        return recorded + (2 if self.child else 0)

    def add_event(
        self,
        context: Any,
        event_type: HistoryEventType,
        event_details: EventDetails | None = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> int:
        event_id = super().add_event(
            context, event_type, event_details, timestamp, update_source_event_id
        )
        count = event_id + (1 if self.child else 0)
        # The execution still has to end: unless this event is its ExecutionSucceeded,
        # its history needs one more (moto never records a child's end event).
        needed = count if not self.child and event_type in _END_EVENTS else count + 1
        if needed > MAX_HISTORY_EVENTS and not self.exhausted:
            self.exhausted = True
            violation = QuotaViolation(
                "history (with the end event it still needs)",
                self.execution,
                None,
                needed,
                MAX_HISTORY_EVENTS,
                "events",
                STEP_FUNCTIONS_QUOTAS,
            )
            self.monitor.record(violation, root=self.root)
        return event_id


@dataclass(frozen=True)
class ChildHistory:
    """One child execution of a Distributed Map, with its own event list."""

    root: str  # the parent execution's ARN
    map_run_arn: str
    index: int
    events: TrackedEventManager


class _StateBody(threading.local):
    """The state whose body this thread evaluates (a task's own work runs in another)."""

    state: Any = None


class _InvokeContext(threading.local):
    """The Lambda task invoking, seen by the harness's routed invoke (same thread)."""

    state: str | None = None
    execution: str | None = None
    root: str | None = None


@dataclass
class QuotaMonitor:
    """Measures what AWS limits, keeps the largest payload seen, records every breach."""

    violations: list[tuple[str, QuotaViolation]] = field(default_factory=list)  # (root, it)
    largest: PayloadSize | None = None
    children: list[ChildHistory] = field(default_factory=list)
    invoke_context: _InvokeContext = field(default_factory=_InvokeContext)
    _body: _StateBody = field(default_factory=_StateBody)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # -- what the harness reads --------------------------------------------------------------
    def all_violations(self) -> list[QuotaViolation]:
        with self._lock:
            return [violation for _, violation in self.violations]

    def violations_of(self, execution_arn: str) -> list[QuotaViolation]:
        with self._lock:
            return [violation for root, violation in self.violations if root == execution_arn]

    def children_of(self, execution_arn: str) -> list[ChildHistory]:
        with self._lock:
            return [child for child in self.children if child.root == execution_arn]

    def record(self, violation: QuotaViolation, *, root: str) -> None:
        with self._lock:
            self.violations.append((root, violation))

    # -- measuring ---------------------------------------------------------------------------
    def measure(
        self,
        value: Any,
        what: str,
        env: Environment,
        state: str | None,
        *,
        size: int | None = None,
    ) -> QuotaViolation | None:
        """Measure one payload passed through a state; a breach is recorded and returned."""
        size = utf8_json_size(value) if size is None else size
        execution, root = _execution_of(env)
        return self.observe(size, what, state, execution, root, MAX_PAYLOAD_BYTES)

    def observe(
        self,
        size: int,
        what: str,
        state: str | None,
        execution: str,
        root: str,
        limit: int,
        source: str = STEP_FUNCTIONS_QUOTAS,
    ) -> QuotaViolation | None:
        with self._lock:
            if self.largest is None or size > self.largest.size:
                self.largest = PayloadSize(size, what, state, execution)
        if size <= limit:
            return None
        violation = QuotaViolation(what, execution, state, size, limit, "bytes", source)
        self.record(violation, root=root)
        return violation

    # -- the hooks into moto ----------------------------------------------------------------
    def patches(self) -> Iterator[Any]:
        """The patches to enter for the fixture's lifetime (each restores moto on exit)."""
        monitor = self
        original_environment = ExecutionWorker._get_evaluation_environment

        def evaluation_environment(worker: ExecutionWorker) -> Environment:
            env = original_environment(worker)
            arn = env.states.context_object.context_object_data["Execution"]["Id"]
            env.event_manager = TrackedEventManager(
                monitor,
                arn,
                arn,
                child=False,
                cloud_watch_logging_session=env.cloud_watch_logging_session,
            )
            return env

        yield mock.patch.object(
            ExecutionWorker, "_get_evaluation_environment", evaluation_environment
        )

        for worker_class in (DistributedItemProcessorWorker, DistributedIteratorWorker):
            yield mock.patch.object(
                worker_class, "_eval_job", self._child_execution(worker_class._eval_job)
            )

        original_eval_body = CommonStateField._eval_body

        def state_eval_body(state: CommonStateField, env: Environment) -> None:
            manager = env.event_manager
            if isinstance(manager, TrackedEventManager) and manager.exhausted:
                raise _failure(
                    env,
                    HISTORY_LIMIT_ERROR,
                    f"the execution's history reached {MAX_HISTORY_EVENTS:,} events "
                    f"before state {state.name!r} ({STEP_FUNCTIONS_QUOTAS})",
                )
            monitor._enforce(env.states.get_input(), "input", env, state.name)
            outer, monitor._body.state = monitor._body.state, state
            try:
                original_eval_body(state, env)
            finally:
                monitor._body.state = outer

        yield mock.patch.object(CommonStateField, "_eval_body", state_eval_body)

        def verify_size(state: CommonStateField, env: Environment, value: Any) -> None:
            # moto checks a state's output from the state's body, and a task's result from
            # the thread that ran the task: one method (overridden by tasks) for both.
            what = "output" if monitor._body.state is state else "task result"
            monitor._enforce(value, what, env, state.name)

        for checking in (CommonStateField, StateTaskService, StateTaskLambda):
            yield mock.patch.object(checking, "_verify_size_quota", verify_size)

        original_map_execution = StateMap._eval_execution

        def map_execution(state: StateMap, env: Environment) -> None:
            original_map_execution(state, env)
            if isinstance(state.iteration_component, DistributedIterationComponent):
                # After a ResultWriter that exports to S3, this is its small description.
                result = env.stack[-1]
                what = "Distributed Map result"
                if isinstance(result, list):
                    what = f"Distributed Map result (the outputs of {len(result):,} children)"
                monitor._enforce(result, what, env, state.name)

        yield mock.patch.object(StateMap, "_eval_execution", map_execution)

        yield mock.patch.object(
            lambda_eval_utils,
            "execute_lambda_function_integration",
            self._lambda_task(lambda_eval_utils.execute_lambda_function_integration),
        )

        original_error_equals = ErrorEqualsDecl._eval_body

        def error_equals(decl: ErrorEqualsDecl, env: Environment) -> None:
            error_name = env.stack[-1]
            if getattr(error_name, "error_name", None) in TERMINAL_ERRORS:
                env.stack.pop()
                env.stack.append(error_name in decl.error_names)  # named explicitly only
                return
            original_error_equals(decl, env)

        yield mock.patch.object(ErrorEqualsDecl, "_eval_body", error_equals)

    def _enforce(self, value: Any, what: str, env: Environment, state: str | None) -> None:
        """Measure; over the quota, fail the state as AWS does (uncatchable)."""
        violation = self.measure(value, what, env, state)
        if violation is not None:
            raise _failure(env, DATA_LIMIT_EXCEEDED, str(violation))

    def _child_execution(self, original: Callable[..., None]) -> Callable[..., None]:
        """A Distributed Map job runs as a child execution with its own event list."""
        monitor = self

        def eval_job(worker: Any, env: Environment, job: Any) -> None:
            root = env.states.context_object.context_object_data["Execution"]["Id"]
            map_run_arn = worker._map_run_record.map_run_arn
            events = TrackedEventManager(
                monitor, f"{map_run_arn}/item-{job.job_index}", root, child=True
            )
            env.event_manager = events
            with monitor._lock:
                monitor.children.append(ChildHistory(root, map_run_arn, job.job_index, events))
            original(worker, env, job)

        return eval_job

    def _lambda_task(self, original: Callable[..., None]) -> Callable[..., None]:
        """A Lambda task: its request is the task's input (256 KiB); a function that did
        not finish reaches the state machine as Lambda.Unknown."""
        monitor = self

        def execute(
            env: Environment, parameters: dict[str, Any], region: str, state_credentials: Any
        ) -> None:
            entered = env.states.context_object.context_object_data.get("State")
            state = entered["Name"] if entered else None
            payload = parameters.get("Payload")
            if isinstance(payload, bytes | str):
                size = utf8_json_size(json.loads(payload or b"{}"))
                violation = monitor.measure(None, "Lambda request", env, state, size=size)
                if violation is not None:
                    raise _failure(env, DATA_LIMIT_EXCEEDED, str(violation))
            caller = monitor.invoke_context
            caller.state = state
            caller.execution, caller.root = _execution_of(env)
            try:
                original(env, parameters, region, state_credentials)
            except lambda_eval_utils.LambdaFunctionErrorException as exc:
                try:
                    error_type = json.loads(exc.payload).get("errorType")
                except (ValueError, AttributeError):
                    error_type = None
                if error_type is None or error_type in UNFINISHED_ERROR_TYPES:
                    raise _failure(env, LAMBDA_UNKNOWN, exc.payload) from exc
                raise
            finally:
                caller.state = caller.execution = caller.root = None

        return execute


def _execution_of(env: Environment) -> tuple[str, str]:
    """(the execution's name, the ARN of the execution the test started)."""
    manager = env.event_manager
    if isinstance(manager, TrackedEventManager):
        return manager.execution, manager.root
    arn = str(env.states.context_object.context_object_data["Execution"]["Id"])
    return arn, arn


def _failure(env: Environment, error: str, cause: str) -> FailureEventException:
    name = (
        StatesErrorName(typ=StatesErrorNameType.StatesStatesDataLimitExceeded)
        if error == DATA_LIMIT_EXCEEDED
        else CustomErrorName(error)
    )
    return FailureEventException(
        failure_event=FailureEvent(
            env=env,
            error_name=name,
            event_type=HistoryEventType.TaskFailed,
            event_details=cast(
                "EventDetails",
                {"taskFailedEventDetails": TaskFailedEventDetails(error=error, cause=cause)},
            ),
        )
    )
