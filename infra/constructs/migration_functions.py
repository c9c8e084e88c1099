"""The pipeline's five Lambda functions, each with its own least-privilege role."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import constants
from infra.bundling import lambda_code
from infra.nag import acknowledge, acknowledge_wildcard_resources
from profile_migrations import environment

if TYPE_CHECKING:
    from aws_cdk.aws_dynamodb import ITable
    from aws_cdk.aws_s3 import IBucket

HANDLERS_MODULE = "profile_migrations.handlers.lambdas"
# What every function does with the control table's items: locks, turn leases,
# checkpoints, history entries and applied-step checksums (one Query reads a partition).
# Migrate and Verify also pace the run: GetItem reads the caps in force on the run's lock
# item, and a Query of the run's partition (RUN#<run id>) counts its turns running now.
CONTROL_ITEM_ACTIONS = (
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
)
# Only the Plan function may create the control table on first use (then wait for it).
CONTROL_TABLE_CREATE_ACTIONS = ("dynamodb:CreateTable", "dynamodb:DescribeTable")


@dataclass(frozen=True)
class FunctionSpec:
    """What differs between the five functions; everything else is shared."""

    name: str
    handler: str
    timeout: Duration
    memory_size: int
    statements: list[iam.PolicyStatement]
    environment: dict[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None


class MigrationFunctions(Construct):
    """Plan, Migrate, Verify, Aggregate and Rollback, built from one code asset.

    Each function gets its own role holding exactly the API actions its code calls, on
    the one table, the control table (by name: the tool creates it, not CloudFormation)
    and the report bucket's ``runs/`` prefix, plus write access to its own log group. The
    migrated table is only ever read, scanned and conditionally updated (Rollback reads
    and updates single items, it never scans): no role can delete one of its items or the
    table. Items are deleted only in the control table (released locks and turn leases).

    No concurrency is reserved unless ``reserved_concurrency`` is given: Lambda lets an
    account reserve only up to its unreserved concurrency minus 100 ("Configuring reserved
    concurrency for a function",
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html), so a fixed
    reservation fails to deploy in new accounts. The Distributed Map's MaxConcurrency
    already bounds how many segment turns run at once.
    """

    RUNTIME = lambda_.Runtime.PYTHON_3_13
    ARCHITECTURE = lambda_.Architecture.ARM_64
    LOGGING_FORMAT = lambda_.LoggingFormat.JSON
    APPLICATION_LOG_LEVEL = lambda_.ApplicationLogLevel.INFO
    SYSTEM_LOG_LEVEL = lambda_.SystemLogLevel.INFO

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: ITable,
        bucket: IBucket,
        control_table: ITable,
        reserved_concurrency: int | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._table = table
        self._bucket = bucket
        self._control = control_table
        self._reserved_concurrency = reserved_concurrency
        self._code = lambda_code()
        self.plan = self._build_function(self._plan_spec())
        self.migrate = self._build_function(self._migrate_spec())
        self.verify = self._build_function(self._verify_spec())
        self.aggregate = self._build_function(self._aggregate_spec())
        self.rollback = self._build_function(self._rollback_spec())

    @property
    def all(self) -> list[lambda_.Function]:
        return [self.plan, self.migrate, self.verify, self.aggregate, self.rollback]

    @property
    def max_concurrency_limit(self) -> int:
        """The largest ``maxConcurrency`` the Plan function accepts: the reservation, or
        Lambda's default account concurrency (constants.DEFAULT_MAX_CONCURRENCY_LIMIT)."""
        if self._reserved_concurrency is not None:
            return self._reserved_concurrency
        return constants.DEFAULT_MAX_CONCURRENCY_LIMIT

    # --- the five functions ---------------------------------------------------------------

    def _plan_spec(self) -> FunctionSpec:
        return FunctionSpec(
            name="Plan",
            handler=f"{HANDLERS_MODULE}.plan",
            timeout=Duration.minutes(constants.PLAN_TIMEOUT_MINUTES),
            memory_size=constants.PLAN_MEMORY_MB,
            statements=[
                self._table_statement(
                    "dynamodb:DescribeTable",
                    "dynamodb:DescribeContinuousBackups",
                    "dynamodb:CreateBackup",
                ),
                # the control table on first use (ControlTable.ensure_exists), then the
                # lock, applied-step checksums, history and the run to resume
                self._control_statement(*CONTROL_TABLE_CREATE_ACTIONS, *CONTROL_ITEM_ACTIONS),
            ],
            environment={
                environment.CONTROL_TABLE: self._control.table_name,
                environment.MAX_CONCURRENCY_LIMIT: str(self.max_concurrency_limit),
            },
        )

    def _migrate_spec(self) -> FunctionSpec:
        return FunctionSpec(
            name="Migrate",
            handler=f"{HANDLERS_MODULE}.migrate",
            timeout=Duration.minutes(constants.SEGMENT_TIMEOUT_MINUTES),
            memory_size=constants.SEGMENT_MEMORY_MB,
            reserved_concurrency=self._reserved_concurrency,
            statements=[
                # GetItem: a consistent re-read of an item a conflict or a page answered
                # malformed (logic/reads.py)
                self._table_statement(
                    "dynamodb:Scan",
                    "dynamodb:GetItem",
                    "dynamodb:PartiQLUpdate",
                    "dynamodb:UpdateItem",
                ),
                self._run_objects_statement("s3:PutObject"),
                # checkpoints (read at a turn's start, written after every page), the
                # segment's turn lease, the run lock's lease and the caps on the lock item,
                # and the run's turns running now (its share of the caps)
                self._control_statement(*CONTROL_ITEM_ACTIONS),
            ],
            environment=self._segment_environment(),
        )

    def _verify_spec(self) -> FunctionSpec:
        return FunctionSpec(
            name="Verify",
            handler=f"{HANDLERS_MODULE}.verify",
            timeout=Duration.minutes(constants.SEGMENT_TIMEOUT_MINUTES),
            memory_size=constants.SEGMENT_MEMORY_MB,
            reserved_concurrency=self._reserved_concurrency,
            statements=[
                self._table_statement("dynamodb:Scan", "dynamodb:GetItem"),
                self._run_objects_statement("s3:PutObject"),
                # checkpoints, the segment's turn lease, the run lock's lease and the caps
                # on the lock item, and the run's turns running now (its share of the caps)
                self._control_statement(*CONTROL_ITEM_ACTIONS),
            ],
            environment=self._segment_environment(),
        )

    def _aggregate_spec(self) -> FunctionSpec:
        return FunctionSpec(
            name="Aggregate",
            handler=f"{HANDLERS_MODULE}.aggregate",
            timeout=Duration.minutes(constants.AGGREGATE_TIMEOUT_MINUTES),
            memory_size=constants.AGGREGATE_MEMORY_MB,
            statements=[
                self._list_runs_statement(),
                # every run record and report of the run; then the run's document,
                # written to runs/<run id>/output.json
                self._run_objects_statement("s3:GetObject", "s3:PutObject"),
                # the run's checkpoints and history entry, then the lock's release
                self._control_statement(*CONTROL_ITEM_ACTIONS),
            ],
            environment={
                environment.REPORT_BUCKET: self._bucket.bucket_name,
                environment.CONTROL_TABLE: self._control.table_name,
            },
        )

    def _rollback_spec(self) -> FunctionSpec:
        """Sized and paced like Migrate: a rollback turn is a migration turn run backwards,
        from the run's write-ahead journal (``runs/<run id>/journal/...``)."""
        return FunctionSpec(
            name="Rollback",
            handler=f"{HANDLERS_MODULE}.rollback",
            timeout=Duration.minutes(constants.SEGMENT_TIMEOUT_MINUTES),
            memory_size=constants.SEGMENT_MEMORY_MB,
            reserved_concurrency=self._reserved_concurrency,
            statements=[
                # GetItem: the item as it is now, before restoring it; PartiQLUpdate and
                # UpdateItem: the conditional restore of a journaled write. No Scan: the
                # journal names every item to undo.
                self._table_statement(
                    "dynamodb:GetItem",
                    "dynamodb:PartiQLUpdate",
                    "dynamodb:UpdateItem",
                ),
                # the journal's pages of a segment, listed under runs/<run id>/journal/
                self._list_runs_statement(),
                # the journal's pages read, the rollback's own run records written
                self._run_objects_statement("s3:GetObject", "s3:PutObject"),
                # rollback checkpoints, the segment's turn lease, the run lock's lease and
                # the caps on the lock item, and the run's turns running now
                self._control_statement(*CONTROL_ITEM_ACTIONS),
            ],
            environment=self._segment_environment(),
        )

    def _segment_environment(self) -> dict[str, str]:
        return {
            environment.REPORT_BUCKET: self._bucket.bucket_name,
            environment.CONTROL_TABLE: self._control.table_name,
            environment.STOP_MARGIN_SECONDS: str(constants.STOP_MARGIN_SECONDS),
        }

    # --- shared building blocks -----------------------------------------------------------

    def _table_statement(self, *actions: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(actions=list(actions), resources=[self._table.table_arn])

    def _control_statement(self, *actions: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(actions=list(actions), resources=[self._control.table_arn])

    def _list_runs_statement(self) -> iam.PolicyStatement:
        """``s3:ListBucket`` of the report bucket, for keys under ``runs/`` only."""
        return iam.PolicyStatement(
            actions=["s3:ListBucket"],
            resources=[self._bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{constants.RUNS_PREFIX}*"]}},
        )

    def _run_objects_statement(self, *actions: str) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            actions=list(actions),
            resources=[self._run_objects_arn()],
        )

    def _build_function(self, spec: FunctionSpec) -> lambda_.Function:
        log_group = self._build_log_group(spec.name)
        role = self._build_role(spec, log_group)
        function = lambda_.Function(
            self,
            spec.name,
            description=f"Profile migration pipeline: {spec.name} state",
            runtime=self.RUNTIME,
            architecture=self.ARCHITECTURE,
            code=self._code,
            handler=spec.handler,
            role=role,
            timeout=spec.timeout,
            memory_size=spec.memory_size,
            reserved_concurrent_executions=spec.reserved_concurrency,
            environment={**self._common_environment(), **spec.environment},
            log_group=log_group,
            logging_format=self.LOGGING_FORMAT,
            application_log_level_v2=self.APPLICATION_LOG_LEVEL,
            system_log_level_v2=self.SYSTEM_LOG_LEVEL,
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            "Python 3.13 on purpose: the bundled binary wheels (pydantic-core) are selected "
            "for CPython 3.13 (infra/bundling.py) and the code is tested on 3.13; a newer "
            "runtime is a deliberate change of the bundle and the runtime together.",
        )
        return function

    def _build_log_group(self, name: str) -> logs.LogGroup:
        return logs.LogGroup(self, f"{name}Logs", retention=constants.LOG_RETENTION)

    def _build_role(self, spec: FunctionSpec, log_group: logs.ILogGroup) -> iam.Role:
        """A role for this function alone; logging is granted on its own log group only,
        instead of the AWS-managed basic execution policy (which allows every log group)."""
        role = iam.Role(
            self,
            f"{spec.name}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Profile migration pipeline: {spec.name} function",
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[log_group.log_group_arn],
            )
        )
        for statement in spec.statements:
            role.add_to_policy(statement)
        run_objects = self._run_objects_arn()
        if any(run_objects in statement.resources for statement in spec.statements):
            acknowledge_wildcard_resources(
                role,
                [run_objects],
                "Objects under the report bucket's runs/ prefix only: their keys hold the "
                "run id, segment and invocation, which exist only at run time.",
            )
        return role

    def _run_objects_arn(self) -> str:
        return self._bucket.arn_for_objects(f"{constants.RUNS_PREFIX}*")

    def _common_environment(self) -> dict[str, str]:
        return {
            environment.TABLE_NAME: self._table.table_name,
            environment.SERVICE_NAME: environment.SERVICE,
            environment.METRICS_NAMESPACE: environment.NAMESPACE,
            environment.LOG_LEVEL: constants.POWERTOOLS_LOG_LEVEL,
        }
