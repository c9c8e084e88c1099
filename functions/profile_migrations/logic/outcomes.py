"""Per-profile outcomes: cheap to create on the hot path, rendered only when reported."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from profile_migrations.models.results import ProfileResult, ProfileStatus

SUCCESS: ProfileStatus = "success"
FAILED: ProfileStatus = "failed"
SKIPPED: ProfileStatus = "skipped"


@dataclass(frozen=True, slots=True)
class ProfileOutcome:
    key: dict[str, Any]
    from_version: int | None
    to_version: int
    status: ProfileStatus
    error: str | None = None

    def to_wire(self) -> dict[str, Any]:
        line: dict[str, Any] = {
            "fromVersion": self.from_version,
            "toVersion": self.to_version,
            "status": self.status,
        }
        if self.error is not None:
            line["error"] = self.error
        return with_key(self.key, line)

    def to_result(self) -> ProfileResult:
        return ProfileResult.model_validate(self.to_wire())


def with_key(key: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """A result line: the item's key attributes beside ``fields`` (the original format), or
    under ``"key"`` when a key attribute's name is one of the fields (a table keyed by
    ``status`` or ``version``), so no key value is ever lost."""
    names = {*fields, KEY_FIELD}
    if any(name in names for name in key):
        return {KEY_FIELD: key, **fields}
    return {**key, **fields}


KEY_FIELD = "key"
