"""Amounts of money from people: Decimal with at most two places, never float."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _

from arrears.errors import ValidationFailed

LIMIT = Decimal("10000000000000000")  # NUMERIC(18, 2)


def parse_amount(value: Any, field: str, *, allow_zero: bool = False) -> Decimal:
    """``value`` (a string, int or Decimal; never a float) as an amount, or ValidationFailed naming
    ``field``: not a number, negative (or zero unless allowed), more than two decimals, too large."""
    if isinstance(value, (float, bool)):
        raise ValidationFailed(_("Give the amount as a decimal number."), field=field)
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise ValidationFailed(_("Not an amount: %(value)s", value=str(value)[:40]), field=field) from None
    if not amount.is_finite():
        raise ValidationFailed(_("Not an amount: %(value)s", value=str(value)[:40]), field=field)
    if amount < 0 or (amount == 0 and not allow_zero):
        raise ValidationFailed(_("The amount must be more than zero."), field=field)
    if amount.as_tuple().exponent < -2 and amount != amount.quantize(Decimal("0.01")):  # type: ignore[operator]
        raise ValidationFailed(_("An amount has at most two decimals."), field=field)
    if amount >= LIMIT:
        raise ValidationFailed(_("The amount is too large."), field=field)
    return amount.quantize(Decimal("0.01"))


def as_decimal(raw: Any) -> Decimal | None:
    """Text from a form, a file or a JSON number as a Decimal, for callers that say themselves what is
    wrong with it: thousands separators dropped, a float read by its shortest form; ``None`` for
    blank, not a number, or not finite."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, float):
        raw = repr(raw)
    text = str(raw).strip().replace(",", "")
    if not text:
        return None
    try:
        number = raw if isinstance(raw, Decimal) else Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def cents(value: Any) -> Decimal:
    """A stored amount to two places (``None`` is zero)."""
    return Decimal(value if value is not None else 0).quantize(Decimal("0.01"))


def format_amount(value: Decimal | None) -> str:
    """An amount as documents print it: ``1,234.50`` (``None`` is zero)."""
    return f"{(value if value is not None else Decimal('0')):,.2f}"
