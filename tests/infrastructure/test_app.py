"""The app's entry point: which table it targets."""

from __future__ import annotations

import pytest
from aws_cdk import App

from infra.application import table_name_from_context


def test_table_defaults_to_user_profiles() -> None:
    assert table_name_from_context(App()) == "UserProfiles"


def test_table_comes_from_the_table_name_context_value() -> None:
    app = App(context={"tableName": "CharacterProfiles"})

    assert table_name_from_context(app) == "CharacterProfiles"


@pytest.mark.parametrize("name", ["ab", "User Profiles", "profiles/2", "x" * 256])
def test_a_name_dynamodb_would_refuse_fails_at_synth(name: str) -> None:
    app = App(context={"tableName": name})

    with pytest.raises(ValueError, match="is not a DynamoDB table name"):
        table_name_from_context(app)
