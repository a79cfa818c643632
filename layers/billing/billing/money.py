"""Exact credit amounts: Decimal with at most 6 fractional digits, never a binary float."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

SCALE = Decimal("0.000001")
ZERO = Decimal("0")
MAX_AMOUNT = Decimal("1000000000000")  # 1e12 credits: far above any real balance, below DynamoDB's limits


def to_decimal(value: object) -> Decimal:
    """Parse an amount given as str/int/Decimal (floats are refused: they are not exact)."""
    if isinstance(value, bool) or isinstance(value, float):
        raise ValueError("amounts must be decimal strings or integers, not floats or booleans")
    try:
        amount = Decimal(str(value)) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"not a decimal amount: {value!r}") from exc
    if not amount.is_finite():
        raise ValueError(f"amount must be finite: {value!r}")
    if amount.as_tuple().exponent < -6 and amount != amount.quantize(SCALE):  # type: ignore[operator]
        raise ValueError(f"at most 6 fractional digits: {value!r}")
    if abs(amount) > MAX_AMOUNT:
        raise ValueError(f"amount out of range: {value!r}")
    return quantize(amount)


def quantize(amount: Decimal) -> Decimal:
    """Round to 6 fractional digits (banker's rounding) and drop a negative zero."""
    q = amount.quantize(SCALE, rounding=ROUND_HALF_EVEN)
    return q if q != 0 else ZERO


def fmt(amount: Decimal) -> str:
    """JSON string form: no exponent, no trailing zeros ("12.5", "0", "3")."""
    q = quantize(amount)
    if q == 0:
        return "0"
    text = format(q, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text
