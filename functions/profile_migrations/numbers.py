"""DynamoDB's number type: its limits, and the decimal context every step runs in.

AWS, "Supported data types and naming rules in Amazon DynamoDB" (Number): up to 38 digits
of precision; positive range 1E-130 to 9.9999999999999999999999999999999999999E+125,
negative range -9.9999999999999999999999999999999999999E+125 to -1E-130; leading and
trailing zeros are trimmed. A number outside these limits is rejected by DynamoDB, and a
number rounded to fit them is silently a different number, so neither may reach a write.
"""

from __future__ import annotations

import decimal
from decimal import Context, Decimal

MAX_SIGNIFICANT_DIGITS = 38
MIN_ADJUSTED_EXPONENT = -130
MAX_ADJUSTED_EXPONENT = 125

# Python's default context keeps 28 digits and rounds silently; threads start from it
# whatever a registry sets at import. Every trap is on: a result DynamoDB cannot store
# exactly raises in the step that computed it, so that profile fails and nothing is written.
DYNAMODB_NUMBER_CONTEXT = Context(
    prec=MAX_SIGNIFICANT_DIGITS,
    Emin=MIN_ADJUSTED_EXPONENT,
    Emax=MAX_ADJUSTED_EXPONENT,
    traps=[
        decimal.Clamped,
        decimal.DivisionByZero,
        decimal.Inexact,
        decimal.InvalidOperation,
        decimal.Overflow,
        decimal.Rounded,
        decimal.Subnormal,
        decimal.Underflow,
    ],
)


def unstorable_reason(number: Decimal) -> str | None:
    """Why DynamoDB cannot store ``number`` exactly, or None when it can."""
    if not number.is_finite():
        return f"DynamoDB cannot store the number {number}"
    if not number:
        return None
    digits = number.as_tuple().digits
    significant = len(digits)
    if significant > MAX_SIGNIFICANT_DIGITS:
        # Trailing zeros are trimmed by DynamoDB, so they do not count against the limit.
        trailing = len(digits) - len(bytes(digits).rstrip(b"\x00"))
        significant -= trailing
        if significant > MAX_SIGNIFICANT_DIGITS:
            return (
                f"the number has {significant} significant digits; DynamoDB stores at most "
                f"{MAX_SIGNIFICANT_DIGITS}, so it would be rounded"
            )
    adjusted = number.adjusted()
    if not MIN_ADJUSTED_EXPONENT <= adjusted <= MAX_ADJUSTED_EXPONENT:
        return (
            f"the number's magnitude (about 1E{adjusted:+d}) is outside DynamoDB's range, "
            "1E-130 to 9.99...E+125"
        )
    return None
