"""What the walls are made of: the tenant (``Organisation``, with its kind) and the mixins that
make a model tenant-owned (``TenantScoped``) or seen by two parties (``SharedTenantScoped``).

Every tenant-owned model registers in ``TENANT_MODELS``: wall 2 (``tenancy.criteria``) filters them,
wall 3 (``tenancy.rls``) and its test walk the list."""

from __future__ import annotations

import enum
from typing import Any, ClassVar

from sqlalchemy import JSON, ForeignKey, String, false, or_
from sqlalchemy.orm import Mapped, declared_attr, mapped_column
from sqlalchemy.sql.elements import ColumnElement

from arrears.columns import BigId, CreatedAtMixin, enum_type
from arrears.extensions import db

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


class OrgKind(enum.StrEnum):
    PLATFORM = "platform"
    ASSET_OWNER = "asset_owner"
    AGENCY = "agency"


class OrgStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Organisation(CreatedAtMixin, db.Model):  # type: ignore[name-defined]
    """A tenant. The directory of organisations is platform data (names and kinds, no business
    data), so it is not itself tenant-scoped; loaders in ``tenancy.loaders`` decide who may open
    which organisation's pages."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[OrgKind] = mapped_column(enum_type(OrgKind, "org_kind"), nullable=False)
    status: Mapped[OrgStatus] = mapped_column(
        enum_type(OrgStatus, "org_status"), default=OrgStatus.ACTIVE, nullable=False
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)

    @property
    def is_active(self) -> bool:
        return self.status == OrgStatus.ACTIVE

    def __repr__(self) -> str:
        return f"<Organisation {self.slug} {self.kind}>"
