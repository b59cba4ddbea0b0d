"""Forms of the collector workbench (Flask-WTF: CSRF on every form that posts). The forms carry the
input; ``services.notes`` checks it and names the field that is wrong."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import Length, Optional

from arrears.services import notes


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
