"""Reading a profile's schema version, the one attribute every step relies on."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from profile_migrations.errors import InvalidVersionError

if TYPE_CHECKING:
    from collections.abc import Mapping

VERSION_ATTRIBUTE = "version"
UNVERSIONED = 1


def profile_version(profile: Mapping[str, Any]) -> int:
    """The profile's version; a profile without one is version 1 (as in the TypeScript design)."""
    if VERSION_ATTRIBUTE not in profile:
        return UNVERSIONED
    value = profile[VERSION_ATTRIBUTE]
    if isinstance(value, int) and not isinstance(value, bool):
        version = value
    elif isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        version = int(value)
    else:
        raise InvalidVersionError(f"version {_describe(value)} is not an integer")
    if version < 1:
        raise InvalidVersionError(f"version {version} is below 1")
    return version


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return f"{value!r} (a string)"
    return repr(value) if not isinstance(value, (bytes, set, dict, list)) else type(value).__name__
