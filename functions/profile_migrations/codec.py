"""Lossless conversion between DynamoDB's wire format (AttributeValue maps) and Python.

Numbers become :class:`decimal.Decimal` built from the wire text, so all 38 significant
digits survive; binary values become ``bytes``; string, number and binary sets become
``set``/``frozenset``; NULL becomes ``None``. Serializing refuses what DynamoDB cannot
store instead of guessing: floats (binary floats lose decimal digits), empty sets, and
sets of mixed types.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Set
from decimal import Decimal
from typing import Any

from profile_migrations.errors import UnsupportedValueError

AttributeValue = dict[str, Any]
RawItem = dict[str, AttributeValue]
Profile = dict[str, Any]


def deserialize_value(value: AttributeValue) -> Any:
    ((tag, payload),) = value.items()
    if tag == "S":
        return payload
    if tag == "N":
        return Decimal(payload)
    if tag == "M":
        return {name: deserialize_value(inner) for name, inner in payload.items()}
    if tag == "L":
        return [deserialize_value(inner) for inner in payload]
    if tag == "BOOL":
        return payload
    if tag == "NULL":
        return None
    if tag == "B":
        return bytes(payload)
    if tag == "SS":
        return set(payload)
    if tag == "NS":
        return {Decimal(number) for number in payload}
    if tag == "BS":
        return {bytes(blob) for blob in payload}
    raise UnsupportedValueError(f"unknown DynamoDB attribute type {tag!r}")


def deserialize_item(item: RawItem) -> Profile:
    return {name: deserialize_value(value) for name, value in item.items()}


def _number_text(number: int | Decimal) -> str:
    if isinstance(number, Decimal) and not number.is_finite():
        raise UnsupportedValueError(f"DynamoDB cannot store the number {number}")
    return str(number)


def _serialize_set(values: Set[Any]) -> AttributeValue:
    if not values:
        raise UnsupportedValueError("DynamoDB cannot store an empty set; remove the attribute")
    if all(isinstance(v, str) for v in values):
        return {"SS": list(values)}
    if all(isinstance(v, (int, Decimal)) and not isinstance(v, bool) for v in values):
        return {"NS": [_number_text(v) for v in values]}
    if all(isinstance(v, (bytes, bytearray)) for v in values):
        return {"BS": [bytes(v) for v in values]}
    raise UnsupportedValueError("a set must hold only strings, only numbers or only bytes")


def serialize_value(value: Any) -> AttributeValue:
    # Exact-type checks first: they cover what deserialize_value produces and cost a
    # fraction of isinstance chains on the per-profile hot path.
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is dict:
        return {"M": {str(name): serialize_value(inner) for name, inner in value.items()}}
    if kind is Decimal:
        return {"N": _number_text(value)}
    if kind is list:
        return {"L": [serialize_value(inner) for inner in value]}
    if kind is bool:
        return {"BOOL": value}
    if kind is int:
        return {"N": str(value)}
    return _serialize_other(value)


def _serialize_other(value: Any) -> AttributeValue:
    if isinstance(value, str):
        return {"S": str(value)}
    if isinstance(value, bool):
        return {"BOOL": bool(value)}
    if isinstance(value, (int, Decimal)):
        return {"N": _number_text(value)}
    if isinstance(value, Mapping):
        return {"M": {str(name): serialize_value(inner) for name, inner in value.items()}}
    if isinstance(value, (list, tuple)):
        return {"L": [serialize_value(inner) for inner in value]}
    if value is None:
        return {"NULL": True}
    if isinstance(value, (bytes, bytearray)):
        return {"B": bytes(value)}
    if isinstance(value, Set):
        return _serialize_set(value)
    if isinstance(value, float):
        raise UnsupportedValueError(
            "floats lose precision in DynamoDB; use decimal.Decimal for number attributes"
        )
    raise UnsupportedValueError(f"DynamoDB cannot store a value of type {type(value).__name__}")


def same_value(old: Any, new: Any) -> bool:
    """Equality that tells DynamoDB types apart (``True == 1`` in Python, not in DynamoDB)."""
    if old is new:
        return True
    if type(old) is not type(new):
        return _is_number(old) and _is_number(new) and old == new
    if type(old) is dict:
        return old.keys() == new.keys() and all(same_value(old[name], new[name]) for name in old)
    if type(old) is list:
        return len(old) == len(new) and all(same_value(a, b) for a, b in zip(old, new, strict=True))
    return bool(old == new)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, Decimal)) and not isinstance(value, bool)


def serialize_changed(new: Any, old: Any, old_wire: AttributeValue) -> AttributeValue:
    """Serialize ``new``, reusing the stored wire form of each map member that did not
    change: a step usually rewrites a few fields of a large map, and re-serializing the
    rest was most of the worker's per-profile CPU."""
    if type(new) is dict and type(old) is dict and "M" in old_wire:
        stored = old_wire["M"]
        return {
            "M": {
                str(name): stored[name]
                if name in old and name in stored and same_value(old[name], value)
                else serialize_value(value)
                for name, value in new.items()
            }
        }
    return serialize_value(new)


def serialize_item(profile: Mapping[str, Any]) -> RawItem:
    return {name: serialize_value(value) for name, value in profile.items()}


def to_json_compatible(value: Any) -> Any:
    """Render a deserialized value for JSON output (keys in reports and results)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {name: to_json_compatible(inner) for name, inner in value.items()}
    if isinstance(value, (list, tuple, Set)):
        return [to_json_compatible(inner) for inner in value]
    return value


def encode_key(key: RawItem) -> dict[str, dict[str, str]]:
    """A scan cursor as JSON: binary key values become base64 text."""
    encoded: dict[str, dict[str, str]] = {}
    for name, value in key.items():
        ((tag, payload),) = value.items()
        if tag == "B":
            payload = base64.b64encode(payload).decode("ascii")
        encoded[name] = {tag: payload}
    return encoded


def decode_key(encoded: Mapping[str, Mapping[str, str]]) -> RawItem:
    decoded: RawItem = {}
    for name, value in encoded.items():
        ((tag, payload),) = value.items()
        decoded[name] = {tag: base64.b64decode(payload) if tag == "B" else payload}
    return decoded
