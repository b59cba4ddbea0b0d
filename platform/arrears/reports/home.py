"""Figures for the console home pages (read-only; the tenant walls scope every count)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from arrears.auth.models import User
from arrears.extensions import db
from arrears.orgs.models import Approval, ApprovalStatus, Partnership, PartnershipStatus, Team
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import Organisation


def _count(model: type, *where: Any) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def organisation_home(actor: User) -> dict[str, Any]:
    partnerships = list(db.session.scalars(select(Partnership).order_by(Partnership.created_at.desc())))
    return {
        "partnerships": partnerships,
        "active_partnerships": sum(1 for p in partnerships if p.status == PartnershipStatus.ACTIVE),
        "to_decide": _count(
            Approval, Approval.org_id == actor.org_id, Approval.status == ApprovalStatus.PENDING
        ),
        "asked": _count(
            Approval, Approval.requester_org_id == actor.org_id, Approval.status == ApprovalStatus.PENDING
        ),
        "users": _count(User),
        "teams": list(db.session.scalars(select(Team).order_by(Team.name))),
    }


def platform_home() -> dict[str, Any]:
    with cross_tenant("platform home counts tenants and users"):
        by_kind = dict(
            db.session.execute(select(Organisation.kind, func.count()).group_by(Organisation.kind)).all()
        )
        return {
            "by_kind": {k.value: v for k, v in by_kind.items()},
            "users": _count(User),
            "partnerships": _count(Partnership),
        }
