"""Collection notes (催记), promises to pay (承诺还款) and reminders (提醒): the collector's daily work
on a case.

Every write checks the case in the actor's scope (``get_case_for``: a collector works only
the cases assigned to them) and keeps the case's workbench sort keys (``next_action_on``,
``promise_due_on``, ``last_contact_at``) in the same transaction. Notes are append-only (a database
trigger refuses UPDATE and DELETE): a correction is a new note naming the one it corrects.

Result codes: a built-in set (``DEFAULT_CODES``) that each organisation may relabel, switch off or
extend (``result_codes`` rows with the same or a new code). The holding organisation's set applies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.loaders import get_case_for
from arrears.cases.models import Case, CaseStatus
from arrears.cases.scopes import assigned_to, case_scope
from arrears.columns import utcnow
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit, hooks
from arrears.kernel.clock import business_date
from arrears.kernel.money import parse_amount
from arrears.kernel.transaction import transaction
from arrears.tenancy.models import Organisation, OrgKind
from arrears.work.events import PromisesSettled
from arrears.work.models import (
    CollectionNote,
    ContactParty,
    NoteAction,
    Promise,
    PromiseStatus,
    Reminder,
    ReminderKind,
    ResultCode,
)

TEXT_MAX = 4000


@dataclass(frozen=True)
class Code:
    code: str
    label: Any  # a lazy string for the built-in ones, the organisation's text for its own
    contacted: bool  # someone was reached
    active: bool = True
    position: int = 100


DEFAULT_CODES: list[Code] = [
    Code("promise_to_pay", _l("Promise to pay"), True, position=10),
    Code("paid", _l("Paid"), True, position=20),
    Code("partial_payment", _l("Partial payment"), True, position=30),
    Code("callback", _l("Asked to be called back"), True, position=40),
    Code("refused", _l("Refused to pay"), True, position=50),
    Code("dispute", _l("Disputes the debt"), True, position=60),
    Code("hardship", _l("Financial hardship"), True, position=70),
    Code("third_party_informed", _l("Third party will pass the message on"), True, position=80),
    Code("no_answer", _l("No answer"), False, position=90),
    Code("busy", _l("Busy"), False, position=100),
    Code("switched_off", _l("Switched off"), False, position=110),
    Code("wrong_number", _l("Wrong number"), False, position=120),
    Code("left_message", _l("Left a message"), False, position=130),
    Code("letter_sent", _l("Letter sent"), False, position=140),
    Code("deceased", _l("Deceased"), True, position=150),
    Code("other", _l("Other"), False, position=160),
]
PROMISE_CODES = {"promise_to_pay"}

ACTION_LABELS = {
    NoteAction.CALL: _l("Call"),
    NoteAction.SMS: _l("SMS"),
    NoteAction.LETTER: _l("Letter"),
    NoteAction.VISIT: _l("Visit"),
    NoteAction.OTHER: _l("Other"),
}
PARTY_LABELS = {
    ContactParty.DEBTOR: _l("Debtor"),
    ContactParty.SPOUSE: _l("Spouse"),
    ContactParty.RELATIVE: _l("Relative"),
    ContactParty.COLLEAGUE: _l("Colleague"),
    ContactParty.THIRD_PARTY: _l("Other third party"),
    ContactParty.NONE: _l("Nobody reached"),
}
PROMISE_LABELS = {
    PromiseStatus.PENDING: _l("pending"),
    PromiseStatus.KEPT: _l("kept"),
    PromiseStatus.PARTLY_KEPT: _l("partly kept"),
    PromiseStatus.BROKEN: _l("broken"),
}


# --- result codes -------------------------------------------------------------------------------------


def result_codes(org_id: int, *, active_only: bool = False) -> list[Code]:
    """The organisation's set: the built-in codes with its changes, then its own, in order."""
    own = {r.code: r for r in db.session.scalars(select(ResultCode).where(ResultCode.org_id == org_id))}
    out: list[Code] = []
    for d in DEFAULT_CODES:
        r = own.pop(d.code, None)
        out.append(d if r is None else Code(d.code, r.label or d.label, r.contacted, r.active, r.position))
    out += [Code(r.code, r.label, r.contacted, r.active, r.position) for r in own.values()]
    out.sort(key=lambda c: (c.position, c.code))
    return [c for c in out if c.active] if active_only else out


def set_result_code(
    actor: User, code: str, label: str, *, contacted: bool, active: bool = True, position: int = 100
) -> Code:
    """Relabel, switch off or add a result code of the actor's organisation. A built-in code given
    no label keeps its built-in one (shown in the reader's language)."""
    require(actor, "org.settings.manage")
    code = (code or "").strip().lower()
    if not code or len(code) > 32 or not code.replace("_", "").isalnum():
        raise ValidationFailed(_("A code is up to 32 letters, digits and underscores."), field="code")
    label = (label or "").strip()
    builtin = next((d for d in DEFAULT_CODES if d.code == code), None)
    if (not label and builtin is None) or len(label) > 80:
        raise ValidationFailed(_("Give a label of up to 80 characters."), field="label")
    with transaction():
        row = db.session.scalar(
            select(ResultCode).where(ResultCode.org_id == actor.org_id, ResultCode.code == code)
        )
        if row is None:
            row = ResultCode(org_id=actor.org_id, code=code)
            db.session.add(row)
        row.label, row.contacted, row.active, row.position = label, contacted, active, position
        audit.record(
            "result_codes.changed", actor=actor, details={"code": code, "label": label, "active": active}
        )
    return Code(code, label or (builtin.label if builtin else ""), contacted, active, position)


def code_labels(org_id: int) -> dict[str, str]:
    return {c.code: str(c.label) for c in result_codes(org_id)}


# --- notes --------------------------------------------------------------------------------------------


def _holder_org(case: Case) -> int:
    return case.agency_org_id or case.org_id


def worked_case(actor: User, case_id: Any) -> Case:
    """The case, if the actor works it: in their scope, and held by their organisation (an owner's
    people never work a case placed with an agency). Foreign and missing: 404."""
    case = get_case_for(actor, case_id)
    if _holder_org(case) != actor.org_id:
        raise NotFound()  # an owner looking at a case placed out does not work it
    require(actor, "workbench.use")
    return case


def _date(value: Any, field: str) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(
            _("Not a date (YYYY-MM-DD): %(value)s", value=str(value)[:20]), field=field
        ) from None


def parse_day(value: Any, field: str) -> dt.date | None:
    """A day from a form or a request (YYYY-MM-DD), or None when empty; the field named when not."""
    return _date(value, field)


def add_note(  # noqa: C901, PLR0915
    actor: User,
    case_id: Any,
    *,
    action: Any,
    party: Any,
    result_code: str,
    text: str = "",
    follow_up_on: Any = None,
    promise_amount: Any = None,
    promise_due_on: Any = None,
    corrects_id: int | None = None,
    call_id: int | None = None,
) -> CollectionNote:
    """Write a note; with a follow-up date, a reminder; with a promise (amount and date), the promise
    and a reminder on its date. Everything or nothing."""
    case = worked_case(actor, case_id)
    today = business_date(actor.org)
    try:
        action = NoteAction(action)
    except ValueError:
        raise ValidationFailed(_("Choose what was done."), field="action") from None
    try:
        party = ContactParty(party)
    except ValueError:
        raise ValidationFailed(_("Choose who was reached."), field="party") from None
    codes = {c.code: c for c in result_codes(actor.org_id, active_only=True)}
    code = codes.get((result_code or "").strip())
    if code is None:
        raise ValidationFailed(_("Choose a result code."), field="result_code")
    text = (text or "").strip()
    if len(text) > TEXT_MAX:
        raise ValidationFailed(_("A note has at most %(n)d characters.", n=TEXT_MAX), field="text")
    follow = _date(follow_up_on, "follow_up_on")
    if follow is not None and follow < today:
        raise ValidationFailed(_("The follow-up date cannot be before today."), field="follow_up_on")
    promise: tuple[Decimal, dt.date] | None = None
    if promise_amount not in (None, "") or promise_due_on not in (None, "") or code.code in PROMISE_CODES:
        amount = parse_amount(promise_amount if promise_amount is not None else "", "promise_amount")
        due = _date(promise_due_on, "promise_due_on")
        if due is None:
            raise ValidationFailed(_("Give the date the debtor promised to pay by."), field="promise_due_on")
        if due < today:
            raise ValidationFailed(_("A promise cannot be in the past."), field="promise_due_on")
        if amount > case.outstanding and case.outstanding > 0:
            raise ValidationFailed(
                _("The promise is more than the outstanding %(amount)s.", amount=case.outstanding),
                field="promise_amount",
            )
        promise = (amount, due)
    if party == ContactParty.NONE and code.contacted:
        raise ValidationFailed(_("This result means someone was reached: say who."), field="party")
    with transaction():
        if corrects_id is not None:
            corrected = db.session.get(CollectionNote, corrects_id)
            if corrected is None or corrected.case_id != case.id:
                raise ValidationFailed(
                    _("The corrected note is not one of this case's."), field="corrects_id"
                )
        now = utcnow()
        note = CollectionNote(
            org_id=case.org_id,
            agency_org_id=case.agency_org_id,
            case_id=case.id,
            author_user_id=actor.id,
            action=action,
            party=party,
            result_code=code.code,
            contacted=code.contacted,
            text=text,
            follow_up_on=follow,
            corrects_id=corrects_id,
            call_id=call_id,
            created_at=now,
        )
        db.session.add(note)
        db.session.flush()
        if follow is not None:
            _remind(case, actor.id, ReminderKind.FOLLOW_UP, follow, text[:300])
        if promise is not None:
            p = Promise(
                org_id=case.org_id,
                agency_org_id=case.agency_org_id,
                case_id=case.id,
                collector_user_id=actor.id,
                note_id=note.id,
                amount=promise[0],
                due_on=promise[1],
            )
            db.session.add(p)
            db.session.flush()
            _remind(case, actor.id, ReminderKind.PROMISE_DUE, promise[1], "", promise_id=p.id)
        values: dict[str, Any] = {"updated_at": now}
        if code.contacted:
            values["last_contact_at"] = now
        if case.status == CaseStatus.NEW:
            values["status"] = CaseStatus.ACTIVE
        db.session.execute(update(Case).where(Case.id == case.id).values(**values))
        refresh_sort_keys([case.id])
    return note


def _remind(
    case: Case, user_id: int, kind: ReminderKind, due_on: dt.date, text: str, *, promise_id: int | None = None
) -> Reminder:
    reminder = Reminder(
        org_id=case.org_id,
        agency_org_id=case.agency_org_id,
        case_id=case.id,
        user_id=user_id,
        kind=kind,
        due_on=due_on,
        text=text,
        promise_id=promise_id,
    )
    db.session.add(reminder)
    return reminder


def refresh_sort_keys(case_ids: list[int]) -> None:
    """The cases' next action (the earliest open reminder of whoever holds them) and promise due date
    (the earliest pending promise), from the rows themselves."""
    if not case_ids:
        return
    db.session.flush()
    next_action = (
        select(func.min(Reminder.due_on))
        .where(
            Reminder.case_id == Case.id,
            Reminder.done.is_(False),
            Reminder.user_id == Case.assignee_user_id,  # the holder's (a correlated read of case_holders)
        )
        .scalar_subquery()
    )
    promise_due = (
        select(func.min(Promise.due_on))
        .where(Promise.case_id == Case.id, Promise.status == PromiseStatus.PENDING)
        .scalar_subquery()
    )
    db.session.execute(
        update(Case)
        .where(Case.id.in_(case_ids))
        .values(next_action_on=next_action, promise_due_on=promise_due)
        .execution_options(synchronize_session=False)
    )


def notes_for(case: Case, *, limit: int = 200) -> list[CollectionNote]:
    """A case's notes the reader's organisation may see (the owner: all; an agency: its own)."""
    return list(
        db.session.scalars(
            select(CollectionNote)
            .where(CollectionNote.case_id == case.id)
            .order_by(CollectionNote.id.desc())
            .limit(limit)
        )
    )


def promises_for(case: Case) -> list[Promise]:
    return list(
        db.session.scalars(select(Promise).where(Promise.case_id == case.id).order_by(Promise.id.desc()))
    )


# --- promises -----------------------------------------------------------------------------------------


def confirm_promise(actor: User, promise_id: Any, paid_amount: Any) -> Promise:
    """Say by hand what was paid against a promise (until repayments feed it): kept, partly kept or
    broken. A promise the daily job called broken may be corrected so."""
    paid = parse_amount(paid_amount, "paid_amount", allow_zero=True)
    with transaction():
        promise = db.session.get(Promise, promise_id) if str(promise_id).isdigit() else None
        if promise is None:
            raise NotFound()
        case = worked_case(actor, promise.case_id)
        if promise.status not in (PromiseStatus.PENDING, PromiseStatus.BROKEN) or promise.confirmed_by_id:
            raise Conflict(_("This promise was settled already."), field="paid_amount")
        promise.paid_amount = paid
        promise.status = promise_verdict(promise.amount, paid)
        promise.evaluated_at = utcnow()
        promise.confirmed_by_id = actor.id
        _close_promise_reminders([promise.id])
        if promise.status == PromiseStatus.BROKEN:
            _remind(
                case,
                actor.id,
                ReminderKind.PROMISE_BROKEN,
                business_date(actor.org),
                "",
                promise_id=promise.id,
            )
        refresh_sort_keys([case.id])
        audit.record(
            "promises.confirmed",
            actor=actor,
            target=promise,
            details={"case": case.id, "paid": str(paid), "status": promise.status.value},
        )
    _forget_rolls([actor.org_id])
    return promise


def promise_verdict(amount: Decimal, paid: Decimal) -> PromiseStatus:
    if paid >= amount:
        return PromiseStatus.KEPT
    if paid > 0:
        return PromiseStatus.PARTLY_KEPT
    return PromiseStatus.BROKEN


def _close_promise_reminders(promise_ids: list[int]) -> None:
    db.session.execute(
        update(Reminder)
        .where(
            Reminder.promise_id.in_(promise_ids),
            Reminder.kind == ReminderKind.PROMISE_DUE,
            Reminder.done.is_(False),
        )
        .values(done=True, done_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def evaluate_promises(org: Organisation) -> dict[str, int]:
    """The daily job of a tenant: pending promises whose date has passed, with nothing confirmed, are
    broken; the collector gets a reminder and the case comes back into follow-up. Idempotent: a
    promise is evaluated once (only pending ones are read, under a row lock)."""
    today = business_date(org)
    # each promise is evaluated by the job of the organisation whose collector made it
    mine = Promise.agency_org_id == org.id if org.kind == OrgKind.AGENCY else Promise.agency_org_id.is_(None)
    with transaction():
        due = list(
            db.session.scalars(
                select(Promise)
                .where(mine, Promise.status == PromiseStatus.PENDING, Promise.due_on < today)
                .order_by(Promise.id)
                .with_for_update(skip_locked=True)
                # what repayments paid since is read from the rows, not from objects loaded earlier
                .execution_options(populate_existing=True)
            )
        )
        now = utcnow()
        for promise in due:
            promise.status = promise_verdict(promise.amount, promise.paid_amount)
            promise.evaluated_at = now
        broken = [p for p in due if p.status == PromiseStatus.BROKEN]
        _close_promise_reminders([p.id for p in due])
        cases = {
            c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_({p.case_id for p in due})))
        }
        for p in broken:
            case = cases.get(p.case_id)
            if case is not None and case.assignee_user_id is not None:
                _remind(case, case.assignee_user_id, ReminderKind.PROMISE_BROKEN, today, "", promise_id=p.id)
        refresh_sort_keys(list(cases))
    if any(p.status != PromiseStatus.BROKEN for p in due):
        _forget_rolls([org.id])
    return {"evaluated": len(due), "broken": len(broken)}


def _forget_rolls(org_ids: list[int]) -> None:
    """Money recovered against promises moves the honour roll (``reports.desk`` caches it)."""
    hooks.emit(PromisesSettled(tuple(org_ids)))


# --- reminders ----------------------------------------------------------------------------------------


def _my_reminders(actor: User) -> Any:
    return (
        select(Reminder)
        .join(Case, Case.id == Reminder.case_id)
        .where(Reminder.user_id == actor.id, case_scope(actor), assigned_to(actor.id))
    )


def reminders(actor: User, *, when: str = "due", limit: int = 200) -> list[Reminder]:
    """The actor's open reminders on the cases they still hold: ``due`` (today and overdue),
    ``upcoming``, ``all`` open, or ``done``."""
    today = business_date(actor.org)
    stmt = _my_reminders(actor)
    if when == "done":
        stmt = stmt.where(Reminder.done.is_(True)).order_by(Reminder.done_at.desc())
    else:
        stmt = stmt.where(Reminder.done.is_(False))
        if when == "due":
            stmt = stmt.where(Reminder.due_on <= today)
        elif when == "upcoming":
            stmt = stmt.where(Reminder.due_on > today)
        stmt = stmt.order_by(Reminder.due_on, Reminder.id)
    return list(db.session.scalars(stmt.limit(limit)))


def due_count(actor: User) -> int:
    today = business_date(actor.org)
    stmt = _my_reminders(actor).where(Reminder.done.is_(False), Reminder.due_on <= today)
    return int(db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def _my_reminder(actor: User, reminder_id: Any) -> Reminder:
    if not str(reminder_id).isdigit():
        raise NotFound()
    reminder = db.session.scalar(_my_reminders(actor).where(Reminder.id == int(reminder_id)))
    if reminder is None:
        raise NotFound()
    return reminder


def my_reminder(actor: User, reminder_id: Any) -> Reminder:
    """One of the actor's reminders on a case they still hold (404 for any other): views load it
    before they read the form, so a foreign id answers 404 whatever was posted."""
    return _my_reminder(actor, reminder_id)


def my_promise(actor: User, promise_id: Any) -> Promise:
    """A promise on a case the actor works (404 for any other)."""
    promise = db.session.get(Promise, int(promise_id)) if str(promise_id).isdigit() else None
    if promise is None:
        raise NotFound()
    worked_case(actor, promise.case_id)
    return promise


def reminder_done(actor: User, reminder_id: Any) -> Reminder:
    with transaction():
        reminder = _my_reminder(actor, reminder_id)
        if not reminder.done:
            reminder.done, reminder.done_at = True, utcnow()
        refresh_sort_keys([reminder.case_id])
    return reminder


def snooze(actor: User, reminder_id: Any, until: Any) -> Reminder:
    day = _date(until, "until")
    if day is None or day <= business_date(actor.org):
        raise ValidationFailed(_("Snooze to a day after today."), field="until")
    with transaction():
        reminder = _my_reminder(actor, reminder_id)
        if reminder.done:
            raise Conflict(_("This reminder is done."), field="until")
        reminder.due_on = day
        reminder.snoozed += 1
        refresh_sort_keys([reminder.case_id])
    return reminder


def pending_promises(
    actor: User, *, due_on: dt.date | None = None, status: PromiseStatus | None = None
) -> Any:
    """A select of the promises the actor made on cases they still hold."""
    stmt = (
        select(Promise)
        .join(Case, Case.id == Promise.case_id)
        .where(Promise.collector_user_id == actor.id, case_scope(actor), assigned_to(actor.id))
    )
    if status is not None:
        stmt = stmt.where(Promise.status == status)
    if due_on is not None:
        stmt = stmt.where(Promise.due_on == due_on)
    return stmt
