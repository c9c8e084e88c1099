"""The migration framework: steps, the validated chain, path(), apply and registry loading.

Tests build their own small chains from throwaway steps, so a failure points at the
framework rather than at CICADA's example migrations (those live in test_cicada_chain.py);
only loading the default registry by its dotted name touches CICADA's module.
"""

from __future__ import annotations

import copy
import sys
import textwrap
import threading
from dataclasses import FrozenInstanceError
from decimal import Decimal, Inexact, localcontext
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.errors import (
    ChainGapError,
    DuplicateStepError,
    InvalidRegistryError,
    InvalidStepError,
    InvalidVersionError,
    MigrationError,
    MigrationInputError,
    NoMigrationPathError,
    ProfileMigrationError,
    RegistryLoadError,
    StepFailedError,
    StepVersionError,
)
from profile_migrations.loader import load_registry
from profile_migrations.registry import MigrationChain, ProfileMigration, apply_migrations
from profile_migrations.versions import profile_version

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

Profile = dict[str, Any]


def unchanged(profile: Profile) -> Profile:
    return dict(profile)


def step(
    from_version: int,
    to_version: int,
    migrate: Callable[[Profile], Any] = unchanged,
    description: str = "test step",
) -> ProfileMigration:
    return ProfileMigration(from_version, to_version, description, migrate)


def recording(from_version: int, to_version: int) -> ProfileMigration:
    """A step that appends its label to `trail` (without mutating the list it was given)."""

    def migrate(profile: Profile) -> Profile:
        return {**profile, "trail": [*profile.get("trail", []), f"{from_version}->{to_version}"]}

    return step(from_version, to_version, migrate)


def linear_chain(head: int = 4) -> MigrationChain:
    return MigrationChain([recording(n, n + 1) for n in range(1, head)])


def labels(steps: Any) -> list[str]:
    return [s.label for s in steps]


# --- ProfileMigration ---------------------------------------------------------------------


def test_a_step_is_labelled_by_its_versions() -> None:
    # Given / When
    migration = step(2, 3)

    # Then
    assert migration.label == "2->3"


def test_a_step_may_skip_versions() -> None:
    # Given / When
    migration = step(1, 3)

    # Then
    assert (migration.from_version, migration.to_version) == (1, 3)


def test_a_step_is_immutable() -> None:
    # Given
    migration = step(1, 2)

    # When / Then
    with pytest.raises(FrozenInstanceError):
        migration.to_version = 3  # type: ignore[misc]
    assert migration.to_version == 2


@pytest.mark.parametrize(
    ("from_version", "to_version", "migrate", "description", "label", "complaint"),
    [
        (0, 1, unchanged, "d", "0->1", "from_version must be a positive integer"),
        (-1, 2, unchanged, "d", "-1->2", "from_version must be a positive integer"),
        (1, 0, unchanged, "d", "1->0", "to_version must be a positive integer"),
        (True, 2, unchanged, "d", "True->2", "from_version must be a positive integer"),
        (1, 2.0, unchanged, "d", "1->2.0", "to_version must be a positive integer"),
        ("1", 2, unchanged, "d", "1->2", "from_version must be a positive integer"),
        (2, 2, unchanged, "d", "2->2", "to_version must be greater than from_version"),
        (3, 2, unchanged, "d", "3->2", "to_version must be greater than from_version"),
        (1, 2, "not callable", "d", "1->2", "migrate is not callable"),
        (1, 2, unchanged, "", "1->2", "description must be a non-empty string"),
        (1, 2, unchanged, "   ", "1->2", "description must be a non-empty string"),
        (1, 2, unchanged, None, "1->2", "description must be a non-empty string"),
    ],
    ids=[
        "from-zero",
        "from-negative",
        "to-zero",
        "from-bool",
        "to-float",
        "from-string",
        "not-forward",
        "backward",
        "migrate-not-callable",
        "empty-description",
        "blank-description",
        "no-description",
    ],
)
def test_a_malformed_step_is_refused_naming_the_step(
    from_version: Any,
    to_version: Any,
    migrate: Any,
    description: Any,
    label: str,
    complaint: str,
) -> None:
    # Given / When
    with pytest.raises(InvalidStepError) as caught:
        ProfileMigration(from_version, to_version, description, migrate)

    # Then
    assert f"step {label}:" in str(caught.value)
    assert complaint in str(caught.value)


def test_a_backward_step_that_would_close_a_cycle_is_refused() -> None:
    # Given: 1->2 and 2->3 exist; When: someone adds 3->1 to loop back
    with pytest.raises(InvalidStepError) as caught:
        MigrationChain([step(1, 2), step(2, 3), step(3, 1)])

    # Then
    assert "3->1" in str(caught.value)
    assert "cycle" in str(caught.value)


# --- MigrationChain validation --------------------------------------------------------------


def test_a_chain_orders_its_steps_and_knows_its_versions() -> None:
    # Given: steps registered out of order
    chain = MigrationChain([step(3, 4), step(1, 2), step(2, 3)])

    # Then
    assert labels(chain.steps) == ["1->2", "2->3", "3->4"]
    assert (chain.base, chain.head) == (1, 4)
    assert chain.versions == frozenset({1, 2, 3, 4})


def test_a_chain_may_start_above_version_one_and_skip_versions() -> None:
    # Given
    chain = MigrationChain([step(2, 5), step(5, 6)])

    # Then
    assert (chain.base, chain.head) == (2, 6)
    assert chain.versions == frozenset({2, 5, 6})


def test_a_chain_accepts_a_one_shot_iterable() -> None:
    # Given: a generator, which can be read only once
    chain = MigrationChain(step(n, n + 1) for n in range(1, 4))

    # Then
    assert labels(chain.steps) == ["1->2", "2->3", "3->4"]


@pytest.mark.parametrize(
    ("steps", "error", "named"),
    [
        ([], InvalidStepError, ["no migrations"]),
        ([step(1, 2), step(1, 3)], DuplicateStepError, ["1->2", "1->3", "version 1"]),
        ([step(1, 2), step(2, 3), step(2, 3)], DuplicateStepError, ["2->3"]),
        ([step(1, 2), step(3, 4)], ChainGapError, ["3->4", "1->2"]),
        ([step(1, 2), step(2, 3), step(4, 5)], ChainGapError, ["4->5", "2->3"]),
        ([step(1, 3), step(2, 4)], ChainGapError, ["2->4", "1->3"]),
        ([step(1, 2), {"from_version": 2, "to_version": 3}], InvalidStepError, ["entry 1"]),
        ([None], InvalidStepError, ["entry 0", "NoneType"]),
    ],
    ids=[
        "empty",
        "two-steps-from-one-version",
        "same-step-twice",
        "gap",
        "gap-after-contiguous-start",
        "overlapping-steps",
        "dict-entry",
        "none-entry",
    ],
)
def test_an_invalid_registry_is_refused_with_its_own_error_naming_the_step(
    steps: list[Any], error: type[InvalidRegistryError], named: list[str]
) -> None:
    # Given / When
    with pytest.raises(error) as caught:
        MigrationChain(steps)

    # Then
    for fragment in named:
        assert fragment in str(caught.value)


@pytest.mark.parametrize(
    "error",
    [InvalidStepError, DuplicateStepError, ChainGapError, RegistryLoadError],
)
def test_registry_errors_are_input_errors_under_the_package_root(error: type[Exception]) -> None:
    # Then: callers can catch a bad registry as "nothing was written"
    assert issubclass(error, InvalidRegistryError)
    assert issubclass(error, MigrationInputError)
    assert issubclass(error, MigrationError)
    assert not issubclass(error, ProfileMigrationError)


# --- path() ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("from_version", "target", "expected"),
    [
        (1, 4, ["1->2", "2->3", "3->4"]),
        (2, 4, ["2->3", "3->4"]),
        (1, 2, ["1->2"]),
        (2, 3, ["2->3"]),
        (3, 3, []),
        (1, 1, []),
    ],
)
def test_path_lists_the_steps_from_a_version_to_a_target_in_order(
    from_version: int, target: int, expected: list[str]
) -> None:
    # Given
    chain = linear_chain(head=4)

    # When
    path = chain.path(from_version, target)

    # Then
    assert labels(path) == expected


def test_path_follows_steps_that_skip_versions() -> None:
    # Given
    chain = MigrationChain([step(1, 3), step(3, 4)])

    # When / Then
    assert labels(chain.path(1, 4)) == ["1->3", "3->4"]


def test_path_runs_no_step() -> None:
    # Given: steps that would blow up if they ran
    def explode(profile: Profile) -> Profile:
        raise AssertionError("path must not run a step")

    chain = MigrationChain([step(1, 2, explode), step(2, 3, explode)])

    # When / Then
    assert labels(chain.path(1, 3)) == ["1->2", "2->3"]


@pytest.mark.parametrize(
    ("from_version", "target", "message"),
    [
        (4, 2, "version 4 is above the target version 2"),
        (1, 9, "no migration path leads to version 9"),
        (1, 0, "no migration path leads to version 0"),
    ],
    ids=["backwards", "target-above-head", "target-below-base"],
)
def test_path_refuses_an_unreachable_target(from_version: int, target: int, message: str) -> None:
    # Given
    chain = linear_chain(head=4)

    # When / Then
    with pytest.raises(NoMigrationPathError, match=message):
        chain.path(from_version, target)


def test_path_refuses_a_version_below_the_chain_base() -> None:
    # Given: a chain whose first step starts at version 2
    chain = MigrationChain([step(2, 3)])

    # When / Then
    with pytest.raises(NoMigrationPathError, match="no registered step starts from version 1"):
        chain.path(1, 3)


def test_path_refuses_a_version_between_the_ends_of_a_skipping_step() -> None:
    # Given: 1->3 skips version 2, so nothing starts there
    chain = MigrationChain([step(1, 3), step(3, 4)])

    # When / Then
    with pytest.raises(NoMigrationPathError, match="starts from version 2"):
        chain.path(2, 4)


# --- profile_version ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ({}, 1),
        ({"profileData": {}}, 1),
        ({"version": 1}, 1),
        ({"version": 3}, 3),
        ({"version": Decimal("3")}, 3),
        ({"version": Decimal("3.00")}, 3),
        ({"version": Decimal("1E+1")}, 10),
    ],
)
def test_profile_version_reads_integral_versions_and_defaults_to_one(
    profile: Profile, expected: int
) -> None:
    # When
    version = profile_version(profile)

    # Then
    assert version == expected
    assert type(version) is int


@pytest.mark.parametrize(
    "value",
    [
        "2",
        True,
        False,
        None,
        2.0,
        Decimal("2.5"),
        Decimal("0"),
        Decimal("-1"),
        0,
        -3,
        Decimal("NaN"),
        Decimal("Infinity"),
        [2],
    ],
)
def test_profile_version_refuses_anything_but_a_positive_integer(value: Any) -> None:
    # When / Then
    with pytest.raises(InvalidVersionError):
        profile_version({"version": value})


# --- apply_migrations --------------------------------------------------------------------------


def test_apply_runs_every_step_in_order_up_to_the_head_by_default() -> None:
    # Given
    profile = {"version": 1, "name": "x"}

    # When
    migrated = apply_migrations(profile, linear_chain(head=4).steps)

    # Then
    assert migrated == {"version": 4, "name": "x", "trail": ["1->2", "2->3", "3->4"]}


def test_apply_accepts_a_built_chain_or_an_unordered_list() -> None:
    # Given
    profile = {"version": 1}
    steps = [recording(2, 3), recording(1, 2)]

    # When
    from_list = apply_migrations(profile, steps)
    from_chain = apply_migrations(profile, MigrationChain(steps))

    # Then
    assert from_list == from_chain == {"version": 3, "trail": ["1->2", "2->3"]}


def test_a_profile_without_version_starts_at_version_one() -> None:
    # When
    migrated = apply_migrations({"name": "x"}, linear_chain(head=3))

    # Then
    assert migrated["trail"] == ["1->2", "2->3"]
    assert migrated["version"] == 3


def test_a_profile_with_a_decimal_version_starts_from_that_version() -> None:
    # Given: a version as DynamoDB returns it
    profile = {"version": Decimal("2")}

    # When
    migrated = apply_migrations(profile, linear_chain(head=4))

    # Then
    assert migrated["trail"] == ["2->3", "3->4"]
    assert migrated["version"] == 4


def test_apply_stops_at_an_explicit_lower_target() -> None:
    # When
    migrated = apply_migrations({"version": 1}, linear_chain(head=4), target_version=3)

    # Then
    assert migrated == {"version": 3, "trail": ["1->2", "2->3"]}


@pytest.mark.parametrize(
    ("profile", "target"),
    [
        ({"version": 4, "tags": ["a"]}, None),
        ({"version": Decimal("2"), "tags": {"a"}}, 2),
        ({"tags": ["a"]}, 1),
    ],
    ids=["at-head", "at-explicit-target", "unversioned-at-one"],
)
def test_a_profile_already_at_the_target_comes_back_equal(
    profile: Profile, target: int | None
) -> None:
    # Given
    before = copy.deepcopy(profile)

    # When
    migrated = apply_migrations(profile, linear_chain(head=4), target_version=target)

    # Then: no step ran and nothing was added, not even a version
    assert migrated == before
    assert profile == before


def nested_profile() -> Profile:
    return {
        "version": 1,
        "userId": "u1",
        "profileData": {
            "tags": ["a", "b"],
            "roles": {"admin", "editor"},
            "settings": {"theme": "dark", "history": [{"page": "home", "seen": {"x"}}]},
            "avatar": b"\x00\x01",
        },
        "scores": [Decimal("1.5"), [Decimal("2")], {"best": Decimal("3")}],
    }


def mutate_everything_in_place(profile: Profile) -> Profile:
    """A badly behaved step: mutates every container it was given, then returns it."""
    data = profile["profileData"]
    data["tags"].append("c")
    data["roles"].add("owner")
    data["settings"]["theme"] = "light"
    data["settings"]["history"][0]["seen"].add("y")
    data["settings"]["history"].append({"page": "new"})
    del data["avatar"]
    profile["scores"][1].append(Decimal("9"))
    profile["scores"][2]["best"] = Decimal("0")
    profile.pop("userId")
    return profile


def test_apply_never_mutates_its_input_even_when_a_step_mutates_in_place() -> None:
    # Given
    profile = nested_profile()
    before = copy.deepcopy(profile)
    chain = MigrationChain([step(1, 2, mutate_everything_in_place)])

    # When
    migrated = apply_migrations(profile, chain)

    # Then: the step's changes are in the result and nowhere else
    assert profile == before
    assert migrated["profileData"]["tags"] == ["a", "b", "c"]
    assert migrated["profileData"]["roles"] == {"admin", "editor", "owner"}
    assert migrated["profileData"]["settings"]["history"][0]["seen"] == {"x", "y"}
    assert "userId" not in migrated
    assert migrated["version"] == 2


def test_apply_never_mutates_its_input_when_a_later_step_fails() -> None:
    # Given: the first step mutates in place, the second one raises
    profile = nested_profile()
    before = copy.deepcopy(profile)

    def fail(profile: Profile) -> Profile:
        raise ValueError("boom")

    chain = MigrationChain([step(1, 2, mutate_everything_in_place), step(2, 3, fail)])

    # When
    with pytest.raises(StepFailedError):
        apply_migrations(profile, chain)

    # Then
    assert profile == before


def test_the_framework_sets_the_version_when_a_step_omits_it() -> None:
    # Given: a step whose result never mentions version
    def without_version(profile: Profile) -> Profile:
        return {"name": profile["name"], "added": True}

    chain = MigrationChain([step(1, 2, without_version), step(2, 3, without_version)])

    # When
    migrated = apply_migrations({"version": 1, "name": "x"}, chain)

    # Then
    assert migrated == {"name": "x", "added": True, "version": 3}


@pytest.mark.parametrize(
    "returned_version",
    [1, Decimal("1"), 2],
    ids=["from-version", "from-version-as-decimal", "to-version"],
)
def test_a_step_may_leave_the_from_version_or_set_its_own_to_version(
    returned_version: Any,
) -> None:
    # Given
    def set_version(profile: Profile) -> Profile:
        return {**profile, "version": returned_version, "done": True}

    # When
    migrated = apply_migrations({"version": 1}, [step(1, 2, set_version)])

    # Then: the stored version is the framework's plain integer
    assert migrated == {"version": 2, "done": True}
    assert type(migrated["version"]) is int


@pytest.mark.parametrize("wrong_version", [4, 1, 0, "3", True, None, Decimal("2.5")])
def test_a_step_setting_another_version_is_rejected_naming_the_step(wrong_version: Any) -> None:
    # Given
    def set_version(profile: Profile) -> Profile:
        return {**profile, "version": wrong_version}

    chain = MigrationChain([step(1, 2), step(2, 3, set_version)])

    # When
    with pytest.raises(StepVersionError) as caught:
        apply_migrations({"version": 1}, chain)

    # Then
    assert "step 2->3" in str(caught.value)
    assert "sets it to 3" in str(caught.value)
    assert isinstance(caught.value, ProfileMigrationError)


def test_a_step_that_raises_becomes_step_failed_error_carrying_its_label() -> None:
    # Given
    original = KeyError("profileData")

    def broken(profile: Profile) -> Profile:
        raise original

    chain = MigrationChain([step(1, 2), step(2, 3, broken)])

    # When
    with pytest.raises(StepFailedError) as caught:
        apply_migrations({}, chain)

    # Then
    assert "step 2->3" in str(caught.value)
    assert "KeyError" in str(caught.value)
    assert caught.value.__cause__ is original
    assert isinstance(caught.value, ProfileMigrationError)


@pytest.mark.parametrize(
    ("returned", "type_name"),
    [(None, "NoneType"), ([("version", 2)], "list"), ("profile", "str")],
)
def test_a_step_returning_a_non_dict_is_rejected(returned: Any, type_name: str) -> None:
    # Given
    chain = MigrationChain([step(1, 2, lambda profile: returned)])

    # When
    with pytest.raises(StepFailedError) as caught:
        apply_migrations({"version": 1}, chain)

    # Then
    assert "step 1->2" in str(caught.value)
    assert type_name in str(caught.value)


def test_keys_a_step_leaves_out_are_removed() -> None:
    # Given
    def drop_obsolete(profile: Profile) -> Profile:
        return {key: value for key, value in profile.items() if key != "obsolete"}

    profile = {"version": 1, "obsolete": "x", "kept": "y"}

    # When
    migrated = apply_migrations(profile, [step(1, 2, drop_obsolete)])

    # Then
    assert migrated == {"version": 2, "kept": "y"}
    assert profile["obsolete"] == "x"


@pytest.mark.parametrize(
    ("profile", "target", "message"),
    [
        ({"version": 4}, 2, "version 4 is above the target version 2"),
        ({"version": 6}, None, "version 6 is above the target version 4"),
        ({"version": 1}, 7, "no migration path leads to version 7"),
    ],
    ids=["above-explicit-target", "above-head", "target-outside-chain"],
)
def test_apply_refuses_when_no_path_leads_to_the_target(
    profile: Profile, target: int | None, message: str
) -> None:
    # When / Then
    with pytest.raises(NoMigrationPathError, match=message):
        apply_migrations(profile, linear_chain(head=4), target_version=target)


def test_apply_refuses_a_profile_below_the_chain_base() -> None:
    # Given: an unversioned profile (version 1) and a chain starting at 2
    with pytest.raises(NoMigrationPathError, match="starts from version 1"):
        apply_migrations({"name": "x"}, [step(2, 3)])


def test_apply_refuses_a_profile_with_an_invalid_version() -> None:
    with pytest.raises(InvalidVersionError, match="a string"):
        apply_migrations({"version": "2"}, linear_chain(head=4))


def test_apply_validates_a_plain_list_of_steps() -> None:
    with pytest.raises(ChainGapError, match="3->4"):
        apply_migrations({"version": 1}, [step(1, 2), step(3, 4)])


# --- load_registry -------------------------------------------------------------------------------


def write_module(directory: Path, name: str, body: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(body))
    return path


THREE_STEP_REGISTRY = textwrap.dedent(
    """\
    from profile_migrations.registry import ProfileMigration

    def rename(profile):
        data = dict(profile.get("data", {}))
        data["renamed"] = True
        return {**profile, "data": data}

    migrations = [
        ProfileMigration(1, 2, "first", lambda profile: {**profile, "one": True}),
        ProfileMigration(2, 3, "second", rename),
    ]
    """
)


def test_load_registry_from_a_file_with_a_current_version(tmp_path: Path) -> None:
    # Given
    path = write_module(tmp_path, "chain.py", THREE_STEP_REGISTRY + "CURRENT_PROFILE_VERSION = 2\n")

    # When
    registry = load_registry(str(path))

    # Then
    assert labels(registry.chain.steps) == ["1->2", "2->3"]
    assert registry.chain.head == 3
    assert registry.current_version == 2
    assert registry.source == str(path)
    assert apply_migrations({}, registry.chain) == {
        "one": True,
        "data": {"renamed": True},
        "version": 3,
    }


def test_load_registry_from_a_file_defaults_the_current_version_to_the_head(
    tmp_path: Path,
) -> None:
    # Given
    path = write_module(tmp_path, "chain.py", THREE_STEP_REGISTRY)

    # When
    registry = load_registry(str(path))

    # Then
    assert registry.current_version == 3


def test_load_registry_accepts_a_decimal_current_version(tmp_path: Path) -> None:
    # Given
    path = write_module(
        tmp_path,
        "chain.py",
        THREE_STEP_REGISTRY
        + "from decimal import Decimal\nCURRENT_PROFILE_VERSION = Decimal('2')\n",
    )

    # When
    registry = load_registry(str(path))

    # Then
    assert registry.current_version == 2
    assert type(registry.current_version) is int


@pytest.mark.parametrize("reference", ["profile_migrations.migrations", None])
def test_load_registry_from_a_dotted_module_name(reference: str | None) -> None:
    # When
    registry = load_registry(reference)

    # Then
    assert registry.current_version == 5
    assert labels(registry.chain.steps) == ["1->2", "2->3", "3->4", "4->5"]
    assert registry.source == "profile_migrations.migrations"


def test_load_registry_refuses_a_missing_file(tmp_path: Path) -> None:
    # Given
    missing = tmp_path / "nope.py"

    # When / Then
    with pytest.raises(RegistryLoadError, match="does not exist") as caught:
        load_registry(str(missing))
    assert str(missing) in str(caught.value)


def test_load_registry_refuses_a_missing_module() -> None:
    with pytest.raises(RegistryLoadError, match="ModuleNotFoundError") as caught:
        load_registry("profile_migrations.no_such_registry_module")
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)


def test_load_registry_refuses_a_file_that_raises_on_import_and_forgets_it(
    tmp_path: Path,
) -> None:
    # Given
    path = write_module(tmp_path, "broken.py", "raise RuntimeError('registry is broken')\n")

    # When
    with pytest.raises(RegistryLoadError) as caught:
        load_registry(str(path))

    # Then
    assert "RuntimeError: registry is broken" in str(caught.value)
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert not any(
        getattr(module, "__file__", None) == str(path) for module in list(sys.modules.values())
    )


def test_load_registry_refuses_a_file_with_a_syntax_error(tmp_path: Path) -> None:
    # Given
    path = write_module(tmp_path, "typo.py", "migrations = [\n")

    # When / Then
    with pytest.raises(RegistryLoadError, match="SyntaxError"):
        load_registry(str(path))


@pytest.mark.parametrize(
    "body",
    [
        "CURRENT_PROFILE_VERSION = 2\n",
        "migrations = None\n",
        "migrations = '1->2'\n",
        "migrations = 3\n",
    ],
    ids=["absent", "none", "string", "not-iterable"],
)
def test_load_registry_refuses_a_file_without_a_migrations_list(tmp_path: Path, body: str) -> None:
    # Given
    path = write_module(tmp_path, "empty.py", body)

    # When / Then
    with pytest.raises(RegistryLoadError, match="does not expose a `migrations` list"):
        load_registry(str(path))


@pytest.mark.parametrize(
    ("current", "message"),
    [
        ("7", "no migration path leads to version 7"),
        ("0", "no migration path leads to version 0"),
        ("'3'", "must be an integer"),
        ("True", "must be an integer"),
        ("2.5", "must be an integer"),
    ],
)
def test_load_registry_refuses_a_current_version_outside_the_chain(
    tmp_path: Path, current: str, message: str
) -> None:
    # Given
    path = write_module(
        tmp_path, "chain.py", THREE_STEP_REGISTRY + f"CURRENT_PROFILE_VERSION = {current}\n"
    )

    # When / Then
    with pytest.raises(RegistryLoadError, match=message) as caught:
        load_registry(str(path))
    assert "CURRENT_PROFILE_VERSION" in str(caught.value)


def test_load_registry_refuses_a_file_whose_chain_is_invalid(tmp_path: Path) -> None:
    # Given
    path = write_module(
        tmp_path,
        "gap.py",
        """\
        from profile_migrations.registry import ProfileMigration

        migrations = [
            ProfileMigration(1, 2, "first", dict),
            ProfileMigration(3, 4, "third", dict),
        ]
        """,
    )

    # When / Then
    with pytest.raises(ChainGapError, match="3->4"):
        load_registry(str(path))


# --- DynamoDB's number context (issue 9, item 2) ----------------------------------------------

BALANCE_38 = Decimal("12345678901234567890123456789012345678")
ADD_ONE = ProfileMigration(1, 2, "add one", lambda p: {**p, "balance": p["balance"] + 1})


def test_a_step_sums_38_digit_numbers_exactly_in_a_thread_with_the_default_context() -> None:
    # Given: a fresh thread, whose decimal context is Python's 28-digit default
    results: list[dict[str, Any]] = []
    worker = threading.Thread(
        target=lambda: results.append(apply_migrations({"balance": BALANCE_38}, [ADD_ONE]))
    )

    # When
    worker.start()
    worker.join()

    # Then: all 38 digits, not 1.234567890123456789012345679E+37
    assert results[0]["balance"] == Decimal("12345678901234567890123456789012345679")
    assert str(results[0]["balance"]) == "12345678901234567890123456789012345679"


def test_a_context_a_registry_changed_does_not_reach_its_steps() -> None:
    with localcontext() as changed:
        changed.prec = 10
        changed.traps[Inexact] = False
        migrated = apply_migrations({"balance": BALANCE_38}, [ADD_ONE])

    assert str(migrated["balance"]) == "12345678901234567890123456789012345679"


@pytest.mark.parametrize(
    ("balance", "step", "signal"),
    [
        (Decimal("9" * 37 + ".5"), lambda b: b + 1, "Inexact"),
        (Decimal(1), lambda b: b / 3, "Inexact"),
        (Decimal("9E+125"), lambda b: b * 10, "Overflow"),
        (Decimal("1E-130"), lambda b: b / 10, "Subnormal"),
        (Decimal(1), lambda b: b / 0, "DivisionByZero"),
    ],
    ids=["39-digit-sum", "one-third", "above-the-range", "below-the-range", "division-by-zero"],
)
def test_a_result_dynamodb_cannot_store_exactly_fails_the_profile(
    balance: Decimal, step: Any, signal: str
) -> None:
    compute = ProfileMigration(1, 2, "compute", lambda p: {**p, "balance": step(p["balance"])})

    with pytest.raises(StepFailedError, match="cannot be stored exactly in DynamoDB") as caught:
        apply_migrations({"balance": balance}, [compute])

    assert signal in str(caught.value)


def test_the_attribute_whose_number_cannot_be_stored_exactly_is_named() -> None:
    third = ProfileMigration(1, 2, "third", lambda p: {**p, "stats": {"ratio": Decimal(1) / 3}})

    with pytest.raises(StepFailedError, match=r"attribute 'stats\.ratio': the number has"):
        apply_migrations({}, [third])


@pytest.mark.parametrize(
    "raised",
    [SystemExit(4), GeneratorExit(), type("Custom", (BaseException,), {})()],
    ids=["exit", "generator-exit", "base-exception-subclass"],
)
def test_a_step_raising_beyond_exception_fails_only_its_profile(raised: BaseException) -> None:
    def step(profile: dict[str, Any]) -> dict[str, Any]:
        raise raised

    with pytest.raises(StepFailedError, match=f"raised {type(raised).__name__}"):
        apply_migrations({}, [ProfileMigration(1, 2, "raises", step)])
