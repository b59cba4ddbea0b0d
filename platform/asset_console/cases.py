"""Asset console: case list (filters, sort, keyset pages, export), case detail with audited reveal,
case edit, debtor search and detail."""

from __future__ import annotations

import io
import tempfile
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectField
from wtforms.validators import Optional

from arrears.allocation import log as allocation_log
from arrears.allocation import placements as placement_service
from arrears.allocation.pages import RESULT_STATUS_LABELS, reason_text
from arrears.auth.principal import permission_required
from arrears.cases import cases as case_service
from arrears.cases.exports import INLINE_MAX, count_cases, export_cases, start_export_job
from arrears.cases.loaders import get_case_for, get_debtor_for
from arrears.cases.models import CaseStatus
from arrears.cases.schemas import case_view, debtor_view
from arrears.cases.scopes import case_scope
from arrears.errors import DomainError
from arrears.extensions import db
from arrears.integrations.storage import get_storage
from arrears.kernel import exports
from arrears.orgs import partnerships as partnership_service
from arrears.orgs.loaders import get_job_for
from arrears.payments import queries as repayment_pages
from arrears.payments.pages import ManualRepaymentForm
from arrears.web.current import current_actor
from arrears.web.forms import CaseEditForm, CaseFilterForm, ConfirmForm, FaceUploadForm
from arrears.work import queries as work_queries
from asset_console.views import bp


class AssetCaseFilterForm(CaseFilterForm):
    """The owner's case list also filters by who holds the case."""

    holding = SelectField(
        _l("Held"),
        choices=[
            ("", "—"),
            ("unplaced", _l("not placed, nobody works it")),
            ("placed", _l("placed with an agency")),
            ("inhouse", _l("worked by our collectors")),
        ],
        validators=[Optional()],
        default="",
    )
    agency_id = SelectField(_l("Agency"), coerce=int, default=0, validate_choice=False)


def _filter_form() -> AssetCaseFilterForm:
    form = AssetCaseFilterForm(request.args)
    agencies: dict[int, str] = {}
    for p in partnership_service.list_partnerships():
        agencies.setdefault(p.agency_org_id, p.agency.name)
    form.agency_id.choices = [(0, "—"), *sorted(agencies.items(), key=lambda item: item[1])]
    form.validate()
    return form


def _filter(form: CaseFilterForm) -> case_service.CaseFilter:
    def money(raw: str | None) -> Decimal | None:
        try:
            return Decimal(raw) if raw else None
        except InvalidOperation:
            return None

    holding = getattr(form, "holding", None)  # the case list's own filters (``AssetCaseFilterForm``)
    agency = getattr(form, "agency_id", None)
    return case_service.CaseFilter(
        dpd_min=form.dpd_min.data,
        dpd_max=form.dpd_max.data,
        amount_min=money(form.amount_min.data),
        amount_max=money(form.amount_max.data),
        product=form.product.data or None,
        province=form.province.data or None,
        city=form.city.data or None,
        status=form.status.data or None,
        q=form.q.data or None,
        sort=form.sort.data or "-dpd",
        holding=(holding.data or None) if holding is not None else None,
        agency_id=(agency.data or None) if agency is not None else None,
    )


@bp.route("/cases")
@permission_required("cases.view")
def cases():
    me = current_actor()
    form = _filter_form()
    try:
        rows, cursor = case_service.page(
            me.org, _filter(form), limit=50, cursor=request.args.get("cursor"), scope=case_scope(me)
        )
    except DomainError as exc:
        flash(str(exc.message), "danger")
        rows, cursor = [], None
    today = case_service.business_date(me.org)
    args = {k: v for k, v in request.args.items() if k != "cursor" and v}
    return render_template(
        "asset_console/cases.html",
        form=form,
        rows=[case_view(c, today, unmasked=False) for c in rows],
        holders=placement_service.holders(rows),
        next_url=url_for("asset_console.cases", cursor=cursor, **args) if cursor else None,  # type: ignore[arg-type]
        args=args,
        today=today,
    )


@bp.route("/cases/export")
@permission_required("cases.export")
def cases_export():
    me = current_actor()
    fmt = request.args.get("format", "xlsx")
    if fmt not in ("xlsx", "csv"):
        abort(400)
    form = _filter_form()
    f = _filter(form)
    if count_cases(me.org, f) > current_app.config.get("EXPORT_INLINE_MAX", INLINE_MAX):
        job_id = start_export_job(me, f, fmt)
        flash(_("The export runs in the background; download it here when it is ready."), "info")
        return redirect(url_for("asset_console.orgs.job_detail", job_id=job_id))
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (send_file closes it)
    export_cases(me, me.org, f, fmt, spool)
    spool.seek(0)
    mimetype = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if fmt == "xlsx" else "text/csv"
    )
    return send_file(spool, mimetype=mimetype, as_attachment=True, download_name=f"cases.{fmt}")


def _case_page(case_id: int, *, unmasked: bool, manual: Any = None, tab: str | None = None) -> Any:
    """The case page; ``manual``: the form of a payment entered by hand, with its errors; ``tab``:
    the tab of the case's work shown first."""
    me = current_actor()
    case = get_case_for(me, case_id)
    today = case_service.business_date(me.org)
    form = CaseEditForm(status=case.status.value, priority=case.priority, tags=", ".join(case.tags))
    return render_template(
        "asset_console/case.html",
        case=case,
        view=case_view(case, today, unmasked=unmasked),
        contacts=case_service.contacts_view(case.debtor, unmasked=unmasked),
        history=case_service.history(case),
        holder=placement_service.holders([case])[case.id],
        placements=list(db.session.execute(placement_service.history(me, case_id=case.id))),
        allocations=[
            (r, run, allocation_log.target_names(run), allocation_log.rule_names(run))
            for r, run in allocation_log.case_results(me, case)
        ],
        shown_status=allocation_log.shown_status,
        result_status_labels=RESULT_STATUS_LABELS,
        reason_text=reason_text,
        unmasked=unmasked,
        reveal=ConfirmForm(),
        form=form,
        can_edit=me.can("cases.import"),
        can_reveal=me.can("pii.unmask"),
        work=work_queries.case_work(me, case),
        case_money=repayment_pages.case_money(me, case, with_ledger=True),
        manual=manual if manual is not None else ManualRepaymentForm(formdata=None),
        can_post=me.can("repayments.post"),
        active_tab=tab or request.args.get("tab"),
    )


@bp.route("/cases/<int:case_id>")
@permission_required("cases.view")
def case_detail(case_id: int):
    return _case_page(case_id, unmasked=False)


@bp.route("/cases/<int:case_id>/reveal", methods=["POST"])
@permission_required("cases.view", "pii.unmask")
def case_reveal(case_id: int):
    me = current_actor()
    case = get_case_for(me, case_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    case_service.record_unmasking(me, [case], channel="console")
    db.session.commit()
    return _case_page(case.id, unmasked=True)


@bp.route("/cases/<int:case_id>/edit", methods=["POST"])
@permission_required("cases.import")
def case_edit(case_id: int):
    me = current_actor()
    case = get_case_for(me, case_id)
    form = CaseEditForm()
    if form.validate_on_submit():
        try:
            case_service.edit_case(
                me,
                case,
                status=form.status.data or "",
                priority=form.priority.data or 0,
                tags=(form.tags.data or "").replace("，", ",").split(","),
            )
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("The case was saved."), "success")
    else:
        flash(_("The data is not valid."), "danger")
    return redirect(url_for("asset_console.case_detail", case_id=case.id))


@bp.route("/exports/<job_id>/download")
@permission_required("cases.export")
def export_download(job_id: str):

    job = get_job_for(current_actor(), job_id)
    result = job.result or {}
    if not exports.is_export(job) or "storage_key" not in result:
        abort(404)
    fmt = result.get("format", "xlsx")
    mimetype = (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet" if fmt == "xlsx" else "text/csv"
    )
    data = get_storage().get(result["storage_key"])
    name = result.get("filename") or f"cases.{fmt}"  # the repayment records' export names its file
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=name)


@bp.route("/debtors")
@permission_required("cases.view")
def debtors():
    q = request.args.get("q", "").strip()
    found = case_service.search_debtors(q) if q else []
    return render_template(
        "asset_console/debtors.html", q=q, debtors=[debtor_view(d, unmasked=False) for d in found]
    )


@bp.route("/debtors/<int:debtor_id>/face", methods=["GET", "POST"])
@permission_required("cases.view")
def debtor_face(debtor_id: int):
    me = current_actor()
    debtor = get_debtor_for(me, debtor_id)
    if request.method == "POST":
        form = FaceUploadForm()
        if form.validate_on_submit():
            try:
                case_service.set_face_image(me, debtor, form.face.data.read())
            except DomainError as exc:
                flash(str(exc.message), "danger")
            else:
                flash(_("The image was saved."), "success")
        else:
            flash(_("Upload a JPEG or PNG image."), "danger")
        return redirect(url_for("asset_console.debtor_detail", debtor_id=debtor.id))
    data, mimetype = case_service.face_image(me, debtor)
    response = send_file(io.BytesIO(data), mimetype=mimetype)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/debtors/<int:debtor_id>", methods=["GET", "POST"])
@permission_required("cases.view")
def debtor_detail(debtor_id: int):
    me = current_actor()
    debtor = get_debtor_for(me, debtor_id)
    unmasked = False
    if request.method == "POST":
        if not (ConfirmForm().validate_on_submit() and me.can("pii.unmask")):
            abort(403)
        case_service.record_unmasking(me, list(debtor.cases), channel="console")
        db.session.commit()
        unmasked = True
    today = case_service.business_date(me.org)
    return render_template(
        "asset_console/debtor.html",
        debtor=debtor_view(debtor, unmasked=unmasked),
        unmasked=unmasked,
        contacts=case_service.contacts_view(debtor, unmasked=unmasked),
        cases=[case_view(c, today, unmasked=False) for c in debtor.cases],
        reveal=ConfirmForm(),
        can_reveal=me.can("pii.unmask"),
        statuses=[s.value for s in CaseStatus],
        has_face=bool(debtor.face_image_key),
        face_form=FaceUploadForm(),
        can_upload=me.can("cases.import"),
    )
