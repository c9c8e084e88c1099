"""CICADA's profile schema chain: the seed's four example migrations, in order.

Each step copies what it changes and keeps every value it does not own, so re-reading a
profile an application updated mid-run never discards the application's data: an existing
`characterType`, an existing `profileData.metadata` map and an existing `lastAccessedAt`
are kept.
"""

from __future__ import annotations

from typing import Any

from profile_migrations.clock import run_started_at
from profile_migrations.errors import InvalidProfileError
from profile_migrations.registry import ProfileMigration

Profile = dict[str, Any]
PROFILE_DATA = "profileData"
UNKNOWN_CHARACTER_TYPE = "UNKNOWN"


def _profile_data(profile: Profile) -> dict[str, Any]:
    data = profile.get(PROFILE_DATA)
    if data is None:
        raise InvalidProfileError("profileData is missing")
    if not isinstance(data, dict):
        raise InvalidProfileError(f"profileData is a {type(data).__name__}, not a map")
    return data


def add_character_type(profile: Profile) -> Profile:
    data = _profile_data(profile)
    if data.get("characterType") in (None, ""):
        data = {**data, "characterType": UNKNOWN_CHARACTER_TYPE}
    return {**profile, PROFILE_DATA: data}


def rename_character_name(profile: Profile) -> Profile:
    data = _profile_data(profile)
    if "characterName" not in data:
        return profile
    renamed = {key: value for key, value in data.items() if key != "characterName"}
    renamed["name"] = data["characterName"]
    return {**profile, PROFILE_DATA: renamed}


def nest_metadata(profile: Profile) -> Profile:
    data = _profile_data(profile)
    existing = data.get("metadata")
    if existing is not None and not isinstance(existing, dict):
        raise InvalidProfileError(f"profileData.metadata is a {type(existing).__name__}, not a map")
    metadata: dict[str, Any] = dict(existing or {})
    if "createdBy" in data:
        metadata["createdBy"] = data["createdBy"]
    metadata["tags"] = data.get("tags") or metadata.get("tags") or []
    nested = {key: value for key, value in data.items() if key not in ("createdBy", "tags")}
    nested["metadata"] = metadata
    return {**profile, PROFILE_DATA: nested}


def add_last_accessed_at(profile: Profile) -> Profile:
    if profile.get("lastAccessedAt") is not None:
        return profile
    updated_at = profile.get("updatedAt")
    return {**profile, "lastAccessedAt": updated_at if updated_at is not None else run_started_at()}


migrations: list[ProfileMigration] = [
    ProfileMigration(
        from_version=1,
        to_version=2,
        description="Add characterType field to character profiles",
        migrate=add_character_type,
    ),
    ProfileMigration(
        from_version=2,
        to_version=3,
        description="Rename characterName to name",
        migrate=rename_character_name,
    ),
    ProfileMigration(
        from_version=3,
        to_version=4,
        description="Move createdBy and tags into profileData.metadata",
        migrate=nest_metadata,
    ),
    ProfileMigration(
        from_version=4,
        to_version=5,
        description="Add lastAccessedAt timestamp",
        migrate=add_last_accessed_at,
    ),
]

CURRENT_PROFILE_VERSION = 5
