"""How a write leaves for DynamoDB: PartiQL or a conditional UpdateItem, by attribute name.

PartiQL carries only writes whose every name (key attributes included) is ASCII letters,
digits and "_"; everything else (names DynamoDB Local reads as placeholders such as
"#text", ":count", "#", names with a double quote, any other character) goes out as an
UpdateItem whose expressions hold placeholders only. No network: a recording client.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from profile_migrations.dal.dynamodb import (
    MAX_STATEMENT_LENGTH,
    ProfileTable,
    update_item_arguments,
)
from profile_migrations.store import AttributeValue, ProfileWrite, WriteStatus
from tests.fakes import client_error

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

USER_KEY = {"userId": {"S": "u1"}, "profileId": {"S": "main"}}
# Everything an UpdateItem expression may hold besides placeholders.
EXPRESSION_WORDS = {"SET", "REMOVE", "AND", "=", "attribute_exists", "attribute_not_exists"}


class RecordingClient:
    """The two write calls of a DynamoDB client: records requests, answers success or a
    given error."""

    def __init__(self, update_error: ClientError | None = None) -> None:
        self.statements: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.update_error = update_error

    def batch_execute_statement(self, **request: Any) -> dict[str, Any]:
        self.statements.extend(request["Statements"])
        return {"Responses": [{} for _ in request["Statements"]]}

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.updates.append(request)
        if self.update_error is not None:
            raise self.update_error
        return {}


def table(client: RecordingClient) -> ProfileTable:
    # Deliberately not a DynamoDBClient: only the two write calls, recorded.
    return ProfileTable(client, "profiles")  # type: ignore[arg-type]


def write(
    set_values: dict[str, AttributeValue] | None = None,
    removed: tuple[str, ...] = (),
    expected: dict[str, AttributeValue | None] | None = None,
    key: dict[str, AttributeValue] | None = None,
) -> ProfileWrite:
    set_values = set_values or {}
    return ProfileWrite(
        key=key or USER_KEY,
        set_values=set_values,
        removed=removed,
        expected=expected if expected is not None else dict.fromkeys((*set_values, *removed)),
    )


def token_for(arguments: dict[str, Any], name: str) -> str:
    tokens: list[str] = [t for t, n in arguments["ExpressionAttributeNames"].items() if n == name]
    (token,) = tokens
    return token


# --- the reported names -----------------------------------------------------------------------

REPORTED_NAMES = ["#text", ":count", "#"]


@pytest.mark.parametrize("name", REPORTED_NAMES)
def test_setting_an_attribute_named_like_a_placeholder_goes_out_as_update_item(name: str) -> None:
    client = RecordingClient()
    profile_write = write(
        set_values={name: {"S": "new"}, "version": {"N": "2"}},
        expected={name: None, "version": {"N": "1"}},
    )

    result = table(client).conditional_update([profile_write])

    assert [outcome.status for outcome in result.outcomes] == [WriteStatus.WRITTEN]
    assert client.statements == []
    (request,) = client.updates
    assert request["TableName"] == "profiles"
    assert request["Key"] == USER_KEY
    assert request["ExpressionAttributeNames"] == {
        "#n0": name,
        "#n1": "version",
        "#n2": "userId",
        "#n3": "profileId",
    }
    assert request["UpdateExpression"] == "SET #n0 = :v0, #n1 = :v1"
    assert request["ConditionExpression"] == (
        "attribute_exists(#n2) AND attribute_exists(#n3) "
        "AND attribute_not_exists(#n0) AND #n1 = :v2"
    )
    assert request["ExpressionAttributeValues"] == {
        ":v0": {"S": "new"},
        ":v1": {"N": "2"},
        ":v2": {"N": "1"},
    }
    assert request["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"


@pytest.mark.parametrize("name", REPORTED_NAMES)
def test_changing_and_removing_attributes_named_like_placeholders_keep_their_condition(
    name: str,
) -> None:
    client = RecordingClient()
    changed = write(set_values={name: {"N": "2"}}, expected={name: {"N": "1"}})
    removed = write(removed=(name,), expected={name: {"S": "old"}})

    table(client).conditional_update([changed, removed])

    assert client.statements == []
    change_request, remove_request = client.updates
    token = token_for(change_request, name)
    assert change_request["UpdateExpression"] == f"SET {token} = :v0"
    assert change_request["ConditionExpression"].endswith(f"AND {token} = :v1")
    assert change_request["ExpressionAttributeValues"] == {":v0": {"N": "2"}, ":v1": {"N": "1"}}
    token = token_for(remove_request, name)
    assert remove_request["UpdateExpression"] == f"REMOVE {token}"
    assert remove_request["ConditionExpression"].endswith(f"AND {token} = :v0")
    assert remove_request["ExpressionAttributeValues"] == {":v0": {"S": "old"}}


def test_a_table_keyed_by_names_like_placeholders_writes_through_update_item() -> None:
    client = RecordingClient()
    key = {"#pk": {"S": "u1"}, ":sk": {"N": "7"}}
    profile_write = write(
        set_values={"version": {"N": "2"}}, expected={"version": {"N": "1"}}, key=key
    )

    table(client).conditional_update([profile_write])

    assert client.statements == []
    (request,) = client.updates
    assert request["Key"] == key
    pk, sk, version = (token_for(request, name) for name in ("#pk", ":sk", "version"))
    assert request["ConditionExpression"] == (
        f"attribute_exists({pk}) AND attribute_exists({sk}) AND {version} = :v1"
    )
    assert request["UpdateExpression"] == f"SET {version} = :v0"


# --- plain names stay on PartiQL ----------------------------------------------------------------


def test_plain_names_go_out_as_one_batch_of_partiql_statements() -> None:
    client = RecordingClient()
    writes = [
        write(
            set_values={"version": {"N": "2"}, "profileData": {"M": {}}},
            removed=("legacy_1",),
            expected={"version": {"N": "1"}, "profileData": None, "legacy_1": {"S": "x"}},
            key={"userId": {"S": f"u{index}"}, "profileId": {"S": "main"}},
        )
        for index in range(3)
    ]

    result = table(client).conditional_update(writes)

    assert [outcome.status for outcome in result.outcomes] == [WriteStatus.WRITTEN] * 3
    assert client.updates == []
    assert len(client.statements) == 3
    assert client.statements[0] == {
        "Statement": 'UPDATE "profiles" SET "version"=? SET "profileData"=? REMOVE "legacy_1" '
        'WHERE "userId"=? AND "profileId"=? AND "version"=? AND "profileData" IS MISSING '
        'AND "legacy_1"=?',
        "Parameters": [
            {"N": "2"},
            {"M": {}},
            {"S": "u0"},
            {"S": "main"},
            {"N": "1"},
            {"S": "x"},
        ],
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }


@pytest.mark.parametrize("name", ["_", "0", "9lives", "VALUE", "MISSING", "where", "a_B_9"])
def test_ascii_word_names_go_out_as_partiql(name: str) -> None:
    client = RecordingClient()

    table(client).conditional_update([write(set_values={name: {"N": "1"}})])

    assert client.updates == []
    (statement,) = client.statements
    assert f'SET "{name}"=?' in statement["Statement"]


@pytest.mark.parametrize(
    "name",
    [
        "#text",
        "a#b",
        "a:b",
        "a.b",
        "x[0]",
        "a-b",
        "a b",
        " ",
        "é",
        "\n",
        "\x00",
        "a'b",
        'say "hi"',
        "\\",
        "?",
        "",
    ],
)
def test_any_other_name_goes_out_as_update_item(name: str) -> None:
    client = RecordingClient()

    table(client).conditional_update([write(set_values={name: {"N": "1"}})])

    assert client.statements == []
    (request,) = client.updates
    assert name in request["ExpressionAttributeNames"].values()


def test_one_odd_name_sends_only_its_own_write_through_update_item() -> None:
    client = RecordingClient()
    plain = write(set_values={"version": {"N": "2"}})
    odd = write(
        set_values={"#text": {"S": "t"}},
        key={"userId": {"S": "u2"}, "profileId": {"S": "main"}},
    )

    result = table(client).conditional_update([plain, odd, plain])

    assert [outcome.status for outcome in result.outcomes] == [WriteStatus.WRITTEN] * 3
    assert len(client.statements) == 2
    (request,) = client.updates
    assert request["Key"] == odd.key


def test_a_statement_over_the_partiql_length_limit_goes_out_as_update_item() -> None:
    client = RecordingClient()
    long_name = "a" * MAX_STATEMENT_LENGTH

    table(client).conditional_update([write(set_values={long_name: {"N": "1"}})])

    assert client.statements == []
    (request,) = client.updates
    assert long_name in request["ExpressionAttributeNames"].values()


# --- a refused write names its attribute ---------------------------------------------------------


def test_a_name_dynamodb_refuses_fails_the_write_with_the_attribute_named() -> None:
    client = RecordingClient(
        client_error(
            "ValidationException",
            "ExpressionAttributeNames contains invalid value: Empty attribute name for key #n0",
        )
    )

    result = table(client).conditional_update([write(set_values={"": {"N": "1"}})])

    (outcome,) = result.outcomes
    assert outcome.status is WriteStatus.REJECTED
    assert outcome.message == (
        "ValidationException: ExpressionAttributeNames contains invalid value: Empty "
        "attribute name for key #n0 (attribute '')"
    )


def test_a_refused_long_name_is_quoted_in_part_with_its_size() -> None:
    client = RecordingClient(
        client_error(
            "ValidationException",
            "Attribute name is too large, must be less than 65536 bytes for key #n1",
        )
    )
    long_name = "é" * 40_000

    result = table(client).conditional_update(
        [write(set_values={"version": {"N": "2"}, long_name: {"N": "1"}})]
    )

    (outcome,) = result.outcomes
    assert outcome.status is WriteStatus.REJECTED
    assert outcome.message is not None
    assert outcome.message.endswith(f"#n1 (attribute {'é' * 80!r}... (80,000 bytes))")


def test_a_conflict_on_update_item_is_a_conflict() -> None:
    client = RecordingClient(client_error("ConditionalCheckFailedException", "failed"))

    result = table(client).conditional_update([write(set_values={"#text": {"S": "t"}})])

    assert [outcome.status for outcome in result.outcomes] == [WriteStatus.CONFLICT]


# --- any name: placeholders only in the expressions -----------------------------------------------

NAMES = st.text(min_size=1, max_size=40)


@given(
    set_names=st.lists(NAMES, min_size=1, max_size=4, unique=True),
    removed_names=st.lists(NAMES, max_size=3, unique=True),
    key_names=st.lists(NAMES, min_size=1, max_size=2, unique=True),
)
def test_update_item_expressions_hold_no_attribute_name_text(
    set_names: list[str], removed_names: list[str], key_names: list[str]
) -> None:
    removed = tuple(name for name in removed_names if name not in set_names)
    profile_write = ProfileWrite(
        key={name: {"S": "k"} for name in key_names},
        set_values={name: {"N": "1"} for name in set_names},
        removed=removed,
        expected={
            name: ({"N": "0"} if index % 2 else None)
            for index, name in enumerate((*set_names, *removed))
        },
    )

    arguments = update_item_arguments(profile_write)

    names = arguments["ExpressionAttributeNames"]
    assert set(names.values()) == {*set_names, *removed, *key_names}
    assert len(names) == len(set(names.values()))
    for expression in (arguments["UpdateExpression"], arguments["ConditionExpression"]):
        words = re.findall(r"[^\s(),]+", expression)
        assert all(
            word in EXPRESSION_WORDS or (word in names) or re.fullmatch(r":v[0-9]+", word)
            for word in words
        ), expression
