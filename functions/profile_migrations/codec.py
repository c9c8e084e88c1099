"""Lossless conversion between DynamoDB's wire format (AttributeValue maps) and Python.

Numbers become :class:`decimal.Decimal` built from the wire text, so all 38 significant
digits survive; binary values become ``bytes``; string, number and binary sets become
``set``/``frozenset``; NULL becomes ``None``. Reading refuses anything that is not a
well-formed attribute value with :class:`MalformedValueError`, never another exception.
Serializing refuses what DynamoDB cannot store instead of guessing: floats (binary floats
lose decimal digits), numbers DynamoDB would round or reject (profile_migrations.numbers),
empty sets and sets of mixed types; the error names the attribute's path.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator, Mapping, Set
from decimal import Decimal, InvalidOperation
from typing import Any

from profile_migrations.errors import MalformedValueError, UnsupportedValueError
from profile_migrations.numbers import MAX_SIGNIFICANT_DIGITS, unstorable_reason

AttributeValue = dict[str, Any]
RawItem = dict[str, AttributeValue]
Profile = dict[str, Any]

_BINARY = (bytes, bytearray)
_NAN = Decimal("NaN")


def _wire_number(text: Any) -> Decimal:
    if type(text) is str:
        try:
            number = Decimal(text)
        except InvalidOperation:
            pass
        else:
            if number.is_finite():
                return number
    raise MalformedValueError(f"the number text {_shape(text)} is not a number")


def deserialize_value(value: AttributeValue) -> Any:
    """One attribute value as Python; raises :class:`MalformedValueError` for anything that is
    not exactly one known type tag with a payload of that tag's type."""
    # The checks ride on what the decoding does anyway (exact-type dispatch, a try around
    # the unpacking, which costs nothing when it succeeds): this runs for every value read.
    try:
        ((tag, payload),) = value.items()
    except (AttributeError, ValueError):
        raise MalformedValueError(f"{_shape(value)} is not a DynamoDB attribute value") from None
    kind = type(payload)
    if kind is str:
        if tag == "S":
            return payload
        if tag == "N":
            try:
                number = Decimal(payload)
            except InvalidOperation:
                number = _NAN
            if number.is_finite():
                return number
    elif kind is dict and tag == "M":
        return {name: deserialize_value(inner) for name, inner in payload.items()}
    elif kind is list and tag == "L":
        return [deserialize_value(inner) for inner in payload]
    else:
        return _rarer_value(value, tag, payload)
    raise MalformedValueError(f"{_shape(value)} is not a DynamoDB attribute value")


def _rarer_value(value: AttributeValue, tag: str, payload: Any) -> Any:
    """BOOL, NULL, B and the sets: kept off the path of strings, numbers, maps and lists."""
    kind = type(payload)
    if kind is bool:
        if tag == "BOOL":
            return payload
        if tag == "NULL" and payload:
            return None
    elif tag == "B" and kind in _BINARY:
        return bytes(payload)
    elif kind is list and payload:
        if tag == "SS" and all(type(text) is str for text in payload):
            return set(payload)
        if tag == "NS":
            return {_wire_number(number) for number in payload}
        if tag == "BS" and all(type(blob) in _BINARY for blob in payload):
            return {bytes(blob) for blob in payload}
    raise MalformedValueError(f"{_shape(value)} is not a DynamoDB attribute value")


def _shape(value: Any) -> str:
    """What a malformed value looks like, without its contents (logs never hold profile data)."""
    if type(value) is dict:
        tags = ", ".join(repr(str(tag))[:20] for tag in list(value)[:3])
        return f"a map with {len(value)} entries ({tags})" if value else "an empty map {}"
    if type(value) is list:
        return f"a list of {len(value)}"
    return f"a {type(value).__name__}"


def _wire_members(value: Any) -> Iterator[tuple[str, Any]]:
    """The members of a wire map or list, each with its path step (``.name``, ``[i]``)."""
    if type(value) is dict and len(value) == 1:
        ((tag, payload),) = value.items()
        if tag == "M" and type(payload) is dict:
            yield from ((f".{name}", inner) for name, inner in payload.items())
        elif tag == "L" and type(payload) is list:
            yield from ((f"[{index}]", inner) for index, inner in enumerate(payload))


def _python_members(value: Any) -> Iterator[tuple[str, Any]]:
    """The members of a Python mapping or sequence, each with its path step."""
    if isinstance(value, Mapping):
        yield from ((f".{name}", inner) for name, inner in value.items())
    elif isinstance(value, (list, tuple)):
        yield from ((f"[{index}]", inner) for index, inner in enumerate(value))


def _first_failing_path(
    value: Any,
    path: str,
    members: Callable[[Any], Iterator[tuple[str, Any]]],
    convert: Callable[[Any], Any],
    error: type[Exception],
) -> str:
    """The path of the deepest value under the first member ``convert`` refuses (error
    reporting only: the hot path never walks a value twice)."""
    for step, inner in members(value):
        try:
            convert(inner)
        except error:
            return _first_failing_path(inner, path + step, members, convert, error)
    return path


def deserialize_item(item: RawItem) -> Profile:
    """A whole item as Python; :class:`MalformedValueError` names the first malformed
    attribute's path (``profileData.prefs``)."""
    try:
        return {name: deserialize_value(value) for name, value in item.items()}
    except (MalformedValueError, AttributeError):
        pass
    if type(item) is not dict:
        raise MalformedValueError(f"the item is {_shape(item)}, not a map of attributes")
    for name, value in item.items():
        try:
            deserialize_value(value)
        except MalformedValueError as exc:
            where = _first_failing_path(
                value, name, _wire_members, deserialize_value, MalformedValueError
            )
            raise MalformedValueError(f"attribute {where!r}: {exc}") from exc
    raise AssertionError("deserialize_item failed on an item whose every attribute reads")


def _number_text(number: int | Decimal) -> str:
    text = str(number)
    # Plain notation in at most 38 characters means at most 38 digits and a magnitude far
    # inside DynamoDB's range: the common case, checked without building a digit tuple.
    if len(text) <= MAX_SIGNIFICANT_DIGITS and "E" not in text and text[-1].isdigit():
        return text
    reason = unstorable_reason(number if type(number) is Decimal else Decimal(number))
    if reason is not None:
        raise UnsupportedValueError(reason)
    return text


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
        return {"N": _number_text(value)}
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
            f"{value!r} is a float, which loses precision in DynamoDB; use decimal.Decimal "
            "for number attributes"
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


def serialize_attribute(
    name: str, value: Any, old: Any = None, old_wire: AttributeValue | None = None
) -> AttributeValue:
    """One top-level attribute's wire value (reusing ``old_wire``'s unchanged members when
    given); :class:`UnsupportedValueError` names the path of the value DynamoDB cannot
    store (``attribute 'profileData.balance': ...``)."""
    try:
        if old_wire is None:
            return serialize_value(value)
        return serialize_changed(value, old, old_wire)
    except UnsupportedValueError as exc:
        where = _first_failing_path(
            value, name, _python_members, serialize_value, UnsupportedValueError
        )
        raise UnsupportedValueError(f"attribute {where!r}: {exc}") from exc


def serialize_item(profile: Mapping[str, Any]) -> RawItem:
    """A whole profile in wire format; :class:`UnsupportedValueError` names the path of the
    first value DynamoDB cannot store."""
    try:
        return {name: serialize_value(value) for name, value in profile.items()}
    except UnsupportedValueError:
        pass
    for name, value in profile.items():
        serialize_attribute(name, value)
    raise AssertionError("serialize_item failed on a profile whose every attribute serializes")


def key_value_json(value: Any) -> Any:
    """A key attribute's value for JSON output, lossless for every JSON reader: a string as
    it is, a number as its text exactly as DynamoDB returned it (a JSON number would lose
    digits past 2**53 in JavaScript and jq), binary as base64. A value that is not a key
    type (only in a malformed answer) is rendered as its JSON text."""
    if type(value) is dict and len(value) == 1:
        ((tag, payload),) = value.items()
        if tag in ("S", "N") and type(payload) is str:
            return payload
        if tag == "B" and type(payload) in _BINARY:
            return base64.b64encode(payload).decode("ascii")
    return json.dumps(value, default=repr, sort_keys=True)


def encode_key(key: RawItem) -> dict[str, dict[str, str]]:
    """A scan cursor as JSON: binary key values become base64 text."""
    return {name: encode_wire(value) for name, value in key.items()}


def decode_key(encoded: Mapping[str, Mapping[str, str]]) -> RawItem:
    return {name: decode_wire(value) for name, value in encoded.items()}


def encode_wire(value: AttributeValue) -> Any:
    """A wire value as JSON, exactly: binary (``B``, ``BS``, nested anywhere) becomes
    base64 text; everything else, number text included, is kept as DynamoDB gave it."""
    ((tag, payload),) = value.items()
    if tag == "B":
        return {tag: base64.b64encode(payload).decode("ascii")}
    if tag == "BS":
        return {tag: [base64.b64encode(element).decode("ascii") for element in payload]}
    if tag == "M":
        return {tag: {name: encode_wire(element) for name, element in payload.items()}}
    if tag == "L":
        return {tag: [encode_wire(element) for element in payload]}
    return {tag: payload}


def decode_wire(value: Mapping[str, Any]) -> AttributeValue:
    """The wire value :func:`encode_wire` encoded (or the journal's serializer, whose base64
    uses the URL-safe alphabet: both are read)."""
    ((tag, payload),) = value.items()
    if tag == "B":
        return {tag: _base64(payload)}
    if tag == "BS":
        return {tag: [_base64(element) for element in payload]}
    if tag == "M":
        return {tag: {name: decode_wire(element) for name, element in payload.items()}}
    if tag == "L":
        return {tag: [decode_wire(element) for element in payload]}
    return {tag: payload}


def _base64(text: str) -> bytes:
    return base64.b64decode(text, altchars=b"-_")
