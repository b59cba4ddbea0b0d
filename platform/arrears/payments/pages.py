"""Pieces of the repayment pages (还款) shared by the three consoles: the records' filter form and
list, the forms of the owner's audit, reversal, manual entry and allocation order.

The consoles register their own routes (they never import each other) and call ``records`` for the
list; what a page reads is ``payments.queries``, what it changes ``payments.repayments``. ``pages``
has no views of its own: nested in the consoles that show repayments, it brings the templates
(``repayments/...``) that live beside this module.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from arrears.auth.models import User
from arrears.cases import ledger
from arrears.payments import queries as repayment_pages
from arrears.payments.models import RepaymentSource, RepaymentStatus
from arrears.payments.records import RepaymentFilter

pages = Blueprint("payments", __name__, template_folder="templates")

# the fields a domain error of the repayment services may name, as the reader knows them
FIELD_LABELS: dict[str, Any] = {
    "amount": _l("Amount"),
    "paid_at": _l("Paid at"),
    "channel": _l("Channel"),
    "reference": _l("Reference"),
    "note": _l("Note"),
    "reason": _l("Why"),
    "core_id": _l("Core system's record"),
    "repayment_order": _l("Order"),
}


def error_text(exc: Any) -> str:
    label = FIELD_LABELS.get(exc.field or "")
    return f"{label}: {exc.message}" if label is not None else str(exc.message)


def field_error(form: Any, exc: Any) -> bool:
    """Put a domain error next to the form's field it names; whether there was such a field."""
    target = getattr(form, exc.field or "", None)
    if target is None or not hasattr(target, "errors"):
        return False
    target.errors = [*list(target.errors), str(exc.message)]
    return True


# --- the records' filters (a GET form, no CSRF) ----------------------------------------------------------


class RepaymentFilterForm(FlaskForm):
    class Meta:
        csrf = False

    status = SelectField(_l("Status"), default="", validate_choice=False)
    source = SelectField(_l("Source"), default="", validate_choice=False)
    loan_no = StringField(_l("Loan number"), validators=[Optional(), Length(max=64)])
    transaction_id = StringField(_l("Transaction id"), validators=[Optional(), Length(max=64)])
    agency_id = SelectField(_l("Agency"), default="", validate_choice=False)
    paid_from = DateField(_l("Paid from"), validators=[Optional()])
    paid_to = DateField(_l("Paid to"), validators=[Optional()])


def filter_form(me: User, *, agencies: bool) -> RepaymentFilterForm:
    form = RepaymentFilterForm(request.args)
    form.status.choices = [("", "—")] + [
        (s.value, str(label)) for s, label in repayment_pages.STATUS_LABELS.items()
    ]
    form.source.choices = [("", "—")] + [
        (s.value, str(label)) for s, label in repayment_pages.SOURCE_LABELS.items()
    ]
    form.agency_id.choices = (
        [("", "—"), *((str(i), name) for i, name in repayment_pages.agency_choices(me))] if agencies else []
    )
    form.validate()
    return form


def filters(form: RepaymentFilterForm) -> RepaymentFilter:
    """The filter the form asks for; a value that is not valid is left out (the form shows why)."""
    agency = str(form.agency_id.data or "") if form.agency_id.choices else ""
    return RepaymentFilter(
        status=form.status.data if form.status.data in {s.value for s in RepaymentStatus} else None,
        source=form.source.data if form.source.data in {s.value for s in RepaymentSource} else None,
        loan_no=(form.loan_no.data or "").strip()[:64] or None,
        transaction_id=(form.transaction_id.data or "").strip()[:64] or None,
        agency_id=int(agency) if agency.isdigit() and len(agency) < 19 else None,
        paid_from=form.paid_from.data if not form.paid_from.errors else None,
        paid_to=form.paid_to.data if not form.paid_to.errors else None,
    )


def page_size() -> int:
    """Rows per page (the application setting ``WORK_PAGE_SIZE``, as the work pages; tests set it low)."""
    return int(current_app.config.get("WORK_PAGE_SIZE", repayment_pages.PAGE))


def records(
    endpoint: str,
    *,
    me: User,
    own: bool = False,
    agencies: bool = False,
    title: str,
    case_endpoint: str | None,
    detail_endpoint: str | None = None,
    export_endpoint: str | None = None,
    intro: str = "",
) -> str:
    """The list of repayment records (还款记录) with its filters and keyset pages."""
    form = filter_form(me, agencies=agencies)
    after = request.args.get("after")
    page = repayment_pages.records_page(me, filters(form), own=own, after=after, limit=page_size())
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k != "after" and v}
    return render_template(
        "repayments/records.html",
        title=title,
        intro=intro,
        form=form,
        page=page,
        agencies=agencies,
        case_endpoint=case_endpoint,
        detail_endpoint=detail_endpoint,
        export_url=url_for(export_endpoint, **args) if export_endpoint else None,
        components=repayment_pages.COMPONENTS,
        component_labels=repayment_pages.COMPONENT_LABELS,
        next_url=url_for(endpoint, after=page.after, **args) if page.after else None,
        first_url=url_for(endpoint, **args) if after else None,
    )


# --- the owner's forms (Flask-WTF: CSRF on every form that posts) -------------------------------------------


class AuditForm(FlaskForm):
    """The owner's decision on a collector's report: confirm, match to a core record, reject."""

    core_id = StringField(_l("Core system's record"), validators=[Optional(), Length(max=20)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=300)])
    confirm = SubmitField(_l("Confirm and apply"))
    match = SubmitField(_l("Match"))
    reject = SubmitField(_l("Reject"))


class ReversalForm(FlaskForm):
    reason = TextAreaField(_l("Why"), validators=[Optional(), Length(max=300)])
    submit = SubmitField(_l("Reverse the payment"))


class ManualRepaymentForm(FlaskForm):
    """A payment the owner's staff enter by hand (a branch receipt): checked by the service."""

    amount = StringField(_l("Amount"), validators=[Optional(), Length(max=24)])
    paid_at = StringField(_l("Paid at"), validators=[Optional(), Length(max=40)])
    channel = StringField(_l("Channel"), validators=[Optional(), Length(max=64)])
    reference = StringField(_l("Reference (the receipt's number)"), validators=[Optional(), Length(max=64)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=300)])
    submit = SubmitField(_l("Enter the payment"))


ORDER_FIELDS = ("first", "second", "third", "fourth")


class OrderForm(FlaskForm):
    first = SelectField(_l("First"), validate_choice=False)
    second = SelectField(_l("Second"), validate_choice=False)
    third = SelectField(_l("Third"), validate_choice=False)
    fourth = SelectField(_l("Fourth"), validate_choice=False)
    submit = SubmitField(_l("Save"))


def order_form(order: tuple[str, ...] | list[str], *, formdata: bool) -> OrderForm:
    form = OrderForm() if formdata else OrderForm(formdata=None)
    choices = [(c, str(ledger.COMPONENT_LABELS[c])) for c in ledger.COMPONENTS]
    for name, component in zip(ORDER_FIELDS, order, strict=False):
        target = getattr(form, name)
        target.choices = choices
        if not formdata:
            target.data = component
    return form


def order_text(order: tuple[str, ...] | list[str]) -> str:
    return " → ".join(str(ledger.COMPONENT_LABELS.get(c, c)) for c in order)


def not_valid() -> str:
    return _("The data is not valid.")
