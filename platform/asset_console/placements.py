"""Asset console: placements (委外) tabs, recall, extension, history, in-house monitoring.

The tabs follow the seed's case management for the asset side: 待委外 (cases not placed, to be placed
by a placement run), 委外中 (active placements, per agency figures), 委外结束 (ended or recalled),
委外历史 (every period a case spent with an agency, per case or per agency), 内部监控 (cases worked by
the owner's own collectors) and 委案审批 (the placement approvals: allocation results, extensions, early
recalls). Placing itself is an allocation run (``arrears.allocation.pages``): the pending tab leads there.
"""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf import FlaskForm
from wtforms import DateField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from arrears.allocation import assignments
from arrears.allocation import placements as placement_service
from arrears.allocation.loaders import get_placement_for, get_run_for
from arrears.allocation.models import Placement, PlacementCase, PlacementCaseStatus, PlacementStatus
from arrears.allocation.pages import reason_text
from arrears.auth.principal import permission_required
from arrears.cases import cases as case_service
from arrears.cases.exports import count_cases
from arrears.cases.loaders import get_case_for
from arrears.cases.schemas import case_view
from arrears.cases.scopes import case_scope
from arrears.errors import DomainError
from arrears.extensions import db
from arrears.orgs import approvals as approval_service
from arrears.orgs import partnerships as partnership_service
from arrears.orgs.models import ApprovalStatus
from arrears.web.current import current_actor
from arrears.web.forms import CaseFilterForm, show_error
from asset_console.cases import _filter
from asset_console.views import bp

PLACEMENT_KINDS = ("allocation.run", "placement.extend", "placement.recall")
PAGE = 100
# the case filters a placement run can carry over (see ``arrears.allocation.pages.RunForm``)
RUN_FILTERS = ("dpd_min", "dpd_max", "amount_min", "amount_max", "product", "province", "city")


class RecallForm(FlaskForm):
    reason = TextAreaField(_l("Why are the cases recalled?"), validators=[Optional(), Length(max=300)])


class ExtendForm(FlaskForm):
    ends_on = DateField(_l("New end date"), validators=[DataRequired(message=_l("Give the new end date."))])
    reason = TextAreaField(_l("Why"), validators=[Optional(), Length(max=1000)])


def _render(template: str, **context: Any) -> str:
    """The placement pages show stored reasons (the end date, an early recall) in the reader's language."""
    return render_template(template, reason_text=reason_text, **context)


def _ids(values: list[str]) -> list[int]:
    return sorted({int(v) for v in values if v.strip().isdigit()})


def _agencies() -> list[tuple[int, str]]:
    """The agencies the owner works or worked with (the filters' choices)."""
    seen: dict[int, str] = {}
    for p in partnership_service.list_partnerships():
        seen.setdefault(p.agency_org_id, p.agency.name)
    return sorted(seen.items(), key=lambda item: item[1])


def _case_filter(form: CaseFilterForm, **fixed: Any) -> case_service.CaseFilter:
    f = _filter(form)
    for key, value in fixed.items():
        setattr(f, key, value)
    return f


# --- 委外中 / 委外结束 -----------------------------------------------------------------------------


def _listing(tab: str) -> str:
    me = current_actor()
    agency_id = request.args.get("agency_id", type=int)
    page = db.paginate(
        placement_service.listing(me, tab=tab, agency_id=agency_id),
        page=max(1, request.args.get("page", 1, type=int) or 1),
        per_page=30,
        error_out=False,
    )
    return _render(
        "asset_console/placements.html",
        tab=tab,
        page=page,
        agency_id=agency_id,
        agencies=_agencies(),
        figures=placement_service.agency_figures(me) if tab == "active" else [],
    )


@bp.route("/placements")
@permission_required("cases.view")
def placements():
    return _listing("active")


@bp.route("/placements/ended")
@permission_required("cases.view")
def placements_ended():
    return _listing("ended")


# --- 待委外 and 内部监控: case lists ------------------------------------------------------------------------


@bp.route("/placements/pending")
@permission_required("cases.view")
def placements_pending():
    me = current_actor()
    form = CaseFilterForm(request.args)
    form.validate()
    f = _case_filter(form, holding="unplaced", status="open", q=None)
    try:
        rows, cursor = case_service.page(
            me.org, f, limit=50, cursor=request.args.get("cursor"), scope=case_scope(me)
        )
        total = count_cases(me.org, f)
    except DomainError as exc:
        flash(str(exc.message), "danger")
        rows, cursor, total = [], None, 0
    today = case_service.business_date(me.org)
    args = {k: v for k, v in request.args.items() if k != "cursor" and v}
    carried = {k: v for k, v in args.items() if k in RUN_FILTERS}
    return _render(
        "asset_console/placements_pending.html",
        form=form,
        rows=[(c, case_view(c, today, unmasked=False)) for c in rows],
        today=today,
        total=total,
        place_all_url=url_for(
            "asset_console.allocation.run_new",
            level="placement",
            holding="unplaced",
            **carried,  # type: ignore[arg-type]
        ),
        next_url=url_for("asset_console.placements_pending", cursor=cursor, **args) if cursor else None,  # type: ignore[arg-type]
        can_place=me.can("placements.manage"),
    )


@bp.route("/placements/inhouse")
@permission_required("cases.view")
def placements_inhouse():
    me = current_actor()
    form = CaseFilterForm(request.args)
    form.validate()
    assignee_id = request.args.get("assignee_id", type=int)
    f = _case_filter(form, holding="inhouse", assignee_id=assignee_id)
    try:
        rows, cursor = case_service.page(
            me.org, f, limit=50, cursor=request.args.get("cursor"), scope=case_scope(me)
        )
    except DomainError as exc:
        flash(str(exc.message), "danger")
        rows, cursor = [], None
    args = {k: v for k, v in request.args.items() if k != "cursor" and v}
    today = case_service.business_date(me.org)
    return _render(
        "asset_console/placements_inhouse.html",
        form=form,
        rows=[(c, case_view(c, today, unmasked=False)) for c in rows],
        holders=placement_service.holders(rows),
        loads=assignments.loads(me),
        pool=assignments.pool_count(me),
        assignee_id=assignee_id,
        today=today,
        next_url=url_for("asset_console.placements_inhouse", cursor=cursor, **args) if cursor else None,  # type: ignore[arg-type]
    )


# --- 委外历史 ----------------------------------------------------------------------------------------------


@bp.route("/placements/history")
@permission_required("cases.view")
def placements_history():
    me = current_actor()
    loan_no = request.args.get("loan_no", "").strip() or None
    agency_id = request.args.get("agency_id", type=int)
    before = request.args.get("before", type=int)
    stmt = placement_service.history(me, agency_id=agency_id, loan_no=loan_no)
    if before:
        stmt = stmt.where(PlacementCase.id < before)
    rows = list(db.session.execute(stmt.limit(PAGE + 1)))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    args = {k: v for k, v in request.args.items() if k != "before" and v}
    return _render(
        "asset_console/placements_history.html",
        rows=rows,
        loan_no=loan_no or "",
        agency_id=agency_id,
        agencies=_agencies(),
        next_url=url_for("asset_console.placements_history", before=rows[-1][0].id, **args)  # type: ignore[arg-type]
        if more
        else None,
    )


@bp.route("/placements/cases/<int:case_id>")
@permission_required("cases.view")
def placement_case_history(case_id: int):
    me = current_actor()
    case = get_case_for(me, case_id)
    return _render(
        "asset_console/placement_case.html",
        case=case,
        rows=list(db.session.execute(placement_service.history(me, case_id=case.id))),
        holder=placement_service.holders([case])[case.id],
    )


# --- 委案审批 ----------------------------------------------------------------------------------------------


@bp.route("/placements/approvals")
@permission_required("approvals.request")
def placements_approvals():
    me = current_actor()
    side = "outbox" if request.args.get("side") == "outbox" else "inbox"
    status_arg = request.args.get("status", "pending")
    status = ApprovalStatus(status_arg) if status_arg in {s.value for s in ApprovalStatus} else None
    page = db.paginate(
        approval_service.listing(me.org_id, side=side, status=status, kinds=PLACEMENT_KINDS),
        page=max(1, request.args.get("page", 1, type=int) or 1),
        per_page=30,
        error_out=False,
    )
    return _render(
        "asset_console/placement_approvals.html",
        page=page,
        side=side,
        status=status_arg,
        describe=approval_service.describe,
        kind_label=approval_service.kind_label,
    )


# --- one placement: its cases, recall, extension ---------------------------------------------------------


def _placement_page(
    placement: Placement, *, recall: RecallForm | None = None, extend: ExtendForm | None = None
) -> str:
    me = current_actor()
    after = request.args.get("after", type=int)
    stmt = placement_service.cases_of(placement)
    if after:
        stmt = stmt.where(PlacementCase.id > after)
    rows = list(db.session.execute(stmt.limit(PAGE + 1)))
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    today = case_service.business_date(me.org)
    if extend is None:
        extend = ExtendForm(formdata=None)
        extend.ends_on.data = placement.ends_on
    return _render(
        "asset_console/placement.html",
        placement=placement,
        rows=rows,
        today=today,
        active=placement.status == PlacementStatus.ACTIVE,
        open_status=PlacementCaseStatus.ACTIVE,
        recall=recall or RecallForm(formdata=None),
        extend=extend,
        can_manage=me.can("placements.manage"),
        run=get_run_for(me, placement.run_id) if placement.run_id else None,
        next_url=url_for("asset_console.placement_detail", placement_id=placement.id, after=rows[-1][0].id)
        if more
        else None,
        first_url=url_for("asset_console.placement_detail", placement_id=placement.id) if after else None,
    )


@bp.route("/placements/<int:placement_id>")
@permission_required("cases.view")
def placement_detail(placement_id: int):
    return _placement_page(get_placement_for(current_actor(), placement_id))


@bp.route("/placements/<int:placement_id>/recall", methods=["POST"])
@permission_required("placements.manage")
def placement_recall(placement_id: int):
    """退案: the selected cases (``case_ids``) or, with ``scope=all``, every case still placed."""
    me = current_actor()
    placement = get_placement_for(me, placement_id)
    form = RecallForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _placement_page(placement, recall=form)
    try:
        if request.form.get("scope") == "all":
            count = placement_service.recall_placement(me, placement, form.reason.data or "")
        else:
            ids = _ids(request.form.getlist("case_ids"))
            count = placement_service.recall_cases(me, ids, form.reason.data or "", placement=placement)
    except DomainError as exc:
        show_error(form, exc)
        return _placement_page(placement, recall=form)
    flash(
        ngettext(
            "%(num)d case was recalled from %(agency)s.",
            "%(num)d cases were recalled from %(agency)s.",
            count,
            agency=placement.agency.name,
        ),
        "success",
    )
    return redirect(url_for("asset_console.placement_detail", placement_id=placement.id))


@bp.route("/placements/<int:placement_id>/extend", methods=["POST"])
@permission_required("placements.manage")
def placement_extend(placement_id: int):
    """延期: ask for a later end date (a second owner admin approves it)."""
    me = current_actor()
    placement = get_placement_for(me, placement_id)
    form = ExtendForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400)
        return _placement_page(placement, extend=form)
    try:
        approval = placement_service.request_extension(
            me, placement, form.ends_on.data, form.reason.data or ""
        )
    except DomainError as exc:
        show_error(form, exc)
        return _placement_page(placement, extend=form)
    flash(_("The extension was sent for approval (request %(id)d).", id=approval.id), "success")
    return redirect(url_for("asset_console.placement_detail", placement_id=placement.id))
