"""Any attribute name DynamoDB accepts migrates, key attributes included.

A real run against DynamoDB Local over arbitrary names: for the attribute a step adds, the
one it changes, the one it removes, one it leaves alone, and the partition and sort keys
the table is created with. The stored items must be exactly what the step computed, the
verification must pass and no profile may fail, whichever path (PartiQL or UpdateItem) each
write took. Names stay far below DynamoDB Local's own 50,000-byte limit on a stored name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from profile_migrations.codec import serialize_item
from profile_migrations.models.requests import RunRequest
from profile_migrations.registry import ProfileMigration
from profile_migrations.versions import VERSION_ATTRIBUTE
from tests.conftest import dump_profiles
from tests.integration.helpers import registry_of, run

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from profile_migrations.loader import Registry
    from tests.conftest import MakeTable

MAX_KEY_NAME_BYTES = 255  # KeySchemaAttributeName, botocore's model
ODD_NAMES = ["#text", ":count", "#", "#pk", ":sk", 'say "hi"', "a.b", "x[0]", " ", "é"]


@dataclass(frozen=True)
class Names:
    partition: str
    sort: str | None
    added: str
    changed: str
    removed: str
    kept: str


def _repeated(short: st.SearchStrategy[str], times: st.SearchStrategy[int]) -> Any:
    return st.builds(lambda text, count: text * count, short, times)


# Names of any characters, the odd ones seen in the field, and long ones (past the
# 8,192-character statement limit for attributes, up to 255 bytes for keys); or only names
# PartiQL carries, so that both write paths, and tables mixing them, are exercised.
ANY_SHORT = st.text(min_size=1, max_size=12)
PLAIN_SHORT = st.from_regex(r"[A-Za-z0-9_]{1,12}", fullmatch=True)
ANY_ATTRIBUTE = st.one_of(
    ANY_SHORT,
    st.sampled_from(ODD_NAMES),
    _repeated(st.text(min_size=1, max_size=3), st.integers(100, 3_000)),
)
PLAIN_ATTRIBUTE = st.one_of(
    PLAIN_SHORT, _repeated(st.from_regex(r"[a-z]{1,3}", fullmatch=True), st.integers(100, 3_000))
)
ANY_KEY = st.one_of(
    ANY_SHORT,
    st.sampled_from(ODD_NAMES),
    _repeated(st.text(min_size=1, max_size=3), st.integers(10, 85)),
).filter(lambda name: len(name.encode()) <= MAX_KEY_NAME_BYTES)
PLAIN_KEY = st.one_of(PLAIN_SHORT, st.from_regex(r"[A-Za-z0-9_]{200,255}", fullmatch=True))


@st.composite
def all_names(draw: st.DrawFn) -> Names:
    key_names = PLAIN_KEY if draw(st.booleans()) else ANY_KEY
    attribute_names = PLAIN_ATTRIBUTE if draw(st.booleans()) else ANY_ATTRIBUTE
    keys = draw(st.lists(key_names, min_size=1, max_size=2, unique=True))
    taken = {*keys, VERSION_ATTRIBUTE}
    attributes = draw(
        st.lists(attribute_names, min_size=4, max_size=4, unique=True).filter(taken.isdisjoint)
    )
    return Names(keys[0], keys[1] if len(keys) > 1 else None, *attributes)


def _registry(names: Names) -> Registry:
    def migrate(profile: dict[str, Any]) -> dict[str, Any]:
        result = {name: value for name, value in profile.items() if name != names.removed}
        result[names.added] = "added"
        result[names.changed] = profile[names.changed] + 1
        return result

    return registry_of(ProfileMigration(1, 2, "add, change and remove", migrate))


def _profiles(names: Names) -> list[dict[str, Any]]:
    """Two profiles to migrate (one without the attribute to remove) and one already there."""

    def key(index: int) -> dict[str, Any]:
        key: dict[str, Any] = {names.partition: f"user-{index}"}
        if names.sort is not None:
            key[names.sort] = index
        return key

    return [
        {**key(0), names.changed: 1, names.removed: "gone", names.kept: "k0"},
        {**key(1), names.changed: 10, names.kept: "k1", VERSION_ATTRIBUTE: 1},
        {**key(2), names.changed: 7, names.added: "x", names.kept: "k2", VERSION_ATTRIBUTE: 2},
    ]


def _expected(names: Names, profile: dict[str, Any]) -> dict[str, Any]:
    if profile.get(VERSION_ATTRIBUTE) == 2:
        return profile
    migrated = {name: value for name, value in profile.items() if name != names.removed}
    migrated[names.added] = "added"
    migrated[names.changed] = profile[names.changed] + 1
    migrated[VERSION_ATTRIBUTE] = 2
    return migrated


def _item_key(names: Names, profile: dict[str, Any]) -> str:
    key_names = [names.partition] if names.sort is None else [names.partition, names.sort]
    return json.dumps(serialize_item({name: profile[name] for name in key_names}), sort_keys=True)


def _check_run_migrates_exactly(
    make_table: MakeTable, client: DynamoDBClient, names: Names
) -> None:
    key_schema = [(names.partition, "S")]
    if names.sort is not None:
        key_schema.append((names.sort, "N"))
    profiles = _profiles(names)
    table = make_table(
        key_schema=tuple(key_schema), items=[serialize_item(profile) for profile in profiles]
    )
    try:
        response = run(table, RunRequest(total_segments=1), _registry(names), workers=1)

        stored = dump_profiles(client, table.table_name)
        assert stored == {
            _item_key(names, profile): _expected(names, profile) for profile in profiles
        }
        assert response.summary is not None
        assert response.summary.results == []
        assert (response.summary.success_count, response.summary.failure_count) == (2, 0)
        assert response.summary.skipped_count == 1
        assert response.verification is not None
        assert response.verification.valid
        assert response.verification.checked_count == 3
        assert response.success
    finally:
        client.delete_table(TableName=table.table_name)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@example(Names("#pk", ":sk", added="#text", changed=":count", removed="#", kept="plain"))
@example(Names("userId", "profileId", added="#text", changed=":count", removed="#", kept="#k"))
@example(Names("userId", None, added="added", changed="changed", removed="removed", kept="k"))
@example(Names("a.b", "x[0]", added='say "hi"', changed="a-b", removed=" ", kept="\x00"))
@example(Names("#" * 255, ":" * 255, added="#" * 9_000, changed="é" * 5_000, removed="r", kept="k"))
@given(names=all_names())
def test_a_run_migrates_every_legal_attribute_and_key_name(
    make_table: MakeTable, dynamodb_client: DynamoDBClient, names: Names
) -> None:
    _check_run_migrates_exactly(make_table, dynamodb_client, names)


def test_a_table_keyed_by_placeholder_like_names_migrates_every_profile(
    make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    # The field report: with a partition key named "#pk" every profile failed, 0 migrated.
    names = Names("#pk", ":sk", added="#text", changed=":count", removed="#", kept="#pk2")

    _check_run_migrates_exactly(make_table, dynamodb_client, names)
