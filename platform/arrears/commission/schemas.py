"""API representations of commission (佣金): contracts and their versions, records, statements with
their lines and adjustments. Money and rates are decimal strings, never JSON numbers."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

_AMOUNT = {"type": "string", "example": "1170.00"}
_RATE = {"type": "string", "example": "0.08", "description": "a fraction (0.08) or a percentage ('8%')"}
_BUCKETS = ["M0", "M1", "M2", "M3", "M4+"]


class CommissionTierInSchema(Schema):
    threshold = fields.Raw(
        required=True,
        metadata={
            "type": "string",
            "example": "0.30",
            "description": "a recovery rate (tier_basis recovery_rate) or an amount (collected)",
        },
    )
    bonus_rate = fields.Raw(required=True, metadata=_RATE)


class CommissionVersionInSchema(Schema):
    """Checked by the service, which names the wrong field (``rates.M2``, ``tiers.1.threshold``...)
    with a 422: every bucket needs a rate, given as a string."""

    effective_from = fields.Raw(
        required=True, metadata={"type": "string", "format": "date", "example": "2026-01-01"}
    )
    rates = fields.Raw(
        required=True,
        metadata={
            "type": "object",
            "description": "a rate per bucket at placement: " + ", ".join(_BUCKETS),
            "additionalProperties": _RATE,
            "example": {"M0": "0.05", "M1": "0.08", "M2": "0.12", "M3": "0.18", "M4+": "0.25"},
        },
    )
    tier_basis = fields.Raw(
        load_default=None, metadata={"type": "string", "enum": ["recovery_rate", "collected"]}
    )
    tiers = fields.Raw(
        load_default=None,
        metadata={
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"threshold": {"type": "string"}, "bonus_rate": {"type": "string"}},
            },
            "description": "ascending thresholds; the highest reached adds its bonus rate",
        },
    )
    min_amount = fields.Raw(load_default=None, metadata={**_AMOUNT, "description": "per period"})
    cap_amount = fields.Raw(load_default=None, metadata={**_AMOUNT, "description": "per period"})
    note = fields.String(load_default="", validate=validate.Length(max=500))


class CommissionContractInSchema(CommissionVersionInSchema):
    """A contract with its first version (the version's fields at the top level)."""

    kind = fields.String(required=True, metadata={"enum": ["agency", "incentive"]})
    name = fields.String(required=True, validate=validate.Length(max=120))
    agency_org_id = fields.Integer(load_default=None, allow_none=True)


class CommissionTierSchema(Schema):
    threshold = fields.String()
    bonus_rate = fields.String()


class CommissionVersionSchema(Schema):
    id = fields.Integer()
    contract_id = fields.Integer()
    number = fields.Integer()
    effective_from = fields.Date()
    rates = fields.Dict(keys=fields.String(), values=fields.String())
    tier_basis = fields.String(metadata={"enum": ["recovery_rate", "collected"]})
    tiers = fields.List(fields.Nested(CommissionTierSchema))
    min_amount = fields.Decimal(as_string=True, allow_none=True)
    cap_amount = fields.Decimal(as_string=True, allow_none=True)
    note = fields.String()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class CommissionContractSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": ["agency", "incentive"]})
    name = fields.String()
    status = fields.String(metadata={"enum": ["active", "ended"]})
    org_id = fields.Integer(metadata={"description": "the paying organisation"})
    agency_org_id = fields.Integer(allow_none=True, metadata={"description": "the agency paid (agency kind)"})
    created_at = fields.DateTime()


class CommissionContractDetailSchema(CommissionContractSchema):
    versions = fields.List(fields.Nested(CommissionVersionSchema), metadata={"description": "newest first"})


class CommissionRecordSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": ["commission", "clawback"]})
    contract_id = fields.Integer()
    version_number = fields.Integer()
    org_id = fields.Integer(metadata={"description": "the paying organisation"})
    agency_org_id = fields.Integer(allow_none=True)
    collector_user_id = fields.Integer(allow_none=True)
    owner_org_id = fields.Integer()
    repayment_id = fields.Integer()
    case_id = fields.Integer()
    bucket = fields.String()
    paid_at = fields.DateTime()
    event_at = fields.DateTime()
    amount = fields.Decimal(as_string=True)
    rate = fields.Decimal(as_string=True)
    commission = fields.Decimal(as_string=True)
    statement_id = fields.Integer(allow_none=True)


class CommissionRecordPageSchema(Schema):
    items = fields.List(fields.Nested(CommissionRecordSchema))
    total = fields.Integer()
    page = fields.Integer()
    pages = fields.Integer()


class CommissionLineSchema(Schema):
    bucket = fields.String()
    count = fields.Integer()
    amount = fields.String(metadata=_AMOUNT)
    commission = fields.String(metadata=_AMOUNT)
    clawback_count = fields.Integer()
    clawbacks = fields.String(metadata=_AMOUNT)


class CommissionAdjustmentSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": ["tier", "minimum", "cap", "manual"]})
    amount = fields.Decimal(as_string=True)
    reason = fields.String()
    created_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class CommissionStatementSchema(Schema):
    id = fields.Integer()
    org_id = fields.Integer(metadata={"description": "the paying organisation"})
    contract_id = fields.Integer()
    agency_org_id = fields.Integer(allow_none=True)
    collector_user_id = fields.Integer(allow_none=True)
    payee_key = fields.String(metadata={"example": "agency:12"})
    period = fields.String(metadata={"example": "2026-11"})
    period_start = fields.DateTime()
    period_end = fields.DateTime()
    status = fields.String(metadata={"enum": ["draft", "approved", "paid"]})
    record_count = fields.Integer()
    late_count = fields.Integer()
    base_amount = fields.Decimal(as_string=True)
    recovery_rate = fields.Decimal(as_string=True, allow_none=True)
    commission = fields.Decimal(as_string=True)
    clawbacks = fields.Decimal(as_string=True)
    adjustments = fields.Decimal(as_string=True, metadata={"description": "the sum of the adjustments"})
    net = fields.Decimal(as_string=True)
    generated_at = fields.DateTime(allow_none=True)
    approved_by_id = fields.Integer(allow_none=True)
    approved_at = fields.DateTime(allow_none=True)
    paid_by_id = fields.Integer(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)
    paid_reference = fields.String()


class CommissionStatementDetailSchema(CommissionStatementSchema):
    lines = fields.List(fields.Nested(CommissionLineSchema), metadata={"description": "by bucket"})
    adjustment_lines = fields.List(fields.Nested(CommissionAdjustmentSchema))


class CommissionStatementPageSchema(Schema):
    items = fields.List(fields.Nested(CommissionStatementSchema))
    total = fields.Integer()
    page = fields.Integer()
    pages = fields.Integer()


class CommissionSettlementInSchema(Schema):
    period = fields.String(required=True, metadata={"example": "2026-11", "description": "YYYY-MM"})


class CommissionSettlementSchema(Schema):
    job_id = fields.String()
    period = fields.String()


class CommissionAdjustmentInSchema(Schema):
    amount = fields.Raw(
        required=True,
        metadata={**_AMOUNT, "example": "-50.00", "description": "signed: a deduction is negative"},
    )
    reason = fields.String(required=True, validate=validate.Length(max=500))


class CommissionApprovalInSchema(Schema):
    note = fields.String(load_default="", validate=validate.Length(max=300))


class CommissionPaidInSchema(Schema):
    reference = fields.String(required=True, validate=validate.Length(max=120))
