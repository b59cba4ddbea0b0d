"""``/api/v1`` collection work: a case's notes (催记) and promises, the caller's reminders, and the
organisation's result codes. Thin: the case is loaded in the caller's scope, one service call."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_babel import gettext as _

from arrears.cases.loaders import get_case_for
from arrears.cases.models import Case
from arrears.errors import ValidationFailed
from arrears.web.api import api
from arrears.work import contacts, notes
from arrears.work.schemas import (
    ConfirmInSchema,
    ContactSchema,
    NoteInSchema,
    NoteSchema,
    PromiseSchema,
    ReminderSchema,
    ResultCodeInSchema,
    ResultCodeSchema,
    SnoozeInSchema,
)

TAGS = ["work"]


@api.route(
    "/cases/<int:case_id>/notes",
    summary="A case's collection notes the caller's organisation may see, newest first",
    response_schema=NoteSchema(),
    many=True,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="cases.view",
)
def case_notes(case: Case) -> Any:
    return notes.notes_for(case)


@api.route(
    "/cases/<int:case_id>/notes",
    methods=("POST",),
    summary="Write a note (append-only); with follow_up_on a reminder, with a promise amount and date "
    "a promise to pay. The collector holding the case only.",
    request_schema=NoteInSchema(),
    response_schema=NoteSchema(),
    status=201,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="workbench.use",
)
def add_note(case: Case, body: dict[str, Any]) -> Any:
    return notes.add_note(g.api_user, case.id, **body)


@api.route(
    "/cases/<int:case_id>/promises",
    summary="A case's promises to pay",
    response_schema=PromiseSchema(),
    many=True,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="cases.view",
)
def case_promises(case: Case) -> Any:
    return notes.promises_for(case)


@api.route(
    "/cases/<int:case_id>/contact-history",
    summary="Every contact attempt on a case the caller's organisation sees, on any channel, newest first",
    response_schema=ContactSchema(),
    many=True,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="cases.view",
)
def case_contact_history(case: Case) -> Any:
    return contacts.contact_history(case)


@api.route(
    "/promises/<int:promise_id>/confirm",
    methods=("POST",),
    summary="Say what was paid against a promise (kept, partly kept or broken), until repayments feed it",
    request_schema=ConfirmInSchema(),
    response_schema=PromiseSchema(),
    tags=TAGS,
    permission="workbench.use",
    lookup=("promise_id", notes.my_promise),
)
def confirm_promise(promise: Any, body: dict[str, Any]) -> Any:
    return notes.confirm_promise(g.api_user, promise.id, body["paid_amount"])


@api.route(
    "/reminders",
    summary="The caller's reminders on the cases they hold; ?when=due|upcoming|all|done",
    response_schema=ReminderSchema(),
    many=True,
    tags=TAGS,
    permission="workbench.use",
)
def my_reminders() -> Any:
    when = request.args.get("when", "due")
    if when not in ("due", "upcoming", "all", "done"):
        raise ValidationFailed(_("when is one of due, upcoming, all, done."), field="when")
    return notes.reminders(g.api_user, when=when)


@api.route(
    "/reminders/<int:reminder_id>/done",
    methods=("POST",),
    summary="Mark one of the caller's reminders done",
    response_schema=ReminderSchema(),
    tags=TAGS,
    permission="workbench.use",
    lookup=("reminder_id", notes.my_reminder),
)
def reminder_done(reminder: Any) -> Any:
    return notes.reminder_done(g.api_user, reminder.id)


@api.route(
    "/reminders/<int:reminder_id>/snooze",
    methods=("POST",),
    summary="Move one of the caller's reminders to a later day",
    request_schema=SnoozeInSchema(),
    response_schema=ReminderSchema(),
    tags=TAGS,
    permission="workbench.use",
    lookup=("reminder_id", notes.my_reminder),
)
def snooze(reminder: Any, body: dict[str, Any]) -> Any:
    return notes.snooze(g.api_user, reminder.id, body["until"])


@api.route(
    "/result-codes",
    summary="The result codes of the caller's organisation (built-in ones with its changes, then its own)",
    response_schema=ResultCodeSchema(),
    many=True,
    tags=TAGS,
    permission="cases.view",
)
def result_codes() -> Any:
    return notes.result_codes(g.api_user.org_id)


@api.route(
    "/result-codes/<code>",
    methods=("PUT",),
    summary="Relabel, switch off or add a result code of the caller's organisation",
    request_schema=ResultCodeInSchema(),
    response_schema=ResultCodeSchema(),
    tags=TAGS,
    permission="org.settings.manage",
)
def put_result_code(code: str, body: dict[str, Any]) -> Any:
    return notes.set_result_code(g.api_user, code, **body)
