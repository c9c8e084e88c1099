"""Typed schemas per version: a registry's ``schemas``, a map from a version number to the
pydantic model class every profile at that version must validate against.

A schema only checks; it never changes what is stored: the profile a step returns is
written as it is, whatever the model would have coerced or dropped. Extra fields are the
model's business (pydantic ignores them by default, so a model lists only what it
requires).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from profile_migrations.errors import InvalidSchemaError

# How many of pydantic's errors a reason names; the rest are counted.
SHOWN_ERRORS = 3


@dataclass(frozen=True)
class ProfileSchema:
    """The model of one version, with the validator that checks a profile against it."""

    version: int
    model: type[BaseModel]
    _adapter: TypeAdapter[Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_adapter", TypeAdapter(self.model))

    @property
    def name(self) -> str:
        return self.model.__name__

    def problem(self, profile: Mapping[str, Any]) -> str | None:
        """Why ``profile`` does not validate (pydantic's field paths and reasons, never the
        values, which are profile contents), or None when it does. Validation works on the
        profile as it is: no model instance reaches the caller, and the profile is not
        changed."""
        try:
            self._adapter.validate_python(profile)
        except ValidationError as exc:
            return describe_errors(exc)
        return None


def describe_errors(exc: ValidationError) -> str:
    """``path: reason`` for each of pydantic's errors (the first :data:`SHOWN_ERRORS`),
    ``;``-separated; a path is dotted, a list position in brackets (``tags[0]``)."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    described = [f"{_path(error['loc'])}: {error['msg']}" for error in errors[:SHOWN_ERRORS]]
    if len(errors) > SHOWN_ERRORS:
        described.append(f"and {len(errors) - SHOWN_ERRORS} more")
    return "; ".join(described)


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text or "(the profile)"


def profile_schemas(declared: object, versions: frozenset[int]) -> dict[int, ProfileSchema]:
    """The registry's ``schemas`` checked: a map from versions of the chain (``versions``)
    to pydantic model classes. Raises :class:`InvalidSchemaError` naming the first entry
    that is not."""
    if not isinstance(declared, Mapping):
        raise InvalidSchemaError(
            f"`schemas` is a {type(declared).__name__}, not a dict from version to model class"
        )
    checked: dict[int, ProfileSchema] = {}
    for version, model in declared.items():
        if isinstance(version, bool) or not isinstance(version, int):
            raise InvalidSchemaError(f"`schemas` key {version!r} is not a version number")
        if version not in versions:
            raise InvalidSchemaError(
                f"`schemas` has a model for version {version}, which no step of the chain "
                f"reaches (it covers versions {min(versions)} to {max(versions)})"
            )
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise InvalidSchemaError(
                f"`schemas[{version}]` is {model!r}, not a pydantic model class"
            )
        checked[version] = ProfileSchema(version, model)
    return checked
