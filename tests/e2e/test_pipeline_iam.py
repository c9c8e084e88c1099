"""The synthesized roles, enforced on a run that needs every grant of the Migrate role.

The defect this catches: the Migrate role lacked ``dynamodb:GetItem`` on the profile
table, though a conflict answered malformed costs a consistent GetItem (logic/reads.py).
DynamoDB Local answers a conflict's ``ALL_OLD`` item with an empty nested map as ``{}``
instead of ``{"M": {}}``; so a table of profiles whose ``profileData.prefs`` is empty, each
changed by the application right before the turn writes it, makes every write a conflict
whose answer must be re-read. With the role as synthesized the run succeeds; with
``dynamodb:GetItem`` taken out of the Migrate role (in a copy of the synthesized template,
not in the CDK code) the run fails the test, naming the function, the action and the
table, as AWS would have stopped the segment with AccessDenied.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.handlers.dependencies import segment_dependencies
from tests.cdk_synth import TABLE_NAME, render
from tests.conftest import dump_table, empty_prefs_profile
from tests.e2e.conftest import HarnessError
from tests.e2e.deployment import seed
from tests.e2e.iam_fidelity import ACCESS_DENIED_ERROR

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.logic.ports import ProfileStore
    from tests.cdk_synth import Synthesized
    from tests.e2e.conftest import StepFunctionsHarness
    from tests.e2e.deployment import Pipeline

PROFILES = 20
# What the application does to a profile: a nested counter and a top-level one.
INCREMENT = "SET #pd.#visits = #pd.#visits + :one ADD #app :one"
INCREMENT_NAMES = {"#pd": "profileData", "#visits": "visits", "#app": "appWrites"}


class ApplicationWritesFirst:
    """The Migrate function's profile table, with the application incrementing every
    profile once right before the turn's first write batch: each write then meets a
    conflict whose answer DynamoDB Local malforms, and costs the function a consistent
    GetItem. The application's own writes are not the function's (``unattributed``)."""

    def __init__(
        self, store: ProfileStore, harness: StepFunctionsHarness, client: DynamoDBClient
    ) -> None:
        self._store = store
        self._harness = harness
        self._client = client
        self.raced = False

    def conditional_update(self, *args: Any, **kwargs: Any) -> Any:
        if not self.raced:
            self.raced = True
            with self._harness.iam.unattributed():
                for number in range(PROFILES):
                    self._client.update_item(
                        TableName=TABLE_NAME,
                        Key={"userId": {"S": f"user-{number:05d}"}, "profileId": {"S": "main"}},
                        UpdateExpression=INCREMENT,
                        ExpressionAttributeNames=INCREMENT_NAMES,
                        ExpressionAttributeValues={":one": {"N": "1"}},
                    )
        return self._store.conditional_update(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def conflicts_answered_malformed(pipeline: Pipeline) -> list[ApplicationWritesFirst]:
    """Seed the profiles and make every Migrate turn race the application."""
    seed(pipeline, [empty_prefs_profile(number) for number in range(PROFILES)])
    name = pipeline.function_names["migrate"]
    handler: Callable[..., Any] = pipeline.harness.configured_handler(name)
    stores: list[ApplicationWritesFirst] = []

    def racing(event: dict[str, Any], context: Any) -> Any:
        deps = segment_dependencies()  # the function's own, from its environment
        store = ApplicationWritesFirst(deps.store, pipeline.harness, pipeline.dynamodb)
        stores.append(store)
        return handler(event, context, deps=replace(deps, store=store))

    pipeline.harness.override_handler(name, racing)
    return stores


def without_action(
    template: dict[str, Any], function_logical_id: str, action: str, table: str
) -> dict[str, Any]:
    """A copy of ``template`` whose function's role no longer grants ``action`` on the
    table named ``table`` (every other statement as synthesized)."""
    changed: dict[str, Any] = json.loads(json.dumps(template))
    resources = changed["Resources"]
    role_id = resources[function_logical_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    removed = 0
    for resource in resources.values():
        if resource["Type"] != "AWS::IAM::Policy":
            continue
        if {"Ref": role_id} not in resource["Properties"]["Roles"]:
            continue
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]:
            targets = statement["Resource"]
            targets = targets if isinstance(targets, list) else [targets]
            if not any(render(target).endswith(f":table/{table}") for target in targets):
                continue
            actions = statement["Action"]
            actions = actions if isinstance(actions, list) else [actions]
            statement["Action"] = [granted for granted in actions if granted != action]
            removed += len(actions) - len(statement["Action"])
    assert removed == 1, f"{role_id} granted {action} on {table} {removed} times, not once"
    return changed


def test_the_synthesized_roles_grant_every_call_of_a_run_whose_conflicts_are_re_read(
    pipeline: Pipeline,
) -> None:
    stores = conflicts_answered_malformed(pipeline)

    result = pipeline.run({"totalSegments": 1})

    assert result.status == "SUCCEEDED", result.cause
    summary = result.output["summary"]
    assert summary["conflictCount"] == PROFILES
    assert summary["successCount"] == PROFILES
    assert all(store.raced for store in stores)
    stored = dump_table(pipeline.dynamodb, TABLE_NAME).values()
    assert {(item["version"]["N"], item["appWrites"]["N"]) for item in stored} == {("5", "1")}
    migrate_calls = pipeline.api_calls("migrate")
    assert migrate_calls.count(("dynamodb", "GetItem", TABLE_NAME)) == PROFILES  # the re-reads
    assert ("dynamodb", "Scan", TABLE_NAME) in migrate_calls  # through the fast path
    assert ("dynamodb", "BatchExecuteStatement", TABLE_NAME) in migrate_calls
    assert ("dynamodb", "UpdateItem", TABLE_NAME) not in migrate_calls  # the application's
    assert pipeline.harness.access_denied == []


def test_a_migrate_role_without_get_item_fails_the_run_naming_the_missing_grant(
    pipeline: Pipeline, synthesized: Synthesized
) -> None:
    migrate = pipeline.function_names["migrate"]
    pipeline.enforce_roles(
        without_action(synthesized.template_json, migrate, "dynamodb:GetItem", TABLE_NAME)
    )
    conflicts_answered_malformed(pipeline)

    with pytest.raises(HarnessError) as failure:
        pipeline.run({"totalSegments": 1})

    assert failure.value.error_type == ACCESS_DENIED_ERROR
    account, region = pipeline.harness.iam.account, pipeline.harness.region
    assert (
        f"of function {migrate} does not allow dynamodb:GetItem on "
        f"arn:aws:dynamodb:{region}:{account}:table/{TABLE_NAME} "
        f"(its dynamodb GetItem call ({TABLE_NAME})); on AWS the call is AccessDenied"
    ) in str(failure.value)
    denied = {
        (d.call.function, d.request.action) for d in pipeline.harness.access_denied if d.request
    }
    assert denied == {(migrate, "dynamodb:GetItem")}
