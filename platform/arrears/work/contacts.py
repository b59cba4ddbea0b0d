"""One case's contacts and circumstances for the workbench: every contact attempt on any channel (the
contact history tab), the end of the placement through which the agency has it, and whether a face
image is on file."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select

from arrears.allocation.models import PlacementCase, PlacementCaseStatus
from arrears.cases.models import Case, Debtor
from arrears.extensions import db
from arrears.work import notes
from arrears.work.models import Call, CollectionNote


def placement_end(case: Case) -> dt.date | None:
    """The end date of the placement through which the holding agency has the case (none in-house)."""
    if case.agency_org_id is None:
        return None
    return db.session.scalar(
        select(PlacementCase.ends_on)
        .where(
            PlacementCase.case_id == case.id,
            PlacementCase.agency_org_id == case.agency_org_id,
            PlacementCase.status == PlacementCaseStatus.ACTIVE,
        )
        .order_by(PlacementCase.id.desc())
        .limit(1)
    )


def has_face_image(case: Case) -> bool:
    """Whether a face image is on file, read without decrypting anything."""
    return bool(
        db.session.scalar(select(Debtor.face_image_key.is_not(None)).where(Debtor.id == case.debtor_id))
    )


@dataclass(frozen=True)
class Contact:
    """One attempt to reach someone about the case, on any channel (the contact history tab)."""

    at: dt.datetime
    channel: str  # a NoteAction value: call, sms, letter, visit, other
    user_id: int | None
    party: str | None  # a ContactParty value; None when the record does not say
    result: str  # a result code, or a call result
    text: str
    contacted: bool
    note_id: int | None = None
    call_id: int | None = None
    duration_s: int | None = None


def contact_history(case: Case, case_notes: list[CollectionNote] | None = None) -> list[Contact]:
    """Every contact attempt on the case the reader's organisation sees, newest first: the collection
    notes (calls, SMS, letters, visits written up by people) and the calls placed or logged that no
    note describes (a note naming its call stands for both). Channels added later (automatic SMS,
    voice, e-mail) join here."""
    notes_ = case_notes if case_notes is not None else notes.notes_for(case)
    described = {n.call_id for n in notes_ if n.call_id}
    calls = {c.id: c for c in db.session.scalars(select(Call).where(Call.case_id == case.id))}
    out = [
        Contact(
            at=n.created_at,
            channel=n.action.value,
            user_id=n.author_user_id,
            party=n.party.value,
            result=n.result_code,
            text=n.text,
            contacted=n.contacted,
            note_id=n.id,
            call_id=n.call_id,
            duration_s=calls[n.call_id].duration_s if n.call_id in calls else None,
        )
        for n in notes_
    ]
    out += [
        Contact(
            at=c.started_at,
            channel="call",
            user_id=c.user_id,
            party=None,
            result=c.result.value if c.result else "",
            text=c.number_masked,
            contacted=c.result is not None and c.result.value == "answered",
            call_id=c.id,
            duration_s=c.duration_s,
        )
        for c in calls.values()
        if c.id not in described
    ]
    return sorted(out, key=lambda row: (row.at, row.note_id or 0, row.call_id or 0), reverse=True)
