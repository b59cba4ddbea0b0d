"""Asset console: write-off (核销).

* Candidates (核销案件查询): the cases the active rules match, with filters; tick some and propose
  them, or propose every matching case at once (a reason is required).
* Proposals: the batches waiting for approval and those decided; the approvals pages decide them.
* The ledger (核销台账): filters, totals, the .xlsx export (a large one as a job), one line with its
  recoveries and the request to reverse it.
* Rules (核销案件配置): list, add, change, deactivate; the threshold above which a batch needs a
  second approver.

The rules are ``writeoffs.writeoffs``; these views parse, call one service and render.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from typing import Any

from flask import current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from arrears.auth.models import User
from arrears.auth.principal import permission_required
from arrears.errors import DomainError, NotFound
from arrears.web.current import current_actor, page_number
from arrears.web.forms import show_error
from arrears.writeoffs import ledger as writeoff_ledger
from arrears.writeoffs import proposals
from arrears.writeoffs import writeoffs as service
from arrears.writeoffs.models import WriteOffRule
from asset_console.views import bp

PER_PAGE = 50


class RuleForm(FlaskForm):
    # checked by the service, which names the wrong field
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    dpd_min = StringField(_l("Days past due at least"), default="180")
    quiet_days = StringField(_l("No payment for (days)"), validators=[Optional()])
    products = StringField(_l("Products (comma-separated; empty: any)"), validators=[Optional()])
    amount_min = StringField(_l("Outstanding from"), validators=[Optional()])
    amount_max = StringField(_l("Outstanding up to"), validators=[Optional()])
    keep_placement = BooleanField(_l("The agency keeps the case to recover after write-off"))
    active = BooleanField(_l("Active"), default=True)
    submit = SubmitField(_l("Save"))


class ThresholdForm(FlaskForm):
    threshold = StringField(_l("Second approval above"), validators=[DataRequired()])
    submit = SubmitField(_l("Save"))


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=1000)])
    submit = SubmitField(_l("Submit"))


class CandidateFilterForm(FlaskForm):
    class Meta:
        csrf = False

    rule_id = SelectField(_l("Rule"), coerce=str, validators=[Optional()])
    product = StringField(_l("Product"), validators=[Optional()])
    loan_no = StringField(_l("Loan number"), validators=[Optional()])
    sort = SelectField(_l("Sort"), choices=[(k, v) for k, v in service.SORTS.items()], default="dpd")


class LedgerFilterForm(FlaskForm):
    class Meta:
        csrf = False

    date_from = StringField(_l("Written off from"), validators=[Optional()])
    date_to = StringField(_l("to"), validators=[Optional()])
    status = SelectField(
        _l("Status"), choices=[(k, v) for k, v in service.LEDGER_STATUSES.items()], validators=[Optional()]
    )
    agency_id = SelectField(_l("Agency"), coerce=str, validators=[Optional()])
    loan_no = StringField(_l("Loan number"), validators=[Optional()])


def _candidate_filter(me: User) -> tuple[CandidateFilterForm, service.CandidateFilter]:
    form = CandidateFilterForm(request.args)
    form.rule_id.choices = [("", _("Any active rule"))] + [
        (str(r.id), r.name) for r in service.rules(me, active_only=True)
    ]
    rule = form.rule_id.data or ""
    f = service.CandidateFilter(
        rule_id=int(rule) if rule.isdigit() else None,
        product=(form.product.data or "").strip() or None,
        loan_no=(form.loan_no.data or "").strip() or None,
        sort="amount" if form.sort.data == "amount" else "dpd",
    )
    return form, f


def _day(raw: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw.strip()) if raw and raw.strip() else None
    except ValueError:
        return None


def _ledger_filter(me: User) -> tuple[LedgerFilterForm, writeoff_ledger.LedgerFilter]:
    form = LedgerFilterForm(request.args)
    form.agency_id.choices = [("", _("All"))] + [(str(i), n) for i, n in writeoff_ledger.agency_choices(me)]
    agency = form.agency_id.data or ""
    status = form.status.data if form.status.data in service.LEDGER_STATUSES else ""
    f = writeoff_ledger.LedgerFilter(
        date_from=_day(form.date_from.data),
        date_to=_day(form.date_to.data),
        status=status or None,
        agency_id=int(agency) if agency.isdigit() else None,
        loan_no=(form.loan_no.data or "").strip() or None,
    )
    return form, f


def _args(**extra: Any) -> dict[str, Any]:
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return {**args, **extra}


def _near(endpoint: str, page: service.Page) -> dict[str, str | None]:
    """The links to the previous and the next page, keeping the filters."""
    return {
        "prev_url": url_for(endpoint, **_args(page=page.page - 1)) if page.has_prev else None,
        "next_url": url_for(endpoint, **_args(page=page.page + 1)) if page.has_next else None,
    }


# --- candidates (核销案件查询) -------------------------------------------------------------------------


def _candidates_page(reason: ReasonForm | None = None, status: int = 200) -> Any:
    me = current_actor()
    form, f = _candidate_filter(me)
    page = service.candidates_page(me, f, page=page_number(), per_page=PER_PAGE)
    return (
        render_template(
            "asset_console/writeoff_candidates.html",
            form=form,
            page=page,
            reason_form=reason or ReasonForm(formdata=None),
            can_propose=me.can("writeoffs.propose"),
            has_rules=bool(service.rules(me, active_only=True)),
            **_near("asset_console.writeoffs", page),
        ),
        status,
    )


@bp.route("/writeoffs")
@permission_required("writeoffs.view")
def writeoffs() -> Any:
    return _candidates_page()


@bp.route("/writeoffs/propose", methods=["POST"])
@permission_required("writeoffs.propose")
def writeoffs_propose() -> Any:
    me = current_actor()
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Say why these loans are written off."), "danger")
        return _candidates_page(form, 400)
    try:
        if request.form.get("all") == "1":
            _filters, f = _candidate_filter(me)
            done = proposals.propose_candidates(me, f, form.reason.data or "")
        else:
            done = proposals.propose(me, request.form.getlist("case_ids"), form.reason.data or "")
    except NotFound:
        raise
    except DomainError as exc:
        show_error(form, exc)
        return _candidates_page(form, exc.status)
    flash(
        _(
            "%(count)d loans (%(total)s) were proposed for write-off; they wait for approval.",
            count=done.count,
            total=f"{done.total:,.2f}",
        ),
        "success",
    )
    return redirect(url_for("asset_console.writeoffs_proposals"))


# --- proposals -------------------------------------------------------------------------------------


@bp.route("/writeoffs/proposals")
@permission_required("writeoffs.view")
def writeoffs_proposals() -> Any:
    me = current_actor()
    status = request.args.get("status", "pending")
    if status not in ("pending", "decided", "all"):
        status = "pending"
    page = proposals.batches(me, status=None if status == "all" else status, page=page_number())
    return render_template(
        "asset_console/writeoff_proposals.html",
        page=page,
        status=status,
        stage_labels=service.STAGE_LABELS,
        **_near("asset_console.writeoffs_proposals", page),
    )


# --- the ledger (核销台账) ---------------------------------------------------------------------------


@bp.route("/writeoffs/ledger")
@permission_required("writeoffs.view")
def writeoffs_ledger() -> Any:
    me = current_actor()
    form, f = _ledger_filter(me)
    page = writeoff_ledger.ledger_page(me, f, page=page_number(), per_page=PER_PAGE)
    return render_template(
        "asset_console/writeoff_ledger.html",
        form=form,
        page=page,
        statuses=service.LEDGER_STATUSES,
        can_export=me.can("cases.export"),
        export_url=url_for("asset_console.writeoffs_export", **_args()),
        **_near("asset_console.writeoffs_ledger", page),
    )


@bp.route("/writeoffs/ledger/export")
@permission_required("writeoffs.view", "cases.export")
def writeoffs_export() -> Any:
    me = current_actor()
    _form, f = _ledger_filter(me)
    if writeoff_ledger.ledger_count(me, f) > current_app.config.get(
        "EXPORT_INLINE_MAX", writeoff_ledger.INLINE_MAX
    ):
        job_id = writeoff_ledger.start_export_job(me, f)
        flash(_("The export runs in the background; download it here when it is ready."), "info")
        return redirect(url_for("asset_console.orgs.job_detail", job_id=job_id))
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (send_file closes it)
    writeoff_ledger.export_xlsx(me, f, spool)
    spool.seek(0)
    return send_file(
        spool,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name="write-offs.xlsx",
    )


def _detail_page(write_off_id: int, form: ReasonForm | None = None, status: int = 200) -> Any:
    me = current_actor()
    write_off = service.get_write_off_for(me, write_off_id)
    detail = writeoff_ledger.detail(me, write_off)
    return (
        render_template(
            "asset_console/writeoff_detail.html",
            d=detail,
            w=write_off,
            form=form or ReasonForm(formdata=None),
            statuses=service.LEDGER_STATUSES,
            stage_labels=service.STAGE_LABELS,
            can_request=me.can("writeoffs.propose"),
        ),
        status,
    )


@bp.route("/writeoffs/<int:write_off_id>")
@permission_required("writeoffs.view")
def writeoff_detail(write_off_id: int) -> Any:
    return _detail_page(write_off_id)


@bp.route("/writeoffs/<int:write_off_id>/reversal", methods=["POST"])
@permission_required("writeoffs.view")
def writeoff_reversal(write_off_id: int) -> Any:
    me = current_actor()
    write_off = service.get_write_off_for(me, write_off_id)  # 404 before the form is read
    form = ReasonForm()
    if not form.validate_on_submit():
        flash(_("Say why the write-off is reversed."), "danger")
        return _detail_page(write_off_id, form, 400)
    try:
        approval = service.request_reversal(me, write_off, form.reason.data or "")
    except NotFound:
        raise
    except DomainError as exc:
        show_error(form, exc)
        return _detail_page(write_off_id, form, exc.status)
    flash(_("The reversal was asked for; it waits for approval."), "success")
    return redirect(url_for("asset_console.approvals.approval_detail", approval_id=approval.id))


# --- rules (核销案件配置) --------------------------------------------------------------------------------


@bp.route("/writeoffs/rules", methods=["GET", "POST"])
@permission_required("writeoffs.view")
def writeoffs_rules() -> Any:
    me = current_actor()
    form = ThresholdForm(formdata=None, threshold=f"{service.threshold(me.org):.2f}")
    status = 200
    if request.method == "POST":
        form = ThresholdForm()
        if form.validate_on_submit():
            try:
                service.set_threshold(me, form.threshold.data or "")
            except DomainError as exc:
                show_error(form, exc)
                status = exc.status
            else:
                flash(_("The threshold was saved."), "success")
                return redirect(url_for("asset_console.writeoffs_rules"))
        else:
            status = 400
    return (
        render_template(
            "asset_console/writeoff_rules.html",
            rules=service.rules(me),
            form=form,
            can_configure=me.can("writeoffs.configure"),
        ),
        status,
    )


def _rule_values(form: RuleForm) -> dict[str, Any]:
    return {
        "name": form.name.data,
        "dpd_min": form.dpd_min.data,
        "quiet_days": form.quiet_days.data,
        "products": form.products.data or "",
        "amount_min": form.amount_min.data,
        "amount_max": form.amount_max.data,
        "keep_placement": bool(form.keep_placement.data),
        "active": bool(form.active.data),
    }


def _rule_form(rule: WriteOffRule | None) -> Any:
    me = current_actor()
    if rule is None or request.method == "POST":
        form = RuleForm()
    else:
        form = RuleForm(
            formdata=None,
            name=rule.name,
            dpd_min=str(rule.dpd_min),
            quiet_days=str(rule.quiet_days or ""),
            products=", ".join(rule.products or []),
            amount_min=str(rule.amount_min) if rule.amount_min is not None else "",
            amount_max=str(rule.amount_max) if rule.amount_max is not None else "",
            keep_placement=rule.keep_placement,
            active=rule.active,
        )
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                service.save_rule(me, rule, _rule_values(form))
            except NotFound:
                raise
            except DomainError as exc:
                show_error(form, exc)
                status = exc.status
            else:
                flash(_("The rule was saved."), "success")
                return redirect(url_for("asset_console.writeoffs_rules"))
        else:
            status = 400
    return render_template("asset_console/writeoff_rule_form.html", form=form, rule=rule), status


@bp.route("/writeoffs/rules/new", methods=["GET", "POST"])
@permission_required("writeoffs.configure")
def writeoff_rule_new() -> Any:
    return _rule_form(None)


@bp.route("/writeoffs/rules/<int:rule_id>", methods=["GET", "POST"])
@permission_required("writeoffs.view")
def writeoff_rule_edit(rule_id: int) -> Any:
    rule = service.get_rule_for(current_actor(), rule_id)  # 404 before anything else
    return _rule_form(rule)


@bp.route("/writeoffs/rules/<int:rule_id>/deactivate", methods=["POST"])
@permission_required("writeoffs.view")
def writeoff_rule_deactivate(rule_id: int) -> Any:
    me = current_actor()
    rule = service.get_rule_for(me, rule_id)
    try:
        service.deactivate_rule(me, rule)
    except NotFound:
        raise
    except DomainError as exc:
        flash(str(exc.message), "danger")
    else:
        flash(_("The rule was deactivated."), "success")
    return redirect(url_for("asset_console.writeoffs_rules"))
