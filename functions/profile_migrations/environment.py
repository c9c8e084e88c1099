"""Names the Lambda functions and the CDK stack must agree on: environment variables,
the metrics namespace and metric names.

The one module the CDK app imports from this package: it holds only constants.
"""

TABLE_NAME = "PROFILE_TABLE_NAME"
REPORT_BUCKET = "REPORT_BUCKET_NAME"
CONTROL_TABLE = "CONTROL_TABLE_NAME"
MIGRATIONS_MODULE = "MIGRATIONS_MODULE"
MAX_CONCURRENCY_LIMIT = "MAX_CONCURRENCY_LIMIT"
STOP_MARGIN_SECONDS = "STOP_MARGIN_SECONDS"
LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

# The control table of table T is named T + this suffix, by the CLI and the stack alike.
CONTROL_TABLE_SUFFIX = "-migrations"

SERVICE = "profile-migrations"
NAMESPACE = "ProfileMigrations"

METRIC_PROFILES_SCANNED = "ProfilesScanned"
METRIC_PROFILES_MIGRATED = "ProfilesMigrated"
METRIC_PROFILES_FAILED = "ProfilesFailed"
METRIC_PROFILES_SKIPPED = "ProfilesSkipped"
METRIC_CONFLICTS = "Conflicts"
METRIC_THROTTLE_RETRIES = "ThrottleRetries"
METRIC_CONSUMED_WRITE_CAPACITY = "ConsumedWriteCapacityUnits"  # WCU a turn consumed
METRIC_CONSUMED_READ_CAPACITY = "ConsumedReadCapacityUnits"  # RCU a turn consumed
# The run's cap in force when a turn ended (WCU/s, RCU/s, for the whole run); not emitted
# while the run has no cap.
METRIC_MAX_WRITE_CAPACITY = "MaxWriteCapacity"
METRIC_MAX_READ_CAPACITY = "MaxReadCapacity"
METRIC_TABLE_DIMENSION = "table"

# --- Error names the state machine matches -----------------------------------------------
# Each is the class name of an exception in profile_migrations/errors.py (a unit test pins
# that), which Lambda reports as the error's type.
ERROR_STORE_UNAVAILABLE = "StoreUnavailableError"  # a store outage: retry the turn later
ERROR_SEGMENT_BUSY = "SegmentBusyError"  # another turn of the segment still runs: retry later
ERROR_REQUEST_REFUSED = "RequestRefusedError"  # Plan refused the input; nothing was written
# What the execution fails with when Plan refuses its input.
REFUSED_ERROR_NAME = "MigrationRefused"

# --- Why a run's document says `success: false` (its `errorType`) -------------------------
# The execution fails with this error name and the document's `error` as its cause.
RUN_ERROR_PROFILES_FAILED = "ProfilesFailed"  # profiles failed (or would, in a dry run)
RUN_ERROR_VERIFICATION_FAILED = "VerificationFailed"  # profiles below the target remain
RUN_ERROR_SEGMENTS_UNFINISHED = "SegmentsUnfinished"  # segments stopped; resume continues
RUN_ERROR_INTERRUPTED = "Interrupted"  # a local run stopped on request (Ctrl-C); resumable
RUN_ERROR_WINDOW_CLOSED = "WindowClosed"  # the run's window ended; resumable

# --- A run stopped at its window's end -----------------------------------------------------
# The document's `stoppedBy`, and a turn task's once the window has closed: the segment's
# child execution then ends (resumable), and an execution whose document says so SUCCEEDS.
STOPPED_BY_WINDOW = "window"
# Where a pipeline execution's part of a run runs, as the history records it.
PIPELINE_WHERE = "aws:step-functions"

# --- Limits of one segment's child execution ------------------------------------------------
# Step Functions keeps at most 25,000 events in an execution's history; a turn adds 7
# (TaskStateEntered, TaskScheduled, TaskStarted, TaskSucceeded, TaskStateExited,
# ChoiceStateEntered, ChoiceStateExited) and each retry 3 more. After this many turns a
# segment's child execution ends, leaving the segment resumable, with room for retries.
MAX_TURNS_PER_SEGMENT = 3_000
