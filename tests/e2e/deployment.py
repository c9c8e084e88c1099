"""The synthesized stack, deployed into the e2e harness: the ``pipeline`` fixture.

The definition, the functions' handlers, timeouts and environment all come from the
template `cdk synth` produces; the harness (conftest.py) routes each Lambda invocation to
the handler the template names, in process. The handlers reach DynamoDB Local through
AWS_ENDPOINT_URL_DYNAMODB and moto's S3 for run records and reports.

The execution's status tells the truth: SUCCEEDED only when the run's document says
``success: true``; otherwise it FAILS with the document's ``errorType`` as its error and
the document's ``error`` as its cause, the document itself being the Aggregate state's
output and ``runs/<run id>/output.json`` in the report bucket (:meth:`Pipeline.failed_run`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from profile_migrations.dal.control import ControlTable, control_table_name
from profile_migrations.dal.seeding import create_table, put_items
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA
from tests.cdk_synth import HANDLERS, TABLE_NAME
from tests.conftest import TEST_CREDENTIALS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
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

    def run(
        self, execution_input: dict[str, Any], name: str = "run-1", timeout: float = 120
    ) -> ExecutionResult:
        return self.harness.run(self.state_machine_arn, execution_input, name=name, timeout=timeout)

    def execution_arn(self, name: str) -> str:
        """The ARN of this state machine's execution called ``name``."""
        return f"{self.state_machine_arn.replace(':stateMachine:', ':execution:')}:{name}"

    def invocations(self, function: str) -> int:
        return self.harness.invocations[self.function_names[function]]

    def report_lines(self, run_id: str) -> list[dict[str, Any]]:
        """Every line of the run's report, whatever the objects it is split into."""
        s3 = self.harness.client("s3")
        lines: list[dict[str, Any]] = []
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix=f"runs/{run_id}/report/"
        )
        for page in pages:
            for entry in page.get("Contents", []):
                body = s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read().decode()
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


def _resolve(value: Any, refs: dict[str, str]) -> Any:
    """A template value with the stack's references replaced by what the harness made."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return refs[value["Ref"]]
    if "Fn::GetAtt" in value:
        return refs[value["Fn::GetAtt"][0]]
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return str(delimiter).join(_resolve(part, refs) for part in parts)
    raise AssertionError(f"unexpected intrinsic function: {value}")


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
    refs = {bucket_id: BUCKET, "AWS::Partition": "aws", "AWS::Region": sfn_harness.region}
    for control_id, control in synthesized.resources("AWS::DynamoDB::GlobalTable").items():
        assert control["Properties"]["TableName"] == control_name
        refs[control_id] = control_name  # a template from before the control table moved out
    names: dict[str, str] = {}
    for function, handler in HANDLERS.items():
        logical_id, properties = synthesized.function(function)
        environment = {
            name: _resolve(value, refs)
            for name, value in properties["Environment"]["Variables"].items()
        }
        refs[logical_id] = sfn_harness.create_function(
            logical_id,
            handler,
            timeout=properties["Timeout"],
            memory_size=properties["MemorySize"],
            environment=environment,
        )
        names[function] = logical_id
    (machine,) = synthesized.resources("AWS::StepFunctions::StateMachine").values()
    definition = _resolve(machine["Properties"]["DefinitionString"], refs)
    arn = sfn_harness.create_state_machine(machine["Properties"]["StateMachineName"], definition)
    dynamodb = boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint_url)
    for table in (TABLE_NAME, LOCAL_TABLE, control_name, control_table_name(LOCAL_TABLE)):
        if table in dynamodb.list_tables()["TableNames"]:
            dynamodb.delete_table(TableName=table)
    create_table(dynamodb, TABLE_NAME, PROFILE_KEY_SCHEMA)
    control_table = ControlTable(dynamodb, control_name)
    control_table.ensure_exists()  # as a CLI command run before the first execution would
    yield Pipeline(sfn_harness, arn, dynamodb, names, control_table)


def seed(pipeline: Pipeline, items: list[dict[str, Any]], table: str = TABLE_NAME) -> None:
    put_items(pipeline.dynamodb, table, items)
