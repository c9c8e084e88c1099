"""Every error this package raises derives from :class:`MigrationError`.

Two families matter to callers: :class:`MigrationInputError` means the request or the
registry is unusable and nothing was (or will be) written; :class:`ProfileMigrationError`
concerns one profile and fails that profile only.
"""

from __future__ import annotations


class MigrationError(Exception):
    """Root of every error raised by profile_migrations."""


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


class NoMigrationPathError(MigrationInputError):
    """No chain of registered steps leads from a version to the target version."""


class InvalidRequestError(MigrationInputError):
    """A request field is out of range or contradicts another field."""


class RequestRefusedError(MigrationInputError):
    """The pipeline refused an execution's input; the message names the reason.

    One error name for every refusal, so the state machine catches them all by name.
    """


class RunLockedError(MigrationInputError):
    """Another run holds this table's lock; the message names it and how to release it."""


class ChangedStepError(MigrationInputError):
    """A step's code changed since it was applied to this table (refused unless allowed)."""


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


class SegmentStoppedError(MigrationError):
    """A segment's turn met something unexpected (a bug, an answer nothing anticipated) and
    stopped at its last finished page. What the turn did is recorded and its checkpoint
    kept, so a resumed run continues from there; retrying the same turn would meet it again.
    """


class SegmentBusyError(MigrationError):
    """Another turn of the same segment still holds the segment's turn lease (a retried
    invocation while the first still runs, or a killed turn whose lease has not expired).
    Nothing was read or written; the state machine retries the turn later."""
