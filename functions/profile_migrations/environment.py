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
METRIC_TABLE_DIMENSION = "table"
