"""``/api/v1`` applications (申请): a collector's repayment and reduction applications on a case, the
decisions level by level, and the owner's thresholds. Thin: each view loads through the tenancy
loaders and calls one service."""

from __future__ import annotations

from typing import Any

from flask import g, request
from flask_babel import gettext as _

from arrears.cases.loaders import get_case_for
from arrears.cases.models import Case
from arrears.errors import NotFound, ValidationFailed
from arrears.tenancy.models import OrgKind
from arrears.web import params
from arrears.web.api import api
from arrears.work import applications
from arrears.work.loaders import get_application_for
from arrears.work.models import Application, ApplicationKind
from arrears.work.schemas_applications import (
    ApplicationDecisionSchema,
    ApplicationInSchema,
    ApplicationLimitsInSchema,
    ApplicationLimitsSchema,
    ApplicationSchema,
)

TAGS = ["applications"]


@api.route(
    "/cases/<int:case_id>/applications",
    methods=("POST",),
    summary="Apply (申请) on a case: kind repayment (amount, paid_on, channel, evidence) or reduction "
    "(waive_penalty, waive_interest, waive_fee, reason); decided level by level by the owner's thresholds",
    request_schema=ApplicationInSchema(),
    response_schema=ApplicationSchema(),
    status=201,
    tags=TAGS,
    lookup=("case_id", get_case_for),
    permission="workbench.use",
)
def create_application(case: Case, body: dict[str, Any]) -> Any:
    if body["kind"] == ApplicationKind.REPAYMENT.value:
        return applications.request_repayment(
            g.api_user,
            case.id,
            amount=body["amount"],
            paid_on=body["paid_on"],
            channel=body["channel"],
            reason=body["reason"],
            evidence_ids=body["evidence_ids"],
        )
    return applications.request_reduction(
        g.api_user,
        case.id,
        waive_penalty=body["waive_penalty"],
        waive_interest=body["waive_interest"],
        waive_fee=body["waive_fee"],
        reason=body["reason"],
        evidence_ids=body["evidence_ids"],
    )


@api.route(
    "/cases/<int:case_id>/applications",
    summary="The applications on a case (an agency sees its own), newest first",
    response_schema=ApplicationSchema(),
    many=True,
    tags=TAGS,
    lookup=("case_id", get_case_for),
)
def case_applications(case: Case) -> Any:
    return applications.of_case(g.api_user, case)


@api.route(
    "/applications",
    summary="?box=mine (the caller's own applications, the default) or ?box=inbox (waiting for the "
    "caller's decision at their level)",
    response_schema=ApplicationSchema(),
    many=True,
    tags=TAGS,
)
def list_applications() -> Any:
    box = request.args.get("box", "mine")
    if box not in applications.BOXES:
        raise ValidationFailed(_("box is one of mine, inbox."), field="box")
    limit = params.limit(default=200, most=1000)
    if box == "inbox":
        return applications.inbox(g.api_user, limit=limit)
    return applications.mine(g.api_user, limit=limit)


@api.route(
    "/applications/<int:application_id>",
    summary="One application, with the stage it waits at and who passed each stage",
    response_schema=ApplicationSchema(),
    tags=TAGS,
    lookup=("application_id", get_application_for),
)
def get_application(application: Application) -> Any:
    return application


@api.route(
    "/applications/<int:application_id>/decision",
    methods=("POST",),
    summary="Approve (passes every stage up to the caller's level) or reject an application, with a note",
    request_schema=ApplicationDecisionSchema(),
    response_schema=ApplicationSchema(),
    tags=TAGS,
    lookup=("application_id", get_application_for),
)
def decide_application(application: Application, body: dict[str, Any]) -> Any:
    return applications.decide(g.api_user, application, approve=body["approve"], note=body["note"])


@api.route(
    "/applications/<int:application_id>/cancel",
    methods=("POST",),
    summary="The requester withdraws a pending application",
    response_schema=ApplicationSchema(),
    tags=TAGS,
    lookup=("application_id", get_application_for),
)
def cancel_application(application: Application) -> Any:
    return applications.cancel(g.api_user, application)


@api.route(
    "/settings/application-limits",
    summary="The owner's thresholds: up to team, the team lead decides; up to org, the agency's manager; "
    "above, the owner",
    response_schema=ApplicationLimitsSchema(),
    tags=TAGS,
    permission="cases.view",
)
def get_application_limits() -> Any:
    if g.api_user.org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("Not found."))
    return applications.get_limits(g.api_user.org)


@api.route(
    "/settings/application-limits",
    methods=("PUT",),
    summary="Change the owner's thresholds (a kind or level left out keeps its value)",
    request_schema=ApplicationLimitsInSchema(),
    response_schema=ApplicationLimitsSchema(),
    tags=TAGS,
    permission="org.settings.manage",
)
def put_application_limits(body: dict[str, Any]) -> Any:
    return applications.set_limits(g.api_user, body)
