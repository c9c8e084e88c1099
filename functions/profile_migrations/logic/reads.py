"""Reading one item from a store's answer, re-reading it when that answer cannot be trusted.

An answer can be malformed: DynamoDB Local returns an empty nested map as ``{}`` instead of
``{"M": {}}`` in a conflict's returned item, though a GetItem of the same item is right.
Every answer the run decodes goes through :func:`read_item`, so such a value costs one
consistent GetItem, never the run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from profile_migrations.codec import deserialize_item, deserialize_value
from profile_migrations.errors import MalformedValueError

if TYPE_CHECKING:
    from profile_migrations.logic.ports import ProfileStore
    from profile_migrations.store import RawItem

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reading:
    """What is known of one item after reading it.

    ``raw`` is the item as last read (None: it no longer exists); ``profile`` its decoded
    value (None: unreadable, ``problem`` says why); ``key`` its key, when readable."""

    raw: RawItem | None
    profile: dict[str, Any] | None
    key: RawItem | None
    problem: str | None = None


def readable_key(raw: Any, key_attributes: tuple[str, ...]) -> RawItem | None:
    """The item's key attributes in wire format, or None if one is missing or malformed."""
    if type(raw) is not dict:
        return None
    key: RawItem = {}
    for name in key_attributes:
        value = raw.get(name)
        if value is None:
            return None
        try:
            deserialize_value(value)
        except MalformedValueError:
            return None
        key[name] = value
    return key


def read_item(
    store: ProfileStore,
    answered: RawItem | None,
    key_attributes: tuple[str, ...],
    key: RawItem | None = None,
) -> Reading:
    """Decode ``answered``; when it is malformed, missing (a conflict's answer without the
    item) or holds another key than ``key`` (the key a write was sent under), re-read the
    item with a consistent GetItem and decode that. Never raises for bad data: an item
    still unreadable comes back with ``profile`` None and the reason in ``problem``.
    Raises :class:`StoreUnavailableError` when the re-read meets an outage."""
    if answered is not None and (key is None or _holds(answered, key)):
        try:
            return Reading(
                answered, deserialize_item(answered), key or _key(answered, key_attributes)
            )
        except MalformedValueError as exc:
            problem = str(exc)
    else:
        problem = "the store's answer did not hold the item"
    key = key or readable_key(answered, key_attributes)
    if key is None:
        return Reading(
            answered, None, None, f"DynamoDB returned an item with no readable key: {problem}"
        )
    logger.info("item re-read", extra={"reason": problem})
    current = store.get_item(key)
    if current is None:
        return Reading(None, None, key)
    try:
        return Reading(current, deserialize_item(current), key)
    except MalformedValueError as exc:
        return Reading(
            current,
            None,
            key,
            f"DynamoDB returned a value that cannot be read, also on a consistent re-read: {exc}",
        )


def _holds(raw: RawItem, key: RawItem) -> bool:
    return all(raw.get(name) == value for name, value in key.items())


def _key(raw: RawItem, key_attributes: tuple[str, ...]) -> RawItem:
    return {name: raw[name] for name in key_attributes if name in raw}
