"""Case and debtor representations for the API, masked unless the caller may unmask."""

from __future__ import annotations

import datetime as dt
from typing import Any

from marshmallow import Schema, fields

from arrears.cases.cases import bucket
from arrears.cases.models import Case, Debtor
from arrears.security import masking


class DebtorSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    id_number = fields.String()
    mobile = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    home_address = fields.String(allow_none=True)
    work_address = fields.String(allow_none=True)
    employer = fields.String(allow_none=True)
    masked = fields.Boolean()


class CaseSchema(Schema):
    id = fields.Integer()
    loan_no = fields.String()
    status = fields.String()
    product = fields.String()
    loan_date = fields.Date(allow_none=True)
    loan_amount = fields.Decimal(as_string=True, allow_none=True)
    term = fields.Integer(allow_none=True)
    due_date = fields.Date()
    days_past_due = fields.Integer()
    bucket = fields.String()
    lender_dpd = fields.Integer(allow_none=True)
    principal = fields.Decimal(as_string=True)
    interest = fields.Decimal(as_string=True)
    penalty = fields.Decimal(as_string=True)
    fee = fields.Decimal(as_string=True)
    outstanding = fields.Decimal(as_string=True)
    currency = fields.String()
    province = fields.String()
    city = fields.String()
    region = fields.String()
    tags = fields.List(fields.String())
    priority = fields.Integer()
    # the workbench's sort keys, kept by work.notes
    next_action_on = fields.Date(allow_none=True)
    promise_due_on = fields.Date(allow_none=True)
    last_contact_at = fields.DateTime(allow_none=True)
    debtor = fields.Nested(DebtorSchema)
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class CaseListSchema(Schema):
    items = fields.List(fields.Nested(CaseSchema))
    next_cursor = fields.String(allow_none=True)


class CaseItemResultSchema(Schema):
    index = fields.Integer()
    loan_no = fields.String(allow_none=True)
    status = fields.String()
    errors = fields.List(fields.Dict())


class CaseBatchResultSchema(Schema):
    imported = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    rejected = fields.Integer()
    items = fields.List(fields.Nested(CaseItemResultSchema))


class CaseBatchSchema(Schema):
    items = fields.List(fields.Dict(), required=True)


def debtor_view(debtor: Debtor, *, unmasked: bool) -> dict[str, Any]:
    if unmasked:
        values = {
            k: getattr(debtor, k)
            for k in ("name", "id_number", "mobile", "email", "home_address", "work_address", "employer")
        }
    else:
        # the stored masked projections: nothing is decrypted for a masked view
        values = {
            "name": masking.name(debtor.name),
            "id_number": debtor.id_number_masked or masking.id_number(debtor.id_number),
            "mobile": debtor.mobile_masked or (masking.phone(debtor.mobile) if debtor.mobile_bidx else ""),
            "email": debtor.email_masked or "",
            "home_address": debtor.home_address_masked or "",
            "work_address": debtor.work_address_masked or "",
            "employer": debtor.employer,
        }
    return {"id": debtor.id, "masked": not unmasked, **values}


def case_view(case: Case, today: dt.date, *, unmasked: bool) -> dict[str, Any]:
    dpd = case.days_past_due(today)
    data = {f: getattr(case, f) for f in CaseSchema._declared_fields if hasattr(case, f) and f != "debtor"}
    data.update(
        status=case.status.value,
        days_past_due=dpd,
        bucket=bucket(dpd),
        debtor=debtor_view(case.debtor, unmasked=unmasked),
    )
    return data
