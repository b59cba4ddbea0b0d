"""Collection-work pages shared by the agency console and the asset console: the applications (申请)
with the inbox of those waiting at the reader's level, one application with its stage path and the
decision, the collection notes (催记) and the promises to pay of the cases in the reader's scope, the
download of a case's attachment, and the organisation's result codes.

``register(bp)`` adds the views and their navigation entries to a console blueprint; endpoints and
links are built from the blueprint's name. Every id goes through ``tenancy.loaders`` (missing and
foreign: 404); the lists and the rules are ``work.queries``, ``work.applications``,
``work.attachments`` and ``work.notes``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, SubmitField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from arrears.auth.models import User
from arrears.auth.principal import permission_required
from arrears.errors import DomainError
from arrears.orgs import queries as org_queries
from arrears.tenancy.models import OrgKind
from arrears.web import files
from arrears.web.console import NavItem, add_nav, ep, has_view, nest
from arrears.web.current import current_actor
from arrears.web.forms import DecisionForm
from arrears.work import applications as application_service
from arrears.work import attachments as attachment_service
from arrears.work import notes as note_service
from arrears.work import queries as work_queries
from arrears.work.loaders import get_application_for
from arrears.work.models import ApplicationKind, ApplicationStatus, ContactParty, NoteAction, PromiseStatus

# the fields a domain error may name, as the reader knows them
FIELD_LABELS: dict[str, Any] = {
    "waive_penalty": _l("Penalty"),
    "waive_interest": _l("Interest"),
    "waive_fee": _l("Fees"),
    "amount": _l("Amount"),
    "note": _l("Note"),
    "code": _l("Code"),
    "label": _l("Label"),
}


def _error_text(exc: DomainError) -> str:
    label = FIELD_LABELS.get(exc.field or "")
    return f"{label}: {exc.message}" if label is not None else str(exc.message)


def _case_endpoint() -> str | None:
    return ep("case_detail") if has_view("case_detail") else None


def _page_size() -> int:
    """Rows per page of the lists (the application setting ``WORK_PAGE_SIZE``; tests set it low)."""
    return int(current_app.config.get("WORK_PAGE_SIZE", work_queries.PAGE))


def _int(raw: Any) -> int | None:
    text = str(raw or "")
    return int(text) if text.isdigit() and len(text) < 19 else None


# --- forms (the lists' filters are GET forms without CSRF) ------------------------------------------------


class _Filter(FlaskForm):
    class Meta:
        csrf = False

    holder = SelectField(_l("Done by"), default="", validate_choice=False)
    loan_no = StringField(_l("Loan number"), validators=[Optional(), Length(max=64)])


class NoteFilterForm(_Filter):
    author_id = SelectField(_l("Author"), default="", validate_choice=False)
    result_code = SelectField(_l("Result"), default="", validate_choice=False)
    action = SelectField(_l("Action"), default="", validate_choice=False)
    contacted = SelectField(
        _l("Someone reached"),
        choices=[("", "—"), ("yes", _l("yes")), ("no", _l("no"))],
        default="",
        validate_choice=False,
    )
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])


class PromiseFilterForm(_Filter):
    status = SelectField(_l("Status"), default="", validate_choice=False)
    collector_id = SelectField(_l("Collector"), default="", validate_choice=False)
    due_from = DateField(_l("Due from"), validators=[Optional()])
    due_to = DateField(_l("Due to"), validators=[Optional()])


class ApplicationFilterForm(_Filter):
    status = SelectField(_l("Status"), default="", validate_choice=False)
    kind = SelectField(_l("Kind"), default="", validate_choice=False)


class ResultCodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])
    label = StringField(_l("Label"), validators=[Optional(), Length(max=80)])
    contacted = BooleanField(_l("Someone was reached"))
    active = BooleanField(_l("Offered in the note form"), default=True)
    position = IntegerField(_l("Order"), default=100, validators=[Optional(), NumberRange(min=0, max=9999)])
    submit = SubmitField(_l("Save"))


def _holder_choices(me: User) -> list[tuple[str, str]]:
    if me.org.kind != OrgKind.ASSET_OWNER:
        return []
    return [
        ("", "—"),
        (work_queries.IN_HOUSE, _("our own collectors")),
        *((str(i), name) for i, name in org_queries.agency_choices(me)),
    ]


def _people_choices(me: User) -> list[tuple[str, str]]:
    return [("", "—"), *((str(i), name) for i, name in work_queries.people_choices(me))]


# --- the pages ---------------------------------------------------------------------------------------------


pages = Blueprint("work", __name__, template_folder="templates")


def install(console: Blueprint) -> None:
    """Nest the collection-work pages in ``console``: applications, notes and promises before the
    approvals in its navigation, the result codes before its settings."""
    nest(console, pages)
    add_nav(
        console,
        pages,
        [
            NavItem("applications", _l("Applications"), "work.view", badge=work_queries.inbox_count),
            NavItem("notes", _l("Collection notes"), "work.view"),
            NavItem("promises", _l("Promises to pay"), "work.view"),
        ],
        before="approvals.approvals",
    )
    add_nav(
        console,
        pages,
        [NavItem("result_codes", _l("Result codes"), "org.settings.manage")],
        before="orgs.settings",
    )


def render(template: str, **context: Any) -> str:
    return render_template(template, case_endpoint=_case_endpoint(), **context)


def _readers_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Applications are read with ``work.view`` or decided with an approval right."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not work_queries.may_read_applications(current_actor()):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


# --- applications -------------------------------------------------------------------------------------


@pages.route("/applications")
@_readers_only
def applications():
    me = current_actor()
    decider, reader = work_queries.may_decide_any(me), me.can("work.view")
    box = request.args.get("box")
    if box not in ("inbox", "all"):
        box = "inbox" if decider else "all"
    if (box == "inbox" and not decider) or (box == "all" and not reader):
        box = "all" if reader else "inbox"
    form = ApplicationFilterForm(request.args)
    form.holder.choices = _holder_choices(me)
    form.status.choices = [("", "—")] + [
        (s.value, str(label)) for s, label in application_service.STATUS_LABELS.items()
    ]
    form.kind.choices = [("", "—")] + [
        (k.value, str(label)) for k, label in application_service.KIND_LABELS.items()
    ]
    form.validate()
    after = request.args.get("after")
    if box == "inbox":
        page = work_queries.inbox_page(me, after=after, limit=_page_size())
    else:
        page = work_queries.applications_page(
            me,
            work_queries.ApplicationFilter(
                status=form.status.data or None,
                kind=form.kind.data or None,
                holder=form.holder.data or None,
                loan_no=(form.loan_no.data or "").strip() or None,
            ),
            after=after,
            limit=_page_size(),
        )
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "after" and v}
    args["box"] = box
    return render(
        "work/applications.html",
        box=box,
        form=form,
        page=page,
        decider=decider,
        reader=reader,
        waiting=work_queries.inbox_count(me) if decider else None,
        next_url=url_for(ep("applications"), after=page.after, **args) if page.after else None,
        first_url=url_for(ep("applications"), **args) if after else None,
    )


def _application_page(application_id: int, form: DecisionForm, status: int = 200) -> Any:
    me = current_actor()
    application = get_application_for(me, application_id)
    detail = work_queries.application_detail(me, application)
    return (
        render(
            "work/application.html",
            d=detail,
            a=application,
            form=form,
            repayment=application.kind == ApplicationKind.REPAYMENT,
        ),
        status,
    )


@pages.route("/applications/<int:application_id>")
@_readers_only
def application_detail(application_id: int):
    return _application_page(application_id, DecisionForm(formdata=None))


@pages.route("/applications/<int:application_id>/decision", methods=["POST"])
@_readers_only
def application_decide(application_id: int):
    me = current_actor()
    application = get_application_for(me, application_id)
    form = DecisionForm()
    if not form.validate_on_submit():
        flash(_("The data is not valid."), "danger")
        return _application_page(application.id, form, 400)
    approve = not form.reject.data
    try:
        decided = application_service.decide(me, application, approve=approve, note=form.note.data or "")
    except DomainError as exc:
        flash(_error_text(exc), "danger")
        return _application_page(application.id, form, exc.status)
    if decided.status == ApplicationStatus.APPROVED:
        flash(_("The application was approved."), "success")
    elif decided.status == ApplicationStatus.REJECTED:
        flash(_("The application was rejected."), "success")
    else:
        flash(_("You passed the application on: it now waits for the next level."), "success")
    return redirect(url_for(ep("application_detail"), application_id=application.id))


# --- attachments ---------------------------------------------------------------------------------------


@pages.route("/attachments/<int:attachment_id>/download")
def attachment_download(attachment_id: int):
    return files.attachment_download(*attachment_service.open_for(current_actor(), attachment_id))


# --- collection notes and promises --------------------------------------------------------------------


@pages.route("/notes")
@permission_required("work.view")
def notes():
    me = current_actor()
    form = NoteFilterForm(request.args)
    form.holder.choices = _holder_choices(me)
    form.author_id.choices = _people_choices(me)
    form.result_code.choices = [("", "—"), *work_queries.result_code_choices(me)]
    form.action.choices = [("", "—")] + [
        (a.value, str(label)) for a, label in note_service.ACTION_LABELS.items()
    ]
    form.validate()
    f = work_queries.NoteFilter(
        author_id=_int(form.author_id.data),
        holder=form.holder.data or None,
        result_code=form.result_code.data or None,
        action=form.action.data if form.action.data in {a.value for a in NoteAction} else None,
        contacted={"yes": True, "no": False}.get(form.contacted.data or ""),
        since=form.since.data if not form.since.errors else None,
        until=form.until.data if not form.until.errors else None,
        loan_no=(form.loan_no.data or "").strip() or None,
    )
    after = request.args.get("after")
    page = work_queries.notes_page(me, f, after=after, limit=_page_size())
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "after" and v}
    return render(
        "work/notes.html",
        form=form,
        page=page,
        owner=me.org.kind == OrgKind.ASSET_OWNER,
        parties=[p.value for p in ContactParty],
        next_url=url_for(ep("notes"), after=page.after, **args) if page.after else None,
        first_url=url_for(ep("notes"), **args) if after else None,
    )


@pages.route("/promises")
@permission_required("work.view")
def promises():
    me = current_actor()
    form = PromiseFilterForm(request.args)
    form.holder.choices = _holder_choices(me)
    form.collector_id.choices = _people_choices(me)
    form.status.choices = [("", "—")] + [
        (s.value, str(label)) for s, label in note_service.PROMISE_LABELS.items()
    ]
    form.validate()
    f = work_queries.PromiseFilter(
        status=form.status.data if form.status.data in {s.value for s in PromiseStatus} else None,
        due_from=form.due_from.data if not form.due_from.errors else None,
        due_to=form.due_to.data if not form.due_to.errors else None,
        collector_id=_int(form.collector_id.data),
        holder=form.holder.data or None,
        loan_no=(form.loan_no.data or "").strip() or None,
    )
    after = request.args.get("after")
    page = work_queries.promises_page(me, f, after=after, limit=_page_size())
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "after" and v}
    return render(
        "work/promises.html",
        form=form,
        page=page,
        owner=me.org.kind == OrgKind.ASSET_OWNER,
        next_url=url_for(ep("promises"), after=page.after, **args) if page.after else None,
        first_url=url_for(ep("promises"), **args) if after else None,
    )


# --- result codes -------------------------------------------------------------------------------------


@pages.route("/settings/result-codes", methods=["GET", "POST"])
@permission_required("org.settings.manage")
def result_codes():
    me = current_actor()
    form = ResultCodeForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                saved = note_service.set_result_code(
                    me,
                    form.code.data or "",
                    form.label.data or "",
                    contacted=bool(form.contacted.data),
                    active=bool(form.active.data),
                    position=form.position.data if form.position.data is not None else 100,
                )
            except DomainError as exc:
                field = getattr(form, exc.field or "", None)
                if field is not None:
                    field.errors = [*list(field.errors), str(exc.message)]
                flash(_error_text(exc), "danger")
                status = exc.status
            else:
                flash(_("The result code %(code)s was saved.", code=saved.code), "success")
                return redirect(url_for(ep("result_codes")))
        else:
            problems = [str(m) for messages in form.errors.values() for m in messages]
            message = "; ".join(problems) or _("The data is not valid.")  # the form's messages, translated
            flash(message, "danger")
            status = 422
    return (
        render(
            "work/result_codes.html",
            rows=work_queries.result_code_rows(me),
            form=form,
            adding=request.method == "POST" and request.form.get("new") == "1",
        ),
        status,
    )
