"""Acknowledging cdk-nag findings, each with a written reason, as narrowly as cdk-nag allows.

cdk-nag 3 reports a wildcard resource as ``AwsSolutions-IAM5[Resource::<flattened ARN>]``
and honours an acknowledgment only for that exact finding. The finding is computed here
from the same ARN expression the grant uses, so an acknowledgment cannot silently cover a
broader resource than the one it was written for.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aws_cdk import Acknowledgment, Stack, Validations

if TYPE_CHECKING:
    from collections.abc import Iterable

    from constructs import IConstruct

WILDCARD_PERMISSIONS_RULE = "AwsSolutions-IAM5"


def acknowledge(scope: IConstruct, rule_id: str, reason: str) -> None:
    """Acknowledge rule_id on scope and every construct below it."""
    Validations.of(scope).acknowledge(Acknowledgment(id=rule_id, reason=reason))


def acknowledge_wildcard_resources(
    scope: IConstruct, resources: Iterable[str], reason: str
) -> None:
    """Acknowledge IAM5 for exactly these resource ARNs (tokens allowed) under scope."""
    stack = Stack.of(scope)
    for resource in resources:
        finding = f"Resource::{flatten_cfn_reference(stack.resolve(resource))}"
        acknowledge(scope, f"{WILDCARD_PERMISSIONS_RULE}[{finding}]", reason)


def flatten_cfn_reference(reference: Any) -> str:
    """cdk-nag's rendering of a resolved CloudFormation value in a finding ID.

    A port of cdk-nag's ``flattenCfnReference``: ``Fn::Join`` is joined, ``Fn::GetAtt``
    becomes ``<Id.Attr>``, ``Ref`` becomes ``<Id>``, anything else is compact JSON.
    """
    if reference is None:
        return ""
    if isinstance(reference, str):
        return reference.replace("${", "<").replace("}", ">")
    if isinstance(reference, dict):
        if "Fn::Join" in reference:
            delimiter, items = reference["Fn::Join"]
            return str(delimiter).join(flatten_cfn_reference(item) for item in items)
        if "Fn::Sub" in reference:
            return flatten_cfn_reference(reference["Fn::Sub"])
        if "Fn::GetAtt" in reference:
            resource, attribute = reference["Fn::GetAtt"]
            return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
        if "Fn::ImportValue" in reference:
            return flatten_cfn_reference(reference["Fn::ImportValue"])
        if "Ref" in reference:
            return f"<{flatten_cfn_reference(reference['Ref'])}>"
    return json.dumps(reference, separators=(",", ":"))
