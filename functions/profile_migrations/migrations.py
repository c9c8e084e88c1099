"""CICADA's profile schema chain: the TypeScript design's four example migrations, in order.

Each step computes what that TypeScript computes on the item as the application's
DocumentClient hands it to JavaScript: where the TypeScript writes ``a || b``, the step takes
``b`` exactly when ``a`` is JavaScript-falsy (see :func:`is_js_falsy`).

Four deliberate deviations keep what the application wrote, which the TypeScript would discard
or mangle:

- 3->4 merges the moved fields into an existing ``profileData.metadata`` map instead of
  replacing it (a JavaScript-truthy ``metadata`` that is not a map fails the profile);
- 4->5 keeps an existing JavaScript-truthy ``lastAccessedAt``;
- 2->3 keeps an existing ``name`` when ``characterName`` is absent (the TypeScript would set
  ``name: undefined``, deleting it);
- 1->2, 2->3 and 3->4 fail a profile whose ``profileData`` is not a map (the TypeScript would
  spread a string into a map of its characters).

Every step is pure, never mutates its input, keeps every value it does not own, and
raises :class:`InvalidProfileError` for a shape it cannot handle.

``schemas`` holds the shape of each version: what the steps guarantee, nothing more (the
application's other fields, of any type, are left alone). Every step's result is
validated against its version's model, and ``run --verify-only --deep`` validates the
profiles already there.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator
from pydantic.alias_generators import to_camel

from profile_migrations.clock import run_started_at
from profile_migrations.errors import InvalidProfileError
from profile_migrations.registry import ProfileMigration

Profile = dict[str, Any]
PROFILE_DATA = "profileData"
UNKNOWN_CHARACTER_TYPE = "UNKNOWN"


def is_js_falsy(value: object) -> bool:
    """Whether JavaScript would hold ``value`` falsy once DocumentClient hands it over.

    Falsy: an absent attribute (pass ``None``, as ``dict.get`` returns), NULL, ``""``,
    ``False`` and a number equal to zero in any spelling (``0``, ``-0``, ``0.0``,
    ``0E+3``), since DocumentClient turns every DynamoDB number into a JavaScript number.
    ``bool`` is DynamoDB's BOOL here, never a number. Everything else is truthy, even when
    empty: lists become arrays, maps objects, sets ``Set`` objects and binary
    ``Uint8Array`` values, and JavaScript holds every object truthy.
    """
    if value is None or isinstance(value, bool | str):
        return not value
    if isinstance(value, Decimal):
        # NaN is falsy in JavaScript; DynamoDB cannot store one, but a step may be handed one.
        return value.is_zero() or value.is_nan()
    if isinstance(value, int | float):
        return value == 0 or math.isnan(value)
    return False


def _js_or(*operands: Any) -> Any:
    """JavaScript's ``a || b || ...``: the first truthy operand, else the last one."""
    for operand in operands[:-1]:
        if not is_js_falsy(operand):
            return operand
    return operands[-1]


def _profile_data(profile: Profile) -> dict[str, Any]:
    """The ``profileData`` map a step rewrites.

    A missing or NULL one fails the profile, as the TypeScript's TypeError would. Any other value
    that is not a map fails it too, where the TypeScript would spread a string into a map of its
    characters (or a number into an empty map) and write that back.
    """
    data = profile.get(PROFILE_DATA)
    if data is None:
        raise InvalidProfileError("profileData is missing")
    if not isinstance(data, dict):
        raise InvalidProfileError(f"profileData is a {type(data).__name__}, not a map")
    return data


def add_character_type(profile: Profile) -> Profile:
    """1->2, the TypeScript's ``characterType || 'UNKNOWN'``.

    A JavaScript-truthy ``characterType`` is kept whatever its type (``"0"``, ``True``);
    an absent, NULL, empty, zero or ``False`` one becomes ``"UNKNOWN"``.
    """
    data = _profile_data(profile)
    character_type = _js_or(data.get("characterType"), UNKNOWN_CHARACTER_TYPE)
    return {**profile, PROFILE_DATA: {**data, "characterType": character_type}}


def rename_character_name(profile: Profile) -> Profile:
    """2->3, the TypeScript's ``name: characterName, characterName: undefined``.

    A present ``characterName`` moves to ``name`` as it is, even NULL or empty: the TypeScript
    applies no default here. When ``characterName`` is absent the profile comes back
    unchanged, so an existing ``name`` survives where the TypeScript would delete it.
    """
    data = _profile_data(profile)
    if "characterName" not in data:
        return profile
    renamed = {key: value for key, value in data.items() if key != "characterName"}
    renamed["name"] = data["characterName"]
    return {**profile, PROFILE_DATA: renamed}


def nest_metadata(profile: Profile) -> Profile:
    """3->4, the TypeScript's ``metadata: {createdBy, tags: tags || []}``, merged.

    A present ``createdBy`` moves as it is; ``tags`` moves when JavaScript-truthy (an empty
    list, map or set included), else an existing truthy ``metadata.tags`` is kept, else it
    becomes ``[]``. The moved fields are merged into an existing ``metadata`` map, whose
    other keys the application may have written; a JavaScript-falsy ``metadata`` holds
    nothing to merge and is replaced as the TypeScript does, and any other non-map one fails the
    profile rather than being overwritten.
    """
    data = _profile_data(profile)
    existing = data.get("metadata")
    if is_js_falsy(existing):
        existing = {}
    elif not isinstance(existing, dict):
        raise InvalidProfileError(f"profileData.metadata is a {type(existing).__name__}, not a map")
    metadata: dict[str, Any] = dict(existing)
    if "createdBy" in data:
        metadata["createdBy"] = data["createdBy"]
    metadata["tags"] = _js_or(data.get("tags"), metadata.get("tags"), [])
    nested = {key: value for key, value in data.items() if key not in ("createdBy", "tags")}
    nested["metadata"] = metadata
    return {**profile, PROFILE_DATA: nested}


def add_last_accessed_at(profile: Profile) -> Profile:
    """4->5, the TypeScript's ``updatedAt || new Date().toISOString()``, stamped with the run's
    start time so every computation of one run agrees.

    An existing JavaScript-truthy ``lastAccessedAt`` is kept. A falsy one (``""``, ``0``,
    NULL, ``False``) records no access time the application can use (``new Date("")``
    cannot be formatted), so it is replaced exactly as the TypeScript would replace it.
    """
    if not is_js_falsy(profile.get("lastAccessedAt")):
        return profile
    return {**profile, "lastAccessedAt": _js_or(profile.get("updatedAt"), run_started_at())}


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


class _Shape(BaseModel):
    """A part of a profile: fields by their attribute names; other fields are allowed (and
    ignored, which validates fastest)."""

    model_config = ConfigDict(alias_generator=to_camel, frozen=True)


class ProfileV1(_Shape):
    """Version 1: a ``profileData`` map, whatever it holds (every step needs one)."""

    profile_data: dict[str, Any]


class CharacterDataV2(_Shape):
    """``characterType`` is present (1->2 sets it to a JavaScript-truthy value, of any
    type the application wrote)."""

    character_type: Any


class ProfileV2(_Shape):
    profile_data: CharacterDataV2


class ProfileV3(_Shape):
    """As version 2 (2->3 renames ``characterName``, which may be absent)."""

    profile_data: CharacterDataV2


def _list_or_set(value: Any) -> Any:
    if isinstance(value, list | set):
        return value
    raise ValueError(f"should be a list or a set, not a {type(value).__name__}")


class MetadataV4(_Shape):
    """``tags`` is a list or a set (3->4 moves a truthy one, else ``[]``); ``createdBy``
    moves only when present."""

    tags: Annotated[Any, PlainValidator(_list_or_set)]


class CharacterDataV4(CharacterDataV2):
    metadata: MetadataV4


class ProfileV4(_Shape):
    profile_data: CharacterDataV4


class ProfileV5(ProfileV4):
    """``lastAccessedAt`` is present (4->5 keeps a truthy one, else ``updatedAt``, else
    the run's start time)."""

    last_accessed_at: Any


schemas: dict[int, type[BaseModel]] = {
    1: ProfileV1,
    2: ProfileV2,
    3: ProfileV3,
    4: ProfileV4,
    5: ProfileV5,
}

CURRENT_PROFILE_VERSION = 5
