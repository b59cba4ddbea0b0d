"""``/api/v1`` work files of a case: attachments (upload, list, download), calls (click-to-call,
finish, logged by hand, list), the owner's letter templates and letters (one, in bulk as a job,
per case). Thin: each view loads through the tenancy loaders and calls one service."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_babel import gettext as _

from arrears.cases.loaders import get_case_for
from arrears.cases.models import Case
from arrears.errors import ValidationFailed
from arrears.web.api import api
from arrears.web.files import attachment_download
from arrears.work import attachments, calls, letters
from arrears.work.loaders import get_attachment_for, get_call_for, get_letter_template_for
from arrears.work.models import Attachment, Call, LetterTemplate
from arrears.work.schemas_files import (
    AttachmentSchema,
    AttachmentUploadSchema,
    CallFinishSchema,
    CallLogSchema,
    CallSchema,
    CallStartSchema,
    LetterBulkSchema,
    LetterGenerateSchema,
    LetterJobSchema,
    LetterSchema,
    LetterTemplateInSchema,
    LetterTemplateSchema,
)

TAGS = ["work files"]


# --- attachments ---------------------------------------------------------------------------------


@api.route(
    "/cases/<int:case_id>/attachments",
    summary="The files on a case (an agency sees its own people's)",
    response_schema=AttachmentSchema(),
    many=True,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="cases.view",
)
def list_attachments(case: Case) -> Any:
    return attachments.list_for(g.api_user, case)


@api.route(
    "/cases/<int:case_id>/attachments",
    methods=("POST",),
    summary="Upload a file to a case: multipart/form-data with 'file' (PDF, JPEG, PNG or WebP, the name's "
    "extension agreeing) and 'kind' (evidence or document)",
    response_schema=AttachmentSchema(),
    status=201,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="workbench.use",
)
def upload_attachment(case: Case) -> Any:
    errors = AttachmentUploadSchema(only=("kind",)).validate(request.form)
    if errors:
        raise ValidationFailed(_("The data is not valid."), field="kind", details=errors)
    upload = request.files.get("file")
    if upload is None:
        raise ValidationFailed(_("Choose a file to upload."), field="file")
    return attachments.upload(
        g.api_user, case.id, upload.filename or "", upload.read(), request.form.get("kind", "evidence")
    )


@api.route(
    "/attachments/<int:attachment_id>/download",
    summary="Download a file (audited)",
    tags=TAGS,
    lookup=("attachment_id", get_attachment_for),
    permission="cases.view",
)
def download_attachment(attachment: Attachment) -> Any:
    found, data = attachments.open_for(g.api_user, attachment.id)
    return attachment_download(found, data)


# --- calls ---------------------------------------------------------------------------------------


@api.route(
    "/cases/<int:case_id>/calls",
    summary="The calls on a case (an agency sees its own people's); numbers are masked",
    response_schema=CallSchema(),
    many=True,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="cases.view",
)
def list_calls(case: Case) -> Any:
    attachments.require_work_view(g.api_user)
    return calls.calls_for(case)


@api.route(
    "/cases/<int:case_id>/calls",
    methods=("POST",),
    summary="Click-to-call: the call centre dials the debtor's mobile, or the contact given; the number "
    "is never shown",
    request_schema=CallStartSchema(),
    response_schema=CallSchema(),
    status=201,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="workbench.use",
)
def start_call(case: Case, body: dict[str, Any]) -> Any:
    return calls.start_call(g.api_user, case.id, body["contact_id"])


@api.route(
    "/cases/<int:case_id>/calls/manual",
    methods=("POST",),
    summary="Log a call made outside the platform (not in the future, duration in seconds >= 0)",
    request_schema=CallLogSchema(),
    response_schema=CallSchema(),
    status=201,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="workbench.use",
)
def log_call(case: Case, body: dict[str, Any]) -> Any:
    return calls.log_call(
        g.api_user,
        case.id,
        body["started_at"],
        body["duration_s"],
        body["result"],
        body["note"],
        result_code=body["result_code"],
        party=body["party"],
    )


@api.route(
    "/calls/<int:call_id>/finish",
    methods=("POST",),
    summary="Record how a click-to-call call went",
    request_schema=CallFinishSchema(),
    response_schema=CallSchema(),
    tags=TAGS,
    lookup=("call_id", get_call_for),
    permission="workbench.use",
)
def finish_call(call: Call, body: dict[str, Any]) -> Any:
    return calls.finish_call(g.api_user, call.id, body["duration_s"], body["result"], body["recording_ref"])


# --- letter templates ----------------------------------------------------------------------------


@api.route(
    "/letter-templates",
    summary="The owner's letter templates; ?archived=1 for archived ones",
    response_schema=LetterTemplateSchema(),
    many=True,
    tags=TAGS,
    permission="letters.templates.manage",
)
def list_letter_templates() -> Any:
    return letters.list_templates(g.api_user, archived=request.args.get("archived") == "1")


@api.route(
    "/letter-templates",
    methods=("POST",),
    summary="Create a letter template; the body is checked (placeholders, syntax) when saved",
    request_schema=LetterTemplateInSchema(),
    response_schema=LetterTemplateSchema(),
    status=201,
    tags=TAGS,
    permission="letters.templates.manage",
)
def create_letter_template(body: dict[str, Any]) -> Any:
    return letters.create_template(g.api_user, name=body["name"], subject=body["subject"], body=body["body"])


@api.route(
    "/letter-templates/<int:letter_template_id>",
    summary="One letter template",
    response_schema=LetterTemplateSchema(),
    tags=TAGS,
    lookup=("letter_template_id", get_letter_template_for),
    permission="letters.templates.manage",
)
def get_letter_template(letter_template: LetterTemplate) -> Any:
    return letter_template


@api.route(
    "/letter-templates/<int:letter_template_id>",
    methods=("PUT",),
    summary="Change a letter template (active=false archives it)",
    request_schema=LetterTemplateInSchema(),
    response_schema=LetterTemplateSchema(),
    tags=TAGS,
    lookup=("letter_template_id", get_letter_template_for),
    permission="letters.templates.manage",
)
def update_letter_template(letter_template: LetterTemplate, body: dict[str, Any]) -> Any:
    return letters.update_template(
        g.api_user,
        letter_template,
        name=body["name"],
        subject=body["subject"],
        body=body["body"],
        active=body["active"],
    )


# --- letters -------------------------------------------------------------------------------------


@api.route(
    "/cases/<int:case_id>/letter-templates",
    summary="The templates a letter on this case can be made from (none without the right to send)",
    response_schema=LetterTemplateSchema(),
    many=True,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="workbench.use",
)
def case_letter_templates(case: Case) -> Any:
    return letters.templates_for_case(g.api_user, case)


@api.route(
    "/cases/<int:case_id>/letters",
    summary="The letters made on a case (an agency sees its own)",
    response_schema=LetterSchema(),
    many=True,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="cases.view",
)
def list_letters(case: Case) -> Any:
    attachments.require_work_view(g.api_user)
    return letters.letters_for(case)


@api.route(
    "/cases/<int:case_id>/letters",
    methods=("POST",),
    summary="Make a letter (PDF) for a case from one of its owner's templates; stored as an attachment "
    "and logged as a note. An agency needs the owner's grant 'letters.send'",
    request_schema=LetterGenerateSchema(),
    response_schema=LetterSchema(),
    status=201,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="workbench.use",
)
def generate_letter(case: Case, body: dict[str, Any]) -> Any:
    return letters.generate(g.api_user, case.id, body["template_id"])


@api.route(
    "/letters/bulk",
    methods=("POST",),
    summary="Letters for a selection of cases, as a job: cases out of the caller's scope are reported",
    request_schema=LetterBulkSchema(),
    response_schema=LetterJobSchema(),
    status=202,
    tags=TAGS,
    permission="workbench.use",
)
def bulk_letters(body: dict[str, Any]) -> Any:
    return letters.start_bulk(g.api_user, body["case_ids"], body["template_id"])


@api.route(
    "/letters/jobs/<job_id>",
    summary="A bulk letters job the caller started: status, progress, and per case what was made or why not",
    response_schema=LetterJobSchema(),
    tags=TAGS,
    lookup=("job_id", letters.bulk_job_for),
    permission="workbench.use",
)
def bulk_letters_job(job: Any) -> Any:
    return job
