"""cdk-nag's AwsSolutions rules, CDK's own annotations and cfn-lint on the template, for
the default deployment and for the one with every opt-in context value set."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from aws_cdk.assertions import Annotations, Match
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import lint_file
from cfnlint.config import ManualArgs

if TYPE_CHECKING:
    from pathlib import Path

    from cfnlint.match import Match as LintFinding

    from tests.cdk_synth import Synthesized

# CDK always adds the role to a function's DependsOn next to the GetAtt of its ARN;
# cfn-lint flags the redundancy (W3005), which is harmless and not ours to change.
CFN_LINT_IGNORED = ["W3005"]
DEPLOYMENTS = ["synthesized", "synthesized_opt_in"]


@pytest.fixture(params=DEPLOYMENTS)
def deployment(request: pytest.FixtureRequest) -> Synthesized:
    synthesized: Synthesized = request.getfixturevalue(request.param)
    return synthesized


def test_aws_solutions_rules_pass_with_only_acknowledged_findings(
    deployment: Synthesized,
) -> None:
    report = AwsSolutionsChecks(verbose=True).validate_scope(deployment.app)

    findings = {
        violation.rule_name: [r.construct_path for r in violation.violating_resources]
        for violation in report.violations
    }
    assert findings == {}
    assert report.success


def test_every_acknowledgment_has_a_reason_in_the_template(synthesized: Synthesized) -> None:
    acknowledged = [
        rule
        for resource in synthesized.template_json["Resources"].values()
        for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    ]

    assert acknowledged
    assert all(len(rule["reason"]) >= 40 for rule in acknowledged), acknowledged
    assert {rule["id"].split("[")[0] for rule in acknowledged} == {
        "AwsSolutions-L1",
        "AwsSolutions-S1",
        "AwsSolutions-IAM5",
    }


def test_no_cdk_errors_or_warnings(deployment: Synthesized) -> None:
    annotations = Annotations.from_stack(deployment.stack)

    assert annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*")) == []
    assert annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*")) == []
    assert annotations.find_error("*", Match.any_value()) == []
    # Deprecated APIs (logRetention, StateMachine.definition, ...) would show up here.
    assert annotations.find_warning("*", Match.any_value()) == []


def test_cfn_lint_finds_nothing(deployment: Synthesized, tmp_path: Path) -> None:
    template_file = tmp_path / "template.json"
    template_file.write_text(json.dumps(deployment.template_json))

    matches = lint_file(
        template_file,
        ManualArgs(regions=["us-east-1", "eu-west-1"], ignore_checks=CFN_LINT_IGNORED),
    )

    assert [f"{m.rule.id} {m.message} at {_where(m)}" for m in matches] == []


def _where(match: LintFinding) -> str:
    """The template path of a finding: cfn-lint copies it onto the match at runtime."""
    path: list[object] = getattr(match, "path", [])
    return "/".join(map(str, path))
