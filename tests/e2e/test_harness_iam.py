"""The harness holds each function to its role (iam_fidelity.py): a tiny definition whose
handler calls an API its role does not grant fails the test, naming the function, the
action and the resource, and the handler meets AWS's AccessDenied; one that is granted
passes.

Each role is written as CDK synthesizes one (``Fn::Join`` of pseudo parameters,
``Fn::GetAtt`` of the bucket's ``Arn``) and resolved as the pipeline fixture resolves the
stack's (deployment.py).
"""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
import pytest

from profile_migrations.dal.dynamodb import ProfileTable, make_dynamodb_client
from profile_migrations.dal.seeding import create_table
from profile_migrations.devtools.sample_profiles import PROFILE_KEY_SCHEMA
from tests.conftest import TEST_CREDENTIALS
from tests.e2e.conftest import HarnessError
from tests.e2e.deployment import resolve
from tests.e2e.iam_fidelity import (
    ACCESS_DENIED_ERROR,
    ApiCall,
    IamRequest,
    RolePolicy,
    Statement,
    function_role,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from profile_migrations.devtools.dynamodb_local import DynamoDBLocal
    from tests.e2e.conftest import StepFunctionsHarness

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
BUCKET = "reports"
ACCOUNT = "123456789012"  # moto's
_tables = itertools.count()


def table_arn(table: str) -> dict[str, Any]:
    """A table's ARN as CDK writes it for ``Table.from_table_name``."""
    return {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":dynamodb:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                f":table/{table}",
            ],
        ]
    }


BUCKET_ARN = {"Fn::GetAtt": ["Bucket", "Arn"]}
RUN_OBJECTS = {"Fn::Join": ["", [BUCKET_ARN, "/runs/*"]]}


def allow(actions: str | list[str], resource: Any, **condition: Any) -> dict[str, Any]:
    statement = {"Action": actions, "Effect": "Allow", "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def template(*statements: dict[str, Any]) -> dict[str, Any]:
    """A stack of one function, ``Fn``, whose role holds ``statements`` and, as every
    function of the stack, logging on a log group the harness does not make."""
    logs = allow(["logs:CreateLogStream", "logs:PutLogEvents"], {"Fn::GetAtt": ["Logs", "Arn"]})
    return {
        "Resources": {
            "Bucket": {"Type": "AWS::S3::Bucket"},
            "Logs": {"Type": "AWS::Logs::LogGroup"},
            "FnRole": {"Type": "AWS::IAM::Role", "Properties": {}},
            "FnRoleDefaultPolicy": {
                "Type": "AWS::IAM::Policy",
                "Properties": {
                    "PolicyDocument": {"Statement": [logs, *statements], "Version": "2012-10-17"},
                    "PolicyName": "FnRoleDefaultPolicy",
                    "Roles": [{"Ref": "FnRole"}],
                },
            },
            "Fn": {
                "Type": "AWS::Lambda::Function",
                "Properties": {"Role": {"Fn::GetAtt": ["FnRole", "Arn"]}},
            },
        }
    }


def held_to(
    harness: StepFunctionsHarness, handler: Callable[..., Any], *statements: dict[str, Any]
) -> str:
    """A state machine calling ``Fn`` once (``handler``, held to a role of ``statements``);
    whatever the function raises is caught into ``$.error``."""
    arn = harness.create_function("Fn", "tests.e2e.unused.handler")
    harness.override_handler("Fn", handler)
    refs = {
        "AWS::Partition": "aws",
        "AWS::Region": harness.region,
        "AWS::AccountId": harness.iam.account,
        "Bucket": BUCKET,
        "Bucket.Arn": f"arn:aws:s3:::{BUCKET}",
    }
    role = function_role(
        template(*statements), "Fn", lambda value: resolve(value, refs, lambda name: f"<{name}>")
    )
    harness.assign_role("Fn", role)
    call = {
        "Type": "Task",
        "Resource": LAMBDA_INVOKE,
        "Parameters": {"FunctionName": arn, "Payload.$": "$"},
        "OutputPath": "$.Payload",
        "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Caught"}],
        "End": True,
    }
    return harness.create_state_machine(
        "Call",
        {"StartAt": "Call", "States": {"Call": call, "Caught": {"Type": "Pass", "End": True}}},
    )


def put_object(key: str) -> Callable[..., Any]:
    def handler(event: Any, context: Any) -> Any:
        boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"{}")
        return {}

    return handler


@pytest.fixture
def bucket(sfn_harness: StepFunctionsHarness) -> str:
    sfn_harness.client("s3").create_bucket(Bucket=BUCKET)
    return BUCKET


# -- S3: an object outside the granted prefix ----------------------------------------------


def test_a_granted_call_passes_and_is_recorded(
    sfn_harness: StepFunctionsHarness, bucket: str
) -> None:
    machine = held_to(sfn_harness, put_object("runs/1.json"), allow("s3:PutObject", RUN_OBJECTS))

    outcome = sfn_harness.run(machine)

    assert outcome.status == "SUCCEEDED", outcome.cause
    assert "error" not in outcome.output
    assert sfn_harness.api_calls == [ApiCall("Fn", "s3", "PutObject", "reports/runs/1.json")]
    assert sfn_harness.access_denied == []


def test_a_call_the_role_does_not_grant_fails_the_test_naming_function_action_and_resource(
    sfn_harness: StepFunctionsHarness, bucket: str
) -> None:
    machine = held_to(sfn_harness, put_object("other/1.json"), allow("s3:PutObject", RUN_OBJECTS))

    with pytest.raises(HarnessError) as failure:
        sfn_harness.run(machine)

    assert failure.value.error_type == ACCESS_DENIED_ERROR
    assert str(failure.value) == (
        "IAM: the role FnRole of function Fn does not allow s3:PutObject on "
        "arn:aws:s3:::reports/other/1.json (its s3 PutObject call (reports/other/1.json)); "
        "on AWS the call is AccessDenied "
        "(https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html)"
    )


def test_the_denied_handler_meets_aws_access_denied_and_nothing_is_written(
    sfn_harness: StepFunctionsHarness, bucket: str
) -> None:
    machine = held_to(sfn_harness, put_object("other/1.json"), allow("s3:PutObject", RUN_OBJECTS))
    sfn_harness.enforce_roles = False  # to see what the state machine sees

    outcome = sfn_harness.run(machine)

    assert outcome.output["error"]["Error"] == "AccessDenied"  # botocore's class for the code
    assert "(AccessDenied) when calling the PutObject operation" in outcome.output["error"]["Cause"]
    assert "is not authorized to perform: s3:PutObject" in outcome.output["error"]["Cause"]
    assert "Contents" not in sfn_harness.client("s3").list_objects_v2(Bucket=BUCKET)


# -- S3: a listing, allowed only under a prefix (the s3:prefix condition key) --------------


def list_objects(prefix: str) -> Callable[..., Any]:
    def handler(event: Any, context: Any) -> Any:
        boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return {}

    return handler


@pytest.mark.parametrize(("prefix", "allowed"), [("runs/run-1/failures/", True), ("other/", False)])
def test_a_listing_is_allowed_only_under_the_granted_prefix(
    sfn_harness: StepFunctionsHarness, bucket: str, prefix: str, allowed: bool
) -> None:
    granted = allow("s3:ListBucket", BUCKET_ARN, StringLike={"s3:prefix": ["runs/*"]})
    machine = held_to(sfn_harness, list_objects(prefix), granted)
    sfn_harness.enforce_roles = False

    outcome = sfn_harness.run(machine)

    assert ("error" not in outcome.output) is allowed
    (call,) = sfn_harness.api_calls
    assert call == ApiCall("Fn", "s3", "ListObjectsV2", f"reports?prefix={prefix}")
    if not allowed:
        (denial,) = sfn_harness.access_denied
        assert "does not allow s3:ListBucket on arn:aws:s3:::reports with s3:prefix='other/'" in (
            str(denial)
        )
        assert "API_ListObjectsV2.html" in str(denial)


# -- DynamoDB: both scan paths, and PartiQL ---------------------------------------------------


class LocalTable(NamedTuple):
    name: str
    client: Callable[[], Any]  # a new client to DynamoDB Local, as a handler builds its own


@pytest.fixture
def local_table(sfn_harness: StepFunctionsHarness, dynamodb_local: DynamoDBLocal) -> LocalTable:
    """A fresh table in DynamoDB Local."""

    def client() -> Any:
        return make_dynamodb_client(
            dynamodb_local.endpoint_url, sfn_harness.region, credentials=TEST_CREDENTIALS
        )

    table = LocalTable(f"iam-{next(_tables)}", client)
    create_table(client(), table.name, PROFILE_KEY_SCHEMA)
    return table


@pytest.mark.parametrize("fast_scan", [True, False], ids=["fast-scan", "botocore-scan"])
@pytest.mark.parametrize("granted", [True, False], ids=["granted", "not-granted"])
def test_a_scan_is_held_to_the_role_on_either_path(
    sfn_harness: StepFunctionsHarness,
    local_table: LocalTable,
    fast_scan: bool,
    granted: bool,
) -> None:
    """The fast path signs and sends its own request (no ``before-call``): still seen."""
    table = local_table.name
    actions = ["dynamodb:GetItem", "dynamodb:Scan"] if granted else ["dynamodb:GetItem"]

    def scan(event: Any, context: Any) -> Any:
        store = ProfileTable(local_table.client(), table, fast_scan=fast_scan)
        assert store.scan_path == ("fast" if fast_scan else "botocore")
        store.scan_page(0, 1)
        return {}

    machine = held_to(sfn_harness, scan, allow(actions, table_arn(table)))

    if granted:
        outcome = sfn_harness.run(machine)
        assert outcome.status == "SUCCEEDED", outcome.cause
        assert "error" not in outcome.output, outcome.output["error"]
    else:
        with pytest.raises(HarnessError, match=r"of function Fn does not allow dynamodb:Scan on "):
            sfn_harness.run(machine)
    assert sfn_harness.api_calls == [ApiCall("Fn", "dynamodb", "Scan", table)]
    denied = [denial.request for denial in sfn_harness.access_denied]
    arn = f"arn:aws:dynamodb:{sfn_harness.region}:{ACCOUNT}:table/{table}"
    assert denied == ([] if granted else [IamRequest("dynamodb:Scan", arn)])


@pytest.mark.parametrize(
    ("actions", "allowed"),
    [(["dynamodb:PartiQLUpdate"], True), (["dynamodb:UpdateItem"], False)],
    ids=["PartiQLUpdate", "UpdateItem-only"],
)
def test_a_partiql_update_needs_partiql_update_on_its_table(
    sfn_harness: StepFunctionsHarness,
    local_table: LocalTable,
    actions: list[str],
    allowed: bool,
) -> None:
    table = local_table.name
    statement = f'UPDATE "{table}" SET "n"=? WHERE "userId"=? AND "profileId"=?'

    def update(event: Any, context: Any) -> Any:
        local_table.client().batch_execute_statement(
            Statements=[
                {"Statement": statement, "Parameters": [{"N": "1"}, {"S": "u"}, {"S": "p"}]}
            ]
        )
        return {}

    machine = held_to(sfn_harness, update, allow(actions, table_arn(table)))
    sfn_harness.enforce_roles = False

    outcome = sfn_harness.run(machine)

    assert ("error" not in outcome.output) is allowed
    assert sfn_harness.api_calls == [ApiCall("Fn", "dynamodb", "BatchExecuteStatement", table)]
    denied = [denial.request.action for denial in sfn_harness.access_denied if denial.request]
    assert denied == ([] if allowed else ["dynamodb:PartiQLUpdate"])


# -- attribution ------------------------------------------------------------------------------


def test_a_call_from_a_thread_the_handler_started_is_the_function_s(
    sfn_harness: StepFunctionsHarness, bucket: str
) -> None:
    def in_a_pool(event: Any, context: Any) -> Any:
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda key: put_object(key)(event, context), ["runs/a", "other/b"]))
        return {}

    machine = held_to(sfn_harness, in_a_pool, allow("s3:PutObject", RUN_OBJECTS))

    with pytest.raises(HarnessError, match=r"function Fn does not allow s3:PutObject on .*other/b"):
        sfn_harness.run(machine)

    # The harness stops the execution at the first denial, so the pool's other call may
    # not have been sent yet: every call recorded is the function's, the denied one too.
    calls = sfn_harness.api_calls
    assert "reports/other/b" in {call.resource for call in calls}
    assert {call.resource for call in calls} <= {"reports/runs/a", "reports/other/b"}
    assert {call.function for call in calls} == {"Fn"}


def test_the_test_s_own_calls_on_a_handler_thread_are_no_function_s(
    sfn_harness: StepFunctionsHarness, bucket: str
) -> None:
    def application_writes_meanwhile(event: Any, context: Any) -> Any:
        with sfn_harness.iam.unattributed():
            put_object("other/by-the-application")(event, context)
        return put_object("runs/1.json")(event, context)

    machine = held_to(sfn_harness, application_writes_meanwhile, allow("s3:PutObject", RUN_OBJECTS))

    assert sfn_harness.run(machine).status == "SUCCEEDED"
    assert [call.resource for call in sfn_harness.api_calls] == ["reports/runs/1.json"]


def test_a_call_the_harness_cannot_map_fails_the_test(sfn_harness: StepFunctionsHarness) -> None:
    def asks_sts(event: Any, context: Any) -> Any:
        boto3.client("sts").get_caller_identity()
        return {}

    machine = held_to(sfn_harness, asks_sts, allow("sts:*", "*"))

    with pytest.raises(HarnessError, match=r"made its sts GetCallerIdentity call \(\?\), which"):
        sfn_harness.run(machine)


# -- the policy evaluation itself ----------------------------------------------------------


TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/T"


def role(*statements: dict[str, Any]) -> RolePolicy:
    return RolePolicy("R", tuple(Statement.parse(s, str, "R") for s in statements))


@pytest.mark.parametrize(
    ("statements", "request_", "allowed"),
    [
        ([allow("dynamodb:*", TABLE)], IamRequest("dynamodb:GetItem", TABLE), True),
        ([allow("DynamoDB:getitem", TABLE)], IamRequest("dynamodb:GetItem", TABLE), True),
        ([allow("dynamodb:GetItem", TABLE.lower())], IamRequest("dynamodb:GetItem", TABLE), False),
        ([allow("dynamodb:GetItem", TABLE + "?")], IamRequest("dynamodb:GetItem", TABLE), False),
        ([allow("dynamodb:GetItem", TABLE + "*")], IamRequest("dynamodb:GetItem", TABLE), True),
        (
            [allow("dynamodb:*", TABLE), {**allow("dynamodb:GetItem", "*"), "Effect": "Deny"}],
            IamRequest("dynamodb:GetItem", TABLE),
            False,
        ),
        (
            [{"Effect": "Allow", "NotAction": "dynamodb:GetItem", "Resource": "*"}],
            IamRequest("dynamodb:GetItem", TABLE),
            False,
        ),
        (
            [allow("s3:ListBucket", "arn:aws:s3:::b", StringLike={"s3:prefix": "runs/*"})],
            IamRequest("s3:ListBucket", "arn:aws:s3:::b"),  # no prefix: the key is absent
            False,
        ),
        (
            [allow("s3:ListBucket", "arn:aws:s3:::b", StringNotLike={"s3:prefix": "x/*"})],
            IamRequest("s3:ListBucket", "arn:aws:s3:::b"),
            True,
        ),
        (
            [allow("s3:ListBucket", "arn:aws:s3:::b", StringLikeIfExists={"s3:prefix": "x/*"})],
            IamRequest("s3:ListBucket", "arn:aws:s3:::b"),
            True,
        ),
    ],
    ids=[
        "action-wildcard",
        "action-case-insensitive",
        "resource-case-sensitive",
        "question-mark-is-one-character",
        "resource-wildcard",
        "explicit-deny-wins",
        "not-action",
        "absent-key-fails-a-condition",
        "absent-key-passes-a-negated-condition",
        "if-exists",
    ],
)
def test_the_policy_evaluation_follows_aws_rules(
    statements: list[dict[str, Any]], request_: IamRequest, allowed: bool
) -> None:
    assert role(*statements).allows(request_) is allowed
