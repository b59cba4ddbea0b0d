"""Cases on ``/api/v1``: the list with filters and keyset pages, one case with its debtor (in
clear only with the right, audited), and the batch upsert by loan number."""

from __future__ import annotations

from typing import Any

from flask import g, request

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
from arrears.extensions import db
from arrears.web import params
from arrears.web.api import api


def _unmask(user: Any, case: Any) -> bool:
    return bool(case_service.unmask_filter(user)(case))


def _case_filter() -> case_service.CaseFilter:
    args = request.args

    return case_service.CaseFilter(
        dpd_min=params.integer("dpd_min", low=-100_000, high=100_000),
        dpd_max=params.integer("dpd_max", low=-100_000, high=100_000),
        amount_min=params.amount("amount_min"),
        amount_max=params.amount("amount_max"),
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
    limit = params.limit(default=50, most=500)
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
