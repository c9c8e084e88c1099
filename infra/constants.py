"""Every tunable number of the stack, with its unit, and the names other code relies on.

Names the functions define (error names, environment variables, turns per segment) are
imported from ``profile_migrations.environment``, never repeated here as literals.
"""

from __future__ import annotations

from aws_cdk.aws_logs import RetentionDays

from profile_migrations import environment

# --- App ----------------------------------------------------------------------------------
STACK_NAME = "ProfileMigrationStack"
TABLE_NAME_CONTEXT_KEY = "tableName"  # `cdk deploy -c tableName=...`
DEFAULT_TABLE_NAME = "UserProfiles"
# `cdk deploy -c reservedConcurrency=100`: reserve that many concurrent executions for each
# of Migrate, Verify and Rollback. Absent by default: Lambda lets an account reserve only up to its
# unreserved concurrency minus 100 ("Configuring reserved concurrency for a function",
# https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html), so a
# default reservation fails to deploy in accounts with a low concurrency limit.
RESERVED_CONCURRENCY_CONTEXT_KEY = "reservedConcurrency"
# `cdk deploy -c alarmEmail=ops@example.com`: subscribe that address to the alarm topic.
ALARM_EMAIL_CONTEXT_KEY = "alarmEmail"
# `cdk deploy -c schedule='cron(0 2 ? * SAT *)' -c windowMinutes=180`: an EventBridge
# Scheduler schedule starts an execution in each window. Absent by default: no schedule.
SCHEDULE_CONTEXT_KEY = "schedule"
SCHEDULE_TIMEZONE_CONTEXT_KEY = "scheduleTimezone"  # an IANA name, e.g. Europe/Paris
DEFAULT_SCHEDULE_TIMEZONE = "UTC"
WINDOW_MINUTES_CONTEXT_KEY = "windowMinutes"  # required with `schedule`

# --- Lambda functions ---------------------------------------------------------------------
PLAN_TIMEOUT_MINUTES = 1  # minutes: DescribeTable, the control table, maybe CreateBackup
PLAN_MEMORY_MB = 256  # MB
SEGMENT_TIMEOUT_MINUTES = 15  # minutes: Lambda's maximum; a turn stops STOP_MARGIN early
SEGMENT_MEMORY_MB = 1024  # MB (CPU scales with memory; pages are decoded in memory)
# minutes: Lambda's maximum. The Aggregate reads every segment's checkpoint and every page
# record listing failed profiles (one per page when every profile fails: 100,000 objects
# for 100 M profiles, a few minutes at 16 parallel reads).
AGGREGATE_TIMEOUT_MINUTES = 15
AGGREGATE_MEMORY_MB = 1024  # MB: reads the run's records with 16 threads
STOP_MARGIN_SECONDS = 60  # seconds left when a segment turn stops taking new pages
# The largest `maxConcurrency` the Plan function accepts when no concurrency is reserved:
# Lambda's default concurrency quota of an account and Region, 1,000 concurrent executions
# ("Lambda quotas", https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
# With a reservation the limit is the reservation, so a Distributed Map never runs more
# segments at once than the functions may run.
DEFAULT_MAX_CONCURRENCY_LIMIT = 1_000  # concurrent executions
LOG_RETENTION = RetentionDays.ONE_MONTH  # 30 days, every log group of the stack
POWERTOOLS_LOG_LEVEL = "INFO"

# --- Report bucket ------------------------------------------------------------------------
RUNS_PREFIX = "runs/"  # where the functions write run records, reports and the output
RUN_RECORDS_EXPIRATION_DAYS = 90  # days after which runs/ objects are deleted
INCOMPLETE_UPLOAD_EXPIRATION_DAYS = 1  # days before an abandoned multipart upload is removed

# --- State machine ------------------------------------------------------------------------
STATE_MACHINE_NAME = "ProfileMigration"
# Days for a whole run, every segment included: the longest a Standard execution may run
# ("Maximum execution time: 1 year", Step Functions quotas,
# https://docs.aws.amazon.com/step-functions/latest/dg/limits.html). A 10,000-segment run
# at a small maxConcurrency can need weeks; a timeout that cuts it off stops children
# without an aggregate, so the only bound is the service's.
STATE_MACHINE_TIMEOUT_DAYS = 365  # days
# A segment's child execution ends (resumable) after this many turns, far from the
# 25,000-event history quota of an execution (same quotas page): a turn adds 7 events and
# a retry 3 more (see environment.MAX_TURNS_PER_SEGMENT).
MAX_TURNS_PER_SEGMENT = environment.MAX_TURNS_PER_SEGMENT  # turns
RETRY_INTERVAL_SECONDS = 2  # seconds before the first retry
RETRY_BACKOFF_RATE = 2  # multiplier applied to the interval after each retry
RETRY_MAX_ATTEMPTS = 6  # retries after the first attempt
RETRY_MAX_DELAY_SECONDS = 60  # seconds: cap on one retry's delay
# Transient errors retried on every Lambda task: the Lambda service's own ("Handle Lambda
# service exceptions", https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html),
# throttling of the invocation, and the functions' StoreUnavailableError (DynamoDB, the
# control table or S3 kept failing before the turn could checkpoint).
RETRYABLE_ERRORS = (
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    environment.ERROR_STORE_UNAVAILABLE,
)
# A segment turn killed by its timeout or by running out of memory reaches Step Functions
# as Lambda.Unknown ("Unhandled errors in Lambda are reported as Lambda.Unknown ... These
# include out-of-memory errors and function timeouts", same best-practices page). The
# retried turn resumes from the segment's checkpoint; a turn that keeps dying stops the
# segment after these retries.
KILLED_TURN_ERRORS = ("Lambda.Unknown",)
KILLED_TURN_RETRY_INTERVAL_SECONDS = 10  # seconds before the first retry
KILLED_TURN_RETRY_BACKOFF_RATE = 2  # multiplier applied to the interval after each retry
KILLED_TURN_RETRY_MAX_ATTEMPTS = 3  # retries after the first attempt
# A turn refuses to start while another turn of its segment still runs (for example the
# first attempt of a retried Lambda.ClientExecutionTimeoutException): wait a minute and
# try again, long enough in total to outlast a whole 15-minute turn.
BUSY_SEGMENT_ERRORS = (environment.ERROR_SEGMENT_BUSY,)
BUSY_SEGMENT_RETRY_INTERVAL_SECONDS = 60  # seconds between attempts
BUSY_SEGMENT_RETRY_BACKOFF_RATE = 1  # constant interval
BUSY_SEGMENT_RETRY_MAX_ATTEMPTS = 20  # retries: 20 minutes > SEGMENT_TIMEOUT_MINUTES
# The one error the Plan function raises when it refuses the execution input; nothing has
# been read or written. The execution then fails with REFUSED_ERROR_NAME.
REQUEST_REFUSED_ERRORS = (environment.ERROR_REQUEST_REFUSED,)
REFUSED_ERROR_NAME = environment.REFUSED_ERROR_NAME

# --- Scheduled windows --------------------------------------------------------------------
# The bounds EventBridge Scheduler sets on how long it keeps retrying a start it could not
# make (MaximumEventAgeInSeconds, "RetryPolicy",
# https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html).
SCHEDULE_MIN_EVENT_AGE_SECONDS = 60  # seconds
SCHEDULE_MAX_EVENT_AGE_SECONDS = 86_400  # seconds
# How long a run may still hold the table's lock after its window closes: the turns finish
# the page in hand, then the Aggregate runs for up to its timeout. A rate schedule must
# leave at least this much between a window's end and the next start.
SCHEDULE_WINDOW_MARGIN_MINUTES = AGGREGATE_TIMEOUT_MINUTES  # minutes

# --- Monitoring ---------------------------------------------------------------------------
DASHBOARD_NAME_PREFIX = "ProfileMigration"
DASHBOARD_DEFAULT_INTERVAL_HOURS = 3  # hours of history the dashboard opens on
DASHBOARD_GRAPH_WIDTH = 12  # dashboard grid columns (of 24)
DASHBOARD_GRAPH_HEIGHT = 6  # dashboard grid rows
DASHBOARD_PERIOD_MINUTES = 1  # minutes per datapoint on the dashboard's graphs
# Minutes per datapoint on the capacity graphs: Migrate and Verify emit a turn's consumed
# capacity once, when the turn ends, and a turn lasts up to the segment timeout; over a
# shorter period the run's WCU/s would read zero, then a turn's worth in one datapoint.
CAPACITY_GRAPH_PERIOD_MINUTES = SEGMENT_TIMEOUT_MINUTES  # minutes
ALARM_PERIOD_MINUTES = 5  # minutes per evaluated datapoint
ALARM_EVALUATION_PERIODS = 1  # datapoints
FAILED_PROFILES_THRESHOLD = 1  # profiles: any failed profile raises the alarm
FAILED_EXECUTIONS_THRESHOLD = 1  # executions failed, timed out or aborted in a period
FUNCTION_ERRORS_THRESHOLD = 1  # invocations that ended in an error, per function
FUNCTION_THROTTLES_THRESHOLD = 1  # throttled invocations, per function
TABLE_THROTTLE_EVENTS_THRESHOLD = 1  # throttled read or write events on the profile table
