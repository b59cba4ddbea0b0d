"""Forms shared by the consoles (Flask-WTF: CSRF on every one)."""

from __future__ import annotations

from typing import Any

from flask import flash
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    IntegerField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from arrears.errors import DomainError


def show_error(form: Any, exc: DomainError) -> None:
    """A domain error on a console form: under the field it names (when the form has it) and flashed."""
    field = getattr(form, exc.field, None) if exc.field else None
    if field is not None and hasattr(field, "errors"):
        field.errors = [*list(field.errors), str(exc.message)]
    flash(str(exc.message), "danger")


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    submit = SubmitField(_l("Sign in"))


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=10, max=256)])
    revoke_api_tokens = BooleanField(
        _l("Also revoke my API tokens"),
        description=_l("The integrations using them stop until they get a new token."),
    )
    submit = SubmitField(_l("Change password"))


class TokenForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    days = IntegerField(_l("Valid for (days)"), default=90, validators=[DataRequired(), NumberRange(1, 365)])
    submit = SubmitField(_l("Create token"))


class UserForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired(), Email(), Length(max=254)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    password = PasswordField(_l("Initial password"), validators=[Optional(), Length(min=10, max=256)])
    role_ids = MultiCheckboxField(_l("Roles"), coerce=int)
    team_id = SelectField(_l("Team"), coerce=int, default=0)
    submit = SubmitField(_l("Save"))


class PasswordResetForm(FlaskForm):
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), Length(min=10, max=256)])
    submit = SubmitField(_l("Set password"))


class RoleForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    description = StringField(_l("Description"), validators=[Optional(), Length(max=500)])
    parent_id = SelectField(_l("Under role"), coerce=int, default=0)
    permissions = MultiCheckboxField(_l("Permissions"))
    submit = SubmitField(_l("Save"))


class ConfirmForm(FlaskForm):
    """An empty form: a button that posts with a CSRF token."""

    submit = SubmitField(_l("Confirm"))


class DecisionForm(FlaskForm):
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=1000)])
    approve = SubmitField(_l("Approve"))
    reject = SubmitField(_l("Reject"))


class AuditFilterForm(FlaskForm):
    class Meta:
        csrf = False

    action = StringField(_l("Action"), validators=[Optional(), Length(max=64)])
    actor = StringField(_l("User"), validators=[Optional(), Length(max=254)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To"), validators=[Optional()])


class OrganisationForm(FlaskForm):
    kind = SelectField(
        _l("Kind"), choices=[("asset_owner", _l("Asset owner")), ("agency", _l("Collection agency"))]
    )
    slug = StringField(_l("Short name"), validators=[DataRequired(), Length(max=64)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    admin_name = StringField(_l("Administrator's name"), validators=[DataRequired(), Length(max=120)])
    admin_email = EmailField(
        _l("Administrator's e-mail"), validators=[DataRequired(), Email(), Length(max=254)]
    )
    admin_password = PasswordField(
        _l("Administrator's initial password"), validators=[DataRequired(), Length(min=10)]
    )
    submit = SubmitField(_l("Create"))


class PartnershipForm(FlaskForm):
    agency_slug = StringField(_l("Agency short name"), validators=[DataRequired(), Length(max=64)])
    starts_on = DateField(_l("Start"), validators=[DataRequired()])
    ends_on = DateField(_l("End"), validators=[Optional()])
    status = SelectField(
        _l("Status"),
        choices=[("active", _l("Active")), ("suspended", _l("Suspended")), ("ended", _l("Ended"))],
        default="active",
    )
    grants = MultiCheckboxField(_l("Rights granted"))
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])
    submit = SubmitField(_l("Save"))


class TeamForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    lead_user_id = SelectField(_l("Team lead"), coerce=int, default=0)
    member_ids = MultiCheckboxField(_l("Members"), coerce=int)
    submit = SubmitField(_l("Save"))


class RightRequestForm(FlaskForm):
    right = SelectField(_l("Right"))
    reason = TextAreaField(_l("Why"), validators=[DataRequired(), Length(max=1000)])
    submit = SubmitField(_l("Ask the asset owner"))


class SettingsForm(FlaskForm):
    name = StringField(_l("Organisation name"), validators=[DataRequired(), Length(max=200)])
    default_locale = SelectField(_l("Default language"), choices=[("zh_CN", "简体中文"), ("en", "English")])
    submit = SubmitField(_l("Save"))


__all__ = ["BooleanField"]


CASE_STATUS_CHOICES = [
    ("new", lazy_pgettext("case status", "new")),
    ("active", lazy_pgettext("case status", "active")),
    ("paused", lazy_pgettext("case status", "paused")),
    ("closed", lazy_pgettext("case status", "closed")),
    ("written_off", lazy_pgettext("case status", "written off")),
]


class CaseFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Name, loan number, ID number or mobile"), validators=[Optional(), Length(max=64)])
    dpd_min = IntegerField(_l("Days past due from"), validators=[Optional(), NumberRange(min=0)])
    dpd_max = IntegerField(_l("to"), validators=[Optional(), NumberRange(min=0)])
    amount_min = StringField(_l("Amount from"), validators=[Optional(), Length(max=20)])
    amount_max = StringField(_l("to"), validators=[Optional(), Length(max=20)])
    product = StringField(_l("Product"), validators=[Optional(), Length(max=64)])
    province = StringField(_l("Province"), validators=[Optional(), Length(max=32)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=32)])
    status = SelectField(
        _l("Status"),
        choices=[("", "—"), *CASE_STATUS_CHOICES],
        validators=[Optional()],
    )
    sort = SelectField(
        _l("Sort"),
        choices=[
            ("-dpd", _l("Most days past due")),
            ("dpd", _l("Fewest days past due")),
            ("-amount", _l("Largest amount")),
            ("amount", _l("Smallest amount")),
        ],
        default="-dpd",
    )


class CaseEditForm(FlaskForm):
    status = SelectField(
        _l("Status"),
        choices=CASE_STATUS_CHOICES,
    )
    priority = IntegerField(_l("Priority"), default=0, validators=[Optional(), NumberRange(min=0, max=1000)])
    tags = StringField(_l("Tags (comma separated)"), validators=[Optional(), Length(max=300)])
    submit = SubmitField(_l("Save"))


class ImportUploadForm(FlaskForm):
    file = FileField(
        _l("Case file (.xlsx or .csv)"),
        validators=[FileRequired(), FileAllowed(["xlsx", "csv", "xls"], _l("Upload an .xlsx or .csv file."))],
    )
    mapping = SelectField(_l("Columns"), default="auto")
    submit = SubmitField(_l("Upload"))


class FaceUploadForm(FlaskForm):
    face = FileField(
        _l("Face image (JPEG or PNG)"),
        validators=[FileRequired(), FileAllowed(["jpg", "jpeg", "png"], _l("Upload a JPEG or PNG image."))],
    )
    submit = SubmitField(_l("Upload"))
