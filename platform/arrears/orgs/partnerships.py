"""Partnerships: an asset owner works with an agency and grants it rights (M-R1, M-R4)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from flask_babel import gettext as _
from sqlalchemy import select

from arrears.auth.models import User
from arrears.auth.permissions import GRANTABLE
from arrears.auth.principal import require
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.transaction import transaction
from arrears.orgs.models import Partnership, PartnershipStatus
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import Organisation, OrgKind, OrgStatus


def _grants(grants: Iterable[str]) -> list[str]:
    wanted = sorted({g for g in grants if g})
    unknown = [g for g in wanted if g not in GRANTABLE]
    if unknown:
        raise ValidationFailed(_("Unknown right: %(names)s", names=", ".join(unknown)), field="grants")
    return wanted


def find_agency(slug: str) -> Organisation:
    """Agencies are looked up by their public short name when an owner links one."""
    with cross_tenant("asset owner looks up an agency by its short name to partner with it"):
        agency = db.session.scalar(
            select(Organisation).where(
                Organisation.slug == (slug or "").strip().lower(),
                Organisation.kind == OrgKind.AGENCY,
                Organisation.status == OrgStatus.ACTIVE,
            )
        )
    if agency is None:
        raise NotFound(_("No active agency has this short name."), field="agency_slug")
    return agency


def create_partnership(
    actor: User,
    *,
    agency_slug: str,
    starts_on: dt.date,
    ends_on: dt.date | None,
    grants: Iterable[str],
    note: str = "",
) -> Partnership:
    require(actor, "partnerships.manage")
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise ValidationFailed(_("Only asset owners place cases with agencies."))
    if ends_on is not None and ends_on < starts_on:
        raise ValidationFailed(_("The end date is before the start date."), field="ends_on")
    agency = find_agency(agency_slug)
    with transaction():
        exists = db.session.scalar(select(Partnership.id).where(Partnership.agency_org_id == agency.id))
        if exists is not None:
            raise Conflict(_("You already work with this agency."), field="agency_slug")
        partnership = Partnership(
            org_id=actor.org_id,
            agency_org_id=agency.id,
            status=PartnershipStatus.ACTIVE,
            starts_on=starts_on,
            ends_on=ends_on,
            grants=_grants(grants),
            note=note or "",
        )
        db.session.add(partnership)
        db.session.flush()
        audit.record(
            "partnership.created",
            actor=actor,
            target=partnership,
            details={"agency": agency.slug, "grants": partnership.grants},
        )
    return partnership


def update_partnership(
    actor: User,
    partnership: Partnership,
    *,
    status: PartnershipStatus,
    ends_on: dt.date | None,
    grants: Iterable[str],
    note: str = "",
) -> Partnership:
    require(actor, "partnerships.manage")
    if partnership.org_id != actor.org_id:
        raise NotFound(_("Partnership not found."))
    if ends_on is not None and ends_on < partnership.starts_on:
        raise ValidationFailed(_("The end date is before the start date."), field="ends_on")
    with transaction():
        before = {
            "status": partnership.status.value,
            "grants": list(partnership.grants),
            "ends_on": str(partnership.ends_on or ""),
        }
        partnership.status = PartnershipStatus(status)
        partnership.ends_on = ends_on
        partnership.grants = _grants(grants)
        partnership.note = note or ""
        after = {
            "status": partnership.status.value,
            "grants": partnership.grants,
            "ends_on": str(partnership.ends_on or ""),
        }
        audit.record(
            "partnership.updated", actor=actor, target=partnership, details={"before": before, "after": after}
        )
    return partnership


def add_grant(partnership: Partnership, right: str) -> None:
    """Used by the approval handler when the owner approves an agency's request for a right."""
    partnership.grants = _grants([*partnership.grants, right])


def list_partnerships() -> list[Partnership]:
    return list(db.session.scalars(select(Partnership).order_by(Partnership.created_at.desc())))
