"""The Lambda functions' settings, read once from the environment the stack sets."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from profile_migrations import environment
from profile_migrations.errors import InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Mapping

# Lambda's default concurrency quota per account and region (Lambda developer guide,
# "Lambda quotas"); the stack sets the limit explicitly, to its reservation when it makes one.
DEFAULT_MAX_CONCURRENCY_LIMIT = 1_000
DEFAULT_STOP_MARGIN_SECONDS = 60


class LambdaSettings(BaseModel):
    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=3)
    report_bucket: str | None = None
    control_table: str | None = None
    migrations_module: str | None = None
    max_concurrency_limit: int = Field(default=DEFAULT_MAX_CONCURRENCY_LIMIT, ge=1)
    stop_margin_seconds: int = Field(default=DEFAULT_STOP_MARGIN_SECONDS, ge=0)

    def bucket(self) -> str:
        """The report bucket, which every function but Plan needs."""
        if not self.report_bucket:
            raise InvalidRequestError(f"{environment.REPORT_BUCKET} is not set")
        return self.report_bucket

    def control_table_name(self) -> str:
        """The control table (locks, checkpoints, history): the stack names it."""
        if not self.control_table:
            raise InvalidRequestError(f"{environment.CONTROL_TABLE} is not set")
        return self.control_table

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> LambdaSettings:
        env = os.environ if environ is None else environ
        values = {
            "table_name": env.get(environment.TABLE_NAME),
            "report_bucket": env.get(environment.REPORT_BUCKET),
            "control_table": env.get(environment.CONTROL_TABLE),
            "migrations_module": env.get(environment.MIGRATIONS_MODULE),
            "max_concurrency_limit": env.get(environment.MAX_CONCURRENCY_LIMIT),
            "stop_margin_seconds": env.get(environment.STOP_MARGIN_SECONDS),
        }
        return cls.model_validate({name: value for name, value in values.items() if value})
