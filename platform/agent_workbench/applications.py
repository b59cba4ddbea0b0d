"""Workbench: applications (申请) on a case: a repayment the debtor made (还款申请) and a reduction
(减免申请), with evidence files; my applications and where each one waits; withdrawing one.

The decision is taken elsewhere (the team lead and the agency manager in the agency console, the
owner in the asset console); the applicant sees its status and the trail here, and gets a reminder
when it is decided (``work.applications``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from agent_workbench.forms import ReductionForm, RepaymentForm
from agent_workbench.views import _case, _render_case, bp
from arrears.auth.models import User
from arrears.cases import cases as case_service
from arrears.errors import DomainError, NotFound
from arrears.web.current import current_actor
from arrears.web.forms import ConfirmForm, show_error
from arrears.work import applications
from arrears.work.loaders import get_application_for
from arrears.work.models import ApplicationStatus
from arrears.work.notes import parse_day

STATUSES = {
    "": _l("All"),
    ApplicationStatus.PENDING.value: _l("Pending"),
    ApplicationStatus.APPROVED.value: _l("Approved"),
    ApplicationStatus.REJECTED.value: _l("Rejected"),
    ApplicationStatus.CANCELLED.value: _l("Withdrawn"),
}


def _files(form: Any) -> list[tuple[str, bytes]]:
    return [(f.filename or "", f.read()) for f in request.files.getlist(form.file.name) if f and f.filename]


@bp.route("/cases/<int:case_id>/applications/repayment", methods=["POST"])
def apply_repayment(case_id: int):
    def request_(me: User, case_id: int, form: Any) -> Any:
        return applications.request_repayment(
            me,
            case_id,
            amount=form.amount.data,
            paid_on=parse_day(form.paid_on.data, "paid_on"),
            channel=form.channel.data or "",
            reason=form.reason.data or "",
            files=_files(form),
        )

    return _apply(case_id, RepaymentForm, "repayment", request_)


@bp.route("/cases/<int:case_id>/applications/reduction", methods=["POST"])
def apply_reduction(case_id: int):
    def request_(me: User, case_id: int, form: Any) -> Any:
        return applications.request_reduction(
            me,
            case_id,
            waive_penalty=form.waive_penalty.data,
            waive_interest=form.waive_interest.data,
            waive_fee=form.waive_fee.data,
            reason=form.reason.data or "",
            files=_files(form),
        )

    return _apply(case_id, ReductionForm, "reduction", request_)


def _apply(case_id: int, form_class: Any, name: str, request_: Callable[[User, int, Any], Any]) -> Any:
    """File an application from its form; on a refusal, the case page again with the form (the
    message next to its field), 422."""
    me = current_actor()
    case = _case(me, case_id)  # 404 before the form is read
    form = form_class()
    if form.validate_on_submit():
        try:
            made = request_(me, case.id, form)
        except DomainError as exc:
            show_error(form, exc)
        else:
            _announce(made)
            return redirect(url_for("agent_workbench.case_detail", case_id=case.id, tab="applications"))
    elif form.csrf_token.errors:
        flash(_("The form has expired; please try again."), "danger")
    return _render_case(me, case, "applications", **{name: form}), 422


def _announce(made: Any) -> None:
    view = applications.view(made)
    flash(
        _(
            "Your application of %(amount)s was sent; it waits for: %(level)s.",
            amount=made.amount,
            level=view["stage_label"],
        ),
        "success",
    )


@bp.route("/applications")
def my_applications():
    me = current_actor()
    status = request.args.get("status", "")
    wanted = ApplicationStatus(status) if status in {s.value for s in ApplicationStatus} else None
    found = applications.mine(me, status=wanted)
    return render_template(
        "agent_workbench/applications.html",
        rows=[applications.view(a) for a in found],
        loans=case_service.loan_numbers([a.case_id for a in found]),
        status=status if wanted else "",
        statuses=STATUSES,
        level_label=applications.level_label,
        cancel=ConfirmForm(formdata=None),
    )


@bp.route("/applications/<int:application_id>/cancel", methods=["POST"])
def cancel_application(application_id: int):
    me = current_actor()
    application = get_application_for(me, application_id)
    if application.requested_by_id != me.id:
        raise NotFound()  # only one's own are withdrawn here
    if ConfirmForm().validate_on_submit():
        try:
            applications.cancel(me, application)
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("The application was withdrawn."), "success")
    return redirect(url_for("agent_workbench.my_applications"))
