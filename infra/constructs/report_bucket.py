"""The bucket holding each run's records and per-profile reports."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra import constants


class ReportBucket(Construct):
    """Private, encrypted, TLS-only storage under ``runs/``, expired after a fixed time.

    Retained when the stack is deleted: reports are the audit trail of what a run changed.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bucket = self._build_bucket()
        self._suppress_access_logs_rule()

    def _build_bucket(self) -> s3.Bucket:
        return s3.Bucket(
            self,
            "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[self._build_expiration_rule()],
        )

    def _build_expiration_rule(self) -> s3.LifecycleRule:
        return s3.LifecycleRule(
            id="ExpireRunRecords",
            prefix=constants.RUNS_PREFIX,
            expiration=Duration.days(constants.RUN_RECORDS_EXPIRATION_DAYS),
            abort_incomplete_multipart_upload_after=Duration.days(
                constants.INCOMPLETE_UPLOAD_EXPIRATION_DAYS
            ),
        )

    def _suppress_access_logs_rule(self) -> None:
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason=(
                    "Only the pipeline's own Lambda roles read or write this bucket, and its "
                    "objects expire; a server-access-log bucket would itself need this "
                    "acknowledgment. Enable CloudTrail S3 data events to audit access."
                ),
            )
        )
