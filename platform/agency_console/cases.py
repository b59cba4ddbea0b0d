"""Agency console: the cases placed with the agency, dispatch, transfer, caps and the pool; the
placements received and the requests to the owner (extension, early recall).

Every list passes the reader's case scope (``cases.scopes.case_scope``): a manager sees every case
placed with the agency, a team lead their teams' cases and their own; every id goes through the
scoped loaders (missing and foreign: 404). The moves themselves are ``allocation.assignments``."""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select

from agency_console.forms import (
    AgencyCaseFilterForm,
    CapForm,
    EarlyRecallForm,
    ExtensionForm,
    MoveForm,
    optional_int,
)
from agency_console.views import bp
from arrears.allocation import assignments
from arrears.allocation import placements as placement_service
from arrears.allocation.loaders import get_placement_for
from arrears.allocation.models import Placement, PlacementCase
from arrears.auth.models import User
from arrears.auth.principal import permission_required
from arrears.cases import cases as case_service
from arrears.cases.loaders import get_case_for
from arrears.cases.schemas import case_view
from arrears.cases.scopes import case_scope, led_team_ids, sees_everything
from arrears.errors import DomainError
from arrears.extensions import db
from arrears.kernel.jobs.queue import is_eager
from arrears.kernel.money import as_decimal
from arrears.orgs import partnerships as partnership_service
from arrears.orgs import teams as team_service
from arrears.orgs.loaders import get_user_for
from arrears.payments import queries as repayment_pages
from arrears.web.current import current_actor
from arrears.web.forms import show_error
from arrears.work import queries as work_queries

PAGE = 50
# the list's query arguments that a bulk action carries back to the list it came from
FILTER_ARGS = (
    "q",
    "dpd_min",
    "dpd_max",
    "amount_min",
    "amount_max",
    "product",
    "province",
    "status",
    "sort",
    "holding",
    "user_id",
    "team_id",
)


def _owner_names() -> dict[int, str]:
    """The asset owners the agency serves, by id (the owner column and the placement pages)."""
    return {p.org_id: p.owner.name for p in partnership_service.list_partnerships()}


def _teams(me: User) -> list[Any]:
    teams = team_service.list_teams()
    if sees_everything(me):
        return teams
    led = set(led_team_ids(me))
    return [t for t in teams if t.id in led]


def _collector_choices(me: User) -> list[tuple[int, str]]:
    out = []
    for row in assignments.loads(me):
        label = _("%(name)s · %(n)s cases", name=row["user"].name, n=row["cases"])
        if row["cap"] is not None:
            label = _(
                "%(name)s · %(n)s of %(cap)s cases", name=row["user"].name, n=row["cases"], cap=row["cap"]
            )
        out.append((row["user"].id, label))
    return out


def _strategy_url() -> str | None:
    """Dispatch by strategy: the shared allocation run pages, once they are registered."""
    if "agency_console.allocation.run_new" in current_app.view_functions:
        return url_for("agency_console.allocation.run_new")
    return None


# --- the case list and the pool ---------------------------------------------------------------------------


def _case_list(*, pool: bool) -> Any:
    me = current_actor()
    people_choices = _collector_choices(me)
    form = AgencyCaseFilterForm(request.args)
    form.user_id.choices = [("", "—"), *people_choices]
    form.team_id.choices = [("", "—"), *((t.id, t.name) for t in _teams(me))]
    form.validate()
    holding = "unassigned" if pool else (form.holding.data or None)
    f = case_service.CaseFilter(
        dpd_min=form.dpd_min.data if not form.dpd_min.errors else None,
        dpd_max=form.dpd_max.data if not form.dpd_max.errors else None,
        amount_min=as_decimal(form.amount_min.data),
        amount_max=as_decimal(form.amount_max.data),
        product=form.product.data or None,
        province=form.province.data or None,
        status=form.status.data or None,
        q=form.q.data or None,
        sort=form.sort.data or "-dpd",
        holding=holding,
        assignee_id=None if pool else form.user_id.data,
        team_id=form.team_id.data,
    )
    try:
        rows, cursor = case_service.page(
            me.org, f, limit=PAGE, cursor=request.args.get("cursor"), scope=case_scope(me)
        )
    except DomainError as exc:
        flash(str(exc.message), "danger")
        rows, cursor = [], None
    today = case_service.business_date(me.org)
    owners = _owner_names()
    people = assignments.user_names(c.assignee_user_id for c in rows)
    teams = {t.id: t.name for t in team_service.list_teams()}
    views = []
    for c in rows:
        view = case_view(c, today, unmasked=False)
        view.update(
            owner=owners.get(c.org_id, ""),
            assignee=people.get(c.assignee_user_id or 0, ""),
            team=teams.get(c.team_id or 0, ""),
            assigned_at=c.assigned_at,
        )
        views.append(view)
    endpoint = "agency_console.pool" if pool else "agency_console.cases"
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k in FILTER_ARGS and v}
    if pool:
        args.pop("holding", None)
        args.pop("user_id", None)
    can_move = me.can("cases.dispatch")
    move = MoveForm(formdata=None)
    move.user_id.choices = [("", "—"), *people_choices] if can_move else []
    return render_template(
        "agency_console/cases.html",
        form=form,
        pool=pool,
        rows=views,
        args=args,
        endpoint=endpoint,
        next_url=url_for(endpoint, cursor=cursor, **args) if cursor else None,
        select_all=request.args.get("select") == "page",
        pool_count=assignments.pool_count(me),
        today=today,
        can_move=can_move,
        move=move,
        strategy_url=_strategy_url() if can_move else None,
        eager=is_eager(),
    )


@bp.route("/cases")
@permission_required("cases.view")
def cases():
    return _case_list(pool=False)


@bp.route("/cases/pool")
@permission_required("cases.view", "cases.dispatch")
def pool():
    return _case_list(pool=True)


@bp.route("/cases/move", methods=["POST"])
@permission_required("cases.dispatch")
def cases_move():  # noqa: C901
    """The bulk actions of the lists and the case page: dispatch, transfer or back to the pool."""
    me = current_actor()
    form = MoveForm()
    back_to = request.args.get("back")
    ids = form.chosen_cases()
    if not form.validate_on_submit():
        problems = [str(m) for messages in form.errors.values() for m in messages]
        message = "; ".join(problems) or _("The data is not valid.")  # the form's messages, translated
        flash(message, "danger")
    else:
        try:
            if form.dispatch.data:
                done = assignments.dispatch(me, ids, form.user_id.data or 0)
                if done.approval_id:
                    flash(
                        _("%(n)s cases wait for approval before they are dispatched.", n=done.count), "info"
                    )
                    if "agency_console.run" in current_app.view_functions:
                        return redirect(url_for("agency_console.run", run_id=done.run_id))
                elif done.applied is None:
                    flash(_("%(n)s cases are being dispatched.", n=done.count), "success")
                else:
                    flash(_("%(n)s cases were dispatched.", n=done.applied), "success")
                    if done.skipped:
                        flash(
                            _("%(n)s cases were left out: they changed in the meantime.", n=done.skipped),
                            "warning",
                        )
            elif form.transfer.data:
                count = assignments.transfer(me, ids, form.user_id.data or 0, form.reason.data or "")
                flash(_("%(n)s cases were transferred.", n=count), "success")
            elif form.unassign.data:
                count = assignments.unassign(me, ids, form.reason.data or "")
                flash(_("%(n)s cases went back to the pool.", n=count), "success")
            else:
                flash(_("Choose what to do with the selected cases."), "danger")
        except DomainError as exc:
            flash(str(exc.message), "danger")
    if back_to == "case" and len(ids) == 1:
        return redirect(url_for("agency_console.case_detail", case_id=ids[0]))
    args: dict[str, Any] = {k: v for k, v in request.args.items() if k in FILTER_ARGS and v}
    return redirect(url_for("agency_console.pool" if back_to == "pool" else "agency_console.cases", **args))


# --- one case ----------------------------------------------------------------------------------------------


@bp.route("/cases/<int:case_id>")
@permission_required("cases.view")
def case_detail(case_id: int):
    me = current_actor()
    case = get_case_for(me, case_id)
    today = case_service.business_date(me.org)
    log = assignments.assignment_log(case)
    people = assignments.user_names(
        [case.assignee_user_id]
        + [e.from_user_id for e in log]
        + [e.to_user_id for e in log]
        + [e.actor_user_id for e in log]
    )
    placement = db.session.execute(
        placement_service.history(me, case_id=case.id)
        .where(PlacementCase.agency_org_id == me.org_id)
        .limit(1)
    ).first()
    can_move = me.can("cases.dispatch")
    move = MoveForm(formdata=None)
    move.user_id.choices = [("", "—"), *_collector_choices(me)] if can_move else []
    return render_template(
        "agency_console/case.html",
        case=case,
        view=case_view(case, today, unmasked=False),
        contacts=case_service.contacts_view(case.debtor, unmasked=False),
        owner=_owner_names().get(case.org_id, ""),
        placement=placement[0] if placement else None,
        assignee=people.get(case.assignee_user_id or 0, ""),
        log=log,
        people=people,
        can_move=can_move,
        move=move,
        eager=is_eager(),
        work=work_queries.case_work(me, case),
        case_money=repayment_pages.case_money(me, case),
        active_tab=request.args.get("tab"),
    )


# --- collectors: load, cap, room -------------------------------------------------------------------------


@bp.route("/collectors")
@permission_required("cases.dispatch")
def collectors():
    me = current_actor()
    return render_template(
        "agency_console/collectors.html",
        loads=assignments.loads(me),
        pool_count=assignments.pool_count(me),
    )


@bp.route("/collectors/<int:user_id>/cap", methods=["POST"])
@permission_required("cases.dispatch")
def collector_cap(user_id: int):
    me = current_actor()
    person = get_user_for(me, user_id)
    form = CapForm()
    if form.validate_on_submit():
        try:
            assignments.set_cap(me, person, form.cap.data)
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            if form.cap.data is None:
                flash(_("%(name)s has no cap now.", name=person.name), "success")
            else:
                flash(
                    _("%(name)s may hold %(cap)s open cases.", name=person.name, cap=form.cap.data), "success"
                )
    else:
        flash(_("A cap is a whole number."), "danger")
    return redirect(url_for("agency_console.collectors"))


# --- placements received ---------------------------------------------------------------------------------


@bp.route("/placements")
@permission_required("agency.partnerships.view")
def placements():
    me = current_actor()
    tab = request.args.get("tab", "active")
    if tab not in placement_service.TABS:
        tab = "active"
    page = db.paginate(
        placement_service.listing(me, tab=tab),
        page=max(1, request.args.get("page", 1, type=int) or 1),
        per_page=30,
        error_out=False,
    )
    return render_template("agency_console/placements.html", page=page, tab=tab, owners=_owner_names())


def _placement_page(
    placement: Placement, *, extension: ExtensionForm | None = None, recall: EarlyRecallForm | None = None
) -> Any:
    me = current_actor()
    after = optional_int(request.args.get("cursor")) or 0  # keyset: the last placement row shown
    stmt = placement_service.cases_of(placement)
    active = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    rows = db.session.execute(stmt.where(PlacementCase.id > after).limit(PAGE + 1)).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    today = case_service.business_date(me.org)
    people = assignments.user_names(case.assignee_user_id for _row, case in rows)
    views = []
    for row, case in rows:
        view = case_view(case, today, unmasked=False)
        view.update(
            placed_amount=row.amount,
            placed_bucket=row.bucket,
            assignee=people.get(case.assignee_user_id or 0, ""),
        )
        views.append(view)
    return render_template(
        "agency_console/placement.html",
        placement=placement,
        owner=_owner_names().get(placement.org_id, ""),
        active=active,
        rows=views,
        next_url=url_for("agency_console.placement_detail", placement_id=placement.id, cursor=rows[-1][0].id)
        if more
        else None,
        extension=extension or ExtensionForm(formdata=None),
        recall=recall or EarlyRecallForm(formdata=None),
        can_ask=me.can("approvals.request") and placement.status.value == "active",
    )


@bp.route("/placements/<int:placement_id>")
@permission_required("agency.partnerships.view")
def placement_detail(placement_id: int):
    return _placement_page(get_placement_for(current_actor(), placement_id))


@bp.route("/placements/<int:placement_id>/extend", methods=["POST"])
@permission_required("agency.partnerships.view", "approvals.request")
def placement_extend(placement_id: int):
    me = current_actor()
    placement = get_placement_for(me, placement_id)
    form = ExtensionForm()
    if form.validate_on_submit():
        assert form.ends_on.data is not None  # DataRequired
        try:
            placement_service.request_extension(me, placement, form.ends_on.data, form.reason.data or "")
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(
                _("Your request was sent to %(owner)s.", owner=_owner_names().get(placement.org_id, "")),
                "success",
            )
            return redirect(url_for("agency_console.approvals.approvals", side="outbox"))
    return _placement_page(placement, extension=form)


@bp.route("/placements/<int:placement_id>/recall", methods=["POST"])
@permission_required("agency.partnerships.view", "approvals.request")
def placement_recall(placement_id: int):
    me = current_actor()
    placement = get_placement_for(me, placement_id)
    form = EarlyRecallForm()
    if form.validate_on_submit():
        try:
            placement_service.request_early_recall(
                me, placement, form.reason.data or "", case_ids=form.chosen_cases() or None
            )
        except DomainError as exc:
            show_error(form, exc)
        else:
            flash(
                _("Your request was sent to %(owner)s.", owner=_owner_names().get(placement.org_id, "")),
                "success",
            )
            return redirect(url_for("agency_console.approvals.approvals", side="outbox"))
    return _placement_page(placement, recall=form)
