"""Schemas of the collection work API: notes, promises, reminders, result codes."""

from __future__ import annotations

from marshmallow import Schema, fields

AMOUNT_HELP = (
    'a decimal string with at most two places, such as "150.50" (JSON numbers with a fraction are refused)'
)


class NoteSchema(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    author_user_id = fields.Integer()
    action = fields.String()
    party = fields.String()
    result_code = fields.String()
    contacted = fields.Boolean()
    text = fields.String()
    follow_up_on = fields.Date(allow_none=True)
    corrects_id = fields.Integer(allow_none=True)
    call_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class NoteInSchema(Schema):
    action = fields.String(required=True, metadata={"description": "call, sms, letter, visit, other"})
    party = fields.String(
        required=True,
        metadata={"description": "debtor, spouse, relative, colleague, third_party, none (nobody reached)"},
    )
    result_code = fields.String(required=True, metadata={"description": "a code of GET /result-codes"})
    text = fields.String(load_default="")
    follow_up_on = fields.String(load_default=None, allow_none=True, metadata={"description": "YYYY-MM-DD"})
    promise_amount = fields.Raw(load_default=None, allow_none=True, metadata={"description": AMOUNT_HELP})
    promise_due_on = fields.String(load_default=None, allow_none=True, metadata={"description": "YYYY-MM-DD"})
    corrects_id = fields.Integer(load_default=None, allow_none=True)


class PromiseSchema(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    collector_user_id = fields.Integer()
    note_id = fields.Integer(allow_none=True)
    amount = fields.Decimal(as_string=True)
    due_on = fields.Date()
    status = fields.String()
    paid_amount = fields.Decimal(as_string=True)
    evaluated_at = fields.DateTime(allow_none=True)
    confirmed_by_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()


class ConfirmInSchema(Schema):
    paid_amount = fields.Raw(required=True, metadata={"description": AMOUNT_HELP})


class ReminderSchema(Schema):
    id = fields.Integer()
    case_id = fields.Integer()
    kind = fields.String()
    due_on = fields.Date()
    text = fields.String()
    done = fields.Boolean()
    done_at = fields.DateTime(allow_none=True)
    snoozed = fields.Integer()
    promise_id = fields.Integer(allow_none=True)


class SnoozeInSchema(Schema):
    until = fields.String(required=True, metadata={"description": "YYYY-MM-DD, after today"})


class ResultCodeSchema(Schema):
    code = fields.String()
    label = fields.Function(lambda c: str(c.label))
    contacted = fields.Boolean()
    active = fields.Boolean()
    position = fields.Integer()


class ResultCodeInSchema(Schema):
    label = fields.String(required=True)
    contacted = fields.Boolean(load_default=False)
    active = fields.Boolean(load_default=True)
    position = fields.Integer(load_default=100)


class ContactSchema(Schema):
    """One contact attempt on a case, on any channel (work.contacts.contact_history)."""

    at = fields.DateTime()
    channel = fields.String()
    user_id = fields.Integer(allow_none=True)
    party = fields.String(allow_none=True)
    result = fields.String()
    text = fields.String()
    contacted = fields.Boolean()
    note_id = fields.Integer(allow_none=True)
    call_id = fields.Integer(allow_none=True)
    duration_s = fields.Integer(allow_none=True)


class RollEntrySchema(Schema):
    uid = fields.Integer()
    name = fields.String()
    month = fields.Decimal(as_string=True)
    week = fields.Decimal(as_string=True)
    month_rate = fields.Decimal(as_string=True, allow_none=True)
    week_rate = fields.Decimal(as_string=True, allow_none=True)


class RollPeriodSchema(Schema):
    amount = fields.List(fields.Nested(RollEntrySchema))
    rate = fields.List(fields.Nested(RollEntrySchema))


class RollSchema(Schema):
    month = fields.Nested(RollPeriodSchema)
    week = fields.Nested(RollPeriodSchema)


class DeskSchema(Schema):
    """The collector's desk (工作台基本概况): today's figures, the rank, the honour roll (光荣榜)."""

    today = fields.Date()
    open_cases = fields.Integer()
    held = fields.Decimal(as_string=True)
    promises_due_today = fields.Integer()
    reminders_due = fields.Integer()
    broken_recently = fields.Integer()
    broken_days = fields.Integer()
    confirmed_month = fields.Decimal(as_string=True)
    notes_month = fields.Integer()
    contact_rate = fields.Decimal(as_string=True, allow_none=True)
    rank = fields.Integer(allow_none=True)
    collectors = fields.Integer()
    roll = fields.Nested(RollSchema)
    roll_at = fields.DateTime()
