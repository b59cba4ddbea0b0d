"""Reads of the organisations for pages and APIs of every domain: people's and organisations' names
in one query, an owner's agencies, and the stage path of a request decided level by level."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from arrears.auth.models import User
from arrears.extensions import db
from arrears.orgs import approvals
from arrears.orgs.models import Approval, ApprovalStatus, Partnership
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import Organisation, OrgKind

DECISION_LABELS: dict[str, Any] = {"approved": _l("passed"), "rejected": _l("rejected")}


def person_names(actor: User, ids: Iterable[int | None]) -> dict[int, str]:
    """Names of the people who did the work the reader sees, in one query: the reader's own
    organisation's; for an owner, also the agencies' people who worked its cases (users are each
    organisation's own rows: read by these ids only, through the named escape hatch)."""
    wanted = {int(i) for i in ids if i}
    if not wanted:
        return {}
    found = dict(db.session.execute(select(User.id, User.name).where(User.id.in_(wanted))).all())
    missing = wanted - set(found)
    if missing and actor.org.kind == OrgKind.ASSET_OWNER:
        with cross_tenant("the case owner reads the names of the agencies' people who worked its cases"):
            found.update(db.session.execute(select(User.id, User.name).where(User.id.in_(missing))).all())
    return found


def org_names(ids: Iterable[int | None]) -> dict[int, str]:
    """Organisations' names (the platform's directory, not tenant data)."""
    wanted = {int(i) for i in ids if i}
    if not wanted:
        return {}
    return dict(
        db.session.execute(
            select(Organisation.id, Organisation.name).where(Organisation.id.in_(wanted))
        ).all()
    )


def agency_choices(actor: User) -> list[tuple[int, str]]:
    """An owner's agencies (its partnerships, ended ones too: their work stays on its cases)."""
    if actor.org.kind != OrgKind.ASSET_OWNER:
        return []
    rows = db.session.execute(
        select(Organisation.id, Organisation.name)
        .join(Partnership, Partnership.agency_org_id == Organisation.id)
        .where(Partnership.org_id == actor.org_id)
        .distinct()
        .order_by(Organisation.name)
    )
    return list(rows.all())


@dataclass
class StagePath:
    stages: list[dict[str, Any]]  # level, label, state: passed / current / rejected / waiting
    trail: list[dict[str, Any]]  # stage, label, decision, name, org, at, note


def stage_path(approval: Approval | None, *, in_house: bool = False) -> StagePath | None:
    """A request decided level by level: its stages (which are passed, which decides now) and who
    passed or rejected each, when, with the note. None for a request decided at once."""
    if approval is None or not approval.stages:
        return None
    labelled = approvals.level_labels(approval.kind)

    def label(level: str) -> str:
        return labelled(level, in_house=in_house) if labelled is not None else level

    decided = {t.get("stage"): t.get("decision") for t in approval.trail or []}
    stages = []
    for level in approval.stages:
        if decided.get(level) == "approved":
            state = "passed"
        elif decided.get(level) == "rejected":
            state = "rejected"
        elif approval.status == ApprovalStatus.PENDING and level == approval.stage:
            state = "current"
        else:
            state = "waiting"
        stages.append({"level": level, "label": label(level), "state": state})
    orgs = org_names(t.get("org_id") for t in approval.trail or [])
    trail = []
    for t in approval.trail or []:
        try:
            at: dt.datetime | None = dt.datetime.fromisoformat(str(t.get("at")))
        except ValueError:
            at = None
        trail.append(
            {
                "stage": t.get("stage"),
                "label": label(str(t.get("stage"))),
                "decision": str(DECISION_LABELS.get(str(t.get("decision")), t.get("decision"))),
                "rejected": t.get("decision") == "rejected",
                "name": t.get("name", ""),
                "org": orgs.get(int(t["org_id"]), "") if str(t.get("org_id", "")).isdigit() else "",
                "at": at,
                "note": t.get("note", ""),
            }
        )
    return StagePath(stages, trail)


def approval_path(approval: Approval) -> StagePath | None:
    """The stage path of any request as the shared approval page shows it."""
    payload = approval.payload or {}
    in_house = str(payload.get("owner_org_id", "")) == str(approval.requester_org_id)
    return stage_path(approval, in_house=in_house)
