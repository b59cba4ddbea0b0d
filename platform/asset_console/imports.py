"""Asset console: case imports — upload, confirm or edit the column mapping (and save it as a
template), check (dry run) or import as a job with a progress bar, the report with every rejected
row, the rejected rows as .xlsx, and the history of import batches."""

from __future__ import annotations

import io
import json
from typing import Any

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from arrears.auth.principal import permission_required
from arrears.cases.imports import batches as import_service
from arrears.cases.imports.fields import FIELDS, auto_mapping
from arrears.cases.imports.reader import FileRefused, open_table
from arrears.cases.loaders import get_import_batch_for
from arrears.cases.models import ImportBatch, ImportStatus
from arrears.errors import DomainError
from arrears.extensions import db
from arrears.integrations.storage import get_storage
from arrears.kernel import sheets
from arrears.kernel.jobs.models import JobRecord
from arrears.security import masking
from arrears.web.current import current_actor
from arrears.web.forms import ConfirmForm, ImportUploadForm
from asset_console.views import bp


@bp.route("/imports", methods=["GET", "POST"])
@permission_required("cases.import")
def imports():
    me = current_actor()
    form = ImportUploadForm()
    saved = import_service.saved_mappings()
    form.mapping.choices = [("auto", _("Recognise the columns")), *[(m.name, m.name) for m in saved]]
    if form.validate_on_submit():
        upload = form.file.data
        data = upload.read()
        try:
            table = open_table(data, upload.filename or "", import_service.limits())
            del table
        except FileRefused as exc:
            flash(_("The file cannot be imported: %(reason)s", reason=exc.reason), "danger")
        else:
            batch = import_service.new_batch(
                me.org, data, upload.filename or "upload", actor=me, dry_run=True, store=True
            )
            return redirect(
                url_for("asset_console.import_mapping", batch_id=batch.id, mapping=form.mapping.data)
            )
    page = db.paginate(
        select(ImportBatch).order_by(ImportBatch.created_at.desc()),
        page=max(1, request.args.get("page", 1, type=int) or 1),
        per_page=20,
        error_out=False,
    )
    return render_template("asset_console/imports.html", form=form, page=page)


def _table(batch: ImportBatch) -> Any:
    if not batch.storage_key:
        abort(404)
    return open_table(get_storage().get(batch.storage_key), batch.filename, import_service.limits())


@bp.route("/imports/<int:batch_id>/mapping", methods=["GET", "POST"])
@permission_required("cases.import")
def import_mapping(batch_id: int):  # noqa: C901
    me = current_actor()
    batch = get_import_batch_for(me, batch_id)
    try:
        table = _table(batch)
    except FileRefused as exc:
        flash(_("The file cannot be imported: %(reason)s", reason=exc.reason), "danger")
        return redirect(url_for("asset_console.imports"))
    headers = [str(h) for h in table.headers if h is not None and str(h).strip()]
    if request.method == "POST":
        if not ConfirmForm().validate_on_submit():
            abort(400)
        columns = {f.key: request.form.get(f"col_{f.key}", "") for f in FIELDS}
        columns = {k: v for k, v in columns.items() if v in headers}
        try:
            if request.form.get("mapping_name", "").strip():
                import_service.save_mapping(me, request.form["mapping_name"], columns)
            job_id = import_service.start_batch_job(
                me, batch, dry_run=request.form.get("action") != "import", columns=columns
            )
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            return redirect(url_for("asset_console.import_detail", batch_id=batch.id, job=job_id))
    chosen: dict[str, str] = {}
    name = request.args.get("mapping", "auto")
    if name and name != "auto":
        try:
            chosen = import_service.mapping_columns(name) or {}
        except DomainError as exc:
            flash(str(exc.message), "danger")
    if not chosen:
        chosen = {key: str(table.headers[i]) for key, i in auto_mapping(table.headers).items()}
    sample = [row for _, (_n, row) in zip(range(5), table.rows(), strict=False)]
    if not me.can("pii.unmask"):
        field_at = {i: key for key, i in auto_mapping(table.headers).items()}
        sample = [[masking.cell(field_at.get(i), cell) for i, cell in enumerate(row)] for row in sample]
    return render_template(
        "asset_console/import_mapping.html",
        batch=batch,
        fields=FIELDS,
        headers=headers,
        chosen=chosen,
        sample=sample,
        raw_headers=table.headers,
        header_row=table.header_row,
        confirm=ConfirmForm(),
    )


@bp.route("/imports/<int:batch_id>")
@permission_required("cases.import")
def import_detail(batch_id: int):
    me = current_actor()
    batch = get_import_batch_for(me, batch_id)
    job = db.session.get(JobRecord, batch.job_id) if batch.job_id else None
    report = batch.report or {}
    clear = request.args.get("clear") == "1" and me.can("pii.unmask")
    errors = (
        import_service.batch_details(me, batch).get("errors", []) if clear else report.get("errors") or []
    )
    return render_template(
        "asset_console/import_detail.html",
        batch=batch,
        job=job,
        report=report,
        errors=errors[:500],
        clear=clear,
        can_reveal=me.can("pii.unmask"),
        running=batch.status in (ImportStatus.QUEUED, ImportStatus.RUNNING),
        again=ConfirmForm(),
    )


@bp.route("/imports/<int:batch_id>/errors.xlsx")
@permission_required("cases.import")
def import_errors(batch_id: int):

    me = current_actor()
    batch = get_import_batch_for(me, batch_id)
    report = batch.report or {}
    if me.can("pii.unmask"):
        details = import_service.batch_details(me, batch)  # audited
        originals = details.get("rejected_originals", [])
    else:
        details = json.loads(batch.details) if batch.details else {}
        field_of = {h: k for k, h in (report.get("mapping") or {}).items()}
        fields = [field_of.get(h) for h in details.get("headers", [])]
        originals = [
            [
                row[0],
                *[masking.cell(fields[i] if i < len(fields) else None, c) for i, c in enumerate(row[1:])],
            ]
            for row in details.get("rejected_originals", [])
        ]
    report = {**report, "headers": details.get("headers", []), "rejected_originals": originals}
    reasons: dict[int, list[str]] = {}
    for error in report.get("errors", []):
        reasons.setdefault(error["row"], []).append(f"{error['column']}: {error['reason']}")
    buffer = io.BytesIO()
    workbook = sheets.Workbook(buffer, {"in_memory": True})
    sheet = workbook.add_worksheet("rejected")
    sheet.write_row(0, 0, [_("Row"), *report.get("headers", []), _("Why it was rejected")])
    for i, row in enumerate(report.get("rejected_originals", []), 1):
        number, cells = row[0], row[1:]
        sheet.write(i, 0, number)
        for j, cell in enumerate(cells, 1):
            if cell is not None:
                sheet.write(i, j, cell)
        sheet.write(i, len(report.get("headers", cells)) + 1, "; ".join(reasons.get(number, [])))
    workbook.close()
    buffer.seek(0)
    return send_file(
        buffer,
        as_attachment=True,
        download_name=f"rejected-{batch.id}.xlsx",
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
