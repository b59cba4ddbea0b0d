"""``/api/v1`` repayments (还款): the core system's feed (a batch with an Idempotency-Key), reversals,
the owner's audit of collectors' reports, manual entries, the records and a case's ledger. Thin:
each view loads through the tenancy loaders and calls one service."""

from __future__ import annotations

from typing import Any

from flask import g, jsonify, request
from flask_babel import gettext as _
from sqlalchemy import select

from arrears.cases.loaders import get_case_for
from arrears.cases.models import Case, Posting
from arrears.errors import ValidationFailed
from arrears.extensions import db
from arrears.payments import batches as repayment_batches
from arrears.payments import collector_reports, records, repayments
from arrears.payments.loaders import get_repayment_for
from arrears.payments.models import Repayment
from arrears.payments.schemas import (
    AllocationOrderSchema,
    AuditInSchema,
    ManualRepaymentInSchema,
    PostingSchema,
    RepaymentBatchInSchema,
    RepaymentBatchResultSchema,
    RepaymentPageSchema,
    RepaymentSchema,
    ReversalInSchema,
)
from arrears.web import params
from arrears.web.api import api

TAGS = ["repayments"]


@api.route(
    "/repayments",
    methods=("POST",),
    summary="Record a batch of payment events from the core system (1 to 1,000 items; send an "
    "Idempotency-Key header): answered per item (accepted, duplicate, rejected with its errors), "
    "applied by a background job",
    request_schema=RepaymentBatchInSchema(),
    response_schema=RepaymentBatchResultSchema(),
    status=202,
    tags=TAGS,
    permission="repayments.post",
    load_body=False,
)
def post_repayments() -> Any:
    if request.mimetype != "application/json":
        raise ValidationFailed(
            _("Send the body as application/json."), details={"content_type": request.mimetype}
        )
    status, answer, replayed = repayment_batches.post_batch(
        g.api_user, request.get_data(cache=False), request.headers.get("Idempotency-Key")
    )
    response = jsonify(answer)
    response.status_code = status
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _filters() -> records.RepaymentFilter:
    args = request.args

    return records.RepaymentFilter(
        status=args.get("status") or None,
        source=args.get("source") or None,
        loan_no=args.get("loan_no") or None,
        transaction_id=args.get("transaction_id") or None,
        agency_id=params.identifier("agency_id"),
        paid_from=params.day("paid_from"),
        paid_to=params.day("paid_to"),
    )


@api.route(
    "/repayments",
    summary="Repayment records (还款记录): the owner's; an agency's credited to it; a collector's own. "
    "Filters: status, source, loan_no, transaction_id, agency_id, paid_from, paid_to; newest first, "
    "?before=<next_cursor>&limit=<=500",
    response_schema=RepaymentPageSchema(),
    tags=TAGS,
)
def list_repayments() -> Any:
    limit = params.limit(default=100, most=500)
    stmt = records.query(g.api_user, _filters()).order_by(None).order_by(Repayment.id.desc())
    before = params.identifier("before")
    if before is not None:
        stmt = stmt.where(Repayment.id < before)
    rows = list(db.session.scalars(stmt.limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return {"items": records.views(rows), "next_cursor": rows[-1].id if more and rows else None}


@api.route(
    "/repayments/<int:repayment_id>",
    summary="One repayment, with what it took off each component",
    response_schema=RepaymentSchema(),
    tags=TAGS,
    lookup=("repayment_id", get_repayment_for),
)
def get_repayment(repayment: Repayment) -> Any:
    return records.views([repayment])[0]


@api.route(
    "/repayments/<int:repayment_id>/reversal",
    methods=("POST",),
    summary="Reverse a repayment (chargeback, bounced payment): the balances come back exactly; "
    "reversing twice changes nothing",
    request_schema=ReversalInSchema(),
    response_schema=RepaymentSchema(),
    tags=TAGS,
    lookup=("repayment_id", get_repayment_for),
)
def reverse_repayment(repayment: Repayment, body: dict[str, Any]) -> Any:
    return records.views([repayments.reverse(g.api_user, repayment, body["reason"])])[0]


@api.route(
    "/repayments/<int:repayment_id>/audit",
    methods=("POST",),
    summary="The owner's audit of a collector's report (还款审核): confirm (applied as its own payment), "
    "match (to the core record carrying it: core_id) or reject (with a note)",
    request_schema=AuditInSchema(),
    response_schema=RepaymentSchema(),
    tags=TAGS,
    lookup=("repayment_id", get_repayment_for),
    permission="repayments.audit",
)
def audit_repayment(repayment: Repayment, body: dict[str, Any]) -> Any:
    decision = body["decision"]
    if decision == "confirm":
        row = collector_reports.confirm_report(g.api_user, repayment, body["note"])
    elif decision == "match":
        row = collector_reports.match_report(g.api_user, repayment, body["core_id"], body["note"])
    else:
        row = collector_reports.reject_report(g.api_user, repayment, body["note"])
    return records.views([row])[0]


@api.route(
    "/cases/<int:case_id>/repayments",
    methods=("POST",),
    summary="Enter a payment by hand (a branch receipt, say): recorded and applied at once",
    request_schema=ManualRepaymentInSchema(),
    response_schema=RepaymentSchema(),
    status=201,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="repayments.post",
)
def enter_repayment(case: Case, body: dict[str, Any]) -> Any:
    row = collector_reports.record_manual(
        g.api_user,
        case,
        amount=body["amount"],
        paid_at=body["paid_at"],
        channel=body["channel"],
        reference=body["reference"],
        note=body["note"],
    )
    return records.views([row])[0]


@api.route(
    "/cases/<int:case_id>/repayments",
    summary="A case's repayments (an agency: those credited to it)",
    response_schema=RepaymentSchema(),
    many=True,
    tags=TAGS,
    lookup=("case_id", get_case_for),
)
def case_repayments(case: Case) -> Any:
    return records.views(records.of_case(g.api_user, case))


@api.route(
    "/cases/<int:case_id>/ledger",
    summary="A case's ledger: every posting, oldest first (signed changes to each component and the credit)",
    response_schema=PostingSchema(),
    many=True,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="repayments.view",
)
def case_ledger(case: Case) -> Any:
    return list(db.session.scalars(select(Posting).where(Posting.case_id == case.id).order_by(Posting.id)))


@api.route(
    "/repayments/allocation-order",
    summary="The order in which payments take the balance components "
    "(default penalty, fee, interest, principal)",
    response_schema=AllocationOrderSchema(),
    tags=TAGS,
    permission="repayments.view",
)
def get_allocation_order() -> Any:
    return {"repayment_order": list(repayments.allocation_order(g.api_user))}


@api.route(
    "/repayments/allocation-order",
    methods=("PUT",),
    summary="Set the order in which payments take the balance components",
    request_schema=AllocationOrderSchema(),
    response_schema=AllocationOrderSchema(),
    tags=TAGS,
    permission="org.settings.manage",
)
def set_allocation_order(body: dict[str, Any]) -> Any:
    return {"repayment_order": repayments.set_allocation_order(g.api_user, body["repayment_order"])}
