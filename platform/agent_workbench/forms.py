"""Forms of the collector workbench (Flask-WTF: CSRF on every form that posts). The forms carry the
input; ``work.notes`` checks it and names the field that is wrong."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    MultipleFileField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from arrears.work import notes


class NoteForm(FlaskForm):
    """A collection note (催记); with a follow-up date, a reminder; with a promise, the promise."""

    action = SelectField(
        _l("What was done"),
        choices=[(k.value, v) for k, v in notes.ACTION_LABELS.items()],
        validate_choice=False,
    )
    party = SelectField(
        _l("Who was reached"),
        choices=[(k.value, v) for k, v in notes.PARTY_LABELS.items()],
        validate_choice=False,
    )
    result_code = SelectField(_l("Result"), validate_choice=False)
    text = TextAreaField(_l("Note"), validators=[Optional(), Length(max=notes.TEXT_MAX)])
    follow_up_on = StringField(_l("Next follow-up"), validators=[Optional()])
    promise_amount = StringField(_l("Promised amount"), validators=[Optional()])
    promise_due_on = StringField(_l("Promised by"), validators=[Optional()])
    corrects_id = HiddenField()
    submit = SubmitField(_l("Save note"))


class ConfirmPromiseForm(FlaskForm):
    paid_amount = StringField(_l("Paid"), validators=[Optional()])
    submit = SubmitField(_l("Confirm payment"))


class SnoozeForm(FlaskForm):
    until = StringField(_l("Snooze until"), validators=[Optional()])
    submit = SubmitField(_l("Snooze"))


class RepaymentForm(FlaskForm):
    """还款申请: a payment the debtor made that the collector reports, with evidence."""

    amount = StringField(_l("Amount paid"), validators=[Optional()])
    paid_on = StringField(_l("Paid on"), validators=[Optional()])
    channel = StringField(_l("Paid through"), validators=[Optional(), Length(max=64)])
    reason = TextAreaField(_l("Remarks"), validators=[Optional(), Length(max=1000)])
    file = MultipleFileField(_l("Evidence (PDF, JPEG, PNG, WebP)"))
    submit = SubmitField(_l("Report the payment"))


class ReductionForm(FlaskForm):
    """减免申请: waive some of the penalty, interest or fee."""

    waive_penalty = StringField(_l("Waive penalty"), validators=[Optional()])
    waive_interest = StringField(_l("Waive interest"), validators=[Optional()])
    waive_fee = StringField(_l("Waive fees"), validators=[Optional()])
    reason = TextAreaField(_l("Why"), validators=[Optional(), Length(max=1000)])
    file = MultipleFileField(_l("Evidence (PDF, JPEG, PNG, WebP)"))
    submit = SubmitField(_l("Apply for the reduction"))


class AttachmentForm(FlaskForm):
    file = MultipleFileField(_l("File (PDF, JPEG, PNG, WebP)"))
    kind = SelectField(
        _l("What it is"),
        choices=[("evidence", _l("Evidence")), ("document", _l("Document"))],
        validate_choice=False,
    )
    submit = SubmitField(_l("Attach"))


class CallLogForm(FlaskForm):
    """A call made outside the platform, logged by hand."""

    started_at = StringField(_l("Started at"), validators=[Optional()])
    duration_s = StringField(_l("Duration (seconds)"), validators=[Optional()])
    result = SelectField(_l("Result"), validate_choice=False)
    party = SelectField(
        _l("Who was reached"),
        choices=[(k.value, v) for k, v in notes.PARTY_LABELS.items()],
        validate_choice=False,
    )
    result_code = SelectField(_l("Result of the conversation"), validate_choice=False)
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
    submit = SubmitField(_l("Log the call"))


class CallFinishForm(FlaskForm):
    duration_s = StringField(_l("Duration (seconds)"), validators=[Optional()])
    result = SelectField(_l("Result"), validate_choice=False)
    recording_ref = StringField(_l("Recording reference"), validators=[Optional(), Length(max=300)])
    submit = SubmitField(_l("Record the outcome"))
