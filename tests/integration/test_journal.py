"""A real run's write-ahead journal on DynamoDB Local: where it is, what it holds, and that
dry runs and verifications write none."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from profile_migrations.codec import decode_wire
from profile_migrations.devtools.sample_profiles import sample_profiles
from profile_migrations.logic.journal import JournalEntry
from tests.conftest import dump_table, item_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

    from tests.conftest import MakeTable
    from tests.integration.conftest import Cli


def journal_lines(uri: str) -> list[dict[str, object]]:
    path = Path(uri.removeprefix("file://"))
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_run_journals_every_write_with_the_values_it_replaced(
    cli: Cli, make_table: MakeTable, dynamodb_client: DynamoDBClient
) -> None:
    originals = list(sample_profiles(60))
    table = make_table(items=originals)
    before = dump_table(dynamodb_client, table.table_name)

    status, document = cli("run", "--table", table.table_name)

    assert status == 0
    uri = document["summary"]["journalUri"]
    assert uri.endswith(".journal.jsonl")
    lines = journal_lines(uri)
    entries = [JournalEntry.model_validate(line) for line in lines if "before" in line]
    outcomes = [line for line in lines if "written" in line]
    assert len(entries) == len(outcomes) == 60
    assert all(outcome["written"] is True for outcome in outcomes)
    key_names = list(entries[0].key)
    for entry in entries:
        key = {name: decode_wire(value) for name, value in entry.key.items()}
        stored = before[item_key(key, key_names)]
        for name, value in entry.before.items():
            assert stored.get(name) == (None if value is None else decode_wire(value))
    _, history = cli("history", "--table", table.table_name)
    (run,) = history["runs"]
    assert [part["journalUri"] for part in run["parts"]] == [uri]


def test_dry_runs_and_verifications_write_no_journal(
    cli: Cli, make_table: MakeTable, tmp_path: Path
) -> None:
    table = make_table(items=list(sample_profiles(10)))

    _, dry = cli(
        "run", "--table", table.table_name, "--dry-run", "--report", str(tmp_path / "d.jsonl")
    )
    _, verify = cli(
        "run", "--table", table.table_name, "--verify-only", "--report", str(tmp_path / "v.jsonl")
    )

    assert "journalUri" not in dry["summary"]
    assert "summary" not in verify
    # Each has its report (verification's holds no line); neither has a journal.
    assert sorted(path.name for path in tmp_path.iterdir()) == ["d.jsonl", "v.jsonl"]
