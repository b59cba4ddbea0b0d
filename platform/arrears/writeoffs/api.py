"""``/api/v1`` write-off (核销): the owner's rules, the candidate query, proposals (a batch waits for
approval), the ledger (核销台账) and the request to reverse a line. Thin: each view loads through a
scoped loader and calls one service."""

from __future__ import annotations

from typing import Any

from flask import g, request

from arrears.extensions import db
from arrears.web import params
from arrears.web.api import api
from arrears.writeoffs import ledger as writeoff_ledger
from arrears.writeoffs import proposals, writeoffs
from arrears.writeoffs.models import WriteOff
from arrears.writeoffs.schemas import (
    CandidatePageSchema,
    LedgerPageSchema,
    ProposalInSchema,
    ProposalSchema,
    ProposedSchema,
    ReversalRequestInSchema,
    RuleInSchema,
    RuleSchema,
    WriteOffApprovalRefSchema,
    WriteOffSchema,
)

TAGS = ["write-off"]


def _int_arg(name: str, default: int, most: int) -> int:
    return params.limit(name, default=default, most=most)


@api.route(
    "/writeoffs/rules",
    summary="The owner's write-off rules (核销案件配置)",
    response_schema=RuleSchema(),
    many=True,
    tags=TAGS,
    permission="writeoffs.view",
)
def list_writeoff_rules() -> Any:
    return writeoffs.rules(g.api_user)


@api.route(
    "/writeoffs/rules",
    methods=("POST",),
    summary="Add a write-off rule: days past due at least dpd_min, no confirmed payment for "
    "quiet_days, products, an outstanding range; keep_placement: the agency keeps the case to recover",
    request_schema=RuleInSchema(),
    response_schema=RuleSchema(),
    status=201,
    tags=TAGS,
    permission="writeoffs.configure",
)
def create_writeoff_rule(body: dict[str, Any]) -> Any:
    return writeoffs.create_rule(g.api_user, body)


@api.route(
    "/writeoffs/candidates",
    summary="Cases to write off (核销案件查询): the owner's open cases an active rule matches and no "
    "pending proposal holds, with the first matching rule; ?rule_id, product, loan_no, "
    "sort=dpd|amount, page, limit<=500",
    response_schema=CandidatePageSchema(),
    tags=TAGS,
    permission="writeoffs.view",
)
def writeoff_candidates() -> Any:
    args = request.args
    f = writeoffs.CandidateFilter(
        rule_id=params.identifier("rule_id"),
        loan_no=args.get("loan_no") or None,
        product=args.get("product") or None,
        sort="amount" if args.get("sort") == "amount" else "dpd",
    )
    page = writeoffs.candidates_page(
        g.api_user, f, page=_int_arg("page", 1, 1_000_000), per_page=_int_arg("limit", 100, 500)
    )
    return {
        "items": [
            {
                "case_id": c.case.id,
                "loan_no": c.case.loan_no,
                "product": c.case.product,
                "days_past_due": c.dpd,
                "status": c.case.status.value,
                **{k: getattr(c.case, k) for k in (*writeoffs.COMPONENTS, "outstanding")},
                "agency_org_id": c.case.agency_org_id,
                "rule_id": c.rule.id if c.rule else None,
                "rule_name": c.rule.name if c.rule else None,
            }
            for c in page.rows
        ],
        "total": page.total,
        "outstanding": page.sums["outstanding"],
        "page": page.page,
        "pages": page.pages,
    }


@api.route(
    "/writeoffs/proposals",
    methods=("POST",),
    summary="Propose cases for write-off in one batch (case_ids, or all_candidates with the candidate "
    "filters): one approval, a second approver above the owner's threshold; registered when approved",
    request_schema=ProposalInSchema(),
    response_schema=ProposedSchema(),
    status=202,
    tags=TAGS,
    permission="writeoffs.propose",
)
def propose_writeoffs(body: dict[str, Any]) -> Any:
    if body["all_candidates"]:
        f = writeoffs.CandidateFilter(rule_id=body["rule_id"], product=body["product"])
        done = proposals.propose_candidates(g.api_user, f, body["reason"])
    else:
        done = proposals.propose(
            g.api_user, body["case_ids"], body["reason"], body["rule_id"], body["keep_placement"]
        )
    return {"approval_id": done.approval.id, "count": done.count, "total": done.total, "stages": done.stages}


@api.route(
    "/writeoffs/proposals",
    summary="Proposed cases, one row each, oldest first; ?status=pending|approved|registered|rejected|"
    "cancelled|lapsed, approval_id, after=<id>, limit<=1000",
    response_schema=ProposalSchema(),
    many=True,
    tags=TAGS,
    permission="writeoffs.view",
)
def list_writeoff_proposals() -> Any:
    return proposals.proposals(
        g.api_user,
        status=request.args.get("status") or None,
        approval_id=params.identifier("approval_id"),
        after=params.integer("after", default=0) or 0,
        limit=_int_arg("limit", 100, 1000),
    )


@api.route(
    "/writeoffs",
    summary="The write-off ledger (核销台账), newest first, with totals; ?date_from, date_to, "
    "status=registered|reversed, agency_id, loan_no, page, limit<=500",
    response_schema=LedgerPageSchema(),
    tags=TAGS,
    permission="writeoffs.view",
)
def list_writeoffs() -> Any:
    f = writeoff_ledger.LedgerFilter(
        date_from=params.day("date_from"),
        date_to=params.day("date_to"),
        status=request.args.get("status") or None,
        agency_id=params.identifier("agency_id"),
        loan_no=request.args.get("loan_no") or None,
    )
    page = writeoff_ledger.ledger_page(
        g.api_user, f, page=_int_arg("page", 1, 1_000_000), per_page=_int_arg("limit", 100, 500)
    )
    return {
        "items": [writeoff_ledger.view(r.write_off, r.loan_no) for r in page.rows],
        "totals": page.sums,
        "page": page.page,
        "pages": page.pages,
    }


@api.route(
    "/writeoffs/<int:write_off_id>",
    summary="One line of the write-off ledger",
    response_schema=WriteOffSchema(),
    tags=TAGS,
    lookup=("write_off_id", writeoffs.get_write_off_for),
    permission="writeoffs.view",
)
def get_writeoff(write_off: WriteOff) -> Any:
    return writeoff_ledger.view(write_off)


@api.route(
    "/writeoffs/<int:write_off_id>/reversal",
    methods=("POST",),
    summary="Ask for a write-off to be reversed (a checker other than the maker decides); the line "
    "stays in the ledger, marked reversed, and the case returns to its previous status",
    request_schema=ReversalRequestInSchema(),
    response_schema=WriteOffApprovalRefSchema(),
    status=202,
    tags=TAGS,
    lookup=("write_off_id", writeoffs.get_write_off_for),
    permission="writeoffs.propose",
)
def request_writeoff_reversal(write_off: WriteOff, body: dict[str, Any]) -> Any:
    approval = writeoffs.request_reversal(g.api_user, write_off, body["reason"])
    db.session.refresh(approval)
    return {"approval_id": approval.id, "status": approval.status.value, "stages": approval.stages}
