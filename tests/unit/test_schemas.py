"""Typed schemas per version: declared in a registry, checked on every step's result, and
on profiles at the target in a deep verification; CICADA's schemas."""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import BaseModel

from profile_migrations.clock import run_clock
from profile_migrations.codec import deserialize_item, serialize_item
from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.errors import (
    InvalidRequestError,
    InvalidSchemaError,
    SchemaMismatchError,
    StepNotWrittenError,
)
from profile_migrations.loader import load_registry
from profile_migrations.logic.segment import SegmentScan
from profile_migrations.logic.verify import deep_schema, verify_segment
from profile_migrations.migrations import (
    add_character_type,
    add_last_accessed_at,
    migrations,
    nest_metadata,
    rename_character_name,
    schemas,
)
from profile_migrations.registry import MigrationChain, ProfileMigration
from tests.fakes import PagedStore, key_text

if TYPE_CHECKING:
    from pathlib import Path

    from profile_migrations.registry import Profile

STARTED_AT = "2026-01-01T00:00:00.000Z"


class Named(BaseModel):
    name: str


def with_name(profile: Profile) -> Profile:
    return {**profile, "name": "Ada"}


def with_number_name(profile: Profile) -> Profile:
    return {**profile, "name": 7}


def step(migrate: Any, to_version: int = 2) -> ProfileMigration:
    return ProfileMigration(to_version - 1, to_version, "set the name", migrate)


def test_a_result_that_validates_is_returned_as_the_step_made_it() -> None:
    chain = MigrationChain([step(with_name)], {2: Named})

    assert chain.apply({"id": "a", "extra": [1]}, 2) == {
        "id": "a",
        "extra": [1],
        "name": "Ada",
        "version": 2,
    }


def test_a_result_that_does_not_validate_fails_with_the_field_path_and_reason() -> None:
    chain = MigrationChain([step(with_number_name)], {2: Named})

    with pytest.raises(SchemaMismatchError) as raised:
        chain.apply({"id": "a"}, 2)

    assert str(raised.value) == (
        "step 1->2: the result does not match version 2's schema (Named): "
        "name: Input should be a valid string"
    )


def test_every_step_of_the_path_is_checked_against_its_own_version() -> None:
    # Given: version 2 requires a name, which step 2->3 then removes; version 3 has no model
    def drop_name(profile: Profile) -> Profile:
        return {key: value for key, value in profile.items() if key != "name"}

    chain = MigrationChain(
        [step(with_name), ProfileMigration(2, 3, "drop it", drop_name)], {2: Named}
    )

    # Then: the path passes (3 is not checked), and 1->2 alone failing would stop it
    assert chain.apply({"id": "a"}, 3) == {"id": "a", "version": 3}
    broken = MigrationChain(
        [step(with_number_name), ProfileMigration(2, 3, "drop it", drop_name)], {2: Named}
    )
    with pytest.raises(SchemaMismatchError, match="step 1->2"):
        broken.apply({"id": "a"}, 3)


@pytest.mark.parametrize(
    ("declared", "reason"),
    [
        ([Named], "not a dict"),
        ({"2": Named}, "key '2' is not a version number"),
        ({True: Named}, "key True is not a version number"),
        ({7: Named}, "version 7, which no step of the chain reaches"),
        ({2: dict}, "not a pydantic model class"),
        ({2: Named(name="x")}, "not a pydantic model class"),
    ],
)
def test_a_schemas_map_that_is_not_versions_to_model_classes_is_refused(
    declared: Any, reason: str
) -> None:
    with pytest.raises(InvalidSchemaError, match=reason):
        MigrationChain([step(with_name)], declared)


def test_a_registry_file_declares_schemas_next_to_migrations(tmp_path: Path) -> None:
    path = tmp_path / "registry.py"
    path.write_text(
        textwrap.dedent(
            """
            from pydantic import BaseModel
            from profile_migrations.registry import ProfileMigration

            class V2(BaseModel):
                name: str

            migrations = [
                ProfileMigration(1, 2, "name", lambda profile: {**profile, "name": 1}),
            ]
            schemas = {2: V2}
            """
        )
    )

    chain = load_registry(str(path)).chain

    assert chain.schemas[2].model.__name__ == "V2"
    with pytest.raises(SchemaMismatchError, match="name: Input should be a valid string"):
        chain.apply({"id": "a"}, 2)


def test_a_step_marked_not_written_fails_every_profile_naming_the_step() -> None:
    @ProfileMigration.not_written
    def stub(profile: Profile) -> Profile:
        return profile

    chain = MigrationChain([step(stub)])

    assert not chain.steps[0].written
    assert step(with_name).written
    with pytest.raises(StepNotWrittenError) as raised:
        chain.apply({"id": "a"}, 2)
    assert str(raised.value) == (
        "step 1->2 is not written yet: write stub and remove its @ProfileMigration.not_written"
    )


# --- CICADA's schemas -------------------------------------------------------------------------


def test_cicada_sample_profiles_validate_at_every_version() -> None:
    chain = load_registry().chain

    with run_clock(STARTED_AT):
        for raw in sample_profiles(600):
            profile = deserialize_item(raw)
            for version in range(2, 6):
                migrated = chain.apply(profile, version)
                assert chain.schemas[version].problem(migrated) is None


def test_cicada_seed_example_profile_validates_through_the_chain() -> None:
    chain = load_registry().chain

    with run_clock(STARTED_AT):
        migrated = chain.apply({"version": 1, "profileData": {"name": "Test"}}, 5)

    assert migrated["profileData"]["characterType"] == "UNKNOWN"


def cicada_with(version: int, replaced: ProfileMigration) -> MigrationChain:
    steps = [replaced if s.to_version == version else s for s in migrations]
    return MigrationChain(steps, schemas)


def test_cicada_schemas_catch_a_step_that_drops_character_type() -> None:
    def forgets(profile: Profile) -> Profile:
        migrated = rename_character_name(profile)
        data = {k: v for k, v in migrated["profileData"].items() if k != "characterType"}
        return {**migrated, "profileData": data}

    chain = cicada_with(3, ProfileMigration(2, 3, "rename, but drop the type", forgets))

    with pytest.raises(SchemaMismatchError) as raised:
        chain.apply({"profileData": {"characterName": "Ada"}}, 3)
    assert "step 2->3" in str(raised.value)
    assert "profileData.characterType: Field required" in str(raised.value)


def test_cicada_schemas_catch_a_step_that_writes_tags_as_a_string() -> None:
    def stringly(profile: Profile) -> Profile:
        migrated = nest_metadata(profile)
        data = migrated["profileData"]
        metadata = {**data["metadata"], "tags": ",".join(data["metadata"]["tags"])}
        return {**migrated, "profileData": {**data, "metadata": metadata}}

    chain = cicada_with(4, ProfileMigration(3, 4, "nest, tags joined", stringly))

    with pytest.raises(SchemaMismatchError) as raised:
        chain.apply({"version": 3, "profileData": {"characterType": "MAGE", "tags": ["a"]}}, 4)
    assert "profileData.metadata.tags: Value error, should be a list or a set, not a str" in str(
        raised.value
    )


def test_cicada_steps_themselves_pass_their_schemas() -> None:
    # The steps as shipped, one at a time, on a profile holding every field they touch.
    profile: Profile = {
        "profileData": {"characterName": "Ada", "createdBy": "admin", "tags": {"beta"}},
        "updatedAt": "2026-01-02T00:00:00.000Z",
    }
    schemas = load_registry().chain.schemas
    with run_clock(STARTED_AT):
        for version, migrate in enumerate(
            (add_character_type, rename_character_name, nest_metadata, add_last_accessed_at),
            start=2,
        ):
            profile = {**migrate(profile), "version": version}
            assert schemas[version].problem(profile) is None


# --- deep verification ------------------------------------------------------------------------


def named(user: str, **fields: Any) -> dict[str, Any]:
    return serialize_item({"userId": user, "profileId": "p", "version": 2, **fields})


def test_deep_verification_reads_whole_items_and_reports_profiles_that_do_not_validate() -> None:
    # Given: at the target, one valid profile, one whose name is a number, one without;
    # and one below the target
    store = PagedStore(
        pages=[
            [named("a", name="Ada"), named("b", name=7)],
            [named("c"), serialize_item({"userId": "d", "profileId": "p", "version": 1})],
        ]
    )
    chain = MigrationChain([step(with_name)], {2: Named})

    # When
    run = verify_segment(
        SegmentScan(store, 0, 1),
        2,
        ("userId", "profileId"),
        schema=deep_schema(chain, 2, deep=True),
    )

    # Then: every invalid one is reported with pydantic's reason, re-read before
    found = {
        (entry.model_extra or {})["userId"]: (entry.version, entry.reason) for entry in run.invalid
    }
    assert found == {
        "b": (2, "name: Input should be a valid string"),
        "c": (2, "name: Field required"),
        "d": (1, None),
    }
    assert (run.checked, run.invalid_count, run.reread) == (4, 3, 3)


def test_deep_verification_reports_only_what_the_consistent_re_read_confirms() -> None:
    # Given: the page shows an invalid name the table has since corrected
    store = PagedStore(pages=[[named("a", name=7)]])
    store.current = {
        key_text({"userId": {"S": "a"}, "profileId": {"S": "p"}}): named("a", name="Ada")
    }
    chain = MigrationChain([step(with_name)], {2: Named})

    run = verify_segment(
        SegmentScan(store, 0, 1), 2, ("userId", "profileId"), schema=chain.schemas[2]
    )

    assert len(store.reads) == 1
    assert (run.invalid_count, run.invalid) == (0, [])


def test_deep_verification_without_a_schema_for_the_target_is_refused() -> None:
    chain = MigrationChain([step(with_name)])

    assert deep_schema(chain, 2, deep=False) is None
    with pytest.raises(InvalidRequestError, match="declares none for it"):
        deep_schema(chain, 2, deep=True)
