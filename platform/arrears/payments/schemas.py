"""API representations of repayments (还款) and their batches."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

_AMOUNT = {"type": "string", "example": "120.50"}


class RepaymentEventSchema(Schema):
    """One payment event from the core system (documentation: the service checks each item and
    answers per item, so one bad item never refuses the batch)."""

    transaction_id = fields.String(
        required=True, metadata={"description": "unique per owner", "example": "TXN20261101000001"}
    )
    loan_no = fields.String(required=True)
    amount = fields.Raw(required=True, metadata={**_AMOUNT, "description": "> 0, at most two decimals"})
    paid_at = fields.String(
        required=True,
        metadata={
            "description": "ISO 8601; without a zone, the owner's",
            "example": "2026-11-02T10:30:00+08:00",
        },
    )
    channel = fields.String(load_default="", validate=validate.Length(max=64))


class RepaymentBatchInSchema(Schema):
    items = fields.List(
        fields.Nested(RepaymentEventSchema), required=True, validate=validate.Length(min=1, max=1000)
    )


class ItemErrorSchema(Schema):
    field = fields.String()
    reason = fields.String()


class RepaymentItemResultSchema(Schema):
    index = fields.Integer()
    transaction_id = fields.String(allow_none=True)
    status = fields.String(metadata={"enum": ["accepted", "duplicate", "rejected"]})
    repayment_id = fields.Integer(allow_none=True)
    recorded_status = fields.String()
    differs = fields.List(fields.String())
    errors = fields.List(fields.Nested(ItemErrorSchema))


class RepaymentBatchResultSchema(Schema):
    accepted = fields.Integer()
    duplicates = fields.Integer()
    rejected = fields.Integer()
    job_id = fields.String(allow_none=True)
    items = fields.List(fields.Nested(RepaymentItemResultSchema))


class RepaymentSchema(Schema):
    id = fields.Integer()
    transaction_id = fields.String()
    case_id = fields.Integer()
    loan_no = fields.String(allow_none=True)
    amount = fields.Decimal(as_string=True)
    paid_at = fields.DateTime()
    channel = fields.String()
    source = fields.String()
    status = fields.String()
    agency_org_id = fields.Integer(allow_none=True)
    collector_user_id = fields.Integer(allow_none=True)
    applied_at = fields.DateTime(allow_none=True)
    matched_id = fields.Integer(allow_none=True)
    application_id = fields.Integer(allow_none=True)
    note = fields.String()
    allocation = fields.Dict(keys=fields.String(), values=fields.String(), allow_none=True)


class RepaymentPageSchema(Schema):
    items = fields.List(fields.Nested(RepaymentSchema))
    next_cursor = fields.Integer(allow_none=True)


class ReversalInSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=300))


class AuditInSchema(Schema):
    decision = fields.String(required=True, validate=validate.OneOf(["confirm", "match", "reject"]))
    core_id = fields.Integer(load_default=None)
    note = fields.String(load_default="", validate=validate.Length(max=300))


class ManualRepaymentInSchema(Schema):
    amount = fields.Raw(required=True, metadata=_AMOUNT)
    paid_at = fields.String(required=True)
    channel = fields.String(load_default="", validate=validate.Length(max=64))
    reference = fields.String(load_default="", validate=validate.Length(max=64))
    note = fields.String(load_default="", validate=validate.Length(max=300))


class PostingSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    repayment_id = fields.Integer(allow_none=True)
    application_id = fields.Integer(allow_none=True)
    principal = fields.Decimal(as_string=True)
    interest = fields.Decimal(as_string=True)
    penalty = fields.Decimal(as_string=True)
    fee = fields.Decimal(as_string=True)
    credit = fields.Decimal(as_string=True)
    created_at = fields.DateTime()


class AllocationOrderSchema(Schema):
    repayment_order = fields.List(fields.String(), required=True)
