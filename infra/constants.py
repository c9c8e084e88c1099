"""Every tunable number of the stack, with its unit, and the names other code relies on."""

from __future__ import annotations

from aws_cdk.aws_logs import RetentionDays

# --- App ----------------------------------------------------------------------------------
STACK_NAME = "ProfileMigrationStack"
TABLE_NAME_CONTEXT_KEY = "tableName"  # `cdk deploy -c tableName=...`
DEFAULT_TABLE_NAME = "UserProfiles"

# --- Lambda functions ---------------------------------------------------------------------
PLAN_TIMEOUT_MINUTES = 1  # minutes: one DescribeTable call
PLAN_MEMORY_MB = 256  # MB
SEGMENT_TIMEOUT_MINUTES = 15  # minutes: Lambda's maximum; a turn stops STOP_MARGIN early
SEGMENT_MEMORY_MB = 1024  # MB (CPU scales with memory; pages are decoded in memory)
AGGREGATE_TIMEOUT_MINUTES = 5  # minutes
AGGREGATE_MEMORY_MB = 1024  # MB: reads every run record of a run with 16 threads
STOP_MARGIN_SECONDS = 60  # seconds left when a segment turn stops taking new pages
# Concurrent executions reserved for each segment function. The Plan function refuses a
# maxConcurrency above this, so a Distributed Map never outruns its workers.
MIGRATE_RESERVED_CONCURRENCY = 100  # concurrent executions
VERIFY_RESERVED_CONCURRENCY = 100  # concurrent executions
LOG_RETENTION = RetentionDays.ONE_MONTH  # 30 days, every log group of the stack
POWERTOOLS_LOG_LEVEL = "INFO"

# --- Report bucket ------------------------------------------------------------------------
RUNS_PREFIX = "runs/"  # where the functions write run records and reports
RUN_RECORDS_EXPIRATION_DAYS = 90  # days after which runs/ objects are deleted
INCOMPLETE_UPLOAD_EXPIRATION_DAYS = 1  # days before an abandoned multipart upload is removed

# --- State machine ------------------------------------------------------------------------
STATE_MACHINE_NAME = "ProfileMigration"
STATE_MACHINE_TIMEOUT_DAYS = 3  # days for a whole run, every segment included
RETRY_INTERVAL_SECONDS = 2  # seconds before the first retry
RETRY_BACKOFF_RATE = 2  # multiplier applied to the interval after each retry
RETRY_MAX_ATTEMPTS = 6  # retries after the first attempt
RETRY_MAX_DELAY_SECONDS = 60  # seconds: cap on one retry's delay
# Transient errors retried on every Lambda task: the Lambda service's own, plus the
# functions' StoreUnavailableError (DynamoDB kept throttling before any page finished).
RETRYABLE_ERRORS = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "StoreUnavailableError",
)
# The one error the Plan function raises when it refuses the execution input (an
# exception class name in functions/profile_migrations/errors.py); nothing has been read
# or written.
REQUEST_REFUSED_ERRORS = ("RequestRefusedError",)
REFUSED_ERROR_NAME = "MigrationRefused"

# --- Monitoring ---------------------------------------------------------------------------
DASHBOARD_NAME_PREFIX = "ProfileMigration"
DASHBOARD_DEFAULT_INTERVAL_HOURS = 3  # hours of history the dashboard opens on
DASHBOARD_GRAPH_WIDTH = 12  # dashboard grid columns (of 24)
DASHBOARD_GRAPH_HEIGHT = 6  # dashboard grid rows
DASHBOARD_PERIOD_MINUTES = 1  # minutes per datapoint on the dashboard's graphs
ALARM_PERIOD_MINUTES = 5  # minutes per evaluated datapoint
ALARM_EVALUATION_PERIODS = 1  # datapoints
FAILED_PROFILES_THRESHOLD = 1  # profiles: any failed profile raises the alarm
