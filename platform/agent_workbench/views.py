"""Collector workbench (催收员工作台): my desk in figures and the honour roll, reminders and promises
due, the cases assigned to me (sorted, filtered, keyset pages), the case page with its notes,
promises and contact history, and my reminders.

The list and the case page use the reader's case scope (``cases.scopes.case_scope``): a collector
sees a case only while it is assigned to them, so a case transferred away or recalled by the owner is
gone (404) at once. The work on a case (notes, promises, reminders) is ``work.notes``; the
figures are ``reports.desk``."""

from __future__ import annotations

import io
from typing import Any

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from agent_workbench.forms import (
    AttachmentForm,
    CallFinishForm,
    CallLogForm,
    ConfirmPromiseForm,
    NoteForm,
    ReductionForm,
    RepaymentForm,
    SnoozeForm,
)
from arrears.allocation import assignments
from arrears.auth.models import User
from arrears.cases import cases as case_service
from arrears.cases.models import Case
from arrears.cases.schemas import case_view
from arrears.cases.scopes import case_scope
from arrears.errors import DomainError, NotFound
from arrears.payments import queries as repayment_pages
from arrears.payments import records
from arrears.reports import desk as workbench
from arrears.security import masking
from arrears.tenancy.models import OrgKind
from arrears.web.console import NavItem, console_blueprint
from arrears.web.current import current_actor
from arrears.web.forms import show_error
from arrears.work import applications, attachments, calls, contacts, letters, notes
from arrears.work.models import ApplicationKind, CallResult


def _due_badge(user: Any) -> int | None:
    return notes.due_count(user) or None


bp = console_blueprint(
    "agent_workbench",
    __name__,
    kinds=[OrgKind.AGENCY, OrgKind.ASSET_OWNER],
    permission="workbench.use",
    title=_l("Collector workbench"),
    nav=[
        NavItem("agent_workbench.home", _l("My desk")),
        NavItem("agent_workbench.cases", _l("My cases")),
        NavItem("agent_workbench.reminders", _l("Reminders"), badge=_due_badge),
        NavItem("agent_workbench.my_applications", _l("My applications")),
    ],
)

PAGE = 50
_LIST_ARGS = ("q", "bucket", "status", "promise", "due", "view")  # carried to the next page
SORTS = {
    "-dpd": _l("Most days past due"),
    "dpd": _l("Fewest days past due"),
    "-amount": _l("Largest amount"),
    "amount": _l("Smallest amount"),
    "-priority": _l("Highest priority"),
    "next_action": _l("Next action date"),
    "promise_due": _l("Promise due date"),
    "last_contact": _l("Longest without contact"),
    "-last_contact": _l("Most recently contacted"),
}
BUCKETS = ("M0", "M1", "M2", "M3", "M4+")
TAB_LABELS = {
    "notes": _l("Collection notes"),
    "history": _l("Contact history"),
    "promises": _l("Promises"),
    "repayments": _l("Repayments"),
    "applications": _l("Applications"),
    "contacts": _l("Contacts and addresses"),
    "attachments": _l("Attachments"),
    "letters": _l("Letters"),
    "calls": _l("Calls"),
}
TABS = tuple(TAB_LABELS)
CALL_RESULTS = {
    CallResult.ANSWERED.value: _l("answered"),
    CallResult.NO_ANSWER.value: _l("no answer"),
    CallResult.BUSY.value: _l("busy"),
    CallResult.SWITCHED_OFF.value: _l("switched off"),
    CallResult.WRONG_NUMBER.value: _l("wrong number"),
    CallResult.FAILED.value: _l("failed"),
}
WHEN = {"due": _l("Due"), "upcoming": _l("Upcoming"), "done": _l("Done")}


# --- home: figures, honour roll, today's reminders and promises, my cases ---------------------------


@bp.route("/")
def home():
    """工作台基本概况: my figures and rank, the honour roll, what is due today."""
    me = current_actor()
    due = notes.reminders(me, when="due", limit=50)
    return render_template(
        "agent_workbench/home.html",
        user=me,
        figures=workbench.home_figures(me),
        reminders=due,
        loans=case_service.loan_numbers([r.case_id for r in due]),
        promises_today=workbench.promises_due_today(me),
        broken=workbench.broken_recently(me),
        today=case_service.business_date(me.org),
        kind_labels=KIND_LABELS,
    )


@bp.route("/cases")
def cases():
    """My cases (a team lead's ``view=team``: the teams they lead), filtered, sorted, keyset pages."""
    me = current_actor()
    sort = request.args.get("sort", "-dpd")
    if sort not in SORTS:
        sort = "-dpd"
    args = request.args
    team = args.get("view") == "team"
    f = case_service.CaseFilter(
        assignee_id=None if team else me.id,
        sort=sort,
        q=(args.get("q") or "").strip() or None,
        loan_prefix=True,
        bucket=args.get("bucket") or None,
        status=args.get("status") or None,
        has_promise=args.get("promise") == "1",
        follow_up_due=args.get("due") == "1",
    )
    kept: dict[str, Any] = {k: v for k, v in args.items() if k in _LIST_ARGS and v}
    try:
        rows, cursor = case_service.page_rows(
            me.org, f, limit=PAGE, cursor=request.args.get("cursor"), scope=case_scope(me)
        )
    except DomainError as exc:
        flash(str(exc.message), "danger")
        rows, cursor = [], None
    today = case_service.business_date(me.org)
    return render_template(
        "agent_workbench/cases.html",
        user=me,
        rows=[_list_row(r, today) for r in rows],
        sort=sort,
        sorts=SORTS,
        buckets=BUCKETS,
        kept=kept,
        next_url=url_for("agent_workbench.cases", sort=sort, cursor=cursor, **kept) if cursor else None,
        today=today,
        letter_templates=letters.templates_for_actor(me),
    )


def _list_row(row: Any, today: Any) -> dict[str, Any]:
    """A row of ``case_service.page_rows`` as the list shows it (the debtor's name masked)."""
    dpd = max(0, (today - row.due_date).days)  # as Case.days_past_due
    return {
        "id": row.id,
        "loan_no": row.loan_no,
        "debtor": {"name": masking.name(row.debtor_name)},
        "product": row.product,
        "days_past_due": dpd,
        "bucket": case_service.bucket(dpd),
        "outstanding": row.outstanding,
        "status": row.status.value,
        "next_action_on": row.next_action_on,
        "promise_due_on": row.promise_due_on,
        "last_contact_at": row.last_contact_at,
    }


KIND_LABELS = {
    "follow_up": _l("Follow up"),
    "promise_due": _l("Promise due"),
    "promise_broken": _l("Promise broken"),
    "application": _l("Application decided"),
    "other": _l("Other"),
}


# --- one case -------------------------------------------------------------------------------------


def _case(me: User, case_id: int) -> Case:
    """A case the reader works (``notes.worked_case``: in their scope, held by their organisation).
    Foreign and missing: 404."""
    return notes.worked_case(me, case_id)


def _note_form(me: User, formdata: Any = None) -> NoteForm:
    form = NoteForm(formdata=formdata) if formdata is not None else NoteForm(formdata=None)
    form.result_code.choices = [("", "—")] + [
        (c.code, str(c.label)) for c in notes.result_codes(me.org_id, active_only=True)
    ]
    return form


def _call_forms(me: User) -> tuple[CallLogForm, CallFinishForm]:
    log, finish = CallLogForm(formdata=None), CallFinishForm(formdata=None)
    choices = [(k, str(v)) for k, v in CALL_RESULTS.items()]
    log.result.choices = finish.result.choices = choices
    log.result_code.choices = [("", "—")] + [
        (c.code, str(c.label)) for c in notes.result_codes(me.org_id, active_only=True)
    ]
    return log, finish


def _tab_data(me: User, case: Case, tab: str) -> dict[str, Any]:
    """What the open tab shows (only that tab's rows are read)."""
    if tab in ("notes", "history"):
        case_notes = notes.notes_for(case)
        data: dict[str, Any] = {
            "notes": case_notes,
            "corrected": {n.corrects_id for n in case_notes if n.corrects_id},
            "people_ids": [n.author_user_id for n in case_notes],
        }
        if tab == "history":
            data["history"] = contacts.contact_history(case, case_notes)
            data["people_ids"] += [h.user_id for h in data["history"]]
        return data
    if tab == "promises":
        promises = notes.promises_for(case)
        return {
            "promises": promises,
            "confirm": ConfirmPromiseForm(formdata=None),
            "people_ids": [p.collector_user_id for p in promises],
        }
    if tab in ("applications", "repayments"):
        found = [applications.view(a) for a in applications.of_case(me, case)]
        data = {"applications": found, "people_ids": [v["application"].requested_by_id for v in found]}
        if tab == "repayments":
            data["applications"] = [v for v in found if v["application"].kind == ApplicationKind.REPAYMENT]
            data["payments"] = repayment_pages.rows_for(me, records.of_case(me, case))
            data["components"] = repayment_pages.COMPONENTS
            data["component_labels"] = repayment_pages.COMPONENT_LABELS
        else:
            data["evidence"] = _evidence_by_application(me, case)
        return data
    if tab == "contacts":
        return {}
    if tab == "attachments":
        files = attachments.list_for(me, case)
        return {"attachments": files, "people_ids": [a.uploaded_by_id for a in files]}
    if tab == "letters":
        made = letters.letters_for(case)
        return {
            "letters": made,
            "templates": letters.templates_for_case(me, case),
            "letter_files": {a.id: a for a in attachments.list_for(me, case) if a.kind == "letter"},
            "people_ids": [x.generated_by_id for x in made],
        }
    if tab == "calls":
        found_calls = calls.calls_for(case)
        return {"calls": found_calls, "people_ids": [c.user_id for c in found_calls]}
    return {}


def _evidence_by_application(me: User, case: Case) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for a in attachments.list_for(me, case):
        if a.application_id:
            out.setdefault(a.application_id, []).append(a)
    return out


def _render_case(me: User, case: Case, tab: str, **forms: Any) -> str:
    tab = tab if tab in TABS else "notes"
    today = case_service.business_date(me.org)
    data = _tab_data(me, case, tab)
    people = assignments.user_names([case.assignee_user_id, *data.pop("people_ids", [])])
    call_log, call_finish = _call_forms(me)
    return render_template(
        "agent_workbench/case.html",
        case=case,
        view=case_view(case, today, unmasked=False),
        contacts=case_service.contacts_view(case.debtor, unmasked=False),
        mine=case.assignee_user_id == me.id,
        title=_("Case %(loan)s", loan=case.loan_no),
        placement_end=contacts.placement_end(case),
        has_face=contacts.has_face_image(case),
        face_allowed=case_service.unmask_filter(me)(case),
        tab=tab,
        tabs=TAB_LABELS,
        form=forms.get("form") or _note_form(me),
        repayment=forms.get("repayment") or RepaymentForm(formdata=None),
        reduction=forms.get("reduction") or ReductionForm(formdata=None),
        attach=AttachmentForm(formdata=None),
        call_log=call_log,
        call_finish=call_finish,
        may_reduce=applications.may_apply(me, case, ApplicationKind.REDUCTION),
        may_report=applications.may_apply(me, case, ApplicationKind.REPAYMENT),
        labels=notes.code_labels(me.org_id),
        people=people,
        action_labels={k.value: v for k, v in notes.ACTION_LABELS.items()},
        party_labels={k.value: v for k, v in notes.PARTY_LABELS.items()},
        promise_labels={k.value: v for k, v in notes.PROMISE_LABELS.items()},
        level_label=applications.level_label,
        today=today,
        **data,
    )


@bp.route("/cases/<int:case_id>")
def case_detail(case_id: int):
    me = current_actor()
    case = _case(me, case_id)
    form = _note_form(me)
    corrects = request.args.get("corrects", type=int)
    if corrects:
        form.corrects_id.data = str(corrects)
    return _render_case(me, case, request.args.get("tab", "notes"), form=form)


@bp.route("/cases/<int:case_id>/face")
def case_face(case_id: int):
    """The debtor's face image, for a reader who may see the case's personal data in clear
    (audited by the service); 404 for everybody else, as for a case without one."""
    me = current_actor()
    case = _case(me, case_id)
    if not case_service.unmask_filter(me)(case):
        raise NotFound()
    data, mimetype = case_service.face_image(me, case.debtor)
    response = send_file(io.BytesIO(data), mimetype=mimetype)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/cases/<int:case_id>/notes", methods=["POST"])
def note_add(case_id: int):
    me = current_actor()
    case = _case(me, case_id)  # 404 before anything is read from the form
    form = _note_form(me, request.form)
    if form.validate_on_submit():
        try:
            notes.add_note(
                me,
                case.id,
                action=form.action.data,
                party=form.party.data,
                result_code=form.result_code.data or "",
                text=form.text.data or "",
                follow_up_on=form.follow_up_on.data,
                promise_amount=form.promise_amount.data,
                promise_due_on=form.promise_due_on.data,
                corrects_id=int(form.corrects_id.data) if (form.corrects_id.data or "").isdigit() else None,
            )
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("The note was saved."), "success")
            return redirect(url_for("agent_workbench.case_detail", case_id=case.id, tab="notes"))
    elif form.csrf_token.errors:
        flash(_("The form has expired; please try again."), "danger")
    return _render_case(me, case, "notes", form=form), 422


@bp.route("/promises/<int:promise_id>/confirm", methods=["POST"])
def promise_confirm(promise_id: int):
    me = current_actor()
    promise = notes.my_promise(me, promise_id)  # 404 before the form is read
    form = ConfirmPromiseForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        promise = notes.confirm_promise(me, promise.id, form.paid_amount.data or "")
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc.message), "danger")
    else:
        flash(
            _("Payment confirmed: the promise is %(status)s.", status=notes.PROMISE_LABELS[promise.status]),
            "success",
        )
    return redirect(url_for("agent_workbench.case_detail", case_id=promise.case_id, tab="promises"))


# --- reminders ------------------------------------------------------------------------------------


def _back(default: str) -> str:
    """Where a reminder action returns: a workbench page the form names, else ``default``."""
    target = request.form.get("next") or ""
    if target.startswith("/workbench/") and "//" not in target and "\\" not in target:
        return target
    return default


@bp.route("/reminders")
def reminders():
    me = current_actor()
    when = request.args.get("when", "due")
    if when not in WHEN:
        when = "due"
    rows = notes.reminders(me, when=when)
    return render_template(
        "agent_workbench/reminders.html",
        when=when,
        whens=WHEN,
        reminders=rows,
        loans=case_service.loan_numbers([r.case_id for r in rows]),
        kind_labels=KIND_LABELS,
        snooze=SnoozeForm(formdata=None),
        today=case_service.business_date(me.org),
    )


@bp.route("/reminders/<int:reminder_id>/done", methods=["POST"])
def reminder_done(reminder_id: int):
    me = current_actor()
    notes.my_reminder(me, reminder_id)  # 404 before the form is read
    form = SnoozeForm()
    if not form.validate_on_submit():
        abort(400)
    notes.reminder_done(me, reminder_id)
    flash(_("The reminder is done."), "success")
    return redirect(_back(url_for("agent_workbench.reminders")))


@bp.route("/reminders/<int:reminder_id>/snooze", methods=["POST"])
def reminder_snooze(reminder_id: int):
    me = current_actor()
    notes.my_reminder(me, reminder_id)  # 404 before the form is read
    form = SnoozeForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        reminder = notes.snooze(me, reminder_id, form.until.data)
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc.message), "danger")
    else:
        flash(_("The reminder is snoozed until %(day)s.", day=reminder.due_on), "success")
    return redirect(_back(url_for("agent_workbench.reminders")))
