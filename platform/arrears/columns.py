"""Column types shared by every model: ids, money, UTC timestamps, string enums, ``created_at``.

A foundation module: it imports nothing of the platform, so the tenancy mixins
(``tenancy.models``) and every domain's models can use it."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Enum, Integer, Numeric, TypeDecorator
from sqlalchemy.orm import Mapped, mapped_column

# BIGINT on PostgreSQL, INTEGER on SQLite (where only INTEGER PRIMARY KEY is the rowid alias).
BigId = BigInteger().with_variant(Integer(), "sqlite")
# Money: NUMERIC(18,2) in the database, Decimal in Python. Never float.
Money = Numeric(18, 2, asdecimal=True)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC timestamps on every engine: TIMESTAMPTZ on PostgreSQL; on SQLite, which
    has no zone, values are stored as naive UTC and read back as aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise ValueError("naive datetime given for a UTC timestamp column")
            value = value.astimezone(dt.UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class CreatedAtMixin:
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


def enum_type(e: type[enum.Enum], name: str) -> Enum:
    """A string enum stored as its values (VARCHAR(32) with a CHECK-free non-native enum)."""
    return Enum(e, name=name, native_enum=False, length=32, values_callable=lambda x: [m.value for m in x])


__all__ = [
    "BigId",
    "CreatedAtMixin",
    "Decimal",
    "Money",
    "UTCDateTime",
    "enum_type",
    "utcnow",
]
