"""Query parameters read into their types, with bounds: one reader of each kind for every API and
console page.

Each reader takes the parameter's name, returns ``None`` when it is absent or empty (or the
``default``), and refuses a value it cannot take with ``ValidationFailed`` naming the parameter and
the reason (422 on the APIs, the message on the pages): never a value the database cannot hold,
never a 500.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import request
from flask_babel import gettext as _

from arrears.errors import ValidationFailed
from arrears.web.guards import MAX_ID

MAX_AMOUNT = Decimal("9999999999999999.99")  # NUMERIC(18, 2)
EARLIEST = dt.date(1900, 1, 1)
LATEST = dt.date(2200, 12, 31)


def _raw(name: str, args: Any) -> str | None:
    raw = (args if args is not None else request.args).get(name)
    if raw is None:
        return None
    raw = str(raw).strip()
    return raw or None


def integer(
    name: str, *, low: int = 0, high: int = MAX_ID, default: int | None = None, args: Any = None
) -> int | None:
    """A whole number between ``low`` and ``high``."""
    raw = _raw(name, args)
    if raw is None:
        return default
    if not raw.lstrip("+-").isdigit() or len(raw) > 20:
        raise ValidationFailed(_("%(name)s must be a whole number.", name=name), field=name)
    value = int(raw)
    if not low <= value <= high:
        raise ValidationFailed(
            _("%(name)s must be between %(low)d and %(high)d.", name=name, low=low, high=high), field=name
        )
    return value


def identifier(name: str, *, args: Any = None) -> int | None:
    """The id of an object: 1 .. 2^63-1."""
    return integer(name, low=1, high=MAX_ID, args=args)


def limit(name: str = "limit", *, default: int, most: int, args: Any = None) -> int:
    """A page size of at least 1; more than ``most`` gives ``most``; ``default`` when absent."""
    value = integer(name, low=1, default=default, args=args)
    return default if value is None else min(value, most)


def amount(name: str, *, args: Any = None) -> Decimal | None:
    """An amount of money as a filter bound: a finite decimal that NUMERIC(18, 2) holds."""
    raw = _raw(name, args)
    if raw is None:
        return None
    try:
        value = Decimal(raw.replace(",", ""))
    except InvalidOperation:
        raise ValidationFailed(_("%(name)s must be an amount.", name=name), field=name) from None
    if not value.is_finite() or abs(value) > MAX_AMOUNT:
        raise ValidationFailed(_("%(name)s is out of range.", name=name), field=name)
    return value


def day(name: str, *, args: Any = None) -> dt.date | None:
    """A date as YYYY-MM-DD, between 1900 and 2200."""
    raw = _raw(name, args)
    if raw is None:
        return None
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(_("Give a date as YYYY-MM-DD."), field=name) from None
    if not EARLIEST <= value <= LATEST:
        raise ValidationFailed(_("%(name)s is out of range.", name=name), field=name)
    return value
