"""CICADA's chain with a last step that fails every third profile (by the digits of its
user id), for automatic rollback: a run of it fails about a third of the profiles."""

from __future__ import annotations

from typing import Any

from profile_migrations import ProfileMigration
from profile_migrations.migrations import CURRENT_PROFILE_VERSION as CICADA_VERSION
from profile_migrations.migrations import migrations as cicada


def _fails_every_third(profile: dict[str, Any]) -> dict[str, Any]:
    if int(str(profile["userId"]).rsplit("-", 1)[-1]) % 3 == 0:
        raise ValueError("this step refuses every third profile")
    return {**profile, "flagged": True}


migrations = [
    *cicada,
    ProfileMigration(CICADA_VERSION, CICADA_VERSION + 1, "fail a third", _fails_every_third),
]
CURRENT_PROFILE_VERSION = CICADA_VERSION + 1
