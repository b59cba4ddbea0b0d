from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from arrears.auth.permissions import GRANTABLE
from arrears.auth.principal import permission_required
from arrears.commission import pages as commission
from arrears.errors import DomainError
from arrears.kernel.jobs.queue import is_eager
from arrears.orgs import approvals as approval_service
from arrears.orgs import pages as orgadmin
from arrears.orgs import partnerships as partnership_service
from arrears.orgs import teams as team_service
from arrears.orgs import users as user_service
from arrears.orgs.loaders import get_partnership_for, get_team_for
from arrears.orgs.models import Team
from arrears.reports import home as dashboard
from arrears.tenancy.models import OrgKind
from arrears.web.console import NavItem, console_blueprint, nest
from arrears.web.current import current_actor
from arrears.web.forms import RightRequestForm, TeamForm, show_error
from arrears.work import pages as work

bp = console_blueprint(
    "agency_console",
    __name__,
    kinds=[OrgKind.AGENCY],
    title=_l("Agency console"),
    nav=[
        NavItem("agency_console.home", _l("Home")),
        NavItem("agency_console.cases", _l("Cases"), "cases.view"),
        NavItem("agency_console.pool", _l("Case pool"), "cases.dispatch"),
        NavItem("agency_console.collectors", _l("Collectors"), "cases.dispatch"),
        NavItem("agency_console.placements", _l("Placements"), "agency.partnerships.view"),
        NavItem("agency_console.owners", _l("Asset owners"), "agency.partnerships.view"),
        NavItem("agency_console.commission.commission", _l("Commission"), "commission.view"),
        NavItem("agency_console.teams", _l("Teams"), "org.users.view"),
        NavItem("agency_console.approvals.approvals", _l("Approvals"), "approvals.request"),
        NavItem("agency_console.orgs.users", _l("Users"), "org.users.view"),
        NavItem("agency_console.orgs.roles", _l("Roles"), "org.users.view"),
        NavItem("agency_console.orgs.audit", _l("Operation log"), "org.audit.view"),
        NavItem("agency_console.orgs.jobs", _l("Jobs"), "org.jobs.view"),
        NavItem("agency_console.orgs.settings", _l("Settings"), "org.settings.manage"),
    ],
)
nest(bp, orgadmin.pages)  # users, roles, operation log, jobs, settings
nest(bp, orgadmin.approval_pages)
work.install(bp)  # applications, notes, promises, attachments, result codes
nest(bp, commission.pages)  # statements, records, contracts (佣金)


@bp.route("/")
def home():
    me = current_actor()
    if not (me.can("org.users.view") or me.can("cases.dispatch") or me.can("agency.teams.manage")):
        if me.can("workbench.use"):
            return redirect(url_for("agent_workbench.home"))
        abort(404)
    return render_template(
        "agency_console/home.html", figures=dashboard.organisation_home(me), eager=is_eager()
    )


@bp.route("/owners")
@permission_required("agency.partnerships.view")
def owners():
    return render_template(
        "agency_console/owners.html",
        partnerships=partnership_service.list_partnerships(),
        grantable=GRANTABLE,
    )


@bp.route("/owners/<int:partnership_id>/request", methods=["GET", "POST"])
@permission_required("approvals.request", "agency.partnerships.view")
def request_right(partnership_id: int):
    me = current_actor()
    partnership = get_partnership_for(me, partnership_id)
    form = RightRequestForm()
    form.right.choices = [(k, str(v)) for k, v in GRANTABLE.items() if k not in partnership.grants]
    if form.validate_on_submit():
        try:
            approval_service.request_right(me, partnership, form.right.data or "", form.reason.data or "")
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("Your request was sent to %(owner)s.", owner=partnership.owner.name), "success")
            return redirect(url_for("agency_console.approvals.approvals", side="outbox"))
    return render_template("agency_console/request_right.html", form=form, partnership=partnership)


@bp.route("/teams")
@permission_required("org.users.view")
def teams():
    return render_template("agency_console/teams.html", teams=team_service.list_teams())


@bp.route("/teams/new", methods=["GET", "POST"])
@bp.route("/teams/<int:team_id>", methods=["GET", "POST"])
@permission_required("agency.teams.manage")
def team_edit(team_id: int | None = None):
    me = current_actor()
    team: Team | None = get_team_for(me, team_id) if team_id is not None else None
    form = TeamForm(obj=team) if request.method == "GET" and team else TeamForm()
    people = user_service.list_users()
    form.lead_user_id.choices = [(0, "—")] + [(u.id, f"{u.name} <{u.email}>") for u in people]
    form.member_ids.choices = [(u.id, f"{u.name} <{u.email}>") for u in people]
    if request.method == "GET" and team is not None:
        form.lead_user_id.data = team.lead_user_id or 0
        form.member_ids.data = [m.id for m in team.members]
    if form.validate_on_submit():
        try:
            team_service.save_team(
                me,
                team=team,
                name=form.name.data or "",
                lead_user_id=form.lead_user_id.data or None,
                member_ids=form.member_ids.data or [],
            )
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(_("The team was saved."), "success")
            return redirect(url_for("agency_console.teams"))
    return render_template("agency_console/team_form.html", form=form, team=team)
