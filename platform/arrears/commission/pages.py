"""Commission (佣金) pages shared by the asset console and the agency console.

* Statements (佣金结算, the landing tab): filters by period and status, the list with payee, period,
  status and net, and the form that queues the settlement of a period (a job; the flash links to
  its page).
* One statement: its lines by bucket, its adjustments (a manual one added on a draft), approval (a
  draft), payment (an approved one), the .xlsx and .pdf documents, its records page by page.
* Records (佣金记录查询): filters (period, agency, kind, bucket, unsettled), pages, the .xlsx export.
* Contracts: the list, a new one (an owner: for a partner agency or its incentive; an agency: its
  incentive for its collectors), one contract with its versions (newest first) and the form of a new
  version, the end of a contract.

``register(bp)`` adds the views to a console blueprint; they take its URL prefix and endpoints. What
an organisation may do follows from ``commission.commission``: the payer acts on its statements and
contracts, the payee (an agency paid by an owner) reads them. Every object is loaded through
``tenancy.loaders``: missing and foreign ids are 404 before any form is read.
"""

from __future__ import annotations

import datetime as dt
import io
import tempfile
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from wtforms import BooleanField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from arrears.auth.models import User
from arrears.auth.principal import permission_required
from arrears.cases.cases import BUCKETS
from arrears.commission import commission as service
from arrears.commission import docs
from arrears.commission import statements as commission_statements
from arrears.commission.loaders import get_commission_contract_for, get_commission_statement_for
from arrears.commission.models import (
    CommissionContract,
    CommissionStatement,
    CommissionVersion,
    ContractKind,
    ContractStatus,
    RecordKind,
    StatementStatus,
    TierBasis,
)
from arrears.errors import DomainError, NotFound
from arrears.extensions import db
from arrears.orgs import queries as org_queries
from arrears.tenancy.models import OrgKind
from arrears.web.console import ep
from arrears.web.current import current_actor, page_number
from arrears.web.forms import ConfirmForm

PER_PAGE = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# the form field of each bucket's rate ("M4+" is no field name)
RATE_FIELDS: dict[str, str] = dict(
    zip(BUCKETS, ("rate_m0", "rate_m1", "rate_m2", "rate_m3", "rate_m4"), strict=True)
)
TIERS = 3
INCENTIVE = "incentive"


# --- forms ----------------------------------------------------------------------------------------------


class StatementFilterForm(FlaskForm):
    class Meta:
        csrf = False

    period = StringField(_l("Period (YYYY-MM)"), validators=[Optional(), Length(max=7)])
    status = SelectField(_l("Status"), default="", validate_choice=False)


class RecordFilterForm(FlaskForm):
    class Meta:
        csrf = False

    period = StringField(_l("Period (YYYY-MM)"), validators=[Optional(), Length(max=7)])
    agency_id = SelectField(_l("Agency"), default="", validate_choice=False)
    kind = SelectField(_l("Kind"), default="", validate_choice=False)
    bucket = SelectField(_l("Bucket"), default="", validate_choice=False)
    unsettled = BooleanField(_l("Unsettled only"))


class SettleForm(FlaskForm):
    period = StringField(_l("Period (YYYY-MM)"), validators=[Length(max=7)])
    submit = SubmitField(_l("Settle the period"))


class AdjustmentForm(FlaskForm):
    amount = StringField(_l("Amount (negative: a deduction)"), validators=[Length(max=24)])
    reason = TextAreaField(_l("Reason"), validators=[Length(max=500)])
    submit = SubmitField(_l("Add the adjustment"))


class PaidForm(FlaskForm):
    reference = StringField(_l("Payment reference"), validators=[Length(max=120)])
    submit = SubmitField(_l("Mark paid"))


class VersionForm(FlaskForm):
    """A contract version; the service checks every value and names the wrong field."""

    effective_from = StringField(_l("Effective from (YYYY-MM-DD)"), validators=[Length(max=10)])
    rate_m0 = StringField("M0", validators=[Length(max=16)])
    rate_m1 = StringField("M1", validators=[Length(max=16)])
    rate_m2 = StringField("M2", validators=[Length(max=16)])
    rate_m3 = StringField("M3", validators=[Length(max=16)])
    rate_m4 = StringField("M4+", validators=[Length(max=16)])
    tier_basis = SelectField(
        _l("Tiers reached by"),
        choices=[(k, v) for k, v in docs.TIER_BASIS_LABELS.items()],
        default=TierBasis.RECOVERY_RATE.value,
        validate_choice=False,
    )
    tier1_threshold = StringField(_l("Tier 1: threshold"), validators=[Optional(), Length(max=24)])
    tier1_bonus = StringField(_l("Tier 1: bonus rate"), validators=[Optional(), Length(max=16)])
    tier2_threshold = StringField(_l("Tier 2: threshold"), validators=[Optional(), Length(max=24)])
    tier2_bonus = StringField(_l("Tier 2: bonus rate"), validators=[Optional(), Length(max=16)])
    tier3_threshold = StringField(_l("Tier 3: threshold"), validators=[Optional(), Length(max=24)])
    tier3_bonus = StringField(_l("Tier 3: bonus rate"), validators=[Optional(), Length(max=16)])
    min_amount = StringField(_l("Minimum per period"), validators=[Optional(), Length(max=24)])
    cap_amount = StringField(_l("Cap per period"), validators=[Optional(), Length(max=24)])
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=500)])
    submit = SubmitField(_l("Save"))


class ContractForm(VersionForm):
    payee = SelectField(_l("Paid to"), default=INCENTIVE, validate_choice=False)
    name = StringField(_l("Name"), validators=[Length(max=120)])


# --- helpers --------------------------------------------------------------------------------------------


def _add_error(form: Any, field: str, message: str) -> bool:
    target = getattr(form, field, None)
    if target is None or not hasattr(target, "errors"):
        return False
    errors = target.errors if isinstance(target.errors, list) else list(target.errors)
    target.errors = [*errors, message]
    return True


def _show_error(form: Any, exc: DomainError, fields: dict[str, str] | None = None) -> None:
    """A service's error next to the field it names (``fields`` maps its names to the form's); a
    flash when no field of the form is named."""
    name = exc.field or ""
    target = (fields or {}).get(name, name)
    if not _add_error(form, target, str(exc.message)):
        flash(str(exc.message), "danger")


def _period_arg(form: Any) -> str | None:
    raw = (form.period.data or "").strip()
    if not raw:
        return None
    try:
        return service.check_period(raw)
    except DomainError as exc:
        _add_error(form, "period", str(exc.message))
        return None


def _version_raw(form: VersionForm) -> tuple[dict[str, Any], dict[str, str]]:
    """The version's primitives from the form, and the service's field names mapped to the form's."""
    fields: dict[str, str] = {f"rates.{b}": f for b, f in RATE_FIELDS.items()}
    fields["rates"] = RATE_FIELDS[BUCKETS[0]]
    tiers: list[dict[str, str]] = []
    for n in range(1, TIERS + 1):
        threshold = (getattr(form, f"tier{n}_threshold").data or "").strip()
        bonus = (getattr(form, f"tier{n}_bonus").data or "").strip()
        if not (threshold or bonus):
            continue
        i = len(tiers)
        fields[f"tiers.{i}"] = fields[f"tiers.{i}.threshold"] = f"tier{n}_threshold"
        fields[f"tiers.{i}.bonus_rate"] = f"tier{n}_bonus"
        tiers.append({"threshold": threshold, "bonus_rate": bonus})
    raw = {
        "effective_from": form.effective_from.data or "",
        "rates": {b: (getattr(form, f).data or "") for b, f in RATE_FIELDS.items()},
        "tier_basis": form.tier_basis.data or TierBasis.RECOVERY_RATE.value,
        "tiers": tiers,
        "min_amount": form.min_amount.data or "",
        "cap_amount": form.cap_amount.data or "",
        "note": form.note.data or "",
    }
    return raw, fields


def _fill_version(form: VersionForm, version: CommissionVersion) -> None:
    """A new version's form starts from the latest one (the effective date left to choose)."""
    for bucket, field in RATE_FIELDS.items():
        getattr(form, field).data = (version.rates or {}).get(bucket, "")
    form.tier_basis.data = version.tier_basis.value
    for n, tier in enumerate((version.tiers or [])[:TIERS], 1):
        getattr(form, f"tier{n}_threshold").data = tier.get("threshold", "")
        getattr(form, f"tier{n}_bonus").data = tier.get("bonus_rate", "")
    form.min_amount.data = "" if version.min_amount is None else str(version.min_amount)
    form.cap_amount.data = "" if version.cap_amount is None else str(version.cap_amount)


def _percent(value: Any) -> str:
    """A stored rate (a decimal string or Decimal) as a percentage for the pages."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value)) * 100
    except InvalidOperation:
        return str(value)
    return f"{number.normalize():f}%"


def _amount(value: Any) -> str:
    """A stored amount (a decimal string or Decimal) with two decimals."""
    if value is None or value == "":
        return "—"
    try:
        return f"{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)


def _send_xlsx(write: Any, name: str) -> Any:
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (send_file closes it)
    write(spool)
    spool.seek(0)
    return send_file(spool, mimetype=XLSX, as_attachment=True, download_name=name)


# --- the pages ------------------------------------------------------------------------------------------


pages = Blueprint("commission", __name__, template_folder="templates")


def render(template: str, **context: Any) -> str:
    me = current_actor()
    return render_template(
        template,
        ep=ep,
        owner=me.org.kind == OrgKind.ASSET_OWNER,
        status_labels=docs.STATUS_LABELS,
        status_colours=docs.STATUS_COLOURS,
        kind_labels=docs.RECORD_KIND_LABELS,
        adjustment_labels=docs.ADJUSTMENT_LABELS,
        contract_kind_labels=docs.CONTRACT_KIND_LABELS,
        contract_status_labels=docs.CONTRACT_STATUS_LABELS,
        tier_basis_labels=docs.TIER_BASIS_LABELS,
        buckets=BUCKETS,
        rate_fields=RATE_FIELDS,
        percent=_percent,
        amount=_amount,
        can_manage=me.can("commission.manage"),
        can_approve=me.can("commission.approve"),
        **context,
    )


def args(**extra: Any) -> dict[str, Any]:
    return {**{k: v for k, v in request.args.items() if k != "page" and v}, **extra}


# --- statements -------------------------------------------------------------------------------


def statements_page(settle: SettleForm | None = None, status: int = 200) -> Any:
    me = current_actor()
    form = StatementFilterForm(request.args)
    form.status.choices = [("", _("All"))] + [(k, str(v)) for k, v in docs.STATUS_LABELS.items()]
    period = _period_arg(form)
    wanted = form.status.data if form.status.data in docs.STATUS_LABELS else None
    page = db.paginate(
        service.statement_query(me, period=period, status=StatementStatus(wanted) if wanted else None),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    items: list[CommissionStatement] = list(page.items)
    return (
        render(
            "commission/statements.html",
            form=form,
            page=page,
            statements=items,
            payees=docs.payees(me, items),
            payers=docs.payers(items),
            settle=settle or SettleForm(formdata=None, period=service.previous_period()),
        ),
        status,
    )


@pages.route("/commission")
@permission_required("commission.view")
def commission() -> Any:
    return statements_page()


@pages.route("/commission/settle", methods=["POST"])
@permission_required("commission.manage")
def commission_settle() -> Any:
    form = SettleForm()
    if not form.validate_on_submit():
        flash(_("The form was not valid; try again."), "danger")
        return statements_page(form, 400)
    try:
        job_id = service.queue_settlement(current_actor(), form.period.data or "")
    except DomainError as exc:
        _show_error(form, exc)
        return statements_page(form, exc.status)
    period = service.check_period(form.period.data or "")
    message = escape(_("The settlement of %(period)s was queued.", period=period))
    link = Markup('<a class="alert-link" href="{url}">{label}</a>').format(
        url=url_for(ep("job_detail"), job_id=job_id), label=_("Follow the job")
    )
    flash(Markup("{} {}").format(message, link), "success")
    return redirect(url_for(ep("commission"), period=period))


# --- one statement ----------------------------------------------------------------------------


def statement_page(
    statement: CommissionStatement,
    *,
    adjust: AdjustmentForm | None = None,
    paid: PaidForm | None = None,
    status: int = 200,
) -> Any:
    me = current_actor()
    page = db.paginate(
        service.record_query(me, service.RecordFilter(statement_id=statement.id)),
        page=page_number(),
        per_page=PER_PAGE,
        error_out=False,
    )
    return (
        render(
            "commission/statement.html",
            v=docs.statement_view(me, statement),
            s=statement,
            page=page,
            rows=docs.record_rows(me, list(page.items)),
            adjust=adjust or AdjustmentForm(formdata=None),
            paid=paid or PaidForm(formdata=None),
            confirm=ConfirmForm(formdata=None),
        ),
        status,
    )


@pages.route("/commission/statements/<int:commission_statement_id>")
@permission_required("commission.view")
def commission_statement(commission_statement_id: int) -> Any:
    return statement_page(get_commission_statement_for(current_actor(), commission_statement_id))


@pages.route("/commission/statements/<int:commission_statement_id>/adjustments", methods=["POST"])
@permission_required("commission.manage")
def commission_adjust(commission_statement_id: int) -> Any:
    me = current_actor()
    statement = get_commission_statement_for(me, commission_statement_id)
    form = AdjustmentForm()
    if not form.validate_on_submit():
        flash(_("The form was not valid; try again."), "danger")
        return statement_page(statement, adjust=form, status=400)
    try:
        commission_statements.add_adjustment(me, statement, form.amount.data or "", form.reason.data or "")
    except NotFound:
        raise
    except DomainError as exc:
        _show_error(form, exc)
        return statement_page(statement, adjust=form, status=exc.status)
    flash(_("The adjustment was added; the statement was worked out again."), "success")
    return redirect(url_for(ep("commission_statement"), commission_statement_id=statement.id))


@pages.route("/commission/statements/<int:commission_statement_id>/approve", methods=["POST"])
@permission_required("commission.approve")
def commission_approve(commission_statement_id: int) -> Any:
    me = current_actor()
    statement = get_commission_statement_for(me, commission_statement_id)
    if ConfirmForm().validate_on_submit():
        try:
            commission_statements.approve(me, statement)
        except NotFound:
            raise
        except DomainError as exc:
            flash(str(exc.message), "danger")
            return statement_page(statement, status=exc.status)
        flash(_("The statement was approved: it is closed now."), "success")
    return redirect(url_for(ep("commission_statement"), commission_statement_id=statement.id))


@pages.route("/commission/statements/<int:commission_statement_id>/paid", methods=["POST"])
@permission_required("commission.approve")
def commission_paid(commission_statement_id: int) -> Any:
    me = current_actor()
    statement = get_commission_statement_for(me, commission_statement_id)
    form = PaidForm()
    if not form.validate_on_submit():
        flash(_("The form was not valid; try again."), "danger")
        return statement_page(statement, paid=form, status=400)
    try:
        commission_statements.mark_paid(me, statement, form.reference.data or "")
    except NotFound:
        raise
    except DomainError as exc:
        _show_error(form, exc)
        return statement_page(statement, paid=form, status=exc.status)
    flash(_("The statement was marked paid."), "success")
    return redirect(url_for(ep("commission_statement"), commission_statement_id=statement.id))


@pages.route("/commission/statements/<int:commission_statement_id>/statement.xlsx")
@permission_required("commission.view")
def commission_statement_xlsx(commission_statement_id: int) -> Any:
    me = current_actor()
    statement = get_commission_statement_for(me, commission_statement_id)
    return _send_xlsx(
        lambda out: docs.statement_xlsx(me, statement, out),
        f"commission-{statement.period}-{statement.id}.xlsx",
    )


@pages.route("/commission/statements/<int:commission_statement_id>/statement.pdf")
@permission_required("commission.view")
def commission_statement_pdf(commission_statement_id: int) -> Any:
    me = current_actor()
    statement = get_commission_statement_for(me, commission_statement_id)
    body = docs.statement_pdf(me, statement)
    return send_file(
        io.BytesIO(body),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=f"commission-{statement.period}-{statement.id}.pdf",
    )


# --- records (佣金记录查询) ---------------------------------------------------------------------


def record_filter(me: User) -> tuple[RecordFilterForm, service.RecordFilter]:
    form = RecordFilterForm(request.args)
    agencies = org_queries.agency_choices(me)
    form.agency_id.choices = [("", _("All"))] + [(str(i), n) for i, n in agencies]
    form.kind.choices = [("", _("All"))] + [(k, str(v)) for k, v in docs.RECORD_KIND_LABELS.items()]
    form.bucket.choices = [("", _("All"))] + [(b, b) for b in BUCKETS]
    agency = str(form.agency_id.data or "")
    f = service.RecordFilter(
        period=_period_arg(form),
        kind=RecordKind(form.kind.data) if form.kind.data in docs.RECORD_KIND_LABELS else None,
        agency_org_id=int(agency) if agency.isdigit() and len(agency) < 19 and agencies else None,
        bucket=form.bucket.data if form.bucket.data in BUCKETS else None,
        unsettled=bool(form.unsettled.data),
    )
    return form, f


@pages.route("/commission/records")
@permission_required("commission.view")
def commission_records() -> Any:
    me = current_actor()
    form, f = record_filter(me)
    page = db.paginate(service.record_query(me, f), page=page_number(), per_page=PER_PAGE, error_out=False)
    return render(
        "commission/records.html",
        form=form,
        page=page,
        rows=docs.record_rows(me, list(page.items)),
        agencies=bool(form.agency_id.choices and len(form.agency_id.choices) > 1),
        export_url=url_for(ep("commission_records_xlsx"), **args()),
    )


@pages.route("/commission/records.xlsx")
@permission_required("commission.view")
def commission_records_xlsx() -> Any:
    me = current_actor()
    _form, f = record_filter(me)
    return _send_xlsx(lambda out: docs.records_xlsx(me, f, out), "commission-records.xlsx")


# --- contracts --------------------------------------------------------------------------------


@pages.route("/commission/contracts")
@permission_required("commission.view")
def commission_contracts() -> Any:
    me = current_actor()
    rows = service.contracts(me)
    latest = {c.id: next(iter(service.versions_of(c)), None) for c in rows}
    # what the organisation could pay under but has no contract for yet: a partner agency (an
    # owner), its own collectors
    paid = {(c.kind, c.agency_org_id) for c in rows if c.org_id == me.org_id}
    missing = [
        (value, label)
        for value, label in payee_choices(me)
        if ((ContractKind.INCENTIVE, None) if value == INCENTIVE else (ContractKind.AGENCY, int(value)))
        not in paid
    ]
    return render(
        "commission/contracts.html",
        contracts=rows,
        latest=latest,
        payees=docs.contract_payees(rows),
        payers=docs.payers(rows),
        missing=missing,
    )


def payee_choices(me: User) -> list[tuple[str, str]]:
    out = [(INCENTIVE, _("Our own collectors (incentive)"))]
    if me.org.kind == OrgKind.ASSET_OWNER:
        out += [(str(i), n) for i, n in org_queries.agency_choices(me)]
    return out


@pages.route("/commission/contracts/new", methods=["GET", "POST"])
@permission_required("commission.manage")
def commission_contract_new() -> Any:
    me = current_actor()
    if request.method == "GET":
        form = ContractForm(
            formdata=None, effective_from=dt.datetime.now(dt.UTC).date().replace(day=1).isoformat()
        )
        wanted = request.args.get("payee", "")
        form.payee.data = wanted if wanted else INCENTIVE
    else:
        form = ContractForm()
    form.payee.choices = payee_choices(me)
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            raw, fields = _version_raw(form)
            payee = form.payee.data or INCENTIVE
            fields.update({"agency_org_id": "payee", "kind": "payee"})
            try:
                contract = service.create_contract(
                    me,
                    kind=ContractKind.INCENTIVE if payee == INCENTIVE else ContractKind.AGENCY,
                    name=form.name.data or "",
                    version=service.version_input(raw),
                    agency_org_id=int(payee) if payee.isdigit() and len(payee) < 19 else None,
                )
            except NotFound:
                raise
            except DomainError as exc:
                _show_error(form, exc, fields)
                status = exc.status
            else:
                flash(_("The contract was created."), "success")
                return redirect(url_for(ep("commission_contract"), commission_contract_id=contract.id))
        else:
            status = 400
    return render("commission/contract_form.html", form=form), status


def contract_page(contract: CommissionContract, form: VersionForm | None = None, status: int = 200) -> Any:
    me = current_actor()
    versions = service.versions_of(contract)
    if form is None:
        form = VersionForm(formdata=None)
        if versions:
            _fill_version(form, versions[0])
    return (
        render(
            "commission/contract.html",
            contract=contract,
            versions=versions,
            payee=docs.contract_payees([contract])[contract.id],
            payer=docs.payers([contract]).get(contract.org_id, ""),
            mine=contract.org_id == me.org_id,
            form=form,
            confirm=ConfirmForm(formdata=None),
        ),
        status,
    )


@pages.route("/commission/contracts/<int:commission_contract_id>")
@permission_required("commission.view")
def commission_contract(commission_contract_id: int) -> Any:
    return contract_page(get_commission_contract_for(current_actor(), commission_contract_id))


@pages.route("/commission/contracts/<int:commission_contract_id>/versions", methods=["POST"])
@permission_required("commission.manage")
def commission_version_add(commission_contract_id: int) -> Any:
    me = current_actor()
    contract = get_commission_contract_for(me, commission_contract_id)
    form = VersionForm()
    if not form.validate_on_submit():
        flash(_("The form was not valid; try again."), "danger")
        return contract_page(contract, form, 400)
    raw, fields = _version_raw(form)
    try:
        version = service.add_version(me, contract, service.version_input(raw))
    except NotFound:
        raise
    except DomainError as exc:
        _show_error(form, exc, fields)
        return contract_page(contract, form, exc.status)
    flash(
        _(
            "Version %(number)d was added, effective from %(day)s.",
            number=version.number,
            day=version.effective_from.isoformat(),
        ),
        "success",
    )
    return redirect(url_for(ep("commission_contract"), commission_contract_id=contract.id))


@pages.route("/commission/contracts/<int:commission_contract_id>/end", methods=["POST"])
@permission_required("commission.manage")
def commission_contract_end(commission_contract_id: int) -> Any:
    me = current_actor()
    contract = get_commission_contract_for(me, commission_contract_id)
    if ConfirmForm().validate_on_submit():
        if contract.status == ContractStatus.ENDED:
            flash(_("This contract has ended already."), "info")
        else:
            try:
                service.end_contract(me, contract)
            except NotFound:
                raise
            except DomainError as exc:
                flash(str(exc.message), "danger")
                return contract_page(contract, status=exc.status)
            flash(_("The contract was ended: no new payment is priced under it."), "success")
    return redirect(url_for(ep("commission_contract"), commission_contract_id=contract.id))


__all__ = ["RATE_FIELDS", "pages"]
