"""Workbench: a case's attachments, calls and letters (the case page's tabs post here), and letters
for a selection of cases from the list. Thin: parse the form, call one service, flash, go back."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext

from agent_workbench.views import CALL_RESULTS, _case, bp
from arrears.errors import DomainError, ValidationFailed
from arrears.kernel import clock
from arrears.kernel.jobs import args as jobs
from arrears.web.current import current_actor
from arrears.web.files import attachment_download
from arrears.work import attachments, calls, letters
from arrears.work.loaders import get_call_for


def _back(case_id: int, tab: str) -> Any:
    return redirect(url_for("agent_workbench.case_detail", case_id=case_id, tab=tab))


def _failed(exc: DomainError) -> None:
    flash(str(exc.message), "danger")


@bp.context_processor
def _work_file_labels() -> dict[str, Any]:
    """What the case page's partials need besides their lists (labels, the placeholders)."""
    return {"call_result_labels": CALL_RESULTS, "letter_placeholders": letters.PLACEHOLDERS}


# --- attachments ---------------------------------------------------------------------------------


@bp.route("/cases/<int:case_id>/attachments", methods=["POST"])
def upload_attachment(case_id: int):
    me = current_actor()
    case = _case(me, case_id)
    uploads = [u for u in request.files.getlist("file") if u.filename]
    done = 0
    try:
        if not uploads:
            raise ValidationFailed(_("Choose a file to upload."), field="file")
        for upload in uploads:
            try:
                attachments.upload(
                    me, case.id, upload.filename or "", upload.read(), request.form.get("kind", "evidence")
                )
            except ValidationFailed as exc:
                raise ValidationFailed(
                    _("%(file)s: %(reason)s", file=upload.filename, reason=exc.message), field=exc.field
                )
            done += 1
    except DomainError as exc:
        _failed(exc)
    if done:
        flash(ngettext("%(num)d file was attached.", "%(num)d files were attached.", done), "success")
    return _back(case.id, "attachments")


@bp.route("/attachments/<int:attachment_id>")
def download_attachment(attachment_id: int):
    return attachment_download(*attachments.open_for(current_actor(), attachment_id))


# --- calls ---------------------------------------------------------------------------------------


@bp.route("/cases/<int:case_id>/calls", methods=["POST"])
def start_call(case_id: int):
    me = current_actor()
    case = _case(me, case_id)
    try:
        call = calls.start_call(me, case.id, request.form.get("contact_id") or None)
    except DomainError as exc:
        _failed(exc)
    else:
        flash(_("Calling %(number)s: answer your phone.", number=call.number_masked), "success")
    return _back(case.id, "calls")


@bp.route("/calls/<int:call_id>/finish", methods=["POST"])
def finish_call(call_id: int):
    me = current_actor()
    call = get_call_for(me, call_id)
    try:
        calls.finish_call(
            me,
            call.id,
            request.form.get("duration_s", ""),
            request.form.get("result", ""),
            request.form.get("recording_ref", ""),
        )
    except DomainError as exc:
        _failed(exc)
    else:
        flash(_("The call was recorded."), "success")
    return _back(call.case_id, "calls")


def _local_datetime(raw: str) -> dt.datetime | None:
    """A ``datetime-local`` field, read in the platform's time zone."""
    try:
        naive = dt.datetime.fromisoformat(raw.strip())
    except (AttributeError, ValueError):
        return None
    if naive.tzinfo is not None:
        return naive
    zone = clock.zone()
    return naive.replace(tzinfo=zone)


@bp.route("/cases/<int:case_id>/calls/log", methods=["POST"])
def log_call(case_id: int):
    me = current_actor()
    case = _case(me, case_id)
    try:
        calls.log_call(
            me,
            case.id,
            _local_datetime(request.form.get("started_at", "")),
            request.form.get("duration_s", ""),
            request.form.get("result", ""),
            request.form.get("note", ""),
            result_code=request.form.get("result_code") or None,
            party=request.form.get("party") or None,
        )
    except DomainError as exc:
        _failed(exc)
    else:
        flash(_("The call was logged."), "success")
    return _back(case.id, "calls")


# --- letters -------------------------------------------------------------------------------------


@bp.route("/cases/<int:case_id>/letters", methods=["POST"])
def generate_letter(case_id: int):
    me = current_actor()
    case = _case(me, case_id)
    try:
        letters.generate(me, case.id, request.form.get("template_id"))
    except DomainError as exc:
        _failed(exc)
    else:
        flash(_("The letter was made; it is in the attachments."), "success")
    return _back(case.id, "letters")


@bp.route("/letters/bulk", methods=["POST"])
def bulk_letters():
    """From the case list: the selected cases (``case_id`` fields) and a template."""
    me = current_actor()
    try:
        record = letters.start_bulk(me, request.form.getlist("case_id"), request.form.get("template_id"))
    except DomainError as exc:
        _failed(exc)
        return redirect(url_for("agent_workbench.home"))
    return redirect(url_for("agent_workbench.letters_job", job_id=record.id))


@bp.route("/letters/jobs/<job_id>")
def letters_job(job_id: str):
    record = letters.bulk_job_for(current_actor(), job_id)
    if request.args.get("format") == "json":
        return jsonify(jobs.status(record))  # the progress bar polls it
    result = record.result or {}
    skipped = [
        {"case_id": s.get("case_id"), "reason": letters.skip_reason(str(s.get("reason", "")))}
        for s in result.get("skipped", [])
    ]
    generated = int(result.get("generated", 0))
    return render_template(
        "agent_workbench/letters_job.html",
        job=record,
        generated=generated,
        generated_text=ngettext("%(num)d letter made.", "%(num)d letters made.", generated),
        letters=result.get("letters", []),
        skipped=skipped,
        title=_("Letters"),
    )
