"""The imported table and the report bucket; the stack's outputs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk.assertions import Match

from infra import constants

if TYPE_CHECKING:
    from aws_cdk.assertions import Template

    from tests.cdk_synth import Synthesized


def test_the_table_is_imported_never_owned(template: Template) -> None:
    """The only table the stack owns is the control table, retained with the history."""
    template.resource_count_is("AWS::DynamoDB::Table", 0)
    template.resource_count_is("AWS::DynamoDB::GlobalTable", 1)
    template.has_resource(
        "AWS::DynamoDB::GlobalTable",
        {
            "Properties": Match.object_like(
                {
                    "TableName": "UserProfiles-migrations",
                    "BillingMode": "PAY_PER_REQUEST",
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                }
            ),
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
        },
    )


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

    assert outputs["StateMachineArn"]["Value"] == {"Ref": state_machine_id}
    assert outputs["ReportBucketName"]["Value"] == {"Ref": bucket_id}
    assert outputs["DashboardName"]["Value"] == {"Ref": dashboard_id}
