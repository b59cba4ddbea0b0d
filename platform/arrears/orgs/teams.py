"""Teams inside an organisation (agencies mostly), each with a lead."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import func, select

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.errors import Conflict, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.transaction import transaction
from arrears.orgs.models import Team


def save_team(
    actor: User, *, team: Team | None, name: str, lead_user_id: int | None, member_ids: list[int]
) -> Team:
    require(actor, "agency.teams.manage")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("The name is required."), field="name")
    with transaction():
        clash = db.session.scalar(
            select(Team.id).where(func.lower(Team.name) == name.lower(), Team.id != (team.id if team else -1))
        )
        if clash is not None:
            raise Conflict(_("A team named %(name)s exists already.", name=name), field="name")
        members = list(db.session.scalars(select(User).where(User.id.in_(member_ids or [-1]))))
        if len(members) != len(set(member_ids or [])):
            raise ValidationFailed(_("A chosen member does not exist."), field="member_ids")
        lead = db.session.get(User, lead_user_id) if lead_user_id else None
        if lead_user_id and lead is None:
            raise ValidationFailed(_("The chosen lead does not exist."), field="lead_user_id")
        if team is None:
            team = Team(name=name)
            db.session.add(team)
        team.name = name
        team.lead = lead
        if lead is not None and lead not in members:
            members.append(lead)
        for old in list(team.members):
            if old not in members:
                old.team = None
        for member in members:
            member.team = team
        db.session.flush()
        audit.record(
            "team.saved",
            actor=actor,
            target=team,
            details={
                "name": name,
                "lead": lead.email if lead else None,
                "members": sorted(m.email for m in members),
            },
        )
    return team


def list_teams() -> list[Team]:
    return list(db.session.scalars(select(Team).order_by(Team.name)))
