"""The business clock: the zone the platform works in (``BABEL_DEFAULT_TIMEZONE``, the one the pages
show times in) and an organisation's business date."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any, Protocol

from flask import current_app


class HasSettings(Protocol):
    settings: Any


def zone() -> zoneinfo.ZoneInfo:
    """Where the platform works: dates are days there, times are shown there."""
    return zoneinfo.ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def business_date(org: HasSettings) -> dt.date:
    """The owner's business date: its own setting if it fixes one, else today where it works."""
    fixed = (org.settings or {}).get("business_date")
    if fixed:
        return dt.date.fromisoformat(fixed)
    return dt.datetime.now(zone()).date()


def day_start(day: dt.date) -> dt.datetime:
    """The UTC instant at which ``day`` begins where the platform works."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=zone()).astimezone(dt.UTC)
