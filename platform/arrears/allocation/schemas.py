"""API representations of placements, allocation strategies, runs, their results and assignments."""

from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema


class PlacementSchema(Schema):
    id = fields.Integer()
    owner_org_id = fields.Integer(attribute="org_id")
    agency_org_id = fields.Integer()
    agency_name = fields.Function(lambda p: p.agency.name)
    partnership_id = fields.Integer()
    run_id = fields.Integer(allow_none=True)
    name = fields.String()
    starts_on = fields.Date()
    ends_on = fields.Date()
    status = fields.String()
    case_count = fields.Integer()
    amount = fields.Decimal(as_string=True)
    activated_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)
    close_reason = fields.String()


class PlacementCaseSchema(Schema):
    case_id = fields.Integer()
    status = fields.String()
    bucket = fields.String()
    dpd = fields.Integer()
    amount = fields.Decimal(as_string=True)
    starts_on = fields.Date()
    ends_on = fields.Date()
    closed_at = fields.DateTime(allow_none=True)
    close_reason = fields.String()


class RecallSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=300))
    case_ids = fields.List(fields.Integer(), load_default=None, validate=validate.Length(max=10_000))


class ExtensionSchema(Schema):
    ends_on = fields.Date(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=1000))


class ApprovalRefSchema(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    summary = fields.String()


class StrategyVersionSchema(Schema):
    version = fields.Integer()
    rules = fields.Raw()
    changes = fields.List(fields.String())
    note = fields.String()
    created_by = fields.Function(lambda v: v.created_by.email if v.created_by else None)
    created_at = fields.DateTime()


class StrategySchema(Schema):
    id = fields.Integer()
    name = fields.String()
    level = fields.String()
    version = fields.Integer()
    rules = fields.Raw()
    archived = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime(allow_none=True)


class StrategyInSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    level = fields.String(load_default=None, validate=validate.OneOf(["placement", "dispatch"]))
    rules = fields.List(fields.Dict(), required=True)
    note = fields.String(load_default="", validate=validate.Length(max=500))


class TargetInSchema(Schema):
    id = fields.Integer(required=True)
    cap = fields.Integer(load_default=None, validate=validate.Range(min=0))
    regions = fields.List(fields.String(), load_default=list)


class ScopeInSchema(Schema):
    dpd_min = fields.Integer(load_default=None)
    dpd_max = fields.Integer(load_default=None)
    amount_min = fields.Decimal(load_default=None)
    amount_max = fields.Decimal(load_default=None)
    product = fields.String(load_default=None)
    province = fields.String(load_default=None)
    city = fields.String(load_default=None)
    tags = fields.List(fields.String(), load_default=list)


class RunInSchema(Schema):
    level = fields.String(required=True, validate=validate.OneOf(["placement", "dispatch"]))
    strategy_id = fields.Integer(load_default=None)
    rules = fields.List(fields.Dict(), load_default=None)
    scope = fields.Nested(ScopeInSchema, load_default=dict)
    case_ids = fields.List(fields.Integer(), load_default=None, validate=validate.Length(max=200_000))
    targets = fields.List(fields.Nested(TargetInSchema), load_default=None)
    starts_on = fields.Date(load_default=None)
    ends_on = fields.Date(load_default=None)

    @validates_schema
    def _one_way(self, data: dict, **_: object) -> None:
        if data.get("strategy_id") is not None and data.get("rules") is not None:
            raise ValidationError("give a strategy_id or rules, not both", "rules")


class RunSchema(Schema):
    id = fields.Integer()
    level = fields.String()
    status = fields.String()
    strategy_id = fields.Integer(allow_none=True)
    strategy_version = fields.Integer(allow_none=True)
    rules = fields.Raw()
    scope = fields.Raw()
    targets = fields.Raw()
    starts_on = fields.Date(allow_none=True)
    ends_on = fields.Date(allow_none=True)
    summary = fields.Raw()
    case_count = fields.Integer()
    allocated_count = fields.Integer()
    applied_count = fields.Integer()
    skipped_count = fields.Integer()
    approval_id = fields.Integer(allow_none=True)
    job_id = fields.String(allow_none=True)
    created_at = fields.DateTime()
    applied_at = fields.DateTime(allow_none=True)


class ReasonSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=1000))


class DecisionSchema(Schema):
    approve = fields.Boolean(required=True)
    note = fields.String(load_default="", validate=validate.Length(max=1000))


class ResultSchema(Schema):
    case_id = fields.Integer()
    status = fields.String()
    target_id = fields.Integer(allow_none=True)
    rule = fields.Integer(allow_none=True)
    reason = fields.String()
    amount = fields.Decimal(as_string=True)
    dpd = fields.Integer()


class ResultPageSchema(Schema):
    items = fields.List(fields.Nested(ResultSchema))
    next_cursor = fields.Integer(allow_none=True)


class JobRefSchema(Schema):
    run_id = fields.Integer()
    job_id = fields.String()
    status = fields.String()


class TransferSchema(Schema):
    case_ids = fields.List(fields.Integer(), required=True, validate=validate.Length(min=1, max=10_000))
    to_user_id = fields.Integer(load_default=None)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=300))


class MoveResultSchema(Schema):
    moved = fields.Integer()


class AssignmentSchema(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    kind = fields.String()
    from_user_id = fields.Integer(allow_none=True)
    to_user_id = fields.Integer(allow_none=True)
    run_id = fields.Integer(allow_none=True)
    actor_user_id = fields.Integer(allow_none=True)
    reason = fields.String()
    created_at = fields.DateTime()
