"""Phone calls on a case (电话催收): click-to-call through the call centre, and calls logged by hand.

Only the collector working the case calls it (the case in their scope, ``workbench.use``). The number
goes from the debtor's record to the call-centre adapter and nowhere else: the collector sees, and
the ``calls`` row keeps, only the masked number.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.models import Case, DebtorContact
from arrears.columns import utcnow
from arrears.errors import Conflict, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.integrations.callcentre import CallCentreError, get_callcentre
from arrears.kernel.transaction import transaction
from arrears.security import masking
from arrears.work import notes
from arrears.work.attachments import agency_of
from arrears.work.loaders import get_call_for
from arrears.work.models import Call, CallResult, ContactParty, NoteAction

MANUAL = "manual"
# a clock a little ahead of the server's is not "the future"
CLOCK_SKEW = dt.timedelta(minutes=2)
MAX_DURATION_S = 24 * 3600


def _working_case(actor: User, case_id: Any) -> Case:
    return notes.worked_case(actor, case_id)


def _result(value: Any) -> CallResult:
    try:
        return CallResult(value)
    except ValueError:
        raise ValidationFailed(
            _("Choose the result: %(choices)s.", choices=", ".join(r.value for r in CallResult)),
            field="result",
        )


def _duration(value: Any) -> int:
    try:
        seconds = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(_("The duration is a whole number of seconds."), field="duration_s")
    if seconds < 0:
        raise ValidationFailed(_("The duration cannot be negative."), field="duration_s")
    if seconds > MAX_DURATION_S:
        raise ValidationFailed(_("A call lasts at most a day."), field="duration_s")
    return seconds


def _number(case: Case, contact_id: Any) -> tuple[str, str, int | None]:
    """The number to dial (in clear, for the adapter only), its masked form, and the contact's id."""
    debtor = case.debtor
    if contact_id in (None, ""):
        if not debtor.mobile:
            raise ValidationFailed(
                _("The debtor has no mobile number on record; choose one of the contacts."),
                field="contact_id",
            )
        return debtor.mobile, debtor.mobile_masked or masking.phone(debtor.mobile), None
    try:
        wanted = int(contact_id)
    except (TypeError, ValueError):
        wanted = 0
    contact = db.session.scalar(
        select(DebtorContact).where(DebtorContact.id == wanted, DebtorContact.debtor_id == debtor.id)
    )
    if contact is None:
        raise ValidationFailed(_("Choose one of this debtor's contacts."), field="contact_id")
    return contact.phone, contact.phone_masked or masking.phone(contact.phone), contact.id


def start_call(actor: User, case_id: Any, contact_id: Any = None) -> Call:
    """Dial the debtor's mobile, or one of the debtor's contacts, through the call centre."""
    case = _working_case(actor, case_id)
    number, masked, contact = _number(case, contact_id)
    centre = get_callcentre()
    with transaction():
        call = Call(
            org_id=case.org_id,
            case_id=case.id,
            agency_org_id=agency_of(actor),
            user_id=actor.id,
            provider=centre.name,
            contact_id=contact,
            number_masked=masked[:32],
            started_at=utcnow(),
        )
        db.session.add(call)
        db.session.flush()  # a row the dial can be matched to; a refused dial rolls it back
        try:
            call.external_id = centre.click_to_call(number, actor, case.loan_no)[:64]
        except CallCentreError as exc:
            raise ValidationFailed(_("The call centre could not place the call: %(reason)s", reason=str(exc)))
    return call


def finish_call(
    actor: User, call_id: Any, duration_s: Any, result: Any, recording_ref: str | None = ""
) -> Call:
    """Record how a call placed through the call centre went (by the collector, or the provider's
    callback acting for them)."""
    call = get_call_for(actor, call_id)
    require(actor, "workbench.use")
    if call.user_id != actor.id:
        raise PermissionDenied(_("Only the person who placed the call can record how it went."))
    if call.provider == MANUAL:
        raise Conflict(_("A call logged by hand is already complete."))
    if call.result is not None:
        raise Conflict(_("This call's result is already recorded."))
    seconds = _duration(duration_s)
    outcome = _result(result)
    recording = (recording_ref or "").strip()
    if len(recording) > 300:
        raise ValidationFailed(_("The recording reference is at most 300 characters."), field="recording_ref")
    with transaction():
        call.duration_s = seconds
        call.result = outcome
        call.recording_ref = recording
    return call


# The note of a call that reached nobody says why, in the organisation's result codes.
UNANSWERED_CODES = {
    CallResult.NO_ANSWER: "no_answer",
    CallResult.BUSY: "busy",
    CallResult.SWITCHED_OFF: "switched_off",
    CallResult.WRONG_NUMBER: "wrong_number",
    CallResult.FAILED: "other",
}


def log_call(
    actor: User,
    case_id: Any,
    started_at: dt.datetime | None,
    duration_s: Any,
    result: Any,
    note: str | None = "",
    *,
    result_code: str | None = None,
    party: str | None = None,
) -> Call:
    """A call made outside the platform (a desk phone), logged by hand, with its collection note when
    there is something to write (a text, or the result code of an answered call): the note goes
    through ``work.notes`` like any other (result code, who was reached, last contact), in the
    same transaction. A call nobody answered gets the matching code (no answer, busy, ...)."""
    case = _working_case(actor, case_id)
    if not isinstance(started_at, dt.datetime):
        raise ValidationFailed(_("Give the date and time the call started."), field="started_at")
    if started_at.tzinfo is None:
        raise ValidationFailed(_("Give the time with its time zone."), field="started_at")
    now = utcnow()
    if started_at > now + CLOCK_SKEW:
        raise ValidationFailed(_("The call cannot start in the future."), field="started_at")
    seconds = _duration(duration_s)
    outcome = _result(result)
    text = (note or "").strip()
    if len(text) > 2000:
        raise ValidationFailed(_("The note is at most 2,000 characters."), field="note")
    code = (result_code or "").strip()
    answered = outcome == CallResult.ANSWERED
    if answered and text and not code:
        raise ValidationFailed(_("Choose the result of the conversation."), field="result_code")
    with transaction():
        call = Call(
            org_id=case.org_id,
            case_id=case.id,
            agency_org_id=agency_of(actor),
            user_id=actor.id,
            provider=MANUAL,
            started_at=started_at,
            duration_s=seconds,
            result=outcome,
        )
        db.session.add(call)
        db.session.flush()
        if text or code:
            notes.add_note(
                actor,
                case.id,
                action=NoteAction.CALL.value,
                party=(party or ContactParty.DEBTOR.value) if answered else ContactParty.NONE.value,
                result_code=code or UNANSWERED_CODES.get(outcome, "other"),
                text=text,
                call_id=call.id,
            )
    return call


def calls_for(case: Case) -> list[Call]:
    """The calls on a case the reader sees (an agency: its own people's), newest first."""
    return list(db.session.scalars(select(Call).where(Call.case_id == case.id).order_by(Call.id.desc())))
