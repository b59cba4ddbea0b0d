"""Scoped loaders of the orgs domain (wall 1): users, roles, teams, partnerships, approvals, job
records, and the platform operator's view of a tenant. 404 for missing and foreign alike."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from arrears.auth.models import Role, User
from arrears.errors import NotFound
from arrears.extensions import db
from arrears.kernel.jobs.models import JobRecord
from arrears.orgs import approvals
from arrears.orgs.models import Approval, Partnership, Team
from arrears.tenancy.context import cross_tenant
from arrears.tenancy.loaders import coerce_id, one
from arrears.tenancy.models import Organisation


def get_user_for(actor: User, user_id: Any) -> User:
    return one(User, actor, user_id, User.org_id == actor.org_id)


def get_role_for(actor: User, role_id: Any) -> Role:
    return one(Role, actor, role_id, Role.org_id == actor.org_id)


def get_team_for(actor: User, team_id: Any) -> Team:
    return one(Team, actor, team_id, Team.org_id == actor.org_id)


def get_partnership_for(actor: User, partnership_id: Any) -> Partnership:
    """Owners open their partnerships, agencies theirs; nobody else's."""
    return one(
        Partnership,
        actor,
        partnership_id,
        (Partnership.org_id == actor.org_id) | (Partnership.agency_org_id == actor.org_id),
    )


def get_approval_for(actor: User, approval_id: Any) -> Approval:
    """A request the actor's organisation decides or asked for; an application's only with its case in
    the actor's case scope (``approvals.scope``)."""
    return one(
        Approval,
        actor,
        approval_id,
        (Approval.org_id == actor.org_id) | (Approval.requester_org_id == actor.org_id),
        approvals.scope(actor),
    )


def get_organisation_for_operator(actor: User, org_id: Any) -> Organisation:
    """The platform operator's view of a tenant (organisations are the platform's directory)."""
    if not actor.can("platform.orgs.manage"):
        raise NotFound(_("Not found."))
    with cross_tenant("platform operator opens a tenant"):
        org = db.session.get(Organisation, coerce_id(org_id))
    if org is None:
        raise NotFound(_("Not found."))
    return org


def get_job_for(actor: User, job_id: Any) -> JobRecord:
    if not isinstance(job_id, str) or len(job_id) != 36:
        raise NotFound(_("Not found."))
    return one(JobRecord, actor, job_id, JobRecord.org_id == actor.org_id, id_is_text=True)
