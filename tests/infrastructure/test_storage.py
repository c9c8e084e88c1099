"""Tables (none owned), the report bucket, and the stack's outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk.assertions import Match

from infra import constants
from profile_migrations.environment import CONTROL_TABLE_SUFFIX
from tests.cdk_synth import TABLE_NAME

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

    from tests.cdk_synth import Synthesized


def test_the_stack_owns_no_table(template: Template) -> None:
    """The profile table is imported by name; the control table belongs to the tool (the
    CLI or the Plan function creates it on first use), so no order of local use, deploy,
    stack deletion and redeploy meets an "already exists"."""
    template.resource_count_is("AWS::DynamoDB::Table", 0)
    template.resource_count_is("AWS::DynamoDB::GlobalTable", 0)


def test_the_control_table_is_named_as_the_cli_names_it(synthesized: Synthesized) -> None:
    outputs = synthesized.template_json["Outputs"]

    assert outputs["ControlTableName"]["Value"] == f"{TABLE_NAME}{CONTROL_TABLE_SUFFIX}"
    assert CONTROL_TABLE_SUFFIX == "-migrations"


def test_report_bucket_is_encrypted_private_and_retained(template: Template) -> None:
    template.has_resource(
        "AWS::S3::Bucket",
        {
            "Properties": Match.object_like(
                {
                    "BucketEncryption": {
                        "ServerSideEncryptionConfiguration": [
                            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                        ]
                    },
                    "PublicAccessBlockConfiguration": {
                        "BlockPublicAcls": True,
                        "BlockPublicPolicy": True,
                        "IgnorePublicAcls": True,
                        "RestrictPublicBuckets": True,
                    },
                }
            ),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


def test_run_records_expire(template: Template) -> None:
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LifecycleConfiguration": {
                "Rules": [
                    {
                        "Id": "ExpireRunRecords",
                        "Prefix": "runs/",
                        "Status": "Enabled",
                        "ExpirationInDays": constants.RUN_RECORDS_EXPIRATION_DAYS,
                        "AbortIncompleteMultipartUpload": {
                            "DaysAfterInitiation": constants.INCOMPLETE_UPLOAD_EXPIRATION_DAYS
                        },
                    }
                ]
            }
        },
    )


def test_bucket_policy_denies_requests_without_tls(synthesized: Synthesized) -> None:
    (bucket_id,) = synthesized.resources("AWS::S3::Bucket")
    (policy,) = synthesized.resources("AWS::S3::BucketPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]

    assert policy["Properties"]["Bucket"] == {"Ref": bucket_id}
    assert {
        "Action": "s3:*",
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Resource": [
            {"Fn::GetAtt": [bucket_id, "Arn"]},
            {"Fn::Join": ["", [{"Fn::GetAtt": [bucket_id, "Arn"]}, "/*"]]},
        ],
    } in statements


def test_outputs(synthesized: Synthesized) -> None:
    outputs = synthesized.template_json["Outputs"]
    (state_machine_id,) = synthesized.resources("AWS::StepFunctions::StateMachine")
    (bucket_id,) = synthesized.resources("AWS::S3::Bucket")
    (dashboard_id,) = synthesized.resources("AWS::CloudWatch::Dashboard")
    (topic_id,) = synthesized.resources("AWS::SNS::Topic")

    assert set(outputs) == {
        "StateMachineArn",
        "ReportBucketName",
        "ControlTableName",
        "DashboardName",
        "AlarmTopicArn",
    }
    assert outputs["StateMachineArn"]["Value"] == {"Ref": state_machine_id}
    assert outputs["ReportBucketName"]["Value"] == {"Ref": bucket_id}
    assert outputs["DashboardName"]["Value"] == {"Ref": dashboard_id}
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": topic_id}
