"""``/api/v1``: the integration API for asset owners and agencies (bearer tokens, audience ``api``).

Later issues add cases, placements, repayments... to this same object, so they appear in the same
OpenAPI document (``/api/v1/openapi.json``)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Flask, g, request
from flask_babel import gettext as _

from arrears.auth.models import ApiTokenAudience
from arrears.cases import cases as case_service
from arrears.cases.imports import batches as import_service
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
from arrears.orgs import users as user_service
from arrears.orgs.schemas import MeSchema, UserCreateSchema, UserSchema
from arrears.tenancy import loaders
from arrears.web.jsonapi import JsonApi

api = JsonApi(
    name="api_v1",
    url_prefix="/api/v1",
    title="Arrears platform API",
    audience=ApiTokenAudience.API,
    description="Integration API. Authenticate with 'Authorization: Bearer <token>'. "
    "Objects of other tenants answer 404, exactly like missing ones.",
)


@api.route("/me", summary="The token's user, organisation and permissions", response_schema=MeSchema())
def me() -> Any:
    return g.api_user


@api.route(
    "/users",
    summary="Users of the caller's organisation",
    response_schema=UserSchema(),
    many=True,
    permission="org.users.view",
)
def list_users() -> Any:
    return user_service.list_users(request.args.get("q"))


@api.route(
    "/users",
    methods=("POST",),
    summary="Create a user in the caller's organisation",
    request_schema=UserCreateSchema(),
    response_schema=UserSchema(),
    status=201,
    permission="org.users.manage",
)
def create_user(body: dict[str, Any]) -> Any:
    actor = g.api_user
    return user_service.create_user(
        actor,
        org=actor.org,
        email=body["email"],
        name=body["name"],
        password=body["password"],
        role_ids=body["role_ids"],
        team_id=body["team_id"],
        locale=body["locale"],
    )


@api.route(
    "/users/<int:user_id>",
    summary="One user of the caller's organisation",
    response_schema=UserSchema(),
    permission="org.users.view",
)
def get_user(user_id: int) -> Any:
    return loaders.get_user_for(g.api_user, user_id)


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
    case = loaders.get_case_for(user, case_id)
    unmasked = _unmask(user, case)
    if unmasked:
        case_service.record_unmasking(user, [case], channel="api")
        db.session.commit()
    return case_view(case, case_service.business_date(user.org), unmasked=unmasked)


# the placement and allocation endpoints join the same API object (and OpenAPI document)
from arrears.allocation import api as _placements  # noqa: E402, F401
from arrears.commission import api as _commission  # noqa: E402, F401
from arrears.payments import api as _repayments  # noqa: E402, F401
from arrears.work import api as _work  # noqa: E402, F401
from arrears.work import api_applications as _applications  # noqa: E402, F401
from arrears.work import api_files as _work_files  # noqa: E402, F401
from arrears.writeoffs import api as _writeoffs  # noqa: E402, F401


def init_app(app: Flask) -> None:
    api.register(app)
