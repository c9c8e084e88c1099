"""One synthesis of the stack per test session, shared by the infrastructure and e2e tests.

Loaded as a pytest plugin by tests/conftest.py; aws_cdk is imported only when a test asks
for the synthesized app, so unit and integration runs do not start jsii.

The app is built exactly as ``app.py`` builds it (``infra.application.build_app``, with
the feature flags of ``cdk.json``), so cdk-nag runs during this synthesis: a finding
without an acknowledgment fails the fixture with cdk-nag's report.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

# Node 20 is past end-of-life for jsii; its banner would fill every failure report.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

from infra import PROJECT_ROOT

if TYPE_CHECKING:
    from pathlib import Path

    from aws_cdk import App, Stack
    from aws_cdk.assertions import Template

TABLE_NAME = "UserProfiles"  # the default of the tableName context value
HANDLERS = {
    "plan": "profile_migrations.handlers.lambdas.plan",
    "migrate": "profile_migrations.handlers.lambdas.migrate",
    "verify": "profile_migrations.handlers.lambdas.verify",
    "aggregate": "profile_migrations.handlers.lambdas.aggregate",
    "rollback": "profile_migrations.handlers.lambdas.rollback",
}


@dataclass(frozen=True)
class Synthesized:
    app: App
    stack: Stack
    template: Template
    outdir: Path

    @property
    def template_json(self) -> dict[str, Any]:
        return dict(self.template.to_json())

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        found = self.template.find_resources(resource_type)
        return {logical_id: dict(resource) for logical_id, resource in found.items()}

    def function(self, name: str) -> tuple[str, dict[str, Any]]:
        """Logical id and properties of the function running HANDLERS[name]."""
        matches = [
            (logical_id, resource["Properties"])
            for logical_id, resource in self.resources("AWS::Lambda::Function").items()
            if resource["Properties"].get("Handler") == HANDLERS[name]
        ]
        assert len(matches) == 1, f"expected one {name} function, found {len(matches)}"
        return matches[0]

    def role_statements(self, role_logical_id: str) -> list[dict[str, Any]]:
        """Every statement of every policy attached to the role."""
        statements: list[dict[str, Any]] = []
        for resource in self.resources("AWS::IAM::Policy").values():
            if {"Ref": role_logical_id} in resource["Properties"]["Roles"]:
                statements.extend(resource["Properties"]["PolicyDocument"]["Statement"])
        return statements

    def asset_dir(self, function_name: str) -> Path:
        """The staged (bundled) code directory of a function, in the cloud assembly."""
        _, properties = self.function(function_name)
        s3_key: str = properties["Code"]["S3Key"]
        return self.outdir / f"asset.{s3_key.removesuffix('.zip')}"


def cdk_json_context() -> dict[str, Any]:
    context: dict[str, Any] = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    return context


# The opt-in context values of `cdk deploy -c ...`, all set at once (one extra synthesis).
OPT_IN_CONTEXT = {
    "reservedConcurrency": "100",
    "alarmEmail": "ops@example.com",
    "schedule": "cron(0 2 ? * SAT *)",
    "scheduleTimezone": "Europe/Paris",
    "windowMinutes": "180",
}


def synthesize(outdir: Path, **context: str) -> Synthesized:
    """The app as ``app.py`` builds it, with cdk.json's context plus these values."""
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from infra.application import build_app

    app = App(context={**cdk_json_context(), **context}, outdir=str(outdir))
    stack = build_app(app)
    template = Template.from_stack(stack)  # synthesizes the app (and runs cdk-nag) once
    return Synthesized(app=app, stack=stack, template=template, outdir=outdir)


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """The default deployment: ``cdk deploy`` without context values."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synthesized_opt_in(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    """``cdk deploy`` with every value of OPT_IN_CONTEXT (``-c reservedConcurrency=100
    -c alarmEmail=ops@example.com -c schedule=... ...``)."""
    return synthesize(tmp_path_factory.mktemp("cdk.out.opt-in"), **OPT_IN_CONTEXT)


@pytest.fixture(scope="session")
def template(synthesized: Synthesized) -> Template:
    return synthesized.template


def state_machine_definition(synthesized: Synthesized) -> dict[str, Any]:
    """The state machine's definition as a JSON document (references as placeholders)."""
    (state_machine,) = synthesized.resources("AWS::StepFunctions::StateMachine").values()
    document: dict[str, Any] = json.loads(render(state_machine["Properties"]["DefinitionString"]))
    return document


def render(value: Any) -> str:
    """A CloudFormation string value as text: ``Fn::Join`` is joined, a Ref becomes
    ``<LogicalId>`` and a GetAtt ``<LogicalId.Attribute>``."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        return f"<{resource}.{attribute}>"
    if "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return str(delimiter).join(render(part) for part in parts)
    raise AssertionError(f"unexpected intrinsic function: {value}")


@pytest.fixture(scope="session")
def definition(synthesized: Synthesized) -> dict[str, Any]:
    """The state machine's definition as a JSON document (references as placeholders)."""
    return state_machine_definition(synthesized)
