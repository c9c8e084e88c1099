"""End-to-end harness: run a state machine definition in moto, with its Lambdas run in process.

``mock_aws(config={"stepfunctions": {"execute_state_machine": True},
"lambda": {"use_docker": False}})`` makes moto *interpret* the ASL (its parser backend);
each ``lambda:invoke`` task then becomes a boto3 ``Invoke`` that moto routes to
``moto.awslambda_simple.models.LambdaSimpleBackend.invoke``.

The one routing seam
--------------------
``LambdaSimpleBackend.invoke(self, function_name, qualifier, body, headers,
response_headers) -> bytes`` is patched (``unittest.mock.patch.object``, for the lifetime of
the fixture only). ``function_name`` is the name or ARN from the task's ``FunctionName``,
``body`` the request payload as ``str`` (``""`` when the task sends no ``Payload``). The
patch looks the function up in moto's Lambda backend, imports its configured ``Handler``
(``package.module.function``), and calls ``handler(event, context)`` with
``event = json.loads(body or "{}")`` and a :class:`FakeLambdaContext`. It returns what the
Python runtime would put on the wire:

* success: the JSON of the return value; the ``lambda:invoke`` task result is then
  ``{"StatusCode": 200, "Payload": <return value>}`` (moto omits AWS's ``ExecutedVersion``
  and ``Sdk*Metadata``), a legacy ``Resource: <function ARN>`` task gets the return value;
* handler raised: header ``x-amz-function-error: Unhandled`` and the runtime's error JSON
  ``{"errorMessage", "errorType": type(exc).__name__, "requestId", "stackTrace"}``. ASL
  sees ``Error = errorType`` (e.g. ``StoreUnavailableError``) and ``Cause`` = that JSON;
* :meth:`StepFunctionsHarness.inject_service_error`: the Invoke API itself fails (the
  handler is not run), so ASL sees ``Lambda.<code>``, e.g. ``Lambda.TooManyRequestsException``.

Three patches that change no result
-----------------------------------
* moto's Retry sleeps in real time (``time.sleep`` in ``retrier_decl``). The harness
  records each computed delay in ``retry_delays`` and, while ``instant_retries`` is true
  (the default), skips the sleep. Task ``TimeoutSeconds``, Wait states and the execution's
  ``TimeoutSeconds`` still run in real time.
* a Distributed Map's child executions are not real executions in moto (their events are
  absent from ``GetExecutionHistory``). The harness gives each child its own event list
  so :meth:`StepFunctionsHarness.count_events` can count them, per child.
* moto builds a new JSONPath parser (PLY's lexer and yacc tables) for every path it
  evaluates, most of its time per state; the harness memoizes ``parse(path)`` (parsed
  expressions are not mutated by ``find`` or ``update_or_create``).

AWS's quotas, enforced (aws_fidelity.py)
----------------------------------------
moto enforces none of them faithfully; the hooks of :class:`aws_fidelity.QuotaMonitor`
measure every state's input and output, every task's result, every Lambda request sent
from a state, every Distributed Map's gathered result (256 KiB each) and every history,
parent and child (25,000 events); the routed invoke checks Lambda's 6 MB request and
response. A breach fails the state as AWS would (``States.DataLimitExceeded``, which
``States.ALL`` cannot catch) and is recorded; ``wait()`` then stops the execution and
raises :class:`HarnessError` naming the quota, state, execution and size (unless
``enforce_quotas`` is false, for a test that inspects the failed execution itself).
``largest_payload`` keeps the largest payload seen.

IAM, enforced (iam_fidelity.py)
-------------------------------
The handlers run with the test's credentials and nothing here authorizes a call, so
:class:`iam_fidelity.IamMonitor` does what IAM would: every AWS request a handler sends
(botocore's ``before-send``, which the fast scan emits too) is recorded as an ``ApiCall``
of the function whose handler runs on that thread (or on the thread that started it);
a function given a role (:meth:`StepFunctionsHarness.assign_role`; the ``pipeline``
fixture gives each of the four its role from the synthesized template) whose role does
not allow the call gets AWS's AccessDenied answer, and ``wait()`` raises
:class:`HarnessError` naming the function, role, action and resource (unless
``enforce_roles`` is false). ``api_calls`` lists every call; a test's own requests made
on a handler's thread go inside ``harness.iam.unattributed()``.

A handler that outlives its function's ``Timeout`` (by ``harness.clock``) returns
Lambda's ``Sandbox.Timedout`` error; one that raises :class:`SimulatedKill` (from a
test's store wrapper, say) dies there with ``Runtime.ExitError``, its writes so far kept.
Step Functions reports both as ``Lambda.Unknown``, as AWS does for a function that did not
finish (timeout, out of memory).

Handlers share one process: ``os.environ`` receives the region, whatever
:meth:`StepFunctionsHarness.set_environment` sets, and every invoked function's
``Environment.Variables`` (two functions may not set one variable to different values);
all of it is rolled back at teardown. DynamoDB Local is reached by setting
``AWS_ENDPOINT_URL_DYNAMODB`` (moto lets non-AWS hosts through) *and the credentials the
test used*: DynamoDB Local keeps one database per access key.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import json
import os
import threading
import time
import traceback
import uuid
import zipfile
from collections import Counter
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple
from unittest import mock

import boto3
import pytest
from moto import mock_aws
from moto.awslambda.exceptions import LambdaClientError
from moto.awslambda.utils import get_backend
from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.utils import json_path

from tests.e2e.aws_fidelity import (
    KILLED_ERROR_TYPE,
    LAMBDA_INVOKE,
    MAX_LAMBDA_PAYLOAD_BYTES,
    MAX_PAYLOAD_BYTES,
    STEP_FUNCTIONS_QUOTAS,
    TIMEOUT_ERROR_TYPE,
    PayloadSize,
    QuotaMonitor,
    QuotaViolation,
    SimulatedKill,
    utf8_json_size,
)
from tests.e2e.deployment import pipeline
from tests.e2e.iam_fidelity import ACCESS_DENIED_ERROR, AccessDenied, ApiCall, IamMonitor

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from moto.awslambda.models import LambdaFunction
    from moto.core.config import DefaultConfig

    from tests.e2e.iam_fidelity import RolePolicy

MOTO_CONFIG: DefaultConfig = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}
REGION = "us-east-1"
FINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
# Re-exported for tests; ``pipeline`` is the fixture of the synthesized stack, deployed.
__all__ = [
    "KILLED_ERROR_TYPE",
    "TIMEOUT_ERROR_TYPE",
    "AccessDenied",
    "ApiCall",
    "PayloadSize",
    "QuotaViolation",
    "SimulatedKill",
    "pipeline",
]


class HarnessError(AssertionError):
    """The harness, not the state machine, went wrong: a bad Handler, an env conflict…"""

    def __init__(self, message: str, error_type: str = "E2E.HarnessError") -> None:
        super().__init__(message)
        self.error_type = error_type


class ExecutionResult(NamedTuple):
    status: str
    output: Any
    error: str | None
    cause: str | None
    execution_arn: str


@dataclass(frozen=True)
class Invocation:
    """One handler run (injected service errors are counted in ``rejected`` instead)."""

    function_name: str
    request_id: str
    event: Any
    result: Any = None
    error_type: str | None = None
    exception: BaseException | None = None


@dataclass(frozen=True)
class EventCounts:
    parent: Counter[str]
    map_runs: dict[str, Counter[str]]  # map run ARN -> events of all its child executions
    # child execution -> the events of its history on AWS (moto's, plus the child's
    # ExecutionStarted and end event, which moto does not record)
    child_histories: dict[str, int] = field(default_factory=dict)

    @property
    def children(self) -> Counter[str]:
        return sum(self.map_runs.values(), Counter())

    @property
    def total(self) -> Counter[str]:
        return self.parent + self.children

    @property
    def states_entered(self) -> int:
        """States entered, parent plus children (AWS also bills each retry as a transition)."""
        return sum(n for kind, n in self.total.items() if kind.endswith("StateEntered"))

    @property
    def longest_child(self) -> int:
        """Events in the longest child execution's history (0 without children)."""
        return max(self.child_histories.values(), default=0)


class ManualClock:
    """A clock for ``harness.clock``: moves only by ``advance`` plus ``per_read`` per read."""

    def __init__(self, start: float = 0.0, per_read: float = 0.0) -> None:
        self.now = start
        self.per_read = per_read
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            now = self.now
            self.now += self.per_read
            return now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


@dataclass
class FakeLambdaContext:
    function_name: str
    function_version: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    aws_request_id: str
    log_group_name: str
    log_stream_name: str
    deadline: float
    clock: Callable[[], float]
    identity: Any = None
    client_context: Any = None

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.clock()) * 1000))


class _LambdaServiceError(LambdaClientError):
    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(code, message)
        self.code = status


def _to_wire(value: Any) -> bytes:
    """Encode like the Python runtime: Decimals become JSON numbers."""

    def default(obj: object) -> object:
        if isinstance(obj, Decimal):
            return int(obj) if obj == obj.to_integral_value() else float(obj)
        raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")

    return json.dumps(value, default=default).encode()


def _error_payload(error_type: str, message: str, request_id: str, trace: list[str]) -> bytes:
    body = {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": trace,
    }
    return json.dumps(body).encode()


def _dummy_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# the harness runs the real handler in process\n")
    return buffer.getvalue()


@dataclass
class StepFunctionsHarness:
    """Everything a test needs; built by the ``sfn_harness`` fixture."""

    region: str
    role_arn: str
    clock: Callable[[], float] = time.monotonic
    instant_retries: bool = True
    enforce_quotas: bool = True
    enforce_roles: bool = True
    poll_interval: float = 0.01
    invocations: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    invocation_log: list[Invocation] = field(default_factory=list)
    retry_delays: list[float] = field(default_factory=list)
    harness_errors: list[str] = field(default_factory=list)
    quotas: QuotaMonitor = field(default_factory=QuotaMonitor)
    iam: IamMonitor = field(init=False)
    _overrides: dict[str, Callable[..., Any]] = field(default_factory=dict)
    _service_errors: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    _env_owner: dict[str, tuple[str, str]] = field(default_factory=dict)
    _in_flight: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.iam = IamMonitor(region=self.region, account=self.role_arn.split(":")[4])

    # -- boto3 clients (all answered by moto) ----------------------------------------------
    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region)  # type: ignore[call-overload]

    @property
    def sfn(self) -> Any:
        return self.client("stepfunctions")

    # -- set-up ----------------------------------------------------------------------------
    def create_function(
        self,
        name: str,
        handler: str,
        *,
        timeout: int = 3,
        memory_size: int = 128,
        environment: Mapping[str, str] | None = None,
    ) -> str:
        """Register a function whose ``Handler`` is a dotted ``module.function``; its ARN."""
        response = self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=self.role_arn,
            Handler=handler,
            Code={"ZipFile": _dummy_zip()},
            Timeout=timeout,
            MemorySize=memory_size,
            Environment={"Variables": dict(environment or {})},
        )
        return str(response["FunctionArn"])

    def create_state_machine(self, name: str, definition: str | Mapping[str, Any]) -> str:
        text = definition if isinstance(definition, str) else json.dumps(definition)
        response = self.sfn.create_state_machine(
            name=name, definition=text, roleArn=self.role_arn, type="STANDARD"
        )
        return str(response["stateMachineArn"])

    def set_environment(self, **values: str) -> None:
        """Set process environment for the handlers (rolled back at teardown)."""
        os.environ.update(values)
        boto3.DEFAULT_SESSION = None  # forget credentials resolved before this call
        self.client("sts")  # re-create the default session before threads race for it

    def override_handler(self, function_name: str, handler: Callable[..., Any]) -> None:
        """Run ``handler(event, context)`` instead of the function's configured Handler."""
        self._overrides[function_name] = handler

    def configured_handler(self, function_name: str) -> Callable[..., Any]:
        """The callable named by the function's ``Handler`` (to wrap in an override)."""
        fn = self._backend().get_function(function_name, None)
        return self._import_handler(fn.handler)

    def assign_role(self, function_name: str, role: RolePolicy) -> None:
        """Hold the function to ``role``: a call it does not allow is AccessDenied and
        fails the test (iam_fidelity.py)."""
        self.iam.assign(function_name, role)

    def inject_service_error(
        self,
        function_name: str,
        code: str = "TooManyRequestsException",
        *,
        times: int = 1,
        status: int = 429,
        message: str = "Rate Exceeded.",
    ) -> None:
        """Make the next ``times`` Invoke calls fail before the handler: ASL sees Lambda.<code>."""
        with self._lock:
            queue = self._service_errors.setdefault(function_name, [])
            queue.extend([(code, message, status)] * times)

    # -- executions ------------------------------------------------------------------------
    def start(
        self, state_machine_arn: str, execution_input: Any = None, name: str | None = None
    ) -> str:
        # Always name it: moto names an unnamed execution "None" (and refuses a second one).
        text = execution_input
        if not isinstance(text, str):
            text = json.dumps({} if execution_input is None else execution_input)
        size = utf8_json_size(json.loads(text))
        if self.enforce_quotas and size > MAX_PAYLOAD_BYTES:
            raise HarnessError(
                f"AWS quota exceeded: StartExecution input is {size:,} bytes, above AWS's "
                f"{MAX_PAYLOAD_BYTES:,} ({STEP_FUNCTIONS_QUOTAS})"
            )
        response = self.sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name or f"e2e-{uuid.uuid4().hex}", input=text
        )
        return str(response["executionArn"])

    def wait(self, execution_arn: str, timeout: float = 60.0) -> ExecutionResult:
        """Poll until the execution ends (moto runs it in a background thread)."""
        sfn = self.sfn
        deadline = time.monotonic() + timeout
        while True:
            try:
                described = sfn.describe_execution(executionArn=execution_arn)
            except TypeError as exc:  # moto cannot JSON-encode a datetime in the output
                raise HarnessError(
                    f"moto could not describe the execution ({exc}); a raw "
                    "$$.Execution.StartTime (a datetime in moto) probably reached the output"
                ) from exc
            if described["status"] in FINAL_STATUSES:
                break
            if self.enforce_quotas and self.quotas.violations_of(execution_arn):
                # AWS would have failed it; stop moto's run rather than wait for its end.
                sfn.stop_execution(executionArn=execution_arn, error="E2E.QuotaExceeded")
                break
            if self.enforce_roles and self.iam.denials_of(execution_arn):
                # The test fails whatever happens next: stop rather than wait for the end.
                sfn.stop_execution(executionArn=execution_arn, error=ACCESS_DENIED_ERROR)
                break
            if time.monotonic() > deadline:
                sfn.stop_execution(executionArn=execution_arn, error="E2E.Timeout")
                raise HarnessError(
                    f"{execution_arn} still RUNNING after {timeout}s; "
                    f"invocations so far: {dict(self.invocations)}"
                )
            time.sleep(self.poll_interval)
        if self.harness_errors:
            raise HarnessError("; ".join(self.harness_errors))
        violations = self.quotas.violations_of(execution_arn)
        if self.enforce_quotas and violations:
            raise HarnessError(
                "\n".join(str(violation) for violation in violations), "E2E.QuotaExceeded"
            )
        denials = self.iam.denials_of(execution_arn)
        if self.enforce_roles and denials:
            distinct = list(dict.fromkeys(str(denial) for denial in denials))
            raise HarnessError("\n".join(distinct), ACCESS_DENIED_ERROR)
        output = described.get("output")
        return ExecutionResult(
            status=described["status"],
            output=json.loads(output) if output is not None else None,
            error=described.get("error"),
            cause=described.get("cause"),
            execution_arn=execution_arn,
        )

    def run(
        self,
        state_machine_arn: str,
        execution_input: Any = None,
        *,
        name: str | None = None,
        timeout: float = 60.0,
    ) -> ExecutionResult:
        """Start an execution and wait for it: ``status, output, error, cause, arn``."""
        return self.wait(self.start(state_machine_arn, execution_input, name), timeout)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """The parent execution's events (moto does not paginate them)."""
        return list(self.sfn.get_execution_history(executionArn=execution_arn)["events"])

    def count_events(self, execution_arn: str) -> EventCounts:
        parent = Counter(str(event["type"]) for event in self.history(execution_arn))
        map_runs: dict[str, Counter[str]] = {}
        child_histories: dict[str, int] = {}
        for child in self.quotas.children_of(execution_arn):
            events = child.events.get_event_history()
            kinds = Counter(str(getattr(e["type"], "value", e["type"])) for e in events)
            map_runs[child.map_run_arn] = map_runs.get(child.map_run_arn, Counter()) + kinds
            child_histories[child.events.execution] = child.events.aws_event_count
        return EventCounts(parent=parent, map_runs=map_runs, child_histories=child_histories)

    @property
    def quota_violations(self) -> list[QuotaViolation]:
        """Every breach of an AWS quota so far, in any execution."""
        return self.quotas.all_violations()

    @property
    def api_calls(self) -> list[ApiCall]:
        """Every AWS request any function sent so far (each attempt once)."""
        return self.iam.all_calls()

    @property
    def access_denied(self) -> list[AccessDenied]:
        """Every call a function's role did not allow, in any execution."""
        return self.iam.all_denials()

    @property
    def largest_payload(self) -> PayloadSize | None:
        """The largest payload any state, task, Map or Lambda call has carried so far."""
        return self.quotas.largest

    def state_output(self, execution_arn: str, state_name: str) -> Any:
        """The output of the state's last exit in the parent execution (e.g. the document
        an Aggregate task produced, when a later Fail state ends the execution)."""
        for event in reversed(self.history(execution_arn)):
            details = event.get("stateExitedEventDetails")
            if details and details["name"] == state_name:
                return json.loads(details["output"])
        raise HarnessError(f"state {state_name!r} never exited in {execution_arn}")

    def map_runs(self, execution_arn: str) -> list[dict[str, Any]]:
        """DescribeMapRun of each map run (item counts: moto ignores ToleratedFailure*)."""
        sfn = self.sfn
        runs = sfn.list_map_runs(executionArn=execution_arn)["mapRuns"]
        return [sfn.describe_map_run(mapRunArn=run["mapRunArn"]) for run in runs]

    # -- the routed invoke -----------------------------------------------------------------
    def _backend(self) -> LambdaSimpleBackend:
        backend = get_backend(self.role_arn.split(":")[4], self.region)
        assert isinstance(backend, LambdaSimpleBackend)
        return backend

    def _import_handler(self, dotted: str | None) -> Callable[..., Any]:
        module_name, _, attribute = (dotted or "").rpartition(".")
        if not module_name:
            raise HarnessError(f"Handler {dotted!r} is not of the form package.module.function")
        handler = getattr(importlib.import_module(module_name), attribute, None)
        if not callable(handler):
            raise HarnessError(
                f"Handler {dotted!r}: {module_name} has no callable {attribute}",
                "Runtime.HandlerNotFound",
            )
        return handler  # type: ignore[no-any-return]

    def _apply_environment(self, fn: LambdaFunction) -> None:
        with self._lock:
            for key, value in (fn.environment_vars or {}).items():
                owner = self._env_owner.get(key)
                if owner is not None and owner[0] != value:
                    raise HarnessError(
                        f"{fn.function_name} sets {key}={value!r} but {owner[1]} set {owner[0]!r};"
                        " in-process handlers share os.environ"
                    )
                self._env_owner[key] = (value, fn.function_name)
                os.environ[key] = value

    def _context(
        self, fn: LambdaFunction, invoked_as: str, qualifier: str | None
    ) -> FakeLambdaContext:
        arn = invoked_as if invoked_as.startswith("arn:") else fn.function_arn
        if qualifier and not arn.endswith(f":{qualifier}"):
            arn = f"{arn}:{qualifier}"
        return FakeLambdaContext(
            function_name=fn.function_name,
            function_version=str(fn.version),
            invoked_function_arn=arn,
            memory_limit_in_mb=int(fn.memory_size),
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{fn.function_name}",
            log_stream_name=f"e2e/[{fn.version}]{uuid.uuid4().hex}",
            deadline=self.clock() + float(fn.timeout),
            clock=self.clock,
        )

    def invoke(
        self,
        backend: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: str | bytes | None,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        fn = backend.get_function(function_name, qualifier)
        name = fn.function_name
        request_size = len(body.encode() if isinstance(body, str) else body or b"")
        if self._lambda_payload_too_large(request_size, "Lambda request", name):
            raise _LambdaServiceError(
                "RequestEntityTooLargeException",
                f"Request must be smaller than {MAX_LAMBDA_PAYLOAD_BYTES} bytes for the "
                "InvokeFunction operation",
                413,
            )
        with self._lock:
            queue = self._service_errors.get(name)
            injected = queue.pop(0) if queue else None
            if injected:
                self.rejected[name] += 1
            else:
                self.invocations[name] += 1
                self._in_flight += 1
        if injected:
            raise _LambdaServiceError(*injected)
        try:
            return self._run_handler(fn, function_name, qualifier, body, headers, response_headers)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _run_handler(
        self,
        fn: LambdaFunction,
        invoked_as: str,
        qualifier: str | None,
        body: str | bytes | None,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        context = self._context(fn, invoked_as, qualifier)
        event = json.loads(body) if body else {}
        call = Invocation(fn.function_name, context.aws_request_id, event)

        def fail(exc: BaseException, error_type: str, message: str) -> bytes:
            self._log(replace(call, error_type=error_type, exception=exc))
            response_headers["x-amz-function-error"] = "Unhandled"
            trace = traceback.format_tb(exc.__traceback__)
            return _error_payload(error_type, message, call.request_id, trace)

        try:
            self._apply_environment(fn)
            handler = self._overrides.get(fn.function_name) or self._import_handler(fn.handler)
        except (HarnessError, ImportError) as exc:
            with self._lock:
                self.harness_errors.append(f"{fn.function_name}: {exc}")
            kind = getattr(exc, "error_type", "Runtime.ImportModuleError")
            return fail(exc, kind, str(exc))
        try:
            with self.iam.running(fn.function_name, self.quotas.invoke_context.root):
                result = handler(event, context)
        except SimulatedKill as kill:  # the runtime died mid-way: what it wrote stays
            return fail(
                kill,
                KILLED_ERROR_TYPE,
                f"RequestId: {call.request_id} Error: Runtime exited with error: signal: killed",
            )
        except Exception as exc:
            return fail(exc, type(exc).__name__, str(exc))
        if context.get_remaining_time_in_millis() <= 0:
            timed_out = TimeoutError(f"Task timed out after {float(fn.timeout):.2f} seconds")
            return fail(
                timed_out, TIMEOUT_ERROR_TYPE, f"RequestId: {call.request_id} Error: {timed_out}"
            )
        try:
            payload = _to_wire(result)
        except (TypeError, ValueError) as exc:
            return fail(exc, "Runtime.MarshalError", f"Unable to marshal response: {exc}")
        if self._lambda_payload_too_large(len(payload), "Lambda response", fn.function_name):
            too_large = ValueError(
                f"Response payload size ({len(payload)} bytes) exceeded maximum allowed "
                f"payload size ({MAX_LAMBDA_PAYLOAD_BYTES} bytes)."
            )
            return fail(too_large, "Function.ResponseSizeTooLarge", str(too_large))
        self._log(replace(call, result=result))
        if str(headers.get("X-Amz-Invocation-Type", "RequestResponse")) != "RequestResponse":
            return b""
        return payload

    def _log(self, invocation: Invocation) -> None:
        with self._lock:
            self.invocation_log.append(invocation)

    def _lambda_payload_too_large(self, size: int, what: str, function_name: str) -> bool:
        """Lambda's 6 MB quota on a synchronous request or response (any caller)."""
        caller = self.quotas.invoke_context  # the Lambda task calling, if any
        execution = caller.execution or "(none: a direct Invoke)"
        violation = self.quotas.observe(
            size,
            f"{what} ({function_name})",
            caller.state,
            execution,
            caller.root or execution,
            MAX_LAMBDA_PAYLOAD_BYTES,
            LAMBDA_INVOKE,
        )
        return violation is not None

    def _drain(self, timeout: float = 5.0) -> None:
        """Stop executions still running and let in-flight handlers finish."""
        sfn = self.sfn
        for machine in sfn.list_state_machines()["stateMachines"]:
            listed = sfn.list_executions(
                stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
            )
            for execution in listed["executions"]:
                with contextlib.suppress(Exception):
                    sfn.stop_execution(executionArn=execution["executionArn"], error="E2E.Teardown")
        deadline = time.monotonic() + timeout
        while self._in_flight and time.monotonic() < deadline:
            time.sleep(self.poll_interval)


@pytest.fixture
def sfn_harness() -> Iterator[StepFunctionsHarness]:
    """moto with ASL execution on and Lambda invocations routed to in-process handlers."""
    with mock_aws(config=MOTO_CONFIG), contextlib.ExitStack() as stack:
        stack.enter_context(
            mock.patch.dict(os.environ, {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION})
        )
        role = boto3.client("iam", region_name=REGION).create_role(
            RoleName="e2e-execution-role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {
                                "Service": [
                                    f"{service}.amazonaws.com" for service in ("lambda", "states")
                                ]
                            },
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )
        harness = StepFunctionsHarness(region=REGION, role_arn=role["Role"]["Arn"])

        def routed_invoke(backend: LambdaSimpleBackend, *args: Any) -> bytes:
            return harness.invoke(backend, *args)

        def retry_sleep(seconds: float) -> None:
            harness.retry_delays.append(seconds)
            if not harness.instant_retries:
                time.sleep(seconds)

        stack.enter_context(mock.patch.object(LambdaSimpleBackend, "invoke", routed_invoke))
        for patch in harness.quotas.patches():
            stack.enter_context(patch)
        for patch in harness.iam.patches():
            stack.enter_context(patch)
        stack.enter_context(
            mock.patch.object(retrier_decl, "time", mock.NonCallableMock(sleep=retry_sleep))
        )
        for module in (json_path, result_path):  # parse each JSONPath once, not per use
            stack.enter_context(
                mock.patch.object(module, "parse", functools.lru_cache(maxsize=4096)(module.parse))
            )
        stack.callback(harness._drain)
        yield harness
