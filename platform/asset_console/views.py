from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from arrears.auth.permissions import DEFAULT_GRANTS, GRANTABLE
from arrears.auth.principal import permission_required
from arrears.commission import pages as commission
from arrears.errors import DomainError
from arrears.kernel.jobs.queue import is_eager
from arrears.orgs import pages as orgadmin
from arrears.orgs import partnerships as partnership_service
from arrears.orgs.loaders import get_partnership_for
from arrears.orgs.models import PartnershipStatus
from arrears.reports import home as dashboard
from arrears.tenancy.models import OrgKind
from arrears.web.console import NavItem, console_blueprint, nest
from arrears.web.current import current_actor
from arrears.web.forms import PartnershipForm, show_error
from arrears.work import pages as work

bp = console_blueprint(
    "asset_console",
    __name__,
    kinds=[OrgKind.ASSET_OWNER],
    title=_l("Asset owner console"),
    nav=[
        NavItem("asset_console.home", _l("Home")),
        NavItem("asset_console.cases", _l("Cases"), "cases.view"),
        NavItem("asset_console.debtors", _l("Debtors"), "cases.view"),
        NavItem("asset_console.placements", _l("Placements"), "cases.view"),
        NavItem("asset_console.imports", _l("Imports"), "cases.import"),
        NavItem("asset_console.partnerships", _l("Agencies"), "partnerships.manage"),
        NavItem("asset_console.writeoffs", _l("Write-off"), "writeoffs.view"),
        NavItem("asset_console.commission.commission", _l("Commission"), "commission.view"),
        NavItem("asset_console.approvals.approvals", _l("Approvals"), "approvals.request"),
        NavItem("asset_console.orgs.users", _l("Users"), "org.users.view"),
        NavItem("asset_console.orgs.roles", _l("Roles"), "org.users.view"),
        NavItem("asset_console.orgs.audit", _l("Operation log"), "org.audit.view"),
        NavItem("asset_console.orgs.jobs", _l("Jobs"), "org.jobs.view"),
        NavItem("asset_console.orgs.settings", _l("Settings"), "org.settings.manage"),
    ],
)
nest(bp, orgadmin.pages)  # users, roles, operation log, jobs, settings
nest(bp, orgadmin.approval_pages)
work.install(bp)  # applications, notes, promises, attachments, result codes
nest(bp, commission.pages)  # statements, records, contracts (佣金)


@bp.route("/")
def home():
    return render_template(
        "asset_console/home.html", figures=dashboard.organisation_home(current_actor()), eager=is_eager()
    )


@bp.route("/partnerships")
@permission_required("partnerships.manage")
def partnerships():
    return render_template(
        "asset_console/partnerships.html",
        partnerships=partnership_service.list_partnerships(),
        grantable=GRANTABLE,
    )


def _grant_choices(form: PartnershipForm) -> None:
    form.grants.choices = [(k, str(v)) for k, v in GRANTABLE.items()]


@bp.route("/partnerships/new", methods=["GET", "POST"])
@permission_required("partnerships.manage")
def partnership_new():
    form = PartnershipForm()
    _grant_choices(form)
    if request.method == "GET":
        form.grants.data = list(DEFAULT_GRANTS)
    if form.validate_on_submit():
        try:
            partnership_service.create_partnership(
                current_actor(),
                agency_slug=form.agency_slug.data or "",
                starts_on=form.starts_on.data,
                ends_on=form.ends_on.data,
                grants=form.grants.data or [],
                note=form.note.data or "",
            )
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("The partnership was created."), "success")
            return redirect(url_for("asset_console.partnerships"))
    return render_template("asset_console/partnership_form.html", form=form, partnership=None)


@bp.route("/partnerships/<int:partnership_id>", methods=["GET", "POST"])
@permission_required("partnerships.manage")
def partnership_edit(partnership_id: int):
    partnership = get_partnership_for(current_actor(), partnership_id)
    form = PartnershipForm(obj=partnership) if request.method == "GET" else PartnershipForm()
    _grant_choices(form)
    form.agency_slug.data = partnership.agency.slug
    form.starts_on.data = partnership.starts_on
    if request.method == "GET":
        form.status.data = partnership.status.value
        form.grants.data = list(partnership.grants)
    if form.validate_on_submit():
        try:
            partnership_service.update_partnership(
                current_actor(),
                partnership,
                status=PartnershipStatus(form.status.data),
                ends_on=form.ends_on.data,
                grants=form.grants.data or [],
                note=form.note.data or "",
            )
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("The partnership was saved."), "success")
            return redirect(url_for("asset_console.partnerships"))
    return render_template("asset_console/partnership_form.html", form=form, partnership=partnership)
