"""The synthesized stack, deployed into the e2e harness: the ``pipeline`` fixture.

The definition, the functions' handlers, timeouts and environment all come from the
template `cdk synth` produces; the harness (conftest.py) routes each Lambda invocation to
the handler the template names, in process. The handlers reach DynamoDB Local through
AWS_ENDPOINT_URL_DYNAMODB and moto's S3 for run records and reports.

The execution's status tells the truth: SUCCEEDED only when the run's document says
``success: true``; otherwise it FAILS with the document's ``errorType`` as its error and
the document's ``error`` as its cause, the document itself being the Aggregate state's
output and ``runs/<run id>/output.json`` in the report bucket (:meth:`Pipeline.failed_run`).

Each function is held to its role in the template (:meth:`Pipeline.enforce_roles`,
iam_fidelity.py): a call its role does not allow is AccessDenied, as on AWS, and fails
the test. The references are resolved as CloudFormation would resolve them in the
harness's account and region: a ``Ref`` to a function or bucket is its name, a
``Fn::GetAtt`` of its ``Arn`` its ARN (``arn:aws:s3:::<bucket>``), the pseudo parameters
``aws``, the region and moto's account; the table ARNs are joined from those in the
template (``arn:aws:dynamodb:<region>:<account>:table/<name>``, the control table by
name). Attributes the harness does not make (the log groups' ARNs) resolve to
``<LogicalId.Attribute>`` in a role, which matches no request.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.dal.seeding import create_table, put_items
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA
from profile_migrations.handlers.dependencies import segment_dependencies
from tests.cdk_synth import HANDLERS, TABLE_NAME
from tests.conftest import TEST_CREDENTIALS
from tests.e2e.iam_fidelity import function_role

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from profile_migrations.logic.ports import ProfileStore
    from tests.cdk_synth import Synthesized
    from tests.e2e.conftest import ExecutionResult, StepFunctionsHarness

BUCKET = "profile-migration-reports"
LOCAL_TABLE = "UserProfilesLocalRun"


@dataclass
class Pipeline:
    harness: StepFunctionsHarness
    state_machine_arn: str
    dynamodb: DynamoDBClient
    function_names: dict[str, str]
    control: ControlTable
    # What each Ref ("LogicalId") and Fn::GetAtt ("LogicalId.Attribute") resolves to.
    references: dict[str, str] = field(default_factory=dict)

    def run(
        self, execution_input: dict[str, Any], name: str = "run-1", timeout: float = 120
    ) -> ExecutionResult:
        return self.harness.run(self.state_machine_arn, execution_input, name=name, timeout=timeout)

    def execution_arn(self, name: str) -> str:
        """The ARN of this state machine's execution called ``name``."""
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"

    def enforce_roles(self, template: Mapping[str, Any]) -> None:
        """Hold each of the four functions to its role in ``template`` (the synthesized
        template's JSON, or a copy a test changed) from now on."""
        for logical_id in self.function_names.values():
            role = function_role(template, logical_id, self.resolve_for_role)
            self.harness.assign_role(logical_id, role)

    def resolve_for_role(self, value: Any) -> str:
        """A role's template value, resolved; what the harness did not make (a log
        group's ARN) becomes ``<LogicalId.Attribute>``, which matches no request."""
        return str(resolve(value, self.references, unresolved=lambda name: f"<{name}>"))

    def api_calls(self, function: str) -> list[tuple[str, str, str]]:
        """(service, operation, resource) of every AWS request the function sent."""
        name = self.function_names[function]
        return [
            (call.service, call.operation, call.resource)
            for call in self.harness.api_calls
            if call.function == name
        ]

    def invocations(self, function: str) -> int:
        return self.harness.invocations[self.function_names[function]]

    def report_lines(self, run_id: str) -> list[dict[str, Any]]:
        """Every line of the run's report, whatever the objects it is split into (each a
        gzip-compressed JSON Lines page, stored as such: see dal/s3.py)."""
        s3 = self.harness.client("s3")
        lines: list[dict[str, Any]] = []
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"runs/{run_id}/report/"
        )
        for page in pages:
            for entry in page.get("Contents", []):
                stored = s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read()
                body = gzip.decompress(stored).decode()
                lines.extend(json.loads(line) for line in body.splitlines())
        return lines

    def stored_output(self, run_id: str) -> dict[str, Any]:
        """The run's document as the Aggregate function stored it in the report bucket."""
        body = self.harness.client("s3").get_object(Bucket=BUCKET, Key=f"runs/{run_id}/output.json")
        document: dict[str, Any] = json.loads(body["Body"].read())
        return document

    def document(self, result: ExecutionResult) -> dict[str, Any]:
        """The run's document: the execution's output when it succeeded, else the output
        of its Aggregate state (a Fail state after it ends the execution)."""
        if result.status == "SUCCEEDED":
            output: dict[str, Any] = result.output
            return output
        aggregated: dict[str, Any] = self.harness.state_output(result.execution_arn, "Aggregate")
        return aggregated

    def failed_run(self, result: ExecutionResult, error_type: str) -> dict[str, Any]:
        """Check that a finished but unsuccessful run failed its execution the contract's
        way (error: the document's errorType; cause: its error), and return the document."""
        if (result.status, result.error) != ("FAILED", error_type):
            said = result.cause
            if isinstance(result.output, dict):
                said = f"errorType {result.output.get('errorType')!r}: {result.output.get('error')}"
            raise AssertionError(
                f"expected the execution to fail with {error_type}; it ended {result.status} "
                f"with error {result.error!r} ({said})"
            )
        document = self.document(result)
        assert document["success"] is False
        assert document["errorType"] == error_type
        assert result.cause == document["error"]
        return document


def resolve(
    value: Any, refs: Mapping[str, str], unresolved: Callable[[str], str] | None = None
) -> Any:
    """A template value with the stack's references replaced by what the harness made:
    ``refs`` maps a ``Ref``'s logical id, and ``LogicalId.Attribute`` a ``Fn::GetAtt``.
    A reference missing from ``refs`` is ``unresolved(name)``, or an AssertionError."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        name = str(value["Ref"])
    elif "Fn::GetAtt" in value:
        logical_id, attribute = value["Fn::GetAtt"]
        name = f"{logical_id}.{attribute}"
    elif "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return str(delimiter).join(str(resolve(part, refs, unresolved)) for part in parts)
    else:
        raise AssertionError(f"unexpected intrinsic function: {value}")
    if name in refs:
        return refs[name]
    if unresolved is not None:
        return unresolved(name)
    raise AssertionError(f"the harness made nothing {name} refers to")


@pytest.fixture
def pipeline(
    sfn_harness: StepFunctionsHarness, synthesized: Synthesized, dynamodb_local: DynamoDBLocal
) -> Iterator[Pipeline]:
    sfn_harness.set_environment(
        AWS_ENDPOINT_URL_DYNAMODB=dynamodb_local.endpoint_url,
        AWS_ACCESS_KEY_ID=TEST_CREDENTIALS.access_key_id,
        AWS_SECRET_ACCESS_KEY=TEST_CREDENTIALS.secret_access_key,
    )
    sfn_harness.client("s3").create_bucket(Bucket=BUCKET)
    (bucket_id,) = synthesized.resources("AWS::S3::Bucket")
    # The control table is no resource of the stack: the Plan function (or the CLI)
    # creates `<table>-migrations` on first use.
    control_name = control_table_name(TABLE_NAME)
    account = sfn_harness.iam.account
    refs = {
        bucket_id: BUCKET,
        f"{bucket_id}.Arn": f"arn:aws:s3:::{BUCKET}",
        "AWS::Partition": "aws",
        "AWS::Region": sfn_harness.region,
        "AWS::AccountId": account,
        "AWS::URLSuffix": "amazonaws.com",
    }
    for control_id, control in synthesized.resources("AWS::DynamoDB::GlobalTable").items():
        assert control["Properties"]["TableName"] == control_name
        refs[control_id] = control_name  # a template from before the control table moved out
        refs[f"{control_id}.Arn"] = (
            f"arn:aws:dynamodb:{sfn_harness.region}:{account}:table/{control_name}"
        )
    names: dict[str, str] = {}
    for function, handler in HANDLERS.items():
        logical_id, properties = synthesized.function(function)
        environment = {
            name: resolve(value, refs)
            for name, value in properties["Environment"]["Variables"].items()
        }
        refs[f"{logical_id}.Arn"] = sfn_harness.create_function(
            logical_id,
            handler,
            timeout=properties["Timeout"],
            memory_size=properties["MemorySize"],
            environment=environment,
        )
        refs[logical_id] = logical_id  # a function's Ref is its name
        names[function] = logical_id
    (machine,) = synthesized.resources("AWS::StepFunctions::StateMachine").values()
    definition = resolve(machine["Properties"]["DefinitionString"], refs)
    arn = sfn_harness.create_state_machine(machine["Properties"]["StateMachineName"], definition)
    dynamodb = boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint_url)
    for table in (TABLE_NAME, LOCAL_TABLE, control_name, control_table_name(LOCAL_TABLE)):
        if table in dynamodb.list_tables()["TableNames"]:
            dynamodb.delete_table(TableName=table)
    create_table(dynamodb, TABLE_NAME, PROFILE_KEY_SCHEMA)
    control_table = ControlTable(dynamodb, control_name)
    control_table.ensure_exists()  # as a CLI command run before the first execution would
    deployed = Pipeline(sfn_harness, arn, dynamodb, names, control_table, refs)
    deployed.enforce_roles(synthesized.template_json)
    yield deployed


def with_store(
    handler: Callable[..., Any], store: Callable[[ProfileStore], ProfileStore]
) -> Callable[..., Any]:
    """A Migrate or Verify handler whose profile store is ``store(the function's own)``,
    every other dependency as the function builds it from its environment."""

    def invoke(event: dict[str, Any], context: Any) -> Any:
        deps = segment_dependencies()
        return handler(event, context, deps=replace(deps, store=store(deps.store)))

    return invoke


def seed(pipeline: Pipeline, items: list[dict[str, Any]], table: str = TABLE_NAME) -> None:
    put_items(pipeline.dynamodb, table, items)
