"""API representations of a case's attachments, calls, letter templates and letters."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from arrears.work.attachments import UPLOAD_KINDS
from arrears.work.models import CallResult

RESULTS = [r.value for r in CallResult]


class AttachmentSchema(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    kind = fields.String()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    uploaded_by_id = fields.Integer()
    agency_org_id = fields.Integer(allow_none=True)
    application_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class AttachmentUploadSchema(Schema):
    """The multipart form of an upload (documented; the file is the part named ``file``)."""

    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary"})
    kind = fields.String(load_default="evidence", validate=validate.OneOf(UPLOAD_KINDS))


class CallSchema(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    user_id = fields.Integer()
    provider = fields.String()
    external_id = fields.String()
    contact_id = fields.Integer(allow_none=True)
    number_masked = fields.String()
    started_at = fields.DateTime()
    duration_s = fields.Integer()
    result = fields.Function(lambda c: c.result.value if c.result else None)
    recording_ref = fields.String()


class CallStartSchema(Schema):
    contact_id = fields.Integer(load_default=None, allow_none=True)


class CallFinishSchema(Schema):
    duration_s = fields.Integer(required=True)
    result = fields.String(required=True, validate=validate.OneOf(RESULTS))
    recording_ref = fields.String(load_default="", validate=validate.Length(max=300))


class CallLogSchema(Schema):
    started_at = fields.AwareDateTime(required=True)
    duration_s = fields.Integer(required=True)
    result = fields.String(required=True, validate=validate.OneOf(RESULTS))
    note = fields.String(load_default="", validate=validate.Length(max=2000))
    # the note's result code (one of the organisation's) and who was reached; for an answered call
    # with a note the result code is required
    result_code = fields.String(load_default=None, allow_none=True)
    party = fields.String(load_default=None, allow_none=True)


class LetterTemplateSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    subject = fields.String()
    body = fields.String()
    active = fields.Boolean()
    created_at = fields.DateTime()


class LetterTemplateInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    subject = fields.String(load_default="", validate=validate.Length(max=200))
    body = fields.String(required=True, validate=validate.Length(min=1, max=20_000))
    active = fields.Boolean(load_default=None, allow_none=True)


class LetterSchema(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    template_id = fields.Integer()
    generated_by_id = fields.Integer()
    attachment_id = fields.Integer()
    note_id = fields.Integer(allow_none=True)
    job_id = fields.String(allow_none=True)
    created_at = fields.DateTime()


class LetterGenerateSchema(Schema):
    template_id = fields.Integer(required=True)


class LetterBulkSchema(Schema):
    template_id = fields.Integer(required=True)
    case_ids = fields.List(fields.Integer(), required=True, validate=validate.Length(min=1, max=5000))


class LetterJobSchema(Schema):
    job_id = fields.String(attribute="id")
    status = fields.Function(lambda j: j.status.value)
    progress = fields.Integer()
    result = fields.Raw(allow_none=True)
