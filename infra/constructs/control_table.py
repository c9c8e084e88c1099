"""The control table: run locks, per-segment checkpoints, run history, applied steps.

Named ``<table>-migrations``, the name the local CLI derives too, so ``profile-migrate
history --table <table>`` lists pipeline runs and local runs, and the two exclude each
other through the same lock.
"""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from profile_migrations import environment


class ControlTable(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, table_name: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            table_name=f"{table_name}{environment.CONTROL_TABLE_SUFFIX}",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="sk", type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # The history outlives the stack: a redeploy must not forget what ran.
            removal_policy=RemovalPolicy.RETAIN,
        )
