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

from arrears.extensions import db
from arrears.models import Case, OrgKind, Team, User


def held_by(org_id: int, kind: OrgKind) -> Any:
    """The cases an organisation holds: an owner its own (placed or not), an agency those placed with it."""
    if kind == OrgKind.AGENCY:
        return Case.agency_org_id == org_id
    if kind == OrgKind.ASSET_OWNER:
        return Case.org_id == org_id
    return false()


def led_team_ids(actor: User) -> list[int]:
    return list(db.session.scalars(select(Team.id).where(Team.lead_user_id == actor.id)))


def case_scope(actor: User) -> Any:
    """The condition on ``Case`` for what ``actor`` may see (and act on)."""
    org = held_by(actor.org_id, actor.org.kind)
    if actor.can("cases.view.all"):
        return org
    teams = led_team_ids(actor)
    mine = Case.assignee_user_id == actor.id
    return and_(org, or_(mine, Case.team_id.in_(teams)) if teams else mine)


def sees_everything(actor: User) -> bool:
    return actor.can("cases.view.all")
