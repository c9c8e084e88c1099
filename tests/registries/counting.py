"""Two steps that record every application in the profile itself.

A profile migrated once carries ``appliedSteps == ["1->2", "2->3"]``; a step applied twice
would show up as a repeated label. No step reads the clock, so two runs of this registry
produce identical tables.
"""

from __future__ import annotations

from typing import Any

from profile_migrations import ProfileMigration


def _record(label: str) -> Any:
    def step(profile: dict[str, Any]) -> dict[str, Any]:
        return {**profile, "appliedSteps": [*profile.get("appliedSteps", []), label]}

    return step


migrations = [
    ProfileMigration(1, 2, "record 1->2", _record("1->2")),
    ProfileMigration(2, 3, "record 2->3", _record("2->3")),
]
CURRENT_PROFILE_VERSION = 3
