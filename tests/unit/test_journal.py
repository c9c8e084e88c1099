"""The write-ahead journal (logic/journal.py): every write is recorded, durable, before it
is sent, with the exact wire values it replaces; dry runs record nothing."""

from __future__ import annotations

import base64
import json
import threading
from typing import TYPE_CHECKING, Any

from profile_migrations.codec import decode_wire, encode_wire
from profile_migrations.logic.journal import (
    FileJournal,
    Intent,
    JournalEntry,
    JournalOutcome,
    Settled,
    render_journal,
)
from profile_migrations.logic.segment import MigrationJob, PageMigrator
from profile_migrations.migrations import migrations
from profile_migrations.registry import MigrationChain
from profile_migrations.store import ProfileWrite, WriteOutcome, WriteStatus
from tests.fakes import ListSink, PagedStore

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    from profile_migrations.store import WriteBatchResult


class ListJournal:
    def __init__(self, events: list[str]) -> None:
        self.events = events
        self.entries: list[JournalEntry] = []
        self.outcomes: list[JournalOutcome] = []
        self._lock = threading.Lock()

    """Records what a run journals, as the lines read back."""

    def intend(self, entries: Sequence[Intent]) -> None:
        with self._lock:
            self.events.append(f"intend {len(entries)}")
            self.entries.extend(
                JournalEntry.model_validate_json(line)
                for line in render_journal(entries).splitlines()
            )

    def settle(self, outcomes: Sequence[Settled]) -> None:
        with self._lock:
            self.events.append(f"settle {len(outcomes)}")
            self.outcomes.extend(
                JournalOutcome.model_validate_json(line)
                for line in render_journal(outcomes).splitlines()
            )


class OrderedStore(PagedStore):
    def __init__(self, events: list[str], answers: list[WriteOutcome] | None = None) -> None:
        super().__init__(answers=answers)
        self.events = events

    def conditional_update(self, writes: Sequence[ProfileWrite]) -> WriteBatchResult:
        self.events.append(f"send {len(writes)}")
        return super().conditional_update(writes)


def job(journal: ListJournal | None, dry_run: bool = False) -> MigrationJob:
    return MigrationJob(
        chain=MigrationChain(migrations),
        target_version=5,
        key_attributes=("userId", "profileId"),
        dry_run=dry_run,
        started_at="2026-01-01T00:00:00.000Z",
        journal=journal,
    )


# A profile as DynamoDB returns it: number text as stored, binary, a set, nested maps.
RAW: dict[str, Any] = {
    "userId": {"S": "u1"},
    "profileId": {"S": "main"},
    "version": {"N": "1.0"},
    "avatar": {"B": b"\x00\xffpng"},
    "profileData": {"M": {"characterName": {"S": "Ann"}, "tags": {"SS": ["a", "b"]}}},
}


def test_a_pages_writes_are_journaled_at_once_before_any_is_sent_and_settled_by_batch() -> None:
    events: list[str] = []
    journal = ListJournal(events)
    items = [dict(RAW, userId={"S": f"u{number}"}) for number in range(30)]

    PageMigrator(job(journal), OrderedStore(events), ListSink()).migrate_page(items)

    assert events == ["intend 30", "send 25", "settle 25", "send 5", "settle 5"]


def test_an_entry_holds_the_exact_wire_values_the_write_replaces() -> None:
    journal = ListJournal([])

    PageMigrator(job(journal), OrderedStore([]), ListSink()).migrate_page([RAW])

    (entry,) = journal.entries
    assert entry.version == 1
    assert {name: decode_wire(value) for name, value in entry.key.items()} == {
        "userId": {"S": "u1"},
        "profileId": {"S": "main"},
    }
    assert entry.before["version"] == {"N": "1.0"}  # the text as stored, not "1"
    assert entry.before["profileData"] is not None
    assert decode_wire(entry.before["profileData"]) == RAW["profileData"]
    assert set(entry.before) == set(entry.after)
    assert entry.after["version"] == {"N": "5"}
    absent = [name for name, value in entry.before.items() if value is None]
    assert absent and all(entry.after[name] is not None for name in absent)


def test_binary_survives_the_journal_byte_for_byte() -> None:
    # Bytes whose base64 holds both alphabets' own characters (+/ and -_).
    value = {"M": {"b": {"B": b"\xfb\xff\x00"}, "bs": {"BS": [b"\xfa", b"\x02"]}}}
    write = ProfileWrite({"k": {"B": b"\xfe\xfe"}}, {"v": value}, (), {"v": None})

    (line,) = render_journal([Intent(write, 1)]).splitlines()
    entry = JournalEntry.model_validate_json(line)

    assert entry.after["v"] is not None
    assert decode_wire(entry.after["v"]) == value
    assert decode_wire(entry.key["k"]) == {"B": b"\xfe\xfe"}
    # A cursor or journal written with the standard alphabet reads the same.
    assert decode_wire({"B": base64.b64encode(b"\xfb\xff\x00").decode()}) == {"B": b"\xfb\xff\x00"}
    assert encode_wire({"B": b"\xfb\xff\x00"}) == {"B": "+/8A"}


def test_outcomes_say_which_writes_were_applied() -> None:
    events: list[str] = []
    journal = ListJournal(events)
    conflict = WriteOutcome(WriteStatus.CONFLICT, current=None)
    store = OrderedStore(events, answers=[WriteOutcome(WriteStatus.WRITTEN), conflict])
    second = dict(RAW, userId={"S": "u2"})

    PageMigrator(job(journal), store, ListSink()).migrate_page([RAW, second])

    assert [(outcome.key["userId"], outcome.written) for outcome in journal.outcomes[:2]] == [
        ({"S": "u1"}, True),
        ({"S": "u2"}, False),
    ]


def test_a_dry_run_journals_nothing() -> None:
    journal = ListJournal([])

    PageMigrator(job(journal, dry_run=True), OrderedStore([]), ListSink()).migrate_page([RAW])

    assert journal.entries == []


def test_the_file_journal_appends_lines_a_resumed_part_can_add_to(tmp_path: Path) -> None:
    path = tmp_path / "run.journal.jsonl"
    intent = Intent(ProfileWrite({"k": {"S": "1"}}, {"v": {"N": "2"}}, (), {"v": None}), 1)
    entry = JournalEntry(
        key={"k": {"S": "1"}}, version=1, before={"v": None}, after={"v": {"N": "2"}}
    )

    with FileJournal(path) as journal:
        journal.intend([intent])
        journal.settle([Settled({"k": {"S": "1"}}, written=True)])
    with FileJournal(path) as journal:
        journal.intend([intent])

    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == 3
    assert JournalEntry.model_validate(lines[0]) == entry
    assert lines[1] == {"key": {"k": {"S": "1"}}, "written": True}
