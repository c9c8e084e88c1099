"""Version-1 CICADA profiles of varied shapes, for the demo, tests and benchmarks.

Deterministic for a given seed. Shapes cover every branch of the CICADA chain: with and
without `version`, `characterName`, `characterType`, `createdBy`, `tags` (list, string
set, absent) and `updatedAt`, plus values whose DynamoDB types must survive exactly:
38-digit numbers, number and binary sets, binary, nulls, nested lists and maps.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from profile_migrations.codec import serialize_item

if TYPE_CHECKING:
    from collections.abc import Iterator

    from profile_migrations.store import RawItem

CHARACTER_TYPES = ("WARRIOR", "MAGE", "ROGUE", "")
CLASSES = ("Aria", "Borin", "Cyra", "Dain", "Elowen", "Fenn")


def sample_profile(index: int, rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any] = {
        "level": rng.randint(1, 60),
        "score": Decimal(f"{rng.randint(10**36, 10**37)}.5"),
        "stats": {"hp": rng.randint(10, 500), "mp": rng.randint(0, 300), "ratio": Decimal("0.125")},
        "inventory": [
            {"item": f"item-{rng.randint(1, 99)}", "qty": rng.randint(1, 5)}
            for _ in range(rng.randint(0, 4))
        ],
        "nickname": None if index % 7 == 0 else f"nick-{index}",
    }
    if index % 5 != 0:
        data["characterName"] = f"{rng.choice(CLASSES)}-{index}"
    if index % 4 == 0:
        data["characterType"] = rng.choice(CHARACTER_TYPES)
    if index % 3 != 0:
        data["createdBy"] = f"admin-{index % 11}"
    if index % 6 == 1:
        data["tags"] = ["new", f"cohort-{index % 9}"]
    elif index % 6 == 2:
        data["tags"] = {"veteran", "beta"}
    if index % 10 == 3:
        data["luckyNumbers"] = {Decimal(7), Decimal("13.25"), Decimal(42)}
        data["avatar"] = bytes(range(index % 50 + 1))
        data["badges"] = {b"\x01\x02", b"\xff"}
    profile: dict[str, Any] = {
        "userId": f"user-{index // 3:06d}",
        "profileId": f"profile-{index % 3}",
        "profileData": data,
        "createdAt": "2025-01-01T00:00:00.000Z",
    }
    if index % 2 == 0:
        profile["version"] = 1
    if index % 8 != 5:
        profile["updatedAt"] = f"2026-{index % 12 + 1:02d}-15T08:30:00.000Z"
    return profile


def sample_profiles(count: int, seed: int = 7) -> Iterator[RawItem]:
    """``count`` version-1 profiles in DynamoDB's wire format, keyed userId + profileId."""
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    for index in range(count):
        yield serialize_item(sample_profile(index, rng))


PROFILE_KEY_SCHEMA = (("userId", "S"), ("profileId", "S"))
