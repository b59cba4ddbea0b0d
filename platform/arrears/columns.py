"""Column types and mixins shared by the models."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, Numeric, TypeDecorator, false, or_
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.sql.elements import ColumnElement

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


# Every model that belongs to a tenant registers here; wall 2 and the RLS test walk this list.
TENANT_MODELS: list[type[TenantScoped]] = []


class TenantScoped:
    """A row owned by one organisation (the tenant), in ``org_id``.

    Subclasses may widen visibility (a partnership is seen by both parties) by overriding
    ``__tenant_filter__`` (the ORM criterion, wall 2), ``__rls_using__`` (the SQL of the RLS policy,
    wall 3, written against ``arrears_tenant()``) and ``tenant_ids`` (which tenants may write it).
    """

    __rls_using__: ClassVar[str] = "org_id = arrears_tenant()"
    # False where a unique or composite index already leads with org_id: an index of org_id alone is
    # then only a cost on every insert, and a trap for the planner on a table that grew inside the
    # running transaction (no statistics yet): it scans the whole tenant instead of probing the
    # composite index (measured in the case import: decision 0006).
    __org_id_index__: ClassVar[bool] = True
    # False where org_id is pinned by a composite foreign key (org_id, parent_id) -> parent (org_id,
    # id): the parent's own org_id carries the key to organisations, and the pair guarantees that a
    # row and its parent belong to the same tenant, which two single-column keys would not.
    __org_id_fk__: ClassVar[bool] = True

    @declared_attr
    def org_id(cls) -> Mapped[int]:
        keys = [ForeignKey("organisations.id")] if cls.__org_id_fk__ else []
        return mapped_column(BigId, *keys, nullable=False, index=cls.__org_id_index__)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__tablename__" in cls.__dict__ and cls not in TENANT_MODELS:
            TENANT_MODELS.append(cls)

    @classmethod
    def __tenant_filter__(cls, org_id: int | None) -> ColumnElement[bool]:
        if org_id is None:
            return false()
        return cls.org_id == org_id

    def tenant_ids(self) -> set[int]:
        return {self.org_id} if self.org_id is not None else set()

    def stamp_tenant(self, org_id: int) -> None:
        if self.org_id is None:
            self.org_id = org_id


class SharedTenantScoped(TenantScoped):
    """A row that involves two organisations: the owning tenant (``org_id``) and a second party
    named by ``__party_column__`` (the agency of a partnership, the requester of an approval, later
    the agency of a placement). Both parties see it and may write it; nobody else."""

    __party_column__: ClassVar[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        party = cls.__dict__.get("__party_column__")
        if party:
            cls.__rls_using__ = f"org_id = arrears_tenant() OR {party} = arrears_tenant()"

    @classmethod
    def __tenant_filter__(cls, org_id: int | None) -> ColumnElement[bool]:
        if org_id is None:
            return false()
        return or_(cls.org_id == org_id, getattr(cls, cls.__party_column__) == org_id)

    def tenant_ids(self) -> set[int]:
        return {i for i in (self.org_id, getattr(self, self.__party_column__)) if i is not None}


__all__ = [
    "TENANT_MODELS",
    "BigId",
    "CreatedAtMixin",
    "Decimal",
    "Money",
    "TenantScoped",
    "UTCDateTime",
    "utcnow",
]
