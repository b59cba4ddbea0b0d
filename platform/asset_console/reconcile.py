"""Asset console: reconciliation against the lender's statements (对账, M-P5) — upload a statement,
reconcile it as a job with a progress bar, the result by category (counts, amounts, the rows), the
result workbook; the history of reconciliations (uploaded, and the core system's daily drop); the
statement source the daily reconciliation reads. The rules are ``payments.reconcile``."""

from __future__ import annotations

import io
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, flash, jsonify, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import BooleanField, StringField, SubmitField
from wtforms.validators import Length, Optional

from arrears.auth.models import User
from arrears.auth.principal import permission_required
from arrears.errors import DomainError
from arrears.extensions import db
from arrears.integrations.storage import StorageNotFound, get_storage
from arrears.kernel.jobs import args as job_service
from arrears.payments import reconcile as service
from arrears.payments import reconcile_runs
from arrears.web.console import NavItem
from arrears.web.current import current_actor
from asset_console.views import bp

NAV = NavItem("asset_console.reconciliations", _l("Reconciliation"), "repayments.audit")


@bp.record_once
def _navigation(_state: Any) -> None:
    """The entry goes after the repayments pages' (placed once every page module is imported)."""
    nav: list[NavItem] = bp.console_nav  # type: ignore[attr-defined]
    if NAV in nav:
        return
    after = ("asset_console.reductions", "asset_console.repayment_audit", "asset_console.placements")
    at = next((i + 1 for name in after for i, item in enumerate(nav) if item.endpoint == name), len(nav))
    nav.insert(at, NAV)


PER_PAGE = 100
PLATFORM_STATUS = {
    "confirmed": lazy_pgettext("repayment status", "applied"),
    "received": _l("recorded, being applied"),
    "reversed": _l("reversed"),
}


def money(value: Any) -> str:
    """An amount of the result (Decimal as text) with thousands separators; other text as it is."""
    if value is None or value == "":
        return ""
    try:
        return f"{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)


def moment(value: Any) -> str:
    """A time of the result (ISO 8601 in the owner's zone) as 2026-10-29 10:10:00."""
    text = str(value or "")
    return text[:19].replace("T", " ") if len(text) >= 19 and text[10:11] == "T" else text


class StatementUploadForm(FlaskForm):
    file = FileField(
        _l("Statement (.xlsx or .csv)"),
        validators=[FileRequired(), FileAllowed(["xlsx", "csv", "txt"], _l("Upload an .xlsx or .csv file."))],
    )
    submit = SubmitField(_l("Reconcile"))


class StatementSourceForm(FlaskForm):
    enabled = BooleanField(_l("Reconcile the core system's statements every day"))
    prefix = StringField(
        _l("Folder in our storage"),
        validators=[Optional(), Length(max=200)],
        description=_l("The core system drops its statement files here, e.g. statements/."),
    )
    save = SubmitField(_l("Save"))


def _source_form(me: User) -> StatementSourceForm:
    form = StatementSourceForm()
    if request.method == "GET" or not form.is_submitted():
        prefix = reconcile_runs.source_prefix(me.org)
        form.enabled.data = prefix is not None
        form.prefix.data = prefix or service.DEFAULT_PREFIX
    return form


@bp.route("/reconciliations", methods=["GET", "POST"])
@permission_required("repayments.audit")
def reconciliations():
    me = current_actor()
    form = StatementUploadForm()
    if form.validate_on_submit():
        upload = form.file.data
        try:
            record = reconcile_runs.start_upload(me, upload.read(), upload.filename or "statement")
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            return redirect(url_for("asset_console.reconciliation", job_id=record.id))
    page = db.paginate(
        reconcile_runs.history(),
        page=max(1, request.args.get("page", 1, type=int) or 1),
        per_page=20,
        error_out=False,
    )
    return render_template(
        "asset_console/reconciliations.html",
        form=form,
        page=page,
        source=_source_form(me),
        folder=reconcile_runs.source_folder(me.org),
        can_configure=me.can("org.settings.manage"),
        labels=service.CATEGORY_LABELS,
    )


@bp.route("/reconciliations/source", methods=["POST"])
@permission_required("repayments.audit", "org.settings.manage")
def reconciliation_source():
    me = current_actor()
    form = StatementSourceForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        prefix = reconcile_runs.set_statement_source(
            me, (form.prefix.data or service.DEFAULT_PREFIX) if form.enabled.data else None
        )
    except DomainError as exc:
        flash(str(exc.message), "danger")
    else:
        if prefix is None:
            flash(_("The daily reconciliation is off."), "success")
        else:
            flash(_("Statements dropped in %(folder)s are reconciled every day.", folder=prefix), "success")
    return redirect(url_for("asset_console.reconciliations"))


def _rows_page(result: dict[str, Any], category: str) -> tuple[list[dict[str, Any]], int, int]:
    rows = result.get("rows", {}).get(category, [])
    pages = max(1, -(-len(rows) // PER_PAGE))
    number = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    return rows[(number - 1) * PER_PAGE : number * PER_PAGE], number, pages


@bp.route("/reconciliations/<job_id>")
@permission_required("repayments.audit")
def reconciliation(job_id: str):
    job = reconcile_runs.job_for(current_actor(), job_id)
    if request.args.get("format") == "json" or request.accept_mimetypes.best == "application/json":
        return jsonify(job_service.status(job))
    result = reconcile_runs.load_result(job) if job.status.done else None
    category = request.args.get("category", "")
    if result is not None and category not in service.CATEGORIES:
        category = next((c for c in service.CATEGORIES if result["summary"][c]["count"]), "matched")
    rows, number, pages = _rows_page(result, category) if result is not None else ([], 1, 1)
    return render_template(
        "asset_console/reconciliation.html",
        job=job,
        outcome=job.result or {},
        result=result,
        category=category,
        rows=rows,
        page_number=number,
        pages=pages,
        categories=service.CATEGORIES,
        labels=service.CATEGORY_LABELS,
        helps=service.CATEGORY_HELP,
        field_labels=service.FIELD_LABELS,
        describe=service.describe,
        money=money,
        moment=moment,
        platform_status=PLATFORM_STATUS,
    )


@bp.route("/reconciliations/<job_id>/result.xlsx")
@permission_required("repayments.audit")
def reconciliation_xlsx(job_id: str):
    job = reconcile_runs.job_for(current_actor(), job_id)
    key = (job.result or {}).get("xlsx_key")
    if not key:
        abort(404)
    try:
        with get_storage().local_copy(key) as path:
            data = path.read_bytes()
    except StorageNotFound:
        abort(404)

    name = str((job.result or {}).get("file") or "statement").rsplit(".", 1)[0]
    return send_file(
        io.BytesIO(data),
        as_attachment=True,
        download_name=f"reconciliation-{name}.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
