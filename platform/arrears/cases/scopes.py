"""Wall 1's finer rule for cases: which of the cases its organisation holds a person may see.

Wall 2 and wall 3 decide which organisation sees a case (the owner, or the agency holding it). Inside
that organisation people see:

* with ``cases.view.all`` (asset owner admins and staff, agency managers): every case it holds;
* a team lead: the cases of the teams they lead, and their own;
* everyone else (collectors): the cases assigned to them.

``case_scope`` is that rule as one SQL condition, used by every case list, loader and action, so a
collector's list, a case page and a transfer all agree.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, false, or_, select

from arrears.auth.models import User
from arrears.cases.models import Case, CaseHolder
from arrears.extensions import db
from arrears.orgs.models import Team
from arrears.tenancy.models import OrgKind


def held_by(org_id: int, kind: OrgKind) -> Any:
    """The cases an organisation holds: an owner its own (placed or not), an agency those placed with it."""
    if kind == OrgKind.AGENCY:
        return Case.agency_org_id == org_id
    if kind == OrgKind.ASSET_OWNER:
        return Case.org_id == org_id
    return false()


def led_team_ids(actor: User) -> list[int]:
    return list(db.session.scalars(select(Team.id).where(Team.lead_user_id == actor.id)))


# Who works a case is its holder row (``CaseHolder``): these conditions on ``Case`` semi-join it, so
# the planner starts from the holder's index (a collector's 200 cases of a million).


def assigned_to(*user_ids: int) -> Any:
    """The cases these collectors hold."""
    return Case.id.in_(select(CaseHolder.case_id).where(CaseHolder.assignee_user_id.in_(user_ids)))


def in_teams(team_ids: list[int]) -> Any:
    """The cases held by members of these teams."""
    return Case.id.in_(select(CaseHolder.case_id).where(CaseHolder.team_id.in_(team_ids)))


def assigned() -> Any:
    """The cases a collector holds (whoever)."""
    return (
        select(CaseHolder.case_id)
        .where(CaseHolder.case_id == Case.id, CaseHolder.assignee_user_id.is_not(None))
        .exists()
    )


def unassigned() -> Any:
    """The cases nobody holds inside the holding organisation: its pool or a team's (or not placed)."""
    return ~assigned()


def case_scope(actor: User) -> Any:
    """The condition on ``Case`` for what ``actor`` may see (and act on)."""
    org = held_by(actor.org_id, actor.org.kind)
    if actor.can("cases.view.all"):
        return org
    teams = led_team_ids(actor)
    holders = select(CaseHolder.case_id).where(CaseHolder.assignee_user_id == actor.id)
    if teams:
        holders = select(CaseHolder.case_id).where(
            or_(CaseHolder.assignee_user_id == actor.id, CaseHolder.team_id.in_(teams))
        )
    return and_(org, Case.id.in_(holders))


def sees_everything(actor: User) -> bool:
    return actor.can("cases.view.all")
