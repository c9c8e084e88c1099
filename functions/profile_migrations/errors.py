"""Every error this package raises derives from :class:`MigrationError`.

Two families matter to callers: :class:`MigrationInputError` means the request or the
registry is unusable and nothing was (or will be) written; :class:`ProfileMigrationError`
concerns one profile and fails that profile only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from profile_migrations.environment import RUN_ERROR_SEGMENTS_UNFINISHED

if TYPE_CHECKING:
    from profile_migrations.models.records import LockInfo

# How many unfinished segments, and how much of a reason, a message names.
SHOWN_SEGMENTS = 20
MAX_REASON_CHARS = 500


class MigrationError(Exception):
    """Root of every error raised by profile_migrations."""


class ConfigurationError(MigrationError):
    """The deployment is incomplete: a Lambda function's environment lacks a variable the
    stack sets, or holds an invalid value. Not the request's fault; nothing was read."""


class MigrationInputError(MigrationError):
    """The request cannot run as given; nothing has been written."""


class InvalidRegistryError(MigrationInputError):
    """The registered migrations do not form one valid forward chain."""


class InvalidStepError(InvalidRegistryError):
    """A step is malformed: non-integer versions, not moving forward, or no callable."""


class DuplicateStepError(InvalidRegistryError):
    """Two steps start from the same version, so the chain would branch."""


class ChainGapError(InvalidRegistryError):
    """A step starts from a version no earlier step reaches."""


class RegistryLoadError(InvalidRegistryError):
    """A migrations module or file could not be imported or exposes no `migrations`."""


class InvalidSchemaError(InvalidRegistryError):
    """The registry's ``schemas`` is not a map from a version of its chain to a pydantic
    model class."""


class NoMigrationPathError(MigrationInputError):
    """No chain of registered steps leads from a version to the target version."""


class RegistryEditError(MigrationInputError):
    """``profile-migrate new`` cannot edit the registry file safely (not the structure it
    expects, or its test file exists already); nothing was changed."""


class UsageError(MigrationInputError):
    """The command line is malformed (a missing or unknown option, a value out of range);
    ``usage`` is the usage line of the command it concerns."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__(message)
        self.usage = usage


class InvalidRequestError(MigrationInputError):
    """A request field is out of range or contradicts another field."""


class NoRunInProgressError(MigrationInputError):
    """A command meant for the table's running run (``throttle``) found none: the table is
    not locked, or its lock's lease has expired."""


class RequestRefusedError(MigrationInputError):
    """The pipeline refused an execution's input; the message names the reason.

    One error name for every refusal, so the state machine catches them all by name.
    """


class RunLockedError(MigrationInputError):
    """Another run holds this table's lock; ``holder`` is its lock (None when it could not
    be read), and the message names it and how to release it."""

    def __init__(self, message: str, holder: LockInfo | None = None) -> None:
        super().__init__(message)
        self.holder = holder


class ChangedStepError(MigrationInputError):
    """A step's code changed since it was applied to this table (refused unless allowed);
    ``steps`` lists their labels (``"1->2"``)."""

    def __init__(self, message: str, steps: list[str]) -> None:
        super().__init__(message)
        self.steps = steps


class BackupFailedError(MigrationInputError):
    """The backup taken before writing failed; nothing was written."""


class TableNotFoundError(MigrationInputError):
    """The table to migrate does not exist at the given endpoint and region."""


class ProfileMigrationError(MigrationError):
    """One profile cannot be migrated; the run goes on and the stored item is unchanged."""


class InvalidVersionError(ProfileMigrationError):
    """The profile's `version` attribute is not a positive integer."""


class InvalidProfileError(ProfileMigrationError):
    """The profile does not have the shape a migration step needs."""


class StepFailedError(ProfileMigrationError):
    """A migration step raised, or returned something other than a profile dict."""


class StepNotWrittenError(StepFailedError):
    """The step is still the stub ``profile-migrate new`` generated (marked
    ``@ProfileMigration.not_written``): it refuses every profile until its author writes it."""


class SchemaMismatchError(ProfileMigrationError):
    """A step's result does not validate against the schema of the version it leads to."""


class StepVersionError(ProfileMigrationError):
    """A migration step set `version` to something other than its `to_version`."""


class KeyChangedError(ProfileMigrationError):
    """A migration step changed the item's primary key, which an update cannot do."""


class UnsupportedValueError(ProfileMigrationError):
    """A migrated profile holds a value DynamoDB cannot store (a float, an empty set)."""


class MalformedValueError(ProfileMigrationError):
    """An answer from the store held something that is not a DynamoDB attribute value (an
    empty map written as ``{}`` instead of ``{"M": {}}``, an unknown type tag, a payload of
    the wrong type). The item is re-read with a consistent GetItem; if that is malformed
    too, its profile fails and is left as it is."""


class StoreUnavailableError(MigrationError):
    """DynamoDB kept throttling or failing after every retry.

    The segment stops where it is, without marking any profile failed; running again
    continues safely because every write is conditional.
    """


class SegmentsUnfinishedError(MigrationError):
    """Segments of a run did not reach their end (stopped after their retries, by an
    outage, or out of turns); ``segments`` lists them, ``reasons`` the reason each
    recorded, when one did. The run keeps its checkpoints; resuming it continues them.
    A run's document names it ``SegmentsUnfinished`` (``error_type``)."""

    error_type = RUN_ERROR_SEGMENTS_UNFINISHED

    def __init__(self, segments: list[int], total: int, reasons: dict[int, str]) -> None:
        shown = ", ".join(str(segment) for segment in segments[:SHOWN_SEGMENTS])
        more = (
            f" and {len(segments) - SHOWN_SEGMENTS} more" if len(segments) > SHOWN_SEGMENTS else ""
        )
        first = next((reasons[segment] for segment in segments if segment in reasons), None)
        reason = f" (first reason recorded: {first[:MAX_REASON_CHARS]})" if first else ""
        super().__init__(
            f"segments {shown}{more} of {total} did not finish{reason}; resume the run to "
            "continue them from their checkpoints"
        )
        self.segments = segments
        self.reasons = reasons


class SegmentStoppedError(MigrationError):
    """A segment's turn met something unexpected (a bug, an answer nothing anticipated) and
    stopped at its last finished page. What the turn did is recorded and its checkpoint
    kept, so a resumed run continues from there; retrying the same turn would meet it again.
    """


class SegmentBusyError(MigrationError):
    """Another turn of the same segment still holds the segment's turn lease (a retried
    invocation while the first still runs, or a killed turn whose lease has not expired).
    Nothing was read or written; the state machine retries the turn later."""
