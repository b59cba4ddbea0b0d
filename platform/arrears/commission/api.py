"""``/api/v1`` commission (佣金): contracts and their versions, the records of attributed repayments
(佣金记录查询), the monthly statements (佣金结算) with their settlement job, adjustments, approval and
payment. Thin: each view loads through a scoped loader and calls one service. Money and rates are
decimal strings in and out (a JSON number for an amount or a rate is refused, naming the field)."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_babel import gettext as _

from arrears.cases.cases import BUCKETS
from arrears.commission import commission
from arrears.commission import statements as commission_statements
from arrears.commission.loaders import get_commission_contract_for, get_commission_statement_for
from arrears.commission.models import CommissionContract, CommissionStatement, RecordKind, StatementStatus
from arrears.commission.schemas import (
    CommissionAdjustmentInSchema,
    CommissionApprovalInSchema,
    CommissionContractDetailSchema,
    CommissionContractInSchema,
    CommissionContractSchema,
    CommissionPaidInSchema,
    CommissionRecordPageSchema,
    CommissionSettlementInSchema,
    CommissionSettlementSchema,
    CommissionStatementDetailSchema,
    CommissionStatementPageSchema,
    CommissionStatementSchema,
    CommissionVersionInSchema,
    CommissionVersionSchema,
)
from arrears.errors import ValidationFailed
from arrears.extensions import db
from arrears.web import params
from arrears.web.api import api
from arrears.web.jsonapi import load_json

TAGS = ["commission"]
VERSION_FIELDS = ("effective_from", "rates", "tier_basis", "tiers", "min_amount", "cap_amount", "note")
_contract_fields = CommissionContractSchema().fields
_statement_fields = CommissionStatementSchema().fields


def _int_arg(name: str, default: int, most: int) -> int:
    return params.limit(name, default=default, most=most)


def _id_arg(name: str) -> int | None:
    return params.identifier(name)


def _choice(name: str, choices: list[str]) -> str | None:
    raw = request.args.get(name, "")
    if not raw:
        return None
    if raw not in choices:
        raise ValidationFailed(_("Choose one of: %(values)s", values=", ".join(choices)), field=name)
    return raw


def _page(stmt: Any) -> dict[str, Any]:
    page = db.paginate(
        stmt, page=_int_arg("page", 1, 1_000_000), per_page=_int_arg("limit", 100, 500), error_out=False
    )
    return {"items": list(page.items), "total": page.total, "page": page.page, "pages": page.pages}


def _contract_view(contract: CommissionContract) -> dict[str, Any]:
    return {
        **{name: getattr(contract, name) for name in _contract_fields},
        "versions": commission.versions_of(contract),
    }


def _statement_view(statement: CommissionStatement) -> dict[str, Any]:
    db.session.refresh(statement)  # a rebuild (an adjustment) or a decision changed it
    return {
        **{name: getattr(statement, name) for name in _statement_fields},
        "lines": statement.lines,
        "adjustment_lines": commission.adjustments_of(statement),
    }


def _version(body: dict[str, Any]) -> commission.VersionInput:
    return commission.version_input({k: body.get(k) for k in VERSION_FIELDS})


# --- contracts ------------------------------------------------------------------------------------------


@api.route(
    "/commission/contracts",
    summary="Commission contracts: those the organisation pays (an owner: per partner agency, and its "
    "incentive for its own collectors; an agency: its incentive) and, an agency, its own with the owner",
    response_schema=CommissionContractSchema(),
    many=True,
    tags=TAGS,
    permission="commission.view",
)
def list_commission_contracts() -> Any:
    return commission.contracts(g.api_user)


@api.route(
    "/commission/contracts",
    methods=("POST",),
    summary="Create a contract with its first version: kind=agency (an owner, for a partner agency: "
    "agency_org_id) or incentive (the organisation's own collectors); rates per bucket at placement as "
    "decimal strings, optional tiers, a minimum and a cap per period",
    request_schema=CommissionContractInSchema(),
    response_schema=CommissionContractDetailSchema(),
    status=201,
    tags=TAGS,
    permission="commission.manage",
)
def create_commission_contract(body: dict[str, Any]) -> Any:
    contract = commission.create_contract(
        g.api_user,
        kind=body["kind"],
        name=body["name"],
        version=_version(body),
        agency_org_id=body["agency_org_id"],
    )
    return _contract_view(contract)


@api.route(
    "/commission/contracts/<int:commission_contract_id>",
    summary="One commission contract with its versions, newest first",
    response_schema=CommissionContractDetailSchema(),
    tags=TAGS,
    lookup=("commission_contract_id", get_commission_contract_for),
    permission="commission.view",
)
def get_commission_contract(commission_contract: CommissionContract) -> Any:
    return _contract_view(commission_contract)


@api.route(
    "/commission/contracts/<int:commission_contract_id>/versions",
    methods=("POST",),
    summary="Add a version to a contract (versions are never edited): it prices the payments made "
    "from effective_from on that are not priced yet",
    request_schema=CommissionVersionInSchema(),
    response_schema=CommissionVersionSchema(),
    status=201,
    tags=TAGS,
    lookup=("commission_contract_id", get_commission_contract_for),
    permission="commission.manage",
)
def add_commission_version(commission_contract: CommissionContract, body: dict[str, Any]) -> Any:
    return commission.add_version(g.api_user, commission_contract, _version(body))


@api.route(
    "/commission/contracts/<int:commission_contract_id>/end",
    methods=("POST",),
    summary="End a contract: no new payment is priced under it (its records are settled as usual)",
    response_schema=CommissionContractDetailSchema(),
    tags=TAGS,
    lookup=("commission_contract_id", get_commission_contract_for),
    permission="commission.manage",
)
def end_commission_contract(commission_contract: CommissionContract) -> Any:
    return _contract_view(commission.end_contract(g.api_user, commission_contract))


# --- records --------------------------------------------------------------------------------------------


@api.route(
    "/commission/records",
    summary="Commission records (佣金记录查询), newest first: the organisation's as payer or payee; "
    "?period=YYYY-MM, agency_id, kind=commission|clawback, bucket, statement_id, unsettled=1, "
    "page, limit<=500",
    response_schema=CommissionRecordPageSchema(),
    tags=TAGS,
    permission="commission.view",
)
def list_commission_records() -> Any:
    kind = _choice("kind", [k.value for k in RecordKind])
    f = commission.RecordFilter(
        period=request.args.get("period") or None,
        kind=RecordKind(kind) if kind else None,
        agency_org_id=_id_arg("agency_id"),
        statement_id=_id_arg("statement_id"),
        bucket=_choice("bucket", list(BUCKETS)),
        unsettled=request.args.get("unsettled", "") in ("1", "true", "yes"),
    )
    return _page(commission.record_query(g.api_user, f))


# --- statements -----------------------------------------------------------------------------------------


@api.route(
    "/commission/statements",
    summary="Commission statements (佣金结算), newest period first: those the organisation pays and, an "
    "agency, those it is paid; ?period=YYYY-MM, status=draft|approved|paid, page, limit<=500",
    response_schema=CommissionStatementPageSchema(),
    tags=TAGS,
    permission="commission.view",
)
def list_commission_statements() -> Any:
    status = _choice("status", [s.value for s in StatementStatus])
    return _page(
        commission.statement_query(
            g.api_user,
            period=request.args.get("period") or None,
            status=StatementStatus(status) if status else None,
        )
    )


@api.route(
    "/commission/statements/<int:commission_statement_id>",
    summary="One statement: its totals, its lines by bucket and its adjustments (tier, minimum, cap, "
    "manual); its records are GET /commission/records?statement_id=",
    response_schema=CommissionStatementDetailSchema(),
    tags=TAGS,
    lookup=("commission_statement_id", get_commission_statement_for),
    permission="commission.view",
)
def get_commission_statement(commission_statement: CommissionStatement) -> Any:
    return _statement_view(commission_statement)


@api.route(
    "/commission/settlements",
    methods=("POST",),
    summary="Settle a period (YYYY-MM) for the caller's organisation: a job builds (or rebuilds) its "
    "draft statements; approved and paid ones never change. Answers the job's id",
    request_schema=CommissionSettlementInSchema(),
    response_schema=CommissionSettlementSchema(),
    status=202,
    tags=TAGS,
    permission="commission.manage",
)
def settle_commission(body: dict[str, Any]) -> Any:
    job_id = commission.queue_settlement(g.api_user, body["period"])
    return {"job_id": job_id, "period": commission.check_period(body["period"])}


@api.route(
    "/commission/statements/<int:commission_statement_id>/adjustments",
    methods=("POST",),
    summary="A manual adjustment of a draft statement (signed amount as a string, a reason); the "
    "statement is worked out again (minimum, cap) and returned",
    request_schema=CommissionAdjustmentInSchema(),
    response_schema=CommissionStatementDetailSchema(),
    status=201,
    tags=TAGS,
    lookup=("commission_statement_id", get_commission_statement_for),
    permission="commission.manage",
)
def adjust_commission_statement(commission_statement: CommissionStatement, body: dict[str, Any]) -> Any:
    if not isinstance(body["amount"], (str, int)) or isinstance(body["amount"], bool):
        raise ValidationFailed(_("Give the amount as a decimal number in a string."), field="amount")
    commission_statements.add_adjustment(g.api_user, commission_statement, body["amount"], body["reason"])
    return _statement_view(commission_statement)


@api.route(
    "/commission/statements/<int:commission_statement_id>/approve",
    methods=("POST",),
    summary="Approve a draft statement (the paying organisation; not who adjusted it): it is closed "
    "from then on. The body ({'note': ...}) may be empty",
    request_schema=CommissionApprovalInSchema(),
    response_schema=CommissionStatementDetailSchema(),
    tags=TAGS,
    lookup=("commission_statement_id", get_commission_statement_for),
    permission="commission.approve",
    load_body=False,
)
def approve_commission_statement(commission_statement: CommissionStatement) -> Any:
    body = load_json(CommissionApprovalInSchema()) if request.get_data(cache=True).strip() else {"note": ""}
    commission_statements.approve(g.api_user, commission_statement, body["note"])
    return _statement_view(commission_statement)


@api.route(
    "/commission/statements/<int:commission_statement_id>/paid",
    methods=("POST",),
    summary="Mark an approved statement paid, with the payment's reference",
    request_schema=CommissionPaidInSchema(),
    response_schema=CommissionStatementDetailSchema(),
    tags=TAGS,
    lookup=("commission_statement_id", get_commission_statement_for),
    permission="commission.approve",
)
def pay_commission_statement(commission_statement: CommissionStatement, body: dict[str, Any]) -> Any:
    commission_statements.mark_paid(g.api_user, commission_statement, body["reference"])
    return _statement_view(commission_statement)
