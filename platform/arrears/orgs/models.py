"""Organisations (tenants), partnerships between asset owners and agencies, agency teams."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Date, Enum, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from arrears.columns import BigId, CreatedAtMixin, SharedTenantScoped, TenantScoped
from arrears.extensions import db

if TYPE_CHECKING:
    from arrears.auth.models import User


class OrgKind(enum.StrEnum):
    PLATFORM = "platform"
    ASSET_OWNER = "asset_owner"
    AGENCY = "agency"


class OrgStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


def _enum(e: type[enum.Enum], name: str) -> Enum:
    return Enum(e, name=name, native_enum=False, length=32, values_callable=lambda x: [m.value for m in x])


class Organisation(CreatedAtMixin, db.Model):  # type: ignore[name-defined]
    """A tenant. The directory of organisations is platform data (names and kinds, no business
    data), so it is not itself tenant-scoped; loaders in ``tenancy.loaders`` decide who may open
    which organisation's pages."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[OrgKind] = mapped_column(_enum(OrgKind, "org_kind"), nullable=False)
    status: Mapped[OrgStatus] = mapped_column(
        _enum(OrgStatus, "org_status"), default=OrgStatus.ACTIVE, nullable=False
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)

    @property
    def is_active(self) -> bool:
        return self.status == OrgStatus.ACTIVE

    def __repr__(self) -> str:
        return f"<Organisation {self.slug} {self.kind}>"


class PartnershipStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"
    ENDED = "ended"


class Partnership(CreatedAtMixin, SharedTenantScoped, db.Model):  # type: ignore[name-defined]
    """An asset owner works with an agency. Visible to both parties. ``grants`` are the rights the
    owner gives the agency over the cases it places there (see ``auth.permissions.GRANTABLE``)."""

    __tablename__ = "partnerships"
    __table_args__ = (UniqueConstraint("org_id", "agency_org_id"),)
    __party_column__ = "agency_org_id"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # org_id (from TenantScoped) is the asset owner.
    agency_org_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("organisations.id"), nullable=False, index=True
    )
    status: Mapped[PartnershipStatus] = mapped_column(
        _enum(PartnershipStatus, "partnership_status"), default=PartnershipStatus.ACTIVE, nullable=False
    )
    starts_on: Mapped[dt.date] = mapped_column(Date, nullable=False)
    ends_on: Mapped[dt.date | None] = mapped_column(Date)
    grants: Mapped[list[str]] = mapped_column(JSON, default=list, nullable=False)
    note: Mapped[str] = mapped_column(String(500), default="", nullable=False)

    owner: Mapped[Organisation] = relationship(foreign_keys="Partnership.org_id", lazy="joined")
    agency: Mapped[Organisation] = relationship(foreign_keys=[agency_org_id], lazy="joined")

    @property
    def owner_org_id(self) -> int:
        return self.org_id

    def is_in_force(self, on: dt.date) -> bool:
        return (
            self.status == PartnershipStatus.ACTIVE
            and self.starts_on <= on
            and (self.ends_on is None or on <= self.ends_on)
        )


class Team(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """A group of collectors inside an agency (or an owner's in-house team), with a lead."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    lead_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", use_alter=True))
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"))

    lead: Mapped[User | None] = relationship(foreign_keys=[lead_user_id], post_update=True)
    members: Mapped[list[User]] = relationship(
        back_populates="team", foreign_keys="User.team_id", order_by="User.name"
    )
