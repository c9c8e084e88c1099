"""Names of the environment variables the Lambda functions read.

The one module the CDK app imports from this package: it holds only constants, so the
stack and the handlers cannot disagree on a name.
"""

TABLE_NAME = "PROFILE_TABLE_NAME"
REPORT_BUCKET = "REPORT_BUCKET_NAME"
MIGRATIONS_MODULE = "MIGRATIONS_MODULE"
MAX_CONCURRENCY_LIMIT = "MAX_CONCURRENCY_LIMIT"
STOP_MARGIN_SECONDS = "STOP_MARGIN_SECONDS"
LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"
SERVICE_NAME = "POWERTOOLS_SERVICE_NAME"
METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

SERVICE = "profile-migrations"
NAMESPACE = "ProfileMigrations"
