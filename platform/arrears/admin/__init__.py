"""Platform operator pages (``/admin``): tenants (asset owners and agencies) with their first
admin, and the platform organisation's own users, roles, log and jobs."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select

from arrears.auth.models import User
from arrears.auth.principal import permission_required
from arrears.errors import DomainError
from arrears.extensions import db
from arrears.kernel.audit import query as audit_query
from arrears.kernel.jobs.queue import is_eager
from arrears.orgs import orgs as org_service
from arrears.orgs import pages as orgadmin
from arrears.orgs.loaders import get_organisation_for_operator
from arrears.orgs.models import Partnership
from arrears.reports import home as dashboard
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import Organisation, OrgKind, OrgStatus
from arrears.web.console import NavItem, console_blueprint, nest
from arrears.web.forms import AuditFilterForm, ConfirmForm, OrganisationForm, show_error

admin_bp = console_blueprint(
    "admin",
    __name__,
    kinds=[OrgKind.PLATFORM],
    title=_l("Platform administration"),
    template_folder=None,
    nav=[
        NavItem("admin.home", _l("Home")),
        NavItem("admin.organisations", _l("Tenants"), "platform.orgs.manage"),
        NavItem("admin.audit_all", _l("All tenants' log"), "platform.audit.view"),
        NavItem("admin.orgs.users", _l("Users"), "org.users.view"),
        NavItem("admin.orgs.roles", _l("Roles"), "org.users.view"),
        NavItem("admin.orgs.audit", _l("Operation log"), "org.audit.view"),
        NavItem("admin.orgs.jobs", _l("Jobs"), "org.jobs.view"),
    ],
)
nest(admin_bp, orgadmin.pages)  # no approvals: the platform takes no part in them


@admin_bp.route("/")
def home():
    return render_template("admin/home.html", figures=dashboard.platform_home(), eager=is_eager())


@admin_bp.route("/organisations")
@permission_required("platform.orgs.manage")
def organisations():
    with cross_tenant("platform operator lists tenants"):
        orgs = org_service.list_organisations()
        counts = dict(db.session.execute(select(User.org_id, func.count()).group_by(User.org_id)).all())
    return render_template("admin/organisations.html", orgs=orgs, counts=counts)


@admin_bp.route("/organisations/new", methods=["GET", "POST"])
@permission_required("platform.orgs.manage")
def organisation_new():
    form = OrganisationForm()
    if form.validate_on_submit():
        try:
            org = org_service.create_organisation(
                current_user._get_current_object(),
                kind=form.kind.data,
                slug=form.slug.data or "",
                name=form.name.data or "",
                admin_email=form.admin_email.data or "",
                admin_name=form.admin_name.data or "",
                admin_password=form.admin_password.data or "",
            )
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("The tenant %(name)s was created.", name=org.name), "success")
            return redirect(url_for("admin.organisation_detail", org_id=org.id))
    return render_template("admin/organisation_form.html", form=form)


@admin_bp.route("/organisations/<int:org_id>", methods=["GET", "POST"])
@permission_required("platform.orgs.manage")
def organisation_detail(org_id: int):
    actor = current_user._get_current_object()
    org = get_organisation_for_operator(actor, org_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        try:
            org_service.set_status(actor, org, OrgStatus.DISABLED if org.is_active else OrgStatus.ACTIVE)
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("The tenant's status was changed."), "success")
        return redirect(url_for("admin.organisation_detail", org_id=org.id))
    with cross_tenant("platform operator opens a tenant's users and partners"):
        users = db.session.scalars(select(User).where(User.org_id == org.id).order_by(User.name)).all()
        partners = db.session.scalars(
            select(Partnership).where((Partnership.org_id == org.id) | (Partnership.agency_org_id == org.id))
        ).all()
        return render_template("admin/organisation.html", org=org, users=users, partners=partners, form=form)


@admin_bp.route("/audit/all")
@permission_required("platform.audit.view")
def audit_all():
    form = AuditFilterForm(request.args)
    form.validate()
    with cross_tenant("platform operator reads every tenant's operation log"):
        stmt = audit_query(
            action=form.action.data or None,
            actor=form.actor.data or None,
            since=form.since.data if not form.since.errors else None,
            until=form.until.data if not form.until.errors else None,
        )
        page = db.paginate(
            stmt, page=max(1, request.args.get("page", 1, type=int) or 1), per_page=50, error_out=False
        )
        names = dict(db.session.execute(select(Organisation.id, Organisation.slug)).all())
        return render_template("orgs/audit.html", form=form, page=page, org_names=names, all_tenants=True)
