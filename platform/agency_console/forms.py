"""Forms of the agency console's case pages (Flask-WTF: CSRF on every form that posts)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, SelectMultipleField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from arrears.web.forms import CaseFilterForm


def optional_int(value: Any) -> int | None:
    """A select's value as an id, or ``None`` for the empty choice and anything that is not one."""
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class AgencyCaseFilterForm(CaseFilterForm):
    """The owner's case filters plus who holds the case inside the agency."""

    holding = SelectField(
        _l("Holder"),
        choices=[("", _l("All")), ("unassigned", _l("In the pool")), ("assigned", _l("With a collector"))],
        validators=[Optional()],
    )
    # ``user_id`` and ``team_id``: the names every console uses for people and teams in URLs
    user_id = SelectField(_l("Collector"), coerce=optional_int, validate_choice=False)
    team_id = SelectField(_l("Team"), coerce=optional_int, validate_choice=False)


class MoveForm(FlaskForm):
    """Selected cases to a collector (dispatch from the pool, or transfer with a reason), or back to
    the pool with a reason. The service checks everything; the form only carries it."""

    case_id = SelectMultipleField(coerce=optional_int, validate_choice=False)
    user_id = SelectField(_l("Collector"), coerce=optional_int, validate_choice=False)
    reason = TextAreaField(_l("Reason"), validators=[Optional(), Length(max=300)])
    dispatch = SubmitField(_l("Dispatch"))
    transfer = SubmitField(_l("Transfer"))
    unassign = SubmitField(_l("Back to the pool"))

    def chosen_cases(self) -> list[int]:
        return [i for i in (self.case_id.data or []) if i is not None]


class CapForm(FlaskForm):
    cap = IntegerField(_l("Most open cases"), validators=[Optional(), NumberRange(min=0, max=1_000_000)])
    submit = SubmitField(_l("Set"))


class ExtensionForm(FlaskForm):
    ends_on = DateField(_l("New end date"), validators=[DataRequired()])
    reason = TextAreaField(_l("Why"), validators=[Optional(), Length(max=1000)], id="extension-reason")
    submit = SubmitField(_l("Ask for an extension"))


class EarlyRecallForm(FlaskForm):
    case_id = SelectMultipleField(coerce=optional_int, validate_choice=False)
    reason = TextAreaField(_l("Why"), validators=[Optional(), Length(max=1000)], id="recall-reason")
    submit = SubmitField(_l("Ask for an early recall"))

    def chosen_cases(self) -> list[int]:
        return [i for i in (self.case_id.data or []) if i is not None]
