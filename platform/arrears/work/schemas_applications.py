"""API representations of applications (申请) and the owner's thresholds."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from arrears.work.applications import view

# Amounts are taken as sent (a string such as "120.50", or a number) and checked by the service, so a
# bad amount is refused naming its field with the reason (negative, zero, more than two decimals).
_AMOUNT = {"type": "string", "example": "120.50"}


def _stage(application: Any) -> str | None:

    return view(application)["stage"]


def _approval(application: Any, name: str) -> Any:

    return view(application)[name]


class ApplicationInSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["repayment", "reduction"]))
    amount = fields.Raw(load_default=None, metadata=_AMOUNT)  # a repayment: what was paid
    paid_on = fields.Date(load_default=None)
    channel = fields.String(load_default="", validate=validate.Length(max=64))
    waive_penalty = fields.Raw(load_default="0", metadata=_AMOUNT)  # a reduction: what it waives
    waive_interest = fields.Raw(load_default="0", metadata=_AMOUNT)
    waive_fee = fields.Raw(load_default="0", metadata=_AMOUNT)
    reason = fields.String(load_default="", validate=validate.Length(max=1000))
    evidence_ids = fields.List(fields.Integer(), load_default=list, validate=validate.Length(max=50))


class TrailSchema(Schema):
    stage = fields.String()
    decision = fields.String()
    by = fields.Integer()
    name = fields.String()
    at = fields.String()
    note = fields.String()


class ApplicationSchema(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    owner_org_id = fields.Integer(attribute="org_id")
    agency_org_id = fields.Integer(allow_none=True)
    kind = fields.String()
    status = fields.String()
    amount = fields.Decimal(as_string=True)
    waive_penalty = fields.Decimal(as_string=True)
    waive_interest = fields.Decimal(as_string=True)
    waive_fee = fields.Decimal(as_string=True)
    paid_on = fields.Date(allow_none=True)
    channel = fields.String()
    reason = fields.String()
    requested_by_id = fields.Integer()
    required_level = fields.String()
    stage = fields.Function(_stage, metadata={"type": "string", "nullable": True})
    stages = fields.Function(lambda a: _approval(a, "stages"), metadata={"type": "array"})
    trail = fields.Function(lambda a: _approval(a, "trail"), metadata={"type": "array"})
    approval_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String()


class ApplicationDecisionSchema(Schema):
    approve = fields.Boolean(required=True)
    note = fields.String(load_default="", validate=validate.Length(max=1000))


class LevelLimitsSchema(Schema):
    team = fields.Decimal(as_string=True, metadata=_AMOUNT)
    org = fields.Decimal(as_string=True, metadata=_AMOUNT)


class ApplicationLimitsSchema(Schema):
    """Up to ``team``: the team lead decides; up to ``org``: the agency's manager; above: the owner."""

    reduction = fields.Nested(LevelLimitsSchema)
    repayment = fields.Nested(LevelLimitsSchema)


class ApplicationLimitsInSchema(Schema):
    reduction = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict)
    repayment = fields.Dict(keys=fields.String(), values=fields.Raw(), load_default=dict)
