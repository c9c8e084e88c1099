"""Each Lambda function's settings: a pydantic model with required fields, read from the
environment the stack sets, once per container (at its first invocation; the handlers'
dependencies are cached with them).

A missing or invalid variable is a deployment fault, not a bad request: it raises
:class:`ConfigurationError` naming every variable at fault, and the invocation fails.
The variables' names are shared with the stack (profile_migrations.environment).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from profile_migrations import environment
from profile_migrations.errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import Mapping

SettingsT = TypeVar("SettingsT", bound="HandlerSettings")


class HandlerSettings(BaseModel):
    """Fields are read from the environment variable named in their ``alias``."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    @classmethod
    def from_environ(cls: type[SettingsT], environ: Mapping[str, str] | None = None) -> SettingsT:
        """The settings in ``environ`` (default: the process's); raises
        :class:`ConfigurationError` naming each missing or invalid variable."""
        env = os.environ if environ is None else environ
        try:
            return cls.model_validate(dict(env))
        except ValidationError as exc:
            faults = "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in exc.errors()
            )
            raise ConfigurationError(f"{cls.__name__} cannot start: {faults}") from exc


class PlanSettings(HandlerSettings):
    table_name: str = Field(alias=environment.TABLE_NAME, min_length=3)
    control_table: str = Field(alias=environment.CONTROL_TABLE, min_length=3)
    max_concurrency_limit: int = Field(alias=environment.MAX_CONCURRENCY_LIMIT, ge=1)
    migrations_module: str | None = Field(default=None, alias=environment.MIGRATIONS_MODULE)


class SegmentSettings(HandlerSettings):
    """Migrate and Verify: a turn stops taking pages ``stop_margin_seconds`` before its
    function's timeout."""

    table_name: str = Field(alias=environment.TABLE_NAME, min_length=3)
    control_table: str = Field(alias=environment.CONTROL_TABLE, min_length=3)
    report_bucket: str = Field(alias=environment.REPORT_BUCKET, min_length=3)
    stop_margin_seconds: int = Field(alias=environment.STOP_MARGIN_SECONDS, ge=0)
    migrations_module: str | None = Field(default=None, alias=environment.MIGRATIONS_MODULE)


class AggregateSettings(HandlerSettings):
    control_table: str = Field(alias=environment.CONTROL_TABLE, min_length=3)
    report_bucket: str = Field(alias=environment.REPORT_BUCKET, min_length=3)
