"""Asset console: the owner's settings for the collectors' work.

* Letter templates (信函模板): the owner's letters with placeholders, listed (active or archived),
  written with a preview filled with sample values (a POST button, no script needed), archived or
  restored. The rules (the sandbox, the placeholders, names) are ``work.letters``.
* Application thresholds (申请审批阈值): up to which amount the team lead decides an application, up
  to which the agency's manager, above it the owner (``work.applications.set_limits``).
"""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import Length, Optional

from arrears.auth.principal import permission_required
from arrears.errors import DomainError
from arrears.kernel.money import format_amount
from arrears.web.console import NavItem
from arrears.web.current import current_actor
from arrears.web.forms import ConfirmForm, show_error
from arrears.work import applications as application_service
from arrears.work import letters as letter_service
from arrears.work.loaders import get_letter_template_for
from arrears.work.models import LetterTemplate
from asset_console.views import bp

bp.console_nav.extend(  # type: ignore[attr-defined]
    [
        NavItem("asset_console.letter_templates", _l("Letter templates"), "letters.templates.manage"),
        NavItem("asset_console.application_limits", _l("Application thresholds"), "org.settings.manage"),
    ]
)


class LetterTemplateForm(FlaskForm):
    # lengths and required fields are checked by the service (one message, next to the field)
    name = StringField(_l("Name"), validators=[Optional(), Length(max=120)])
    subject = StringField(_l("Subject (heading of the letter)"), validators=[Optional(), Length(max=200)])
    body = TextAreaField(_l("Text of the letter"), validators=[Optional(), Length(max=20_000)])


class LimitsForm(FlaskForm):
    reduction_team = StringField(_l("Reductions: the team lead decides up to"))
    reduction_org = StringField(_l("Reductions: the agency manager decides up to"))
    repayment_team = StringField(_l("Repayments: the team lead decides up to"))
    repayment_org = StringField(_l("Repayments: the agency manager decides up to"))


def _placeholders() -> list[tuple[str, str, str]]:
    """Each placeholder as written in a template, its meaning and its sample value."""
    return [
        ("{{ " + name + " }}", str(label), str(letter_service.SAMPLE.get(name, "")))
        for name, label in letter_service.PLACEHOLDERS.items()
    ]


# --- letter templates ----------------------------------------------------------------------------


@bp.route("/letter-templates")
@permission_required("letters.templates.manage")
def letter_templates():
    archived = request.args.get("archived") == "1"
    return render_template(
        "asset_console/letter_templates.html",
        templates=letter_service.list_templates(current_actor(), archived=archived),
        archived=archived,
    )


def _template_page(form: LetterTemplateForm, template: LetterTemplate | None) -> Any:
    """Save the form (create or update), or fill it in with the sample values when the preview
    button was pressed; errors go next to their field and nothing is saved."""
    me = current_actor()
    preview: dict[str, str] | None = None
    if form.validate_on_submit():
        name, subject, body = form.name.data or "", form.subject.data or "", form.body.data or ""
        try:
            if request.form.get("action") == "preview":
                preview = letter_service.preview(subject, body)
            elif template is None:
                created = letter_service.create_template(me, name=name, subject=subject, body=body)
                flash(_("The letter template was created."), "success")
                return redirect(url_for("asset_console.letter_template_edit", template_id=created.id))
            else:
                letter_service.update_template(me, template, name=name, subject=subject, body=body)
                flash(_("The letter template was saved."), "success")
                return redirect(url_for("asset_console.letter_template_edit", template_id=template.id))
        except DomainError as exc:
            show_error(form, exc)
    return render_template(
        "asset_console/letter_template_form.html",
        form=form,
        template=template,
        preview=preview,
        placeholders=_placeholders(),
    )


@bp.route("/letter-templates/new", methods=["GET", "POST"])
@permission_required("letters.templates.manage")
def letter_template_new():
    form = LetterTemplateForm()
    if request.method == "GET":
        form.body.data = _("Dear {{ debtor_name }},\n\n")
    return _template_page(form, None)


@bp.route("/letter-templates/<int:template_id>", methods=["GET", "POST"])
@permission_required("letters.templates.manage")
def letter_template_edit(template_id: int):
    template = get_letter_template_for(current_actor(), template_id)
    form = LetterTemplateForm(obj=template) if request.method == "GET" else LetterTemplateForm()
    return _template_page(form, template)


@bp.route("/letter-templates/<int:template_id>/archive", methods=["POST"])
@permission_required("letters.templates.manage")
def letter_template_archive(template_id: int):
    me = current_actor()
    template = get_letter_template_for(me, template_id)
    if ConfirmForm().validate_on_submit():
        try:
            letter_service.archive_template(me, template)
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("The letter template was archived: it is offered no more."), "success")
    return redirect(url_for("asset_console.letter_templates"))


@bp.route("/letter-templates/<int:template_id>/restore", methods=["POST"])
@permission_required("letters.templates.manage")
def letter_template_restore(template_id: int):
    me = current_actor()
    template = get_letter_template_for(me, template_id)
    if ConfirmForm().validate_on_submit():
        try:
            letter_service.update_template(
                me, template, name=template.name, subject=template.subject, body=template.body, active=True
            )
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("The letter template was restored."), "success")
    return redirect(url_for("asset_console.letter_template_edit", template_id=template.id))


# --- application thresholds ----------------------------------------------------------------------


@bp.route("/settings/application-limits", methods=["GET", "POST"])
@permission_required("org.settings.manage")
def application_limits():
    me = current_actor()
    form = LimitsForm()
    if form.validate_on_submit():
        try:
            application_service.set_limits(
                me,
                {
                    kind: {level: getattr(form, f"{kind}_{level}").data for level in ("team", "org")}
                    for kind in ("reduction", "repayment")
                },
            )
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("The thresholds were saved."), "success")
            return redirect(url_for("asset_console.application_limits"))
    limits = application_service.get_limits(me.org)
    if request.method == "GET":
        for kind, levels in limits.items():
            for level, value in levels.items():
                getattr(form, f"{kind}_{level}").data = str(value)
    return render_template(
        "asset_console/application_limits.html",
        form=form,
        limits=limits,
        money=format_amount,
        level_labels=application_service.LEVEL_LABELS,
    )
