"""Organisation administration pages every console has: users, roles, the operation log, jobs and
settings (``pages``), and the approvals inbox and outbox (``approval_pages``, the consoles of
organisations that take part in approvals). Each is a blueprint nested in the consoles that show it
(``web.console.nest``): the console's gate and navigation run for it, its URLs take the console's
prefix, and its endpoints are ``<console>.orgs.<view>`` and ``<console>.approvals.<view>``."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from arrears.auth.models import Role, User, UserStatus
from arrears.auth.passwords import MIN_LENGTH
from arrears.auth.permissions import permissions_for_kind
from arrears.auth.principal import permission_required
from arrears.errors import DomainError
from arrears.extensions import db
from arrears.kernel import audit as audit_service
from arrears.kernel import exports
from arrears.kernel.jobs import args as job_args
from arrears.kernel.jobs.models import JobRecord
from arrears.kernel.jobs.queue import is_eager
from arrears.orgs import approvals as approval_service
from arrears.orgs import jobs as job_service
from arrears.orgs import orgs as org_service
from arrears.orgs import queries as org_queries
from arrears.orgs import roles as role_service
from arrears.orgs import teams as team_service
from arrears.orgs import users as user_service
from arrears.orgs.loaders import get_approval_for, get_job_for, get_role_for, get_user_for
from arrears.orgs.models import ApprovalStatus
from arrears.web.console import ep
from arrears.web.current import current_actor, page_number
from arrears.web.forms import (
    AuditFilterForm,
    ConfirmForm,
    DecisionForm,
    PasswordResetForm,
    RoleForm,
    SettingsForm,
    UserForm,
    show_error,
)

pages = Blueprint("orgs", __name__, template_folder="templates")


# --- users ----------------------------------------------------------------------------------
def _user_form(form: UserForm, actor: User, user: User | None) -> None:
    form.role_ids.choices = [(r.id, r.display_name) for r in role_service.assignable_roles(actor)]
    if user is not None:
        held = [(r.id, r.display_name) for r in user.roles if r.id not in dict(form.role_ids.choices)]
        form.role_ids.choices += held
    form.team_id.choices = [(0, "—")] + [(t.id, t.name) for t in team_service.list_teams()]


@pages.route("/users")
@permission_required("org.users.view")
def users():
    search = request.args.get("q", "").strip()
    return render_template("orgs/users.html", users=user_service.list_users(search), q=search)


@pages.route("/users/new", methods=["GET", "POST"])
@permission_required("org.users.manage")
def user_new():
    actor = current_actor()
    form = UserForm()
    _user_form(form, actor, None)
    if form.validate_on_submit():
        try:
            user_service.create_user(
                actor,
                org=actor.org,
                email=form.email.data or "",
                name=form.name.data or "",
                password=form.password.data or "",
                role_ids=form.role_ids.data or [],
                team_id=form.team_id.data or None,
            )
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("The user was created."), "success")
            return redirect(url_for(ep("users")))
    return render_template("orgs/user_form.html", form=form, user=None)


@pages.route("/users/<int:user_id>", methods=["GET", "POST"])
@permission_required("org.users.view")
def user_edit(user_id: int):
    actor = current_actor()
    user = get_user_for(actor, user_id)
    form = UserForm(obj=user) if request.method == "GET" else UserForm()
    _user_form(form, actor, user)
    if request.method == "GET":
        form.role_ids.data = [r.id for r in user.roles]
        form.team_id.data = user.team_id or 0
    form.email.data = user.email
    if form.validate_on_submit():
        if not actor.can("org.users.manage"):
            abort(403)
        try:
            user_service.update_user(
                actor,
                user,
                name=form.name.data or "",
                role_ids=form.role_ids.data or [],
                team_id=form.team_id.data or None,
            )
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("The user was saved."), "success")
            return redirect(url_for(ep("users")))
    return render_template(
        "orgs/user_form.html", form=form, user=user, confirm=ConfirmForm(), reset=PasswordResetForm()
    )


@pages.route("/users/<int:user_id>/status", methods=["POST"])
@permission_required("org.users.manage")
def user_status(user_id: int):
    actor = current_actor()
    user = get_user_for(actor, user_id)
    if ConfirmForm().validate_on_submit():
        new = UserStatus.ACTIVE if user.status == UserStatus.DISABLED else UserStatus.DISABLED
        user_service.set_status(actor, user, new)
        flash(
            _("The user was disabled.") if new == UserStatus.DISABLED else _("The user was enabled."),
            "success",
        )
    return redirect(url_for(ep("user_edit"), user_id=user.id))


@pages.route("/users/<int:user_id>/password", methods=["POST"])
@permission_required("org.users.manage")
def user_password(user_id: int):
    actor = current_actor()
    user = get_user_for(actor, user_id)
    form = PasswordResetForm()
    if form.validate_on_submit():
        user_service.reset_password(actor, user, new_password=form.new_password.data or "")
        flash(_("The password was set; the user's sessions and API tokens were ended."), "success")
    else:
        flash(_("The password must have at least %(n)d characters.", n=MIN_LENGTH), "danger")
    return redirect(url_for(ep("user_edit"), user_id=user.id))


# --- roles ----------------------------------------------------------------------------------
def _role_form(form: RoleForm, actor: User, role: Any) -> None:
    form.permissions.choices = [(p.name, str(p.label)) for p in permissions_for_kind(actor.org.kind)]

    others = db.session.scalars(select(Role).order_by(Role.name)).all()
    form.parent_id.choices = [(0, "—")] + [
        (r.id, r.display_name) for r in others if role is None or r.id != role.id
    ]


@pages.route("/roles")
@permission_required("org.users.view")
def roles():

    all_roles = db.session.scalars(select(Role).order_by(Role.template_key.is_(None), Role.name)).all()
    labels = {p.name: str(p.label) for p in permissions_for_kind(current_actor().org.kind)}
    return render_template("orgs/roles.html", roles=all_roles, labels=labels)


@pages.route("/roles/new", methods=["GET", "POST"])
@pages.route("/roles/<int:role_id>", methods=["GET", "POST"])
@permission_required("org.roles.manage")
def role_edit(role_id: int | None = None):
    actor = current_actor()
    role = get_role_for(actor, role_id) if role_id is not None else None
    form = RoleForm(obj=role) if request.method == "GET" and role else RoleForm()
    _role_form(form, actor, role)
    if request.method == "GET" and role is not None:
        form.permissions.data = sorted(role.permissions)
        form.parent_id.data = role.parent_id or 0
    if form.validate_on_submit():
        try:
            role_service.save_role(
                actor,
                role=role,
                name=form.name.data or "",
                description=form.description.data or "",
                permissions=form.permissions.data or [],
                parent_id=form.parent_id.data or None,
            )
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("The role was saved."), "success")
            return redirect(url_for(ep("roles")))
    return render_template("orgs/role_form.html", form=form, role=role, confirm=ConfirmForm())


@pages.route("/roles/<int:role_id>/delete", methods=["POST"])
@permission_required("org.roles.manage")
def role_delete(role_id: int):
    actor = current_actor()
    role = get_role_for(actor, role_id)
    if ConfirmForm().validate_on_submit():
        try:
            role_service.delete_role(actor, role)
        except DomainError as exc:
            flash(str(exc.message), "danger")
            return redirect(url_for(ep("role_edit"), role_id=role.id))
        flash(_("The role was deleted."), "success")
    return redirect(url_for(ep("roles")))


# --- operation log --------------------------------------------------------------------------
@pages.route("/audit")
@permission_required("org.audit.view")
def audit():
    form = AuditFilterForm(request.args)
    form.validate()
    stmt = audit_service.query(
        action=form.action.data or None,
        actor=form.actor.data or None,
        since=form.since.data if not form.since.errors else None,
        until=form.until.data if not form.until.errors else None,
    )
    page = db.paginate(stmt, page=page_number(), per_page=50, error_out=False)
    return render_template("orgs/audit.html", form=form, page=page)


# --- jobs -----------------------------------------------------------------------------------
@pages.route("/jobs", methods=["GET", "POST"])
@permission_required("org.jobs.view")
def jobs():

    confirm = ConfirmForm()
    if confirm.validate_on_submit():
        record = job_service.start_census(current_actor())
        return redirect(url_for(ep("job_detail"), job_id=record.id))
    stmt = select(JobRecord).order_by(JobRecord.created_at.desc())
    page = db.paginate(stmt, page=page_number(), per_page=30, error_out=False)
    return render_template("orgs/jobs.html", page=page, eager=is_eager(), confirm=confirm)


@pages.route("/jobs/<job_id>")
@permission_required("org.jobs.view")
def job_detail(job_id: str):
    record = get_job_for(current_actor(), job_id)
    if request.accept_mimetypes.best == "application/json" or request.args.get("format") == "json":
        return jsonify(job_args.status(record))
    return render_template(
        "orgs/job.html", job=record, eager=is_eager(), downloadable=exports.is_export(record)
    )


# --- settings -------------------------------------------------------------------------------
@pages.route("/settings", methods=["GET", "POST"])
@permission_required("org.settings.manage")
def settings():
    me = current_actor()
    form = SettingsForm()
    if request.method == "GET":
        form.name.data = me.org.name
        form.default_locale.data = me.org.settings.get("default_locale", "zh_CN")
    if form.validate_on_submit():
        try:
            org_service.update_settings(
                me, name=form.name.data or "", default_locale=form.default_locale.data or ""
            )
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("The settings were saved."), "success")
            return redirect(url_for(ep("settings")))
    return render_template("orgs/settings.html", form=form)


# --- approvals: the inbox and outbox (consoles of organisations that take part in approvals) ----------
approval_pages = Blueprint("approvals", __name__, template_folder="templates")


@approval_pages.route("/approvals")
@permission_required("approvals.request")
def approvals():
    side = "outbox" if request.args.get("side") == "outbox" else "inbox"
    status_arg = request.args.get("status", "pending")
    status = ApprovalStatus(status_arg) if status_arg in {s.value for s in ApprovalStatus} else None
    me = current_actor()
    stmt = approval_service.listing(me.org_id, side=side, status=status).where(approval_service.scope(me))
    page = db.paginate(stmt, page=page_number(), per_page=30, error_out=False)
    return render_template(
        "orgs/approvals.html",
        page=page,
        side=side,
        status=status_arg,
        describe=approval_service.describe,
    )


@approval_pages.route("/approvals/<int:approval_id>", methods=["GET", "POST"])
@permission_required("approvals.request")
def approval_detail(approval_id: int):
    actor = current_actor()
    approval = get_approval_for(actor, approval_id)
    form = DecisionForm()
    if form.validate_on_submit():
        try:
            approval_service.decide(
                actor, approval, approve=bool(form.approve.data), note=form.note.data or ""
            )
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("The decision was recorded."), "success")
            return redirect(url_for(ep("approvals")))
    application_endpoint = ep("application_detail")
    return render_template(
        "orgs/approval.html",
        approval=approval,
        form=form,
        kind_label=approval_service.kind_label(approval),
        description=approval_service.describe(approval),
        cancel_form=ConfirmForm(),
        # a staged request (an application) is decided at its current level by whoever may
        # decide that level; a single one by a checker of the deciding organisation
        can_decide=approval_service.may_decide(actor, approval),
        path=org_queries.approval_path(approval),
        application_url=url_for(application_endpoint, application_id=approval.subject_id)
        if approval.subject_type == "application"
        and str(approval.subject_id).isdigit()
        and application_endpoint in current_app.view_functions
        else None,
    )


@approval_pages.route("/approvals/<int:approval_id>/cancel", methods=["POST"])
@permission_required("approvals.request")
def approval_cancel(approval_id: int):
    actor = current_actor()
    approval = get_approval_for(actor, approval_id)
    if ConfirmForm().validate_on_submit():
        try:
            approval_service.cancel(actor, approval)
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("The request was withdrawn."), "success")
    return redirect(url_for(ep("approvals"), side="outbox"))
