"""CICADA's four example migrations, one at a time and as the whole 1->5 chain.

The expected profiles are written out in full, so a step that adds, drops or renames an
attribute it should not touch fails here. Where the seed writes `a || b`, each step is
held to JavaScript's notion of falsy over the value tables below; test_seed_parity.py runs
the same tables through the seed's own code in Node.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest

from profile_migrations.clock import run_clock, run_started_at
from profile_migrations.errors import (
    InvalidProfileError,
    InvalidVersionError,
    NoMigrationPathError,
    ProfileMigrationError,
    StepFailedError,
)
from profile_migrations.loader import load_registry
from profile_migrations.migrations import CURRENT_PROFILE_VERSION, is_js_falsy, migrations
from profile_migrations.registry import MigrationChain, apply_migrations

Profile = dict[str, Any]

RUN_STARTED = "2026-01-02T03:04:05.678Z"
UPDATED_AT = "2025-06-30T12:00:00.000Z"
STEP = {step.label: step for step in migrations}


def migrate_to(profile: Profile, target: int) -> Profile:
    with run_clock(RUN_STARTED):
        return apply_migrations(profile, migrations, target_version=target)


# --- JavaScript's `||`, on values as DocumentClient hands them to the application ---------

ABSENT: Any = object()
"""Stands for an attribute the item does not hold."""

JS_FALSY: list[tuple[str, Any]] = [
    ("absent", ABSENT),
    ("null", None),
    ("empty-string", ""),
    ("int-zero", 0),
    ("decimal-zero", Decimal("0")),
    ("decimal-negative-zero", Decimal("-0")),
    ("decimal-zero-point-zero", Decimal("0.0")),
    ("decimal-zero-exponent", Decimal("0E+3")),
    ("false", False),
]
"""What the seed's `a || b` passes over: the step must take `b`."""

JS_TRUTHY_LOOK_ALIKES: list[tuple[str, Any]] = [
    ("string-zero", "0"),
    ("string-false", "false"),
    ("decimal-point-one", Decimal("0.1")),
    ("true", True),
    ("empty-list", []),
    ("empty-map", {}),
    ("empty-set", set()),
    ("empty-binary", b""),
]
"""Empty or zero to Python, truthy to JavaScript (arrays, objects, Set, Uint8Array): kept.

Every field gets every value: DynamoDB is schemaless, so an application bug can store any
type under any name, and the seed keeps whatever is truthy."""

ISSUE_9_PROFILES: list[tuple[str, Profile, Profile]] = [
    (
        "updated-at-empty-string",
        {"version": 4, "userId": "u1", "updatedAt": "", "profileData": {"name": "A"}},
        {
            "version": 5,
            "userId": "u1",
            "updatedAt": "",
            "lastAccessedAt": RUN_STARTED,
            "profileData": {"name": "A"},
        },
    ),
    (
        "updated-at-zero",
        {"version": 4, "userId": "u2", "updatedAt": Decimal("0"), "profileData": {"name": "B"}},
        {
            "version": 5,
            "userId": "u2",
            "updatedAt": Decimal("0"),
            "lastAccessedAt": RUN_STARTED,
            "profileData": {"name": "B"},
        },
    ),
    (
        "character-type-false",
        {"version": 1, "userId": "u3", "profileData": {"characterType": False}},
        {"version": 2, "userId": "u3", "profileData": {"characterType": "UNKNOWN"}},
    ),
    (
        "character-type-zero",
        {"version": 1, "userId": "u4", "profileData": {"characterType": Decimal("0")}},
        {"version": 2, "userId": "u4", "profileData": {"characterType": "UNKNOWN"}},
    ),
    (
        "tags-empty-map",
        {
            "version": 3,
            "userId": "u5",
            "profileData": {"name": "E", "createdBy": "admin", "tags": {}},
        },
        {
            "version": 4,
            "userId": "u5",
            "profileData": {"name": "E", "metadata": {"createdBy": "admin", "tags": {}}},
        },
    ),
]
"""The exact shapes issue 9 reported, with what the seed computes for them."""


def with_value(mapping: Profile, name: str, value: Any) -> Profile:
    """A copy of `mapping` holding `value` under `name`, or without `name` for ABSENT."""
    copied = {key: item for key, item in mapping.items() if key != name}
    if value is not ABSENT:
        copied[name] = copy.deepcopy(value)
    return copied


def js_or(default: Any) -> list[Any]:
    """(value, expected) parameters for the seed's `value || default`."""
    return [pytest.param(value, default, id=name) for name, value in JS_FALSY] + [
        pytest.param(value, value, id=name) for name, value in JS_TRUTHY_LOOK_ALIKES
    ]


def js_values() -> list[Any]:
    """Every value of both tables, for a field the seed copies without a default."""
    return [pytest.param(value, id=name) for name, value in [*JS_FALSY, *JS_TRUTHY_LOOK_ALIKES]]


def assert_same_value(actual: Any, expected: Any) -> None:
    # `==` alone holds True == Decimal("1") and False == Decimal("0"): the type must match too.
    assert actual == expected
    assert type(actual) is type(expected)


@pytest.mark.parametrize(
    ("value", "falsy"),
    [pytest.param(None if v is ABSENT else v, True, id=n) for n, v in JS_FALSY]
    + [pytest.param(v, False, id=n) for n, v in JS_TRUTHY_LOOK_ALIKES]
    + [
        pytest.param(Decimal("NaN"), True, id="decimal-nan"),
        pytest.param(Decimal("1E-130"), False, id="smallest-dynamodb-number"),
        pytest.param(frozenset({"x"}), False, id="string-set"),
        pytest.param(" ", False, id="blank-string"),
    ],
)
def test_is_js_falsy_holds_what_javascript_holds(value: Any, *, falsy: bool) -> None:
    assert is_js_falsy(value) is falsy


@pytest.mark.parametrize(
    ("profile", "expected"),
    [pytest.param(profile, expected, id=name) for name, profile, expected in ISSUE_9_PROFILES],
)
def test_issue_9_reported_profiles_migrate_as_the_seed_does(
    profile: Profile, expected: Profile
) -> None:
    # Given
    before = copy.deepcopy(profile)

    # When
    result = migrate_to(profile, profile["version"] + 1)

    # Then
    assert result == expected
    assert profile == before


# --- the registry itself -------------------------------------------------------------------


def test_the_chain_runs_from_one_to_five_in_four_steps() -> None:
    # Then
    assert CURRENT_PROFILE_VERSION == 5
    assert [step.label for step in migrations] == ["1->2", "2->3", "3->4", "4->5"]
    chain = MigrationChain(migrations)
    assert (chain.base, chain.head) == (1, CURRENT_PROFILE_VERSION)


def test_the_default_registry_is_cicadas_chain() -> None:
    # When
    registry = load_registry()

    # Then
    assert registry.current_version == CURRENT_PROFILE_VERSION
    assert registry.chain.steps == tuple(migrations)


@pytest.mark.parametrize(
    ("label", "description"),
    [
        ("1->2", "Add characterType field to character profiles"),
        ("2->3", "Rename characterName to name"),
        ("4->5", "Add lastAccessedAt timestamp"),
    ],
)
def test_steps_keep_the_seed_descriptions(label: str, description: str) -> None:
    assert STEP[label].description == description


# --- 1->2: characterType ------------------------------------------------------------------


def test_seed_example_1_to_2_adds_a_character_type() -> None:
    # Given: the seed README's own test profile
    old_profile = {"version": 1, "profileData": {"name": "Test"}}

    # When
    result = migrate_to(old_profile, 2)

    # Then
    assert result == {"version": 2, "profileData": {"name": "Test", "characterType": "UNKNOWN"}}


@pytest.mark.parametrize(
    ("character_type", "expected"),
    [
        ("WARRIOR", "WARRIOR"),
        ("", "UNKNOWN"),
        (None, "UNKNOWN"),
    ],
    ids=["kept", "empty-string", "null"],
)
def test_1_to_2_keeps_an_existing_non_empty_character_type(
    character_type: str | None, expected: str
) -> None:
    # Given
    profile = {"profileData": {"characterType": character_type, "bio": "b"}}

    # When
    result = migrate_to(profile, 2)

    # Then
    assert result == {"version": 2, "profileData": {"characterType": expected, "bio": "b"}}


@pytest.mark.parametrize(("character_type", "expected"), js_or("UNKNOWN"))
def test_1_to_2_character_type_is_the_seeds_character_type_or_unknown(
    character_type: Any, expected: Any
) -> None:
    # Given
    data = with_value({"bio": "b"}, "characterType", character_type)
    profile = {"version": 1, "profileData": data}
    before = copy.deepcopy(profile)

    # When
    result = migrate_to(profile, 2)

    # Then
    assert result == {"version": 2, "profileData": {"bio": "b", "characterType": expected}}
    assert_same_value(result["profileData"]["characterType"], expected)
    assert profile == before


# --- 2->3: characterName -> name ----------------------------------------------------------


def test_seed_example_2_to_3_renames_character_name_to_name() -> None:
    # Given
    profile = {
        "version": 2,
        "userId": "u1",
        "profileData": {"characterName": "Alice", "characterType": "MAGE"},
    }

    # When
    result = migrate_to(profile, 3)

    # Then
    assert result == {
        "version": 3,
        "userId": "u1",
        "profileData": {"name": "Alice", "characterType": "MAGE"},
    }


def test_2_to_3_leaves_profile_data_unchanged_without_a_character_name() -> None:
    # Given
    data = {"name": "Already renamed", "characterType": "MAGE"}

    # When
    result = migrate_to({"version": 2, "profileData": copy.deepcopy(data)}, 3)

    # Then: no `name: None` appears and the existing name survives
    assert result == {"version": 3, "profileData": data}


def test_2_to_3_character_name_wins_over_a_stale_name() -> None:
    # Given: the seed spreads profileData then sets name from characterName
    profile = {"version": 2, "profileData": {"name": "old", "characterName": "new"}}

    # When
    result = migrate_to(profile, 3)

    # Then
    assert result["profileData"] == {"name": "new"}


@pytest.mark.parametrize("character_name", js_values())
@pytest.mark.parametrize("name", [ABSENT, "Old"], ids=["no-name", "stale-name"])
def test_2_to_3_moves_any_present_character_name_as_it_is(character_name: Any, name: Any) -> None:
    # Given: the seed's `name: profileData.characterName` applies no default
    data = with_value(with_value({"bio": "b"}, "name", name), "characterName", character_name)
    profile = {"version": 2, "profileData": data}
    before = copy.deepcopy(profile)

    # When
    result = migrate_to(profile, 3)

    # Then: an absent characterName keeps the existing name (the seed would delete it)
    expected_name = name if character_name is ABSENT else character_name
    assert result == {"version": 3, "profileData": with_value({"bio": "b"}, "name", expected_name)}
    if expected_name is not ABSENT:
        assert_same_value(result["profileData"]["name"], expected_name)
    assert profile == before


# --- 3->4: metadata -------------------------------------------------------------------------


def test_seed_example_3_to_4_nests_created_by_and_tags_in_metadata() -> None:
    # Given
    profile = {
        "version": 3,
        "profileData": {"name": "Alice", "createdBy": "admin", "tags": ["a", "b"]},
    }

    # When
    result = migrate_to(profile, 4)

    # Then
    assert result == {
        "version": 4,
        "profileData": {"name": "Alice", "metadata": {"createdBy": "admin", "tags": ["a", "b"]}},
    }


@pytest.mark.parametrize(
    ("data", "metadata"),
    [
        ({"createdBy": "admin"}, {"createdBy": "admin", "tags": []}),
        ({"createdBy": "admin", "tags": None}, {"createdBy": "admin", "tags": []}),
        ({"tags": {"beta", "veteran"}}, {"tags": {"beta", "veteran"}}),
        ({"createdBy": None, "tags": ["x"]}, {"createdBy": None, "tags": ["x"]}),
        ({}, {"tags": []}),
    ],
    ids=[
        "tags-absent",
        "tags-null",
        "tags-string-set-and-created-by-absent",
        "created-by-null-is-carried",
        "both-absent",
    ],
)
def test_3_to_4_metadata_shapes(data: Profile, metadata: Profile) -> None:
    # When
    result = migrate_to({"version": 3, "profileData": {"name": "n", **data}}, 4)

    # Then: createdBy and tags are gone from profileData and only the metadata holds them
    assert result == {"version": 4, "profileData": {"name": "n", "metadata": metadata}}


def test_3_to_4_merges_into_an_existing_metadata_map() -> None:
    # Given
    profile = {
        "version": 3,
        "profileData": {
            "createdBy": "admin",
            "tags": ["a"],
            "metadata": {"source": "import", "createdBy": "stale"},
        },
    }

    # When
    result = migrate_to(profile, 4)

    # Then: the existing keys survive and the moved fields take their place
    assert result == {
        "version": 4,
        "profileData": {"metadata": {"source": "import", "createdBy": "admin", "tags": ["a"]}},
    }


def test_3_to_4_keeps_existing_metadata_created_by_when_the_old_field_is_absent() -> None:
    # Given
    profile = {"version": 3, "profileData": {"metadata": {"createdBy": "app"}}}

    # When
    result = migrate_to(profile, 4)

    # Then
    assert result["profileData"]["metadata"] == {"createdBy": "app", "tags": []}


def test_3_to_4_keeps_existing_metadata_tags_when_the_old_field_is_absent() -> None:
    # Given: the application already wrote the new shape while the profile is still at v3
    profile = {"version": 3, "profileData": {"metadata": {"createdBy": "app", "tags": ["x"]}}}

    # When
    result = migrate_to(profile, 4)

    # Then
    assert result["profileData"]["metadata"] == {"createdBy": "app", "tags": ["x"]}


@pytest.mark.parametrize(("tags", "expected"), js_or([]))
def test_3_to_4_tags_are_the_seeds_tags_or_an_empty_list(tags: Any, expected: Any) -> None:
    # Given
    data = with_value({"name": "n", "createdBy": "admin"}, "tags", tags)
    profile = {"version": 3, "profileData": data}
    before = copy.deepcopy(profile)

    # When
    result = migrate_to(profile, 4)

    # Then
    assert result == {
        "version": 4,
        "profileData": {"name": "n", "metadata": {"createdBy": "admin", "tags": expected}},
    }
    assert_same_value(result["profileData"]["metadata"]["tags"], expected)
    assert profile == before


@pytest.mark.parametrize(("existing_tags", "expected"), js_or([]))
def test_3_to_4_without_tags_keeps_a_truthy_existing_metadata_tags(
    existing_tags: Any, expected: Any
) -> None:
    # Given: the application already wrote metadata while the profile is still at v3
    metadata = with_value({"source": "app"}, "tags", existing_tags)
    profile = {"version": 3, "profileData": {"tags": None, "metadata": metadata}}

    # When
    result = migrate_to(profile, 4)

    # Then: `tags || metadata.tags || []`
    assert result == {
        "version": 4,
        "profileData": {"metadata": {"source": "app", "tags": expected}},
    }
    assert_same_value(result["profileData"]["metadata"]["tags"], expected)


@pytest.mark.parametrize(
    ("metadata", "refused"),
    [pytest.param(value, False, id=name) for name, value in JS_FALSY]
    + [
        pytest.param(value, not isinstance(value, dict), id=name)
        for name, value in JS_TRUTHY_LOOK_ALIKES
    ],
)
def test_3_to_4_replaces_a_falsy_metadata_and_refuses_a_truthy_one_that_is_not_a_map(
    metadata: Any, *, refused: bool
) -> None:
    # Given
    data = with_value({"createdBy": "admin", "tags": ["a"]}, "metadata", metadata)
    profile = {"version": 3, "profileData": data}

    if refused:
        # When / Then: merging into it is impossible, and replacing it would discard what
        # the application wrote
        with pytest.raises(StepFailedError, match=r"metadata is a \w+, not a map"):
            migrate_to(profile, 4)
        return

    # When
    result = migrate_to(profile, 4)

    # Then: nothing to merge, so exactly the seed's metadata
    assert result == {
        "version": 4,
        "profileData": {"metadata": {"createdBy": "admin", "tags": ["a"]}},
    }


# --- 4->5: lastAccessedAt ---------------------------------------------------------------------


def test_seed_example_4_to_5_copies_updated_at() -> None:
    # Given
    profile = {"version": 4, "updatedAt": UPDATED_AT, "profileData": {}}

    # When
    result = migrate_to(profile, 5)

    # Then
    assert result == {
        "version": 5,
        "updatedAt": UPDATED_AT,
        "lastAccessedAt": UPDATED_AT,
        "profileData": {},
    }


@pytest.mark.parametrize("extra", [{}, {"updatedAt": None}], ids=["absent", "null"])
def test_4_to_5_falls_back_to_the_run_start_time(extra: Profile) -> None:
    # Given
    profile = {"version": 4, "profileData": {}, **extra}

    # When
    result = migrate_to(profile, 5)

    # Then
    assert result == {"version": 5, "profileData": {}, "lastAccessedAt": RUN_STARTED, **extra}


def test_4_to_5_keeps_an_existing_last_accessed_at() -> None:
    # Given
    profile = {"version": 4, "updatedAt": UPDATED_AT, "lastAccessedAt": "2025-12-31T00:00:00.000Z"}

    # When
    result = migrate_to(profile, 5)

    # Then
    assert result["lastAccessedAt"] == "2025-12-31T00:00:00.000Z"
    assert result["version"] == 5


@pytest.mark.parametrize(("updated_at", "expected"), js_or(RUN_STARTED))
def test_4_to_5_last_accessed_at_is_the_seeds_updated_at_or_the_run_start(
    updated_at: Any, expected: Any
) -> None:
    # Given
    profile = with_value({"version": 4, "profileData": {}}, "updatedAt", updated_at)
    before = copy.deepcopy(profile)

    # When
    result = migrate_to(profile, 5)

    # Then
    assert result == {**before, "version": 5, "lastAccessedAt": expected}
    assert_same_value(result["lastAccessedAt"], expected)
    assert profile == before


@pytest.mark.parametrize(("last_accessed_at", "expected"), js_or(UPDATED_AT))
def test_4_to_5_keeps_a_truthy_last_accessed_at_and_replaces_a_falsy_one(
    last_accessed_at: Any, expected: Any
) -> None:
    # Given: a falsy one records no access time (`new Date("")` cannot be formatted)
    base = {"version": 4, "updatedAt": UPDATED_AT, "profileData": {}}
    profile = with_value(base, "lastAccessedAt", last_accessed_at)

    # When
    result = migrate_to(profile, 5)

    # Then
    assert result == {**base, "version": 5, "lastAccessedAt": expected}
    assert_same_value(result["lastAccessedAt"], expected)


# --- the whole chain ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        pytest.param(
            {"userId": "u1", "profileId": "p1", "profileData": {"name": "Test"}},
            {
                "userId": "u1",
                "profileId": "p1",
                "version": 5,
                "profileData": {
                    "name": "Test",
                    "characterType": "UNKNOWN",
                    "metadata": {"tags": []},
                },
                "lastAccessedAt": RUN_STARTED,
            },
            id="unversioned-minimal",
        ),
        pytest.param(
            {
                "version": 1,
                "userId": "u2",
                "updatedAt": UPDATED_AT,
                "profileData": {
                    "characterName": "Alice",
                    "characterType": "MAGE",
                    "createdBy": "admin",
                    "tags": ["new", "cohort-1"],
                    "level": Decimal("12"),
                },
            },
            {
                "version": 5,
                "userId": "u2",
                "updatedAt": UPDATED_AT,
                "lastAccessedAt": UPDATED_AT,
                "profileData": {
                    "name": "Alice",
                    "characterType": "MAGE",
                    "level": Decimal("12"),
                    "metadata": {"createdBy": "admin", "tags": ["new", "cohort-1"]},
                },
            },
            id="everything-present-tags-list",
        ),
        pytest.param(
            {
                "version": Decimal("1"),
                "profileData": {"characterName": "Bob", "tags": {"veteran", "beta"}},
            },
            {
                "version": 5,
                "lastAccessedAt": RUN_STARTED,
                "profileData": {
                    "name": "Bob",
                    "characterType": "UNKNOWN",
                    "metadata": {"tags": {"veteran", "beta"}},
                },
            },
            id="tags-string-set-no-created-by",
        ),
        pytest.param(
            {
                "version": 1,
                "lastAccessedAt": "2025-01-01T00:00:00.000Z",
                "updatedAt": UPDATED_AT,
                "profileData": {"characterType": "", "createdBy": "cli"},
            },
            {
                "version": 5,
                "lastAccessedAt": "2025-01-01T00:00:00.000Z",
                "updatedAt": UPDATED_AT,
                "profileData": {
                    "characterType": "UNKNOWN",
                    "metadata": {"createdBy": "cli", "tags": []},
                },
            },
            id="existing-last-accessed-at-no-tags",
        ),
        pytest.param(
            {
                "version": 2,
                "profileData": {
                    "characterName": "Cy",
                    "characterType": "ROGUE",
                    "tags": ["t"],
                    "metadata": {"source": "import"},
                },
            },
            {
                "version": 5,
                "lastAccessedAt": RUN_STARTED,
                "profileData": {
                    "name": "Cy",
                    "characterType": "ROGUE",
                    "metadata": {"source": "import", "tags": ["t"]},
                },
            },
            id="from-v2-existing-metadata",
        ),
    ],
)
def test_the_whole_chain_migrates_to_version_five(profile: Profile, expected: Profile) -> None:
    # Given
    before = copy.deepcopy(profile)

    # When
    result = migrate_to(profile, CURRENT_PROFILE_VERSION)

    # Then
    assert result == expected
    assert profile == before


def test_a_profile_already_at_version_five_comes_back_equal() -> None:
    # Given
    profile = {
        "version": 5,
        "lastAccessedAt": UPDATED_AT,
        "profileData": {"name": "A", "characterType": "MAGE", "metadata": {"tags": ["x"]}},
    }

    # When
    result = migrate_to(copy.deepcopy(profile), 5)

    # Then
    assert result == profile


def test_migrating_twice_in_one_run_gives_the_same_profile() -> None:
    # Given: a dry run and the real run of the same run share its start time
    profile = {"profileData": {"characterName": "A"}}

    # When
    dry_run = migrate_to(profile, 5)
    real_run = migrate_to(profile, 5)

    # Then
    assert dry_run == real_run
    assert dry_run["lastAccessedAt"] == RUN_STARTED


def test_one_run_clock_stamps_every_profile_identically() -> None:
    # Given
    first = {"userId": "a", "profileData": {"characterName": "A"}}
    second = {"userId": "b", "version": 4, "profileData": {}}

    # When
    with run_clock("2026-03-04T05:06:07.089Z"):
        migrated = [apply_migrations(p, migrations) for p in (first, second)]

    # Then
    assert [m["lastAccessedAt"] for m in migrated] == ["2026-03-04T05:06:07.089Z"] * 2


def test_without_a_run_clock_the_process_start_time_is_used_for_every_profile() -> None:
    # When
    first = apply_migrations({"version": 4}, migrations)
    second = apply_migrations({"version": 4}, migrations)

    # Then
    assert first["lastAccessedAt"] == second["lastAccessedAt"] == run_started_at()
    assert first["lastAccessedAt"] != RUN_STARTED


def test_a_run_clock_is_restored_when_its_block_ends() -> None:
    # Given
    outside = run_started_at()

    # When
    with run_clock(RUN_STARTED):
        inside = run_started_at()

    # Then
    assert inside == RUN_STARTED
    assert run_started_at() == outside


@pytest.mark.parametrize("label", ["1->2", "2->3", "3->4", "4->5"])
def test_no_step_function_mutates_the_profile_it_is_given(label: str) -> None:
    # Given
    profile = {
        "version": int(label[0]),
        "profileData": {
            "characterName": "A",
            "createdBy": "admin",
            "tags": {"x"},
            "metadata": {"source": "s"},
        },
    }
    before = copy.deepcopy(profile)

    # When
    with run_clock(RUN_STARTED):
        STEP[label].migrate(profile)

    # Then
    assert profile == before


# --- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("profile_data", "message"),
    [
        (None, "profileData is missing"),
        ("Alice", "profileData is a str, not a map"),
        (["a"], "profileData is a list, not a map"),
        (Decimal("1"), "profileData is a Decimal, not a map"),
    ],
    ids=["null", "string", "list", "number"],
)
@pytest.mark.parametrize("label", ["1->2", "2->3", "3->4"])
def test_steps_refuse_a_profile_without_a_profile_data_map(
    label: str, profile_data: Any, message: str
) -> None:
    # Given
    profile = {"version": int(label[0]), "profileData": profile_data}

    # When / Then
    with pytest.raises(InvalidProfileError, match=message):
        STEP[label].migrate(profile)


@pytest.mark.parametrize("label", ["1->2", "2->3", "3->4"])
def test_steps_refuse_a_profile_missing_profile_data(label: str) -> None:
    with pytest.raises(InvalidProfileError, match="profileData is missing"):
        STEP[label].migrate({"version": int(label[0])})


def test_3_to_4_refuses_a_metadata_attribute_that_is_not_a_map() -> None:
    with pytest.raises(InvalidProfileError, match="metadata is a str, not a map"):
        STEP["3->4"].migrate({"version": 3, "profileData": {"metadata": "admin"}})


@pytest.mark.parametrize(
    ("profile", "label"),
    [
        ({"userId": "u"}, "1->2"),
        ({"version": 2, "profileData": "x"}, "2->3"),
        ({"version": 3, "profileData": {"metadata": ["m"]}}, "3->4"),
    ],
    ids=["missing-at-v1", "string-at-v2", "bad-metadata-at-v3"],
)
def test_through_the_chain_a_bad_profile_fails_that_profile_naming_the_step(
    profile: Profile, label: str
) -> None:
    # Given
    before = copy.deepcopy(profile)

    # When
    with pytest.raises(StepFailedError) as caught:
        migrate_to(profile, 5)

    # Then: the failure concerns this profile only, and names the step and the cause
    assert isinstance(caught.value, ProfileMigrationError)
    assert f"step {label}" in str(caught.value)
    assert "InvalidProfileError" in str(caught.value)
    assert isinstance(caught.value.__cause__, InvalidProfileError)
    assert profile == before


def test_a_profile_with_a_string_version_is_refused() -> None:
    with pytest.raises(InvalidVersionError):
        migrate_to({"version": "3", "profileData": {}}, 5)


def test_a_profile_from_the_future_has_no_path() -> None:
    with pytest.raises(NoMigrationPathError, match="version 6 is above the target version 5"):
        migrate_to({"version": 6, "profileData": {}}, 5)
