"""Migration steps, the validated chain they form, and applying it to one profile.

Shaped like alembic's core: an immutable step, a chain validated once when built (gaps,
branches, backward steps), a pure plan from a version to a target, and an apply that runs
the plan. Everything here is pure: no I/O, no clock, no globals.
"""

from __future__ import annotations

import hashlib
import inspect
import itertools
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, DecimalException, localcontext
from functools import cached_property
from typing import Any, TypeVar

from profile_migrations.codec import serialize_attribute
from profile_migrations.errors import (
    ChainGapError,
    DuplicateStepError,
    InvalidStepError,
    NoMigrationPathError,
    SchemaMismatchError,
    StepFailedError,
    StepNotWrittenError,
    StepVersionError,
    UnsupportedValueError,
)
from profile_migrations.numbers import DYNAMODB_NUMBER_CONTEXT
from profile_migrations.schemas import ProfileSchema, profile_schemas
from profile_migrations.versions import VERSION_ATTRIBUTE, profile_version

Profile = dict[str, Any]
MigrateFunction = Callable[[Profile], Profile]
MigrateFunctionT = TypeVar("MigrateFunctionT", bound=Callable[..., Any])

# Set on a step function by ProfileMigration.not_written.
_NOT_WRITTEN_MARK = "__profile_migration_not_written__"


@dataclass(frozen=True, slots=True)
class ProfileMigration:
    """One step: turns a profile at ``from_version`` into a profile at ``to_version``.

    ``migrate`` returns the new profile; keys it leaves out are removed from the stored
    item. It need not set ``version``: the framework sets it to ``to_version``.
    """

    from_version: int
    to_version: int
    description: str
    migrate: MigrateFunction

    def __post_init__(self) -> None:
        for name in ("from_version", "to_version"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidStepError(
                    f"step {self.label}: {name} must be a positive integer, got {value!r}"
                )
        if self.to_version <= self.from_version:
            raise InvalidStepError(
                f"step {self.label}: to_version must be greater than from_version "
                "(migrations only go forward; a backward step would form a cycle)"
            )
        if not callable(self.migrate):
            raise InvalidStepError(f"step {self.label}: migrate is not callable")
        if not isinstance(self.description, str) or not self.description.strip():
            raise InvalidStepError(f"step {self.label}: description must be a non-empty string")

    @staticmethod
    def not_written(function: MigrateFunctionT) -> MigrateFunctionT:
        """Mark a step function as the stub ``profile-migrate new`` generated: the step
        fails every profile (:class:`StepNotWrittenError`, naming it) and ``plan`` shows it
        as not written, until its author writes it and removes the decorator."""
        setattr(function, _NOT_WRITTEN_MARK, True)
        return function

    @property
    def written(self) -> bool:
        """False while the step's function is marked :meth:`not_written`."""
        return not getattr(self.migrate, _NOT_WRITTEN_MARK, False)

    @property
    def label(self) -> str:
        return f"{self.from_version}->{self.to_version}"

    @property
    def checksum(self) -> str:
        """SHA-256 of the step's versions and its function's source (bytecode when the
        source is unavailable): what a run compares with the checksum recorded when the
        step was first applied to a table, as Flyway's validate does."""
        try:
            code = textwrap.dedent(inspect.getsource(self.migrate))
        except (OSError, TypeError):
            code = repr(getattr(self.migrate, "__code__", self.migrate))
        return hashlib.sha256(f"{self.label}\n{code}".encode()).hexdigest()

    def apply(self, profile: Profile) -> Profile:
        """Run the step on a profile the caller owns; the result carries ``to_version``.

        Whatever the step raises fails this profile with :class:`StepFailedError` (a step
        calling ``exit()`` included); only an interrupt (Ctrl-C) is let through. A step
        not written yet fails every profile with :class:`StepNotWrittenError`."""
        if not self.written:
            name = getattr(self.migrate, "__name__", "its function")
            raise StepNotWrittenError(
                f"step {self.label} is not written yet: write {name} and remove its "
                "@ProfileMigration.not_written"
            )
        try:
            result = self.migrate(profile)
        except DecimalException as exc:
            raise StepFailedError(self._inexact(profile, exc)) from exc
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            raise StepFailedError(f"step {self.label} raised {type(exc).__name__}: {exc}") from exc
        if not isinstance(result, dict):
            raise StepFailedError(
                f"step {self.label} returned {type(result).__name__}, not a profile dict"
            )
        returned_version = result.get(VERSION_ATTRIBUTE, self.from_version)
        if returned_version not in (self.from_version, self.to_version) or isinstance(
            returned_version, bool
        ):
            raise StepVersionError(
                f"step {self.label} set version to {returned_version!r}; "
                f"the framework sets it to {self.to_version}"
            )
        # A step may return its own input; stamping a copy keeps the caller's dict intact.
        return {**result, VERSION_ATTRIBUTE: self.to_version}

    def _inexact(self, profile: Profile, exc: DecimalException) -> str:
        """Why the step's arithmetic was refused, naming the attribute when a run of the
        step with unbounded precision shows which value DynamoDB could not store (on the
        profile as the refused attempt left it: a step may have changed its own copy)."""
        signals = ", ".join(signal.__name__ for signal in _signals(exc))
        reason = (
            f"step {self.label}: a number it computed cannot be stored exactly in DynamoDB "
            f"(over 38 significant digits, or outside 1E-130 to 9.99...E+125): {signals}"
        )
        with localcontext(_EXACT_CONTEXT):
            try:
                exact = self.migrate(_clone(profile))
                for name, value in exact.items():
                    serialize_attribute(name, value)
            except UnsupportedValueError as unstorable:
                return f"{reason}; {unstorable}"
            except Exception:  # noqa: S110 - the diagnosis is best effort; the reason stands
                pass
        return reason


@dataclass(frozen=True)
class MigrationChain:
    """A validated, linear chain of steps, and the schemas its versions must validate
    against (``schemas``: version -> pydantic model class; a version without one is not
    checked). Building one refuses any invalid registry."""

    steps: tuple[ProfileMigration, ...]
    schemas: Mapping[int, ProfileSchema] = field(init=False, compare=False)
    _by_from_version: dict[int, ProfileMigration] = field(init=False, repr=False, compare=False)

    def __init__(
        self, steps: Iterable[ProfileMigration], schemas: Mapping[int, type[Any]] | None = None
    ) -> None:
        ordered = tuple(sorted(_as_steps(steps), key=lambda step: step.from_version))
        if not ordered:
            raise InvalidStepError("the registry holds no migrations")
        by_from: dict[int, ProfileMigration] = {}
        for step in ordered:
            if step.from_version in by_from:
                raise DuplicateStepError(
                    f"steps {by_from[step.from_version].label} and {step.label} both start "
                    f"from version {step.from_version}"
                )
            by_from[step.from_version] = step
        for previous, step in itertools.pairwise(ordered):
            if step.from_version != previous.to_version:
                raise ChainGapError(
                    f"step {step.label} starts from version {step.from_version}, but the "
                    f"step before it ({previous.label}) ends at version {previous.to_version}"
                )
        object.__setattr__(self, "steps", ordered)
        object.__setattr__(self, "_by_from_version", by_from)
        versions = frozenset({ordered[0].from_version} | {step.to_version for step in ordered})
        object.__setattr__(self, "schemas", profile_schemas(schemas or {}, versions))

    @property
    def base(self) -> int:
        return self.steps[0].from_version

    @property
    def head(self) -> int:
        return self.steps[-1].to_version

    @cached_property
    def versions(self) -> frozenset[int]:
        return frozenset({self.base} | {step.to_version for step in self.steps})

    def check_target(self, target_version: int) -> None:
        """Refuse a target no profile could reach through this chain."""
        if target_version not in self.versions:
            raise NoMigrationPathError(
                f"no migration path leads to version {target_version}: the registered "
                f"chain covers versions {self.base} to {self.head}"
            )

    def path(self, from_version: int, target_version: int) -> tuple[ProfileMigration, ...]:
        """The migration path: the steps taking a profile from ``from_version`` to
        ``target_version``, in order."""
        self.check_target(target_version)
        if from_version == target_version:
            return ()
        if from_version > target_version:
            raise NoMigrationPathError(
                f"version {from_version} is above the target version {target_version}; "
                "migrations only go forward"
            )
        steps: list[ProfileMigration] = []
        version = from_version
        while version < target_version:
            step = self._by_from_version.get(version)
            if step is None:
                raise NoMigrationPathError(
                    f"no registered step starts from version {version} "
                    f"(the chain covers versions {self.base} to {self.head})"
                )
            steps.append(step)
            version = step.to_version
        return tuple(steps)

    def apply(self, profile: Mapping[str, Any], target_version: int) -> Profile:
        """Migrate a copy of ``profile`` to ``target_version``; the input is never mutated.

        Steps run in DynamoDB's number context (38 digits, DynamoDB's exponent range, every
        signal trapped) whatever the calling thread's context is, so arithmetic on a
        ``Decimal`` is exact or fails the profile; it never rounds. Each step's result is
        validated against the schema of the version it leads to, when there is one: a
        result that does not validate fails the profile with :class:`SchemaMismatchError`
        (pydantic's field paths and reasons)."""
        steps = self.path(profile_version(profile), target_version)
        migrated: Profile = _clone(profile)
        schemas = self.schemas
        with localcontext(DYNAMODB_NUMBER_CONTEXT):
            for step in steps:
                migrated = step.apply(migrated)
                schema = schemas.get(step.to_version)
                if schema is not None:
                    problem = schema.problem(migrated)
                    if problem is not None:
                        raise SchemaMismatchError(
                            f"step {step.label}: the result does not match version "
                            f"{step.to_version}'s schema ({schema.name}): {problem}"
                        )
        return migrated


# Wide enough that a step's arithmetic on storable numbers is exact (38 digits at
# exponents -130..125 multiply into about 80 digits), with no trap: for diagnosis only.
_EXACT_CONTEXT = Context(prec=1_000, Emin=-999_999, Emax=999_999, traps=[])


def _signals(exc: DecimalException) -> list[type[DecimalException]]:
    """The decimal signals an exception reports (C decimal lists them all in its args)."""
    listed = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
    signals = [signal for signal in listed if isinstance(signal, type)]
    return signals or [type(exc)]


def _clone(value: Any) -> Any:
    """Deep copy of the shapes a deserialized item holds; leaves are immutable, so shared.

    Exact type checks: ``isinstance`` against ``Mapping`` is an ABC check, and this runs
    for every value of every profile."""
    kind = type(value)
    if kind is dict:
        return {name: _clone(inner) for name, inner in value.items()}
    if kind is list:
        return [_clone(inner) for inner in value]
    if kind is set or kind is bytearray:
        return value.copy()
    if isinstance(value, Mapping):
        return {name: _clone(inner) for name, inner in value.items()}
    if isinstance(value, list):
        return [_clone(inner) for inner in value]
    if isinstance(value, (set, bytearray)):
        return value.copy()
    return value


def _as_steps(steps: Iterable[Any]) -> list[ProfileMigration]:
    collected = list(steps)
    for position, step in enumerate(collected):
        if not isinstance(step, ProfileMigration):
            raise InvalidStepError(
                f"registry entry {position} is a {type(step).__name__}, not a ProfileMigration"
            )
    return collected


def apply_migrations(
    profile: Mapping[str, Any],
    migrations: Sequence[ProfileMigration] | MigrationChain,
    target_version: int | None = None,
) -> Profile:
    """Return ``profile`` migrated to ``target_version`` (default: the chain's head).

    A profile without ``version`` is at version 1. The input is never mutated; a profile
    already at the target comes back equal. Raises :class:`NoMigrationPathError` when no
    chain of steps leads there and :class:`ProfileMigrationError` when a step fails.
    """
    chain = migrations if isinstance(migrations, MigrationChain) else MigrationChain(migrations)
    return chain.apply(profile, chain.head if target_version is None else target_version)
