"""Least privilege: one role per function with exactly the actions its code calls."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.cdk_synth import HANDLERS, TABLE_NAME, render

if TYPE_CHECKING:
    from tests.cdk_synth import Synthesized

TABLE_ARN = "arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/" + TABLE_NAME
# The control table is the tool's, created on first use: granted by name, never a resource.
CONTROL_ARN = TABLE_ARN + "-migrations"
RUN_OBJECTS = "<bucket.Arn>/runs/*"
LOG_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
# Locks, turn leases, checkpoints, history, applied steps.
CONTROL_ITEM_ACTIONS = (
    "dynamodb:DeleteItem",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)

# Per function: {sorted actions: rendered resource}, the whole policy of its role.
EXPECTED_GRANTS: dict[str, dict[tuple[str, ...], str]] = {
    "plan": {
        (
            "dynamodb:CreateBackup",
            "dynamodb:DescribeContinuousBackups",
            "dynamodb:DescribeTable",
        ): TABLE_ARN,
        tuple(
            sorted(("dynamodb:CreateTable", "dynamodb:DescribeTable", *CONTROL_ITEM_ACTIONS))
        ): CONTROL_ARN,
    },
    "migrate": {
        (
            "dynamodb:GetItem",
            "dynamodb:PartiQLUpdate",
            "dynamodb:Scan",
            "dynamodb:UpdateItem",
        ): TABLE_ARN,
        ("s3:PutObject",): RUN_OBJECTS,
        CONTROL_ITEM_ACTIONS: CONTROL_ARN,
    },
    "verify": {
        ("dynamodb:GetItem", "dynamodb:Scan"): TABLE_ARN,
        ("s3:PutObject",): RUN_OBJECTS,
        CONTROL_ITEM_ACTIONS: CONTROL_ARN,
    },
    "aggregate": {
        ("s3:ListBucket",): "<bucket.Arn>",
        ("s3:GetObject", "s3:PutObject"): RUN_OBJECTS,
        CONTROL_ITEM_ACTIONS: CONTROL_ARN,
    },
    # Reads and restores single items from the run's journal: no Scan.
    "rollback": {
        ("dynamodb:GetItem", "dynamodb:PartiQLUpdate", "dynamodb:UpdateItem"): TABLE_ARN,
        ("s3:ListBucket",): "<bucket.Arn>",
        ("s3:GetObject", "s3:PutObject"): RUN_OBJECTS,
        CONTROL_ITEM_ACTIONS: CONTROL_ARN,
    },
}


def actions_of(statement: dict[str, Any]) -> list[str]:
    actions = statement["Action"]
    return [actions] if isinstance(actions, str) else list(actions)


def resources_of(statement: dict[str, Any]) -> list[Any]:
    resources = statement["Resource"]
    return resources if isinstance(resources, list) else [resources]


def render_resource(resource: Any, bucket_id: str) -> str:
    return render(resource).replace(f"<{bucket_id}.", "<bucket.")


def role_of(synthesized: Synthesized, name: str) -> str:
    _, properties = synthesized.function(name)
    role_id: str = properties["Role"]["Fn::GetAtt"][0]
    return role_id


def all_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for resource in synthesized.resources("AWS::IAM::Policy").values():
        statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
    for resource in synthesized.resources("AWS::IAM::Role").values():
        for policy in resource["Properties"].get("Policies", []):
            statements.extend(policy["PolicyDocument"]["Statement"])
    return statements


def test_each_function_has_its_own_role(synthesized: Synthesized) -> None:
    roles = [role_of(synthesized, name) for name in HANDLERS]

    assert len(set(roles)) == len(HANDLERS)


@pytest.mark.parametrize("name", HANDLERS)
def test_role_grants_exactly_the_actions_the_function_calls(
    synthesized: Synthesized, name: str
) -> None:
    (bucket_id,) = synthesized.resources("AWS::S3::Bucket")
    _, properties = synthesized.function(name)
    log_group_id = properties["LoggingConfig"]["LogGroup"]["Ref"]
    grants: dict[tuple[str, ...], list[str]] = {}
    for statement in synthesized.role_statements(role_of(synthesized, name)):
        assert statement["Effect"] == "Allow"
        key = tuple(sorted(actions_of(statement)))
        grants.setdefault(key, []).extend(
            render_resource(resource, bucket_id) for resource in resources_of(statement)
        )

    expected = {key: [resource] for key, resource in EXPECTED_GRANTS[name].items()}
    expected[tuple(LOG_ACTIONS)] = [f"<{log_group_id}.Arn>"]
    assert grants == expected


@pytest.mark.parametrize("name", HANDLERS)
def test_roles_are_assumed_by_lambda_and_carry_no_managed_policy(
    synthesized: Synthesized, name: str
) -> None:
    role = synthesized.template_json["Resources"][role_of(synthesized, name)]["Properties"]

    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
        }
    ]
    assert "ManagedPolicyArns" not in role


@pytest.mark.parametrize("name", ["aggregate", "rollback"])
def test_listing_is_limited_to_the_runs_prefix(synthesized: Synthesized, name: str) -> None:
    statements = synthesized.role_statements(role_of(synthesized, name))
    (list_bucket,) = [s for s in statements if actions_of(s) == ["s3:ListBucket"]]

    assert list_bucket["Condition"] == {"StringLike": {"s3:prefix": ["runs/*"]}}


def test_no_action_anywhere_is_a_wildcard(synthesized: Synthesized) -> None:
    actions = [action for s in all_statements(synthesized) for action in actions_of(s)]

    assert actions
    assert [action for action in actions if "*" in action] == []


def test_nothing_can_delete_profiles_or_any_table(synthesized: Synthesized) -> None:
    """Items are deleted only in the control table (released locks and turn leases)."""
    template = json.dumps(synthesized.template_json)
    deletes = [s for s in all_statements(synthesized) if "dynamodb:DeleteItem" in actions_of(s)]

    assert deletes
    assert {render(r) for s in deletes for r in resources_of(s)} == {CONTROL_ARN}
    for action in ("dynamodb:DeleteTable", "dynamodb:BatchWriteItem", "PartiQLDelete"):
        assert action not in template


def test_only_plan_may_create_the_control_table(synthesized: Synthesized) -> None:
    creates = [s for s in all_statements(synthesized) if "dynamodb:CreateTable" in actions_of(s)]
    plan_role = role_of(synthesized, "plan")

    assert [render(r) for s in creates for r in resources_of(s)] == [CONTROL_ARN]
    assert creates == [
        s for s in synthesized.role_statements(plan_role) if "dynamodb:CreateTable" in actions_of(s)
    ]


def test_state_machine_role_invokes_only_the_five_functions(synthesized: Synthesized) -> None:
    (state_machine,) = synthesized.resources("AWS::StepFunctions::StateMachine").values()
    role_id = state_machine["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    function_ids = {synthesized.function(name)[0] for name in HANDLERS}
    statements = synthesized.role_statements(role_id)
    actions = {action for s in statements for action in actions_of(s)}
    invoke = [s for s in statements if actions_of(s) == ["lambda:InvokeFunction"]]

    assert actions == {
        "lambda:InvokeFunction",
        "states:StartExecution",
        "states:DescribeExecution",
        "states:StopExecution",
        "states:RedriveExecution",
        # CloudWatch Logs delivery for the state machine's logging, X-Ray for tracing.
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:DescribeLogGroups",
        "logs:DescribeResourcePolicies",
        "logs:GetLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:UpdateLogDelivery",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
    }
    invoked = {render(resource) for s in invoke for resource in resources_of(s)}
    assert invoked == {f"<{fid}.Arn>" for fid in function_ids} | {
        f"<{fid}.Arn>:*" for fid in function_ids
    }


def test_distributed_map_may_start_only_this_state_machine(synthesized: Synthesized) -> None:
    (state_machine_id,) = synthesized.resources("AWS::StepFunctions::StateMachine")
    statements = [
        s for s in all_statements(synthesized) if "states:StartExecution" in actions_of(s)
    ]

    assert [resources_of(s) for s in statements] == [[{"Ref": state_machine_id}]]


def test_with_a_schedule_only_the_map_and_the_schedule_may_start_this_state_machine(
    synthesized_opt_in: Synthesized,
) -> None:
    (state_machine_id,) = synthesized_opt_in.resources("AWS::StepFunctions::StateMachine")
    starts = [
        s for s in all_statements(synthesized_opt_in) if "states:StartExecution" in actions_of(s)
    ]

    assert [resources_of(s) for s in starts] == [[{"Ref": state_machine_id}]] * 2


@pytest.mark.parametrize("name", ["migrate", "verify", "rollback"])
def test_segment_turns_may_read_the_caps_and_count_the_runs_turns(
    synthesized: Synthesized, name: str
) -> None:
    """GetItem of the lock item (the caps in force), Query of the run's partition
    (RUN#<run id>: its turns running now), both on the control table."""
    statements = synthesized.role_statements(role_of(synthesized, name))
    granted = {
        action
        for s in statements
        if [render(r) for r in resources_of(s)] == [CONTROL_ARN]
        for action in actions_of(s)
    }

    assert {"dynamodb:GetItem", "dynamodb:Query"} <= granted
