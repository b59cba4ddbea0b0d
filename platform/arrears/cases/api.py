"""Cases on ``/api/v1``: the list with filters and keyset pages, one case with its debtor (in
clear only with the right, audited), and the batch upsert by loan number."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import g, request
from flask_babel import gettext as _

from arrears.cases import cases as case_service
from arrears.cases.imports import batches as import_service
from arrears.cases.loaders import get_case_for
from arrears.cases.schemas import (
    CaseBatchResultSchema,
    CaseBatchSchema,
    CaseListSchema,
    CaseSchema,
    case_view,
)
from arrears.cases.scopes import case_scope
from arrears.errors import ValidationFailed
from arrears.extensions import db
from arrears.web.api import api


def _unmask(user: Any, case: Any) -> bool:
    return bool(case_service.unmask_filter(user)(case))


def _case_filter() -> case_service.CaseFilter:
    args = request.args

    def number(name: str, kind: Any) -> Any:
        raw = args.get(name)
        if raw in (None, ""):
            return None
        try:
            return kind(raw)
        except (ValueError, ArithmeticError):
            raise ValidationFailed(_("%(name)s must be a number.", name=name), field=name)

    return case_service.CaseFilter(
        dpd_min=number("dpd_min", int),
        dpd_max=number("dpd_max", int),
        amount_min=number("amount_min", Decimal),
        amount_max=number("amount_max", Decimal),
        product=args.get("product"),
        province=args.get("province"),
        city=args.get("city"),
        status=args.get("status"),
        tags=args.getlist("tag"),
        q=args.get("q"),
        sort=args.get("sort", "-dpd"),
    )


@api.route(
    "/cases",
    summary="Cases of the caller's organisation: filters, sort by days past due or amount, keyset pages",
    response_schema=CaseListSchema(),
    permission="cases.view",
)
def list_cases() -> Any:
    user = g.api_user
    limit = request.args.get("limit", 50, type=int) or 50
    may = case_service.unmask_filter(user)
    rows, cursor = case_service.page(
        user.org,
        _case_filter(),
        limit=limit,
        cursor=request.args.get("cursor"),
        unmasked=user.can("pii.unmask"),
        scope=case_scope(user),
    )
    today = case_service.business_date(user.org)
    clear = [c for c in rows if may(c)]
    if clear:
        case_service.record_unmasking(user, clear, channel="api")
        db.session.commit()
    return {"items": [case_view(c, today, unmasked=may(c)) for c in rows], "next_cursor": cursor}


@api.route(
    "/cases",
    methods=("POST",),
    summary="Create or update cases by loan number (batch, per-item results)",
    request_schema=CaseBatchSchema(),
    response_schema=CaseBatchResultSchema(),
    permission="cases.import",
)
def upsert_cases(body: dict[str, Any]) -> Any:
    return import_service.upsert_records(
        g.api_user, body["items"], dry_run=request.args.get("dry_run") == "1"
    )


@api.route(
    "/cases/<int:case_id>",
    summary="One case with its debtor",
    response_schema=CaseSchema(),
    permission="cases.view",
)
def get_case(case_id: int) -> Any:
    user = g.api_user
    case = get_case_for(user, case_id)
    unmasked = _unmask(user, case)
    if unmasked:
        case_service.record_unmasking(user, [case], channel="api")
        db.session.commit()
    return case_view(case, case_service.business_date(user.org), unmasked=unmasked)
