"""API representations of write-off (核销): rules, candidates, proposals, the ledger's lines."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

_AMOUNT = {"type": "string", "example": "1170.00"}


class RuleInSchema(Schema):
    """Checked by the service, which names the wrong field (422)."""

    name = fields.String(required=True)
    dpd_min = fields.Raw(required=True, metadata={"type": "integer", "example": 180})
    quiet_days = fields.Raw(
        load_default=None, metadata={"type": "integer", "description": "no confirmed payment for N days"}
    )
    products = fields.Raw(load_default=None, metadata={"type": "array", "items": {"type": "string"}})
    amount_min = fields.Raw(load_default=None, metadata=_AMOUNT)
    amount_max = fields.Raw(load_default=None, metadata=_AMOUNT)
    keep_placement = fields.Boolean(load_default=False)
    active = fields.Boolean(load_default=True)


class RuleSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    active = fields.Boolean()
    dpd_min = fields.Integer()
    quiet_days = fields.Integer(allow_none=True)
    products = fields.List(fields.String())
    amount_min = fields.Decimal(as_string=True, allow_none=True)
    amount_max = fields.Decimal(as_string=True, allow_none=True)
    keep_placement = fields.Boolean()
    created_at = fields.DateTime()


class CandidateSchema(Schema):
    case_id = fields.Integer()
    loan_no = fields.String()
    product = fields.String()
    days_past_due = fields.Integer()
    status = fields.String()
    principal = fields.Decimal(as_string=True)
    interest = fields.Decimal(as_string=True)
    penalty = fields.Decimal(as_string=True)
    fee = fields.Decimal(as_string=True)
    outstanding = fields.Decimal(as_string=True)
    agency_org_id = fields.Integer(allow_none=True)
    rule_id = fields.Integer(allow_none=True)
    rule_name = fields.String(allow_none=True)


class CandidatePageSchema(Schema):
    items = fields.List(fields.Nested(CandidateSchema))
    total = fields.Integer()
    outstanding = fields.Decimal(as_string=True)
    page = fields.Integer()
    pages = fields.Integer()


class ProposalInSchema(Schema):
    """``case_ids``, or ``all_candidates`` (with the candidate filters ``rule_id``, ``product``)."""

    case_ids = fields.List(fields.Integer(), load_default=list, validate=validate.Length(max=50_000))
    all_candidates = fields.Boolean(load_default=False)
    reason = fields.String(required=True, validate=validate.Length(max=1000))
    rule_id = fields.Integer(load_default=None, allow_none=True)
    product = fields.String(load_default=None, allow_none=True)
    keep_placement = fields.Boolean(load_default=None, allow_none=True)


class ProposedSchema(Schema):
    approval_id = fields.Integer()
    count = fields.Integer()
    total = fields.Decimal(as_string=True)
    stages = fields.List(fields.String())


class ProposalSchema(Schema):
    id = fields.Integer()
    approval_id = fields.Integer()
    case_id = fields.Integer()
    loan_no = fields.String()
    rule_id = fields.Integer(allow_none=True)
    status = fields.String(
        metadata={"enum": ["pending", "approved", "registered", "rejected", "cancelled", "lapsed"]}
    )
    principal = fields.Decimal(as_string=True)
    interest = fields.Decimal(as_string=True)
    penalty = fields.Decimal(as_string=True)
    fee = fields.Decimal(as_string=True)
    total = fields.Decimal(as_string=True)
    keep_placement = fields.Boolean()
    reason = fields.String()
    proposed_by_id = fields.Integer()
    write_off_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class ApproverSchema(Schema):
    by = fields.Integer(allow_none=True)
    name = fields.String()
    stage = fields.String(allow_none=True)
    at = fields.String(allow_none=True)


class WriteOffSchema(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    loan_no = fields.String(allow_none=True)
    proposal_id = fields.Integer(allow_none=True)
    approval_id = fields.Integer(allow_none=True)
    rule_id = fields.Integer(allow_none=True)
    written_off_on = fields.Date()
    principal = fields.Decimal(as_string=True)
    interest = fields.Decimal(as_string=True)
    penalty = fields.Decimal(as_string=True)
    fee = fields.Decimal(as_string=True)
    total = fields.Decimal(as_string=True)
    recovered = fields.Decimal(as_string=True)
    reason = fields.String()
    proposed_by_id = fields.Integer(allow_none=True)
    approvers = fields.List(fields.Nested(ApproverSchema))
    previous_status = fields.String()
    agency_org_id = fields.Integer(allow_none=True)
    keep_placement = fields.Boolean()
    status = fields.String(metadata={"enum": ["registered", "reversed"]})
    reversed_at = fields.DateTime(allow_none=True)
    reversal_reason = fields.String()


class LedgerTotalsSchema(Schema):
    count = fields.Integer()
    principal = fields.Decimal(as_string=True)
    interest = fields.Decimal(as_string=True)
    penalty = fields.Decimal(as_string=True)
    fee = fields.Decimal(as_string=True)
    total = fields.Decimal(as_string=True)
    recovered = fields.Decimal(as_string=True)


class LedgerPageSchema(Schema):
    items = fields.List(fields.Nested(WriteOffSchema))
    totals = fields.Nested(LedgerTotalsSchema)
    page = fields.Integer()
    pages = fields.Integer()


class ReversalRequestInSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class WriteOffApprovalRefSchema(Schema):
    approval_id = fields.Integer()
    status = fields.String()
    stages = fields.List(fields.String())
