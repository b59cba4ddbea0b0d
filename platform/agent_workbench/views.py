"""Collector workbench (催收员工作台): the cases assigned to me (sorted by days past due or amount,
keyset pages) and a minimal case page. Notes, promises, applications and calls come next.

The list and the case page use the reader's case scope (``tenancy.scopes.case_scope``): a collector
sees a case only while it is assigned to them, so a case transferred away or recalled by the owner is
gone (404) at once."""

from __future__ import annotations

from typing import Any

from flask import flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from arrears.errors import DomainError
from arrears.models import OrgKind, User
from arrears.schemas.cases import case_view
from arrears.services import assignments
from arrears.services import cases as case_service
from arrears.tenancy import loaders
from arrears.tenancy.scopes import case_scope
from arrears.web.console import NavItem, console_blueprint

bp = console_blueprint(
    "agent_workbench",
    __name__,
    kinds=[OrgKind.AGENCY, OrgKind.ASSET_OWNER],
    permission="workbench.use",
    title=_l("Collector workbench"),
    nav=[NavItem("agent_workbench.home", _l("My cases"))],
)

PAGE = 50
_LIST_ARGS = ("q", "bucket", "status", "promise", "due", "view")  # carried to the next page
SORTS = {
    "-dpd": _l("Most days past due"),
    "dpd": _l("Fewest days past due"),
    "-amount": _l("Largest amount"),
    "amount": _l("Smallest amount"),
    "-priority": _l("Highest priority"),
    "next_action": _l("Next action date"),
    "promise_due": _l("Promise due date"),
    "last_contact": _l("Longest without contact"),
    "-last_contact": _l("Most recently contacted"),
}


def _me() -> User:
    return current_user._get_current_object()


@bp.route("/")
def home():
    me = _me()
    sort = request.args.get("sort", "-dpd")
    if sort not in SORTS:
        sort = "-dpd"
    # my cases: assigned to me; ``view=team``: my whole scope (a team lead's: the teams they lead)
    args = request.args
    team = args.get("view") == "team"
    f = case_service.CaseFilter(
        assignee_id=None if team else me.id,
        sort=sort,
        q=(args.get("q") or "").strip() or None,
        loan_prefix=True,
        bucket=args.get("bucket") or None,
        status=args.get("status") or None,
        has_promise=args.get("promise") == "1",
        follow_up_due=args.get("due") == "1",
    )
    kept: dict[str, Any] = {k: v for k, v in args.items() if k in _LIST_ARGS and v}
    try:
        rows, cursor = case_service.page(
            me.org, f, limit=PAGE, cursor=request.args.get("cursor"), scope=case_scope(me)
        )
    except DomainError as exc:
        flash(str(exc.message), "danger")
        rows, cursor = [], None
    today = case_service.business_date(me.org)
    mine = next((row for row in assignments.loads(me) if row["user"].id == me.id), None)
    return render_template(
        "agent_workbench/home.html",
        user=me,
        rows=[case_view(c, today, unmasked=False) for c in rows],
        sort=sort,
        sorts=SORTS,
        load=mine,
        next_url=url_for("agent_workbench.home", sort=sort, cursor=cursor, **kept) if cursor else None,
        today=today,
    )


@bp.route("/cases/<int:case_id>")
def case_detail(case_id: int):
    me = _me()
    case = loaders.get_case_for(me, case_id)
    today = case_service.business_date(me.org)
    return render_template(
        "agent_workbench/case.html",
        case=case,
        view=case_view(case, today, unmasked=False),
        contacts=case_service.contacts_view(case.debtor, unmasked=False),
        mine=case.assignee_user_id == me.id,
        title=_("Case %(loan)s", loan=case.loan_no),
    )
