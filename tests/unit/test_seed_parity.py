"""CICADA's chain against the seed itself: the seed's four migrate functions, run in Node.

tests/seed/seed_migrations.js is the seed README's TypeScript as plain JavaScript. Every
case goes through both on the same profile and the same run start time, and the results
must be equal unless one of DEVIATIONS, each listed once with its reason, applies and
accounts for the whole difference. Profiles cross to Node as JSON, as DocumentClient hands
items to the application: a Decimal becomes a JavaScript number. Sets and binary, which
JSON cannot carry, are covered by test_cicada_chain.py alone.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from profile_migrations.clock import run_clock
from profile_migrations.errors import InvalidProfileError, StepFailedError
from profile_migrations.migrations import migrations
from profile_migrations.registry import apply_migrations
from tests.unit.test_cicada_chain import (
    ABSENT,
    ISSUE_9_PROFILES,
    JS_FALSY,
    JS_TRUTHY_LOOK_ALIKES,
    RUN_STARTED,
    UPDATED_AT,
    with_value,
)

if TYPE_CHECKING:
    from collections.abc import Callable

Profile = dict[str, Any]

SEED_MIGRATIONS_JS = Path(__file__).parents[1] / "seed" / "seed_migrations.js"
NODE_TIMEOUT_SECONDS = 60
ALL_STEPS = ("1->2", "2->3", "3->4", "4->5")


class _Refused:
    def __repr__(self) -> str:
        return "REFUSED"


REFUSED: Any = _Refused()
"""The outcome of a profile that fails: the seed's TypeError, the chain's InvalidProfileError."""


@dataclass(frozen=True)
class Case:
    id: str
    steps: tuple[str, ...]
    profile: Profile
    """As the chain reads it from DynamoDB: numbers are Decimal."""


# --- JSON, as DocumentClient hands an item to JavaScript ------------------------------------


def _as_js_number(value: Any) -> float:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"JSON cannot carry a {type(value).__name__}")


def as_json(value: Any) -> Any:
    return json.loads(json.dumps(value, default=_as_js_number))


def expressible(profile: Profile) -> bool:
    try:
        as_json(profile)
    except TypeError:
        return False
    return True


def js_truthy(value: Any) -> bool:
    """JavaScript's Boolean() over a JSON value, written out apart from the chain's helper."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str):
        return value != ""
    return True


def canonical(value: Any) -> Any:
    """A JSON value where `True` and `1` differ, as they do in JavaScript, but -0 == 0."""
    if isinstance(value, bool) or value is None:
        return ("literal", value)
    if isinstance(value, int | float):
        return ("number", float(value))
    if isinstance(value, list):
        return ("array", tuple(canonical(item) for item in value))
    if isinstance(value, dict):
        return ("object", tuple(sorted((key, canonical(item)) for key, item in value.items())))
    return (type(value).__name__, value)


# --- the documented deviations ----------------------------------------------------------------


def _data(profile: Profile) -> Any:
    return profile.get("profileData")


def _with_data(seed: Profile, **fields: Any) -> Profile:
    return {**seed, "profileData": {**seed["profileData"], **fields}}


def _merged_metadata(profile: Profile, seed: Profile) -> Any:
    existing = _data(profile)["metadata"]
    if not isinstance(existing, dict):
        return REFUSED
    merged = {**existing, **seed["profileData"]["metadata"]}
    if not js_truthy(_data(profile).get("tags")) and js_truthy(existing.get("tags")):
        merged["tags"] = existing["tags"]
    return _with_data(seed, metadata=merged)


@dataclass(frozen=True)
class Deviation:
    name: str
    steps: tuple[str, ...]
    reason: str
    applies: Callable[[Profile], bool]
    """Whether it concerns this input of the step (JSON form)."""
    expected: Callable[[Profile, Any], Any]
    """(input, the seed's result) -> the chain's result."""


DEVIATIONS = (
    Deviation(
        name="metadata-merged",
        steps=("3->4",),
        reason=(
            "The application may have written profileData.metadata (its own keys, or the new "
            "createdBy/tags) before the profile's version moved; the seed's replacement would "
            "discard them. A truthy metadata that is not a map cannot be merged into, so the "
            "profile fails instead of losing it."
        ),
        applies=lambda p: isinstance(_data(p), dict) and js_truthy(_data(p).get("metadata")),
        expected=_merged_metadata,
    ),
    Deviation(
        name="last-accessed-at-kept",
        steps=("4->5",),
        reason=(
            "A truthy lastAccessedAt is the application's own record of an access; the seed "
            "would overwrite it with updatedAt or the run time. A falsy one is replaced as the "
            "seed replaces it."
        ),
        applies=lambda p: js_truthy(p.get("lastAccessedAt")),
        expected=lambda p, seed: {**seed, "lastAccessedAt": p["lastAccessedAt"]},
    ),
    Deviation(
        name="name-kept-without-character-name",
        steps=("2->3",),
        reason=(
            "Without characterName the seed sets name to undefined, deleting a name the "
            "application already wrote."
        ),
        applies=lambda p: (
            isinstance(_data(p), dict) and "characterName" not in _data(p) and "name" in _data(p)
        ),
        expected=lambda p, seed: _with_data(seed, name=_data(p)["name"]),
    ),
    Deviation(
        name="profile-data-not-a-map-fails",
        steps=("1->2", "2->3", "3->4"),
        reason=(
            "The seed spreads a string into a map of its characters (a list into a map of "
            "indexes, a number or boolean into an empty map) and would write that back; the "
            "chain fails the profile and leaves the item as it is."
        ),
        applies=lambda p: _data(p) is not None and not isinstance(_data(p), dict),
        expected=lambda p, seed: REFUSED,
    ),
)


def deviation_for(case: Case) -> Deviation | None:
    if len(case.steps) != 1:
        return None
    profile = as_json(case.profile)
    applicable = [d for d in DEVIATIONS if case.steps[0] in d.steps and d.applies(profile)]
    assert len(applicable) <= 1, f"{case.id}: {[d.name for d in applicable]} all apply"
    return applicable[0] if applicable else None


# --- the cases ------------------------------------------------------------------------------------

PROFILE_DATA_SHAPES: list[tuple[str, Any]] = [
    ("absent", ABSENT),
    ("null", None),
    ("empty-string", ""),
    ("string", "Alice"),
    ("list", ["a"]),
    ("number", Decimal("1")),
    ("zero", Decimal("0")),
    ("true", True),
    ("false", False),
    ("empty-map", {}),
]


def _step_cases() -> list[Case]:
    cases: list[Case] = []

    def add(case_id: str, step: str, profile: Profile) -> None:
        if expressible(profile):
            cases.append(Case(case_id, (step,), profile))

    for name, value in [*JS_FALSY, *JS_TRUTHY_LOOK_ALIKES]:
        add(
            f"1->2 characterType={name}",
            "1->2",
            {"version": 1, "profileData": with_value({"bio": "b"}, "characterType", value)},
        )
        for stale in (ABSENT, "Old"):
            data = with_value(with_value({"bio": "b"}, "name", stale), "characterName", value)
            label = "absent" if stale is ABSENT else "stale"
            add(
                f"2->3 characterName={name} name={label}",
                "2->3",
                {"version": 2, "profileData": data},
            )
        add(
            f"3->4 tags={name}",
            "3->4",
            {"version": 3, "profileData": with_value({"createdBy": "admin"}, "tags", value)},
        )
        add(
            f"3->4 createdBy={name}",
            "3->4",
            {"version": 3, "profileData": with_value({"tags": ["t"]}, "createdBy", value)},
        )
        add(
            f"3->4 metadata={name}",
            "3->4",
            {"version": 3, "profileData": with_value({"tags": ["a"]}, "metadata", value)},
        )
        add(
            f"3->4 metadata.tags={name}",
            "3->4",
            {
                "version": 3,
                "profileData": {"metadata": with_value({"source": "app"}, "tags", value)},
            },
        )
        add(
            f"4->5 updatedAt={name}",
            "4->5",
            with_value({"version": 4, "profileData": {}}, "updatedAt", value),
        )
        add(
            f"4->5 lastAccessedAt={name}",
            "4->5",
            with_value({"version": 4, "updatedAt": UPDATED_AT}, "lastAccessedAt", value),
        )
    for name, value in PROFILE_DATA_SHAPES:
        for step in ALL_STEPS:
            version = int(step[0])
            add(
                f"{step} profileData={name}",
                step,
                with_value({"version": version}, "profileData", value),
            )
    for name, profile, _ in ISSUE_9_PROFILES:
        add(f"issue 9 {name}", f"{profile['version']}->{profile['version'] + 1}", profile)
    add(
        "3->4 metadata merged over stale keys",
        "3->4",
        {
            "version": 3,
            "profileData": {
                "createdBy": "admin",
                "tags": ["a"],
                "metadata": {"source": "import", "createdBy": "stale"},
            },
        },
    )
    return cases


CHAIN_CASES = [
    Case(
        "chain unversioned",
        ALL_STEPS,
        {"userId": "u1", "profileData": {"characterName": "Test"}},
    ),
    Case(
        "chain issue 9 character-type-false",
        ALL_STEPS,
        {"version": 1, "profileData": {"characterType": False, "characterName": "C"}},
    ),
    Case(
        "chain everything falsy",
        ALL_STEPS,
        {
            "version": 1,
            "updatedAt": "",
            "profileData": {
                "characterName": "",
                "characterType": Decimal("-0"),
                "createdBy": None,
                "tags": Decimal("0E+3"),
            },
        },
    ),
    Case(
        "chain truthy look-alikes",
        ALL_STEPS,
        {
            "version": 1,
            "updatedAt": "0",
            "profileData": {
                "characterName": "0",
                "characterType": "false",
                "createdBy": "",
                "tags": {},
                "level": Decimal("0.1"),
            },
        },
    ),
]
"""Whole-chain profiles no deviation concerns at any step."""

STEP_CASES = _step_cases()
ALL_CASES = STEP_CASES + CHAIN_CASES


# --- running both ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seed_outcomes() -> dict[str, Any]:
    """Every case through the seed's code, in one Node process."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(
            "`node` is not on PATH. This test runs the seed's TypeScript migrations in Node.js "
            "to prove the chain computes what they compute; Node.js 18 or later is required on "
            "every machine that runs the tests.",
            pytrace=False,
        )
    request = {
        "runStartedAt": RUN_STARTED,
        "cases": [
            {"id": case.id, "steps": list(case.steps), "profile": as_json(case.profile)}
            for case in ALL_CASES
        ],
    }
    completed = subprocess.run(
        [node, str(SEED_MIGRATIONS_JS)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_SECONDS,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(
            f"node {SEED_MIGRATIONS_JS} exited {completed.returncode}:\n{completed.stderr}",
            pytrace=False,
        )
    return {case_id: _seed_outcome(raw) for case_id, raw in json.loads(completed.stdout).items()}


def _seed_outcome(raw: dict[str, Any]) -> Any:
    if "result" in raw:
        return raw["result"]
    # Only reading a field of an undefined or null profileData may throw in the seed's code.
    assert raw["error"].startswith("TypeError: "), raw["error"]
    return REFUSED


def chain_outcome(case: Case) -> Any:
    target = int(case.steps[-1].split("->")[1])
    try:
        with run_clock(RUN_STARTED):
            result = apply_migrations(case.profile, migrations, target_version=target)
    except StepFailedError as exc:
        assert isinstance(exc.__cause__, InvalidProfileError), exc
        return REFUSED
    return as_json(result)


def expected_outcome(case: Case, seed: Any) -> Any:
    deviation = deviation_for(case)
    if deviation is None or seed is REFUSED:
        return seed
    return deviation.expected(as_json(case.profile), seed)


@pytest.mark.parametrize("case", ALL_CASES, ids=[case.id for case in ALL_CASES])
def test_the_chain_computes_what_the_seed_computes(
    case: Case, seed_outcomes: dict[str, Any]
) -> None:
    # Given
    seed = seed_outcomes[case.id]

    # When
    chain = chain_outcome(case)

    # Then: equal to the seed's result, or to it as one documented deviation changes it
    expected = expected_outcome(case, seed)
    assert chain == expected
    assert canonical(chain) == canonical(expected)


@pytest.mark.parametrize("deviation", DEVIATIONS, ids=[d.name for d in DEVIATIONS])
def test_every_documented_deviation_changes_some_case(
    deviation: Deviation, seed_outcomes: dict[str, Any]
) -> None:
    # When
    changed = [
        case.id
        for case in STEP_CASES
        if deviation_for(case) is deviation
        and canonical(chain_outcome(case)) != canonical(seed_outcomes[case.id])
    ]

    # Then: a deviation no case needs is not a documented difference but a stale one
    assert changed


def test_the_step_cases_cover_every_step_and_value(seed_outcomes: dict[str, Any]) -> None:
    # Then: the seed answered every case, and each step got every JSON-expressible value
    assert set(seed_outcomes) == {case.id for case in ALL_CASES}
    expressible_values = [
        n for n, v in [*JS_FALSY, *JS_TRUTHY_LOOK_ALIKES] if v is ABSENT or expressible({"v": v})
    ]
    for field in ("1->2 characterType", "3->4 tags", "4->5 updatedAt", "4->5 lastAccessedAt"):
        covered = {
            case.id.split("=", 1)[1] for case in STEP_CASES if case.id.startswith(field + "=")
        }
        assert covered == set(expressible_values), field
