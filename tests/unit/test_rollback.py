"""Undo from the journal (logic/journal.py reading, logic/rollback.py): the journal read
newest first, outcomes paired with their entries, an item's writes undone newest first,
and the conditions that keep every application write."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hypothesis import given
from hypothesis import strategies as st

from profile_migrations.logic.journal import (
    Intent,
    Settled,
    Undo,
    lines_backwards,
    render_journal,
    undos_backwards,
)
from profile_migrations.logic.rollback import Undoer, UndoOutcome, undo_journal
from profile_migrations.store import ProfileWrite
from tests.fakes import ConditionalStore

if TYPE_CHECKING:
    from profile_migrations.models.results import RollbackCounters
    from profile_migrations.store import AttributeValue, RawItem

KEYS = ("userId", "profileId")


def user(number: int, **attributes: AttributeValue) -> RawItem:
    return {"userId": {"S": f"u{number}"}, "profileId": {"S": "p"}, **attributes}


def write_of(
    number: int, before: dict[str, Any | None], after: dict[str, Any | None]
) -> ProfileWrite:
    set_values = {name: value for name, value in after.items() if value is not None}
    removed = tuple(name for name, value in after.items() if value is None)
    return ProfileWrite(user(number), set_values, removed, before)


def entry(number: int, before: dict[str, Any | None], after: dict[str, Any | None]) -> Intent:
    return Intent(write_of(number, before, after), 1)


def outcome(number: int, written: bool) -> Settled:
    return Settled(user(number), written)


def journal(tmp_path: Path, *lines: Intent | Settled, tail: bytes = b"") -> Path:
    path = tmp_path / "run.journal.jsonl"
    path.write_bytes(render_journal(lines) + tail)
    return path


def undo_all(
    store: ConditionalStore, path: Path, end: int | None = None
) -> tuple[list[UndoOutcome], RollbackCounters, list[int]]:
    seen: list[UndoOutcome] = []
    saved: list[int] = []
    undoer = Undoer(store, KEYS, seen.extend)
    counters, finished = undo_journal(
        undos_backwards(lines_backwards(path, end)),
        undoer,
        lambda offset, _: saved.append(offset),
    )
    assert finished
    return seen, counters, saved


V1, V5 = {"N": "1"}, {"N": "5"}


def test_a_journal_is_read_newest_first_with_each_entry_paired_with_its_outcome(
    tmp_path: Path,
) -> None:
    path = journal(
        tmp_path,
        entry(1, {"version": V1}, {"version": V5}),
        entry(2, {"version": V1}, {"version": V5}),
        outcome(2, False),
        outcome(1, True),
        entry(3, {"version": V1}, {"version": V5}),
        tail=b'{"key": {"userId": {"S"',
    )

    read = list(undos_backwards(lines_backwards(path, block=16)))

    undos = [
        (undo.entry.key["userId"]["S"], undo.written) for _, undo in read if isinstance(undo, Undo)
    ]
    # Entry 3 has no outcome: the process died before recording it (it may have applied);
    # the torn last line was never complete, so its write was never sent.
    assert undos == [("u3", None), ("u2", False), ("u1", True)]


@given(
    st.lists(st.binary(min_size=1, max_size=12).filter(lambda b: b"\n" not in b), max_size=20),
    st.binary(max_size=8).filter(lambda b: b"\n" not in b),
    st.integers(1, 40),
)
def test_lines_are_read_backwards_whole_whatever_the_block_size(
    lines: list[bytes], torn: bytes, block: int
) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "journal"
        path.write_bytes(b"".join(line + b"\n" for line in lines) + torn)
        offsets, at = [], 0
        for line in lines:
            offsets.append((at, line))
            at += len(line) + 1

        assert list(lines_backwards(path, block=block)) == offsets[::-1]
        for index, (start, _) in enumerate(offsets):
            assert list(lines_backwards(path, start, block)) == offsets[:index][::-1]


def test_an_item_written_twice_is_put_back_through_each_write_newest_first(
    tmp_path: Path,
) -> None:
    # The run wrote u1 (outcome lost in a crash), the application then set its name, and
    # the page done again wrote it from the application's value.
    store = ConditionalStore()
    store.put(user(1, name={"S": "app"}, version=V5))
    path = journal(
        tmp_path,
        entry(1, {"name": {"S": "old"}, "version": V1}, {"name": {"S": "new"}, "version": V5}),
        entry(1, {"name": {"S": "app"}, "version": V1}, {"name": {"S": "app"}, "version": V5}),
        outcome(1, True),
    )

    seen, counters, _ = undo_all(store, path)

    assert store.get_item(user(1)) == user(1, name={"S": "app"}, version=V1)
    assert [line.status for line in seen] == ["restored", "kept"]
    assert (counters.restored, counters.kept) == (1, 1)
    # The two undos of one item went in separate groups, newest first.
    assert len(store.batches) == 2


def test_an_attribute_the_run_added_is_removed_and_one_it_removed_comes_back(
    tmp_path: Path,
) -> None:
    store = ConditionalStore()
    store.put(user(1, characterType={"S": "MAGE"}, version=V5))
    path = journal(
        tmp_path,
        entry(
            1,
            {"characterType": None, "class": {"S": "MAGE"}, "version": None},
            {"characterType": {"S": "MAGE"}, "class": None, "version": V5},
        ),
        outcome(1, True),
    )

    seen, _, _ = undo_all(store, path)

    assert store.get_item(user(1)) == user(1, **{"class": {"S": "MAGE"}})
    assert [line.status for line in seen] == ["restored"]


def test_deleted_changed_and_already_restored_items_are_told_apart(tmp_path: Path) -> None:
    store = ConditionalStore()
    store.put(user(2, version={"N": "7"}))
    store.put(user(3, version={"N": "1.0"}))
    path = journal(
        tmp_path,
        *(entry(number, {"version": V1}, {"version": V5}) for number in (1, 2, 3)),
        *(outcome(number, True) for number in (1, 2, 3)),
    )

    seen, counters, _ = undo_all(store, path)

    statuses = {line.key["userId"]: line.status for line in seen}
    # u3 holds 1.0, the number the run read as 1: DynamoDB compares numbers by value.
    assert statuses == {"u1": "missing", "u2": "kept", "u3": "already-restored"}
    assert store.get_item(user(2)) == user(2, version={"N": "7"})
    assert (counters.missing, counters.kept, counters.already_restored) == (1, 1, 1)


def test_a_damaged_line_fails_alone_and_the_rest_is_undone(tmp_path: Path) -> None:
    store = ConditionalStore()
    for number in (1, 2):
        store.put(user(number, version=V5))
    path = tmp_path / "run.journal.jsonl"
    path.write_bytes(
        render_journal([entry(1, {"version": V1}, {"version": V5})])
        + b"not json\n"
        + render_journal([entry(2, {"version": V1}, {"version": V5})])
    )

    seen, counters, _ = undo_all(store, path)

    assert (counters.restored, counters.failed) == (2, 1)
    failed = [line for line in seen if line.status == "failed"]
    assert failed[0].error is not None
    assert failed[0].error.startswith("journal line 2 from the end: not JSON")
    assert store.get_item(user(1)) == user(1, version=V1)


def test_a_rollback_resumed_from_its_checkpoint_ends_where_an_uninterrupted_one_does(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.setattr("profile_migrations.logic.rollback.CHECKPOINT_SECONDS", 0.0)
    lines: list[Intent | Settled] = []
    for number in range(120):
        lines.append(entry(number, {"version": V1}, {"version": V5}))
        lines.append(outcome(number, number % 5 != 0))
    path = journal(tmp_path, *lines)

    def fresh() -> ConditionalStore:
        store = ConditionalStore()
        for number in range(120):
            store.put(user(number, version=V1 if number % 5 == 0 else V5))
        return store

    whole = fresh()
    _, counts, _ = undo_all(whole, path)
    assert counts.restored == 96

    stopped = fresh()
    saved: list[int] = []
    undoer = Undoer(stopped, KEYS, lambda _: None)
    _, finished = undo_journal(
        undos_backwards(lines_backwards(path)),
        undoer,
        lambda offset, _: saved.append(offset),
        should_continue=lambda: not saved,
    )
    assert not finished
    assert stopped.items != whole.items
    (offset,) = saved
    # The checkpoint is the start of the last entry line undone.
    assert json.loads(path.read_bytes()[offset:].split(b"\n", 1)[0])["before"]
    undo_all(stopped, path, offset)

    assert stopped.items == whole.items
    # Work done after the checkpoint and lost in a crash is harmless: done again, it finds
    # the items already restored.
    _, again, _ = undo_all(whole, path, offset)
    assert again.restored == 0
    assert all(item["version"] == V1 for item in whole.items.values())


def test_a_journal_of_overlapping_workers_is_checkpointed_as_it_is_undone(
    tmp_path: Path, monkeypatch: Any
) -> None:
    # Two workers journal their rounds and settle their batches in turn, so reading
    # backwards, some outcome always waits for its entry: checkpoints must not wait for a
    # moment when none does.
    monkeypatch.setattr("profile_migrations.logic.rollback.CHECKPOINT_SECONDS", 0.0)
    rounds = [
        [(worker * 1000 + turn * 30 + n) for n in range(30)]
        for turn in range(6)
        for worker in (1, 2)
    ]
    lines: list[Intent | Settled] = []
    for index, round_ in enumerate(rounds):
        lines.extend(entry(number, {"version": V1}, {"version": V5}) for number in round_)
        if index:
            lines.extend(outcome(number, True) for number in rounds[index - 1])
    lines.extend(outcome(number, True) for number in rounds[-1])
    path = journal(tmp_path, *lines)
    store = ConditionalStore()
    for round_ in rounds:
        for number in round_:
            store.put(user(number, version=V5))

    _, counters, saved = undo_all(store, path)

    assert counters.restored == 360
    assert len(saved) >= 10
    for offset in saved:
        assert json.loads(path.read_bytes()[offset:].split(b"\n", 1)[0])["before"]
