"""Wall 1: scoped loaders. Every lookup by id from a view or an API goes through here.

Each loader asks the database for the object *and* the caller's right to see it in one query (the
ORM criteria of wall 2 already narrow it to the tenant; the loader adds the finer rule, such as
"an agency opens only its own partnerships"), then asserts the result. Missing and foreign objects
get the same ``NotFound``: a 404 never confirms that somebody else's object exists.
"""

from __future__ import annotations

from typing import Any, TypeVar

from flask_babel import gettext as _
from sqlalchemy import select

from arrears.allocation.models import AllocationRun, AllocationStrategy, Placement
from arrears.auth.models import ApiToken, Role, User
from arrears.cases.models import Case, Debtor, ImportBatch
from arrears.errors import NotFound
from arrears.extensions import db
from arrears.kernel.jobs.models import JobRecord
from arrears.orgs.models import Approval, Partnership, Team
from arrears.tenancy.context import cross_tenant
from arrears.tenancy.models import Organisation, OrgKind
from arrears.work.models import Application

T = TypeVar("T")


def _coerce_id(raw: Any) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise NotFound(_("Not found."))
    if value <= 0 or value > 2**62:
        raise NotFound(_("Not found."))
    return value


def _one(model: type[T], actor: User, raw_id: Any, *conditions: Any) -> T:
    obj_id = raw_id if model is JobRecord else _coerce_id(raw_id)
    obj = db.session.scalar(select(model).where(model.id == obj_id, *conditions))  # type: ignore[attr-defined,arg-type]
    if obj is None:
        raise NotFound(_("Not found."))
    tenant_ids = obj.tenant_ids() if hasattr(obj, "tenant_ids") else set()
    if tenant_ids and actor.org_id not in tenant_ids:  # belt and braces: wall 2 did this already
        raise NotFound(_("Not found."))
    return obj


def get_user_for(actor: User, user_id: Any) -> User:
    return _one(User, actor, user_id, User.org_id == actor.org_id)


def get_role_for(actor: User, role_id: Any) -> Role:
    return _one(Role, actor, role_id, Role.org_id == actor.org_id)


def get_team_for(actor: User, team_id: Any) -> Team:
    return _one(Team, actor, team_id, Team.org_id == actor.org_id)


def get_partnership_for(actor: User, partnership_id: Any) -> Partnership:
    """Owners open their partnerships, agencies theirs; nobody else's."""
    return _one(
        Partnership,
        actor,
        partnership_id,
        (Partnership.org_id == actor.org_id) | (Partnership.agency_org_id == actor.org_id),
    )


def get_approval_for(actor: User, approval_id: Any) -> Approval:
    """A request the actor's organisation decides or asked for; an application's only with its case in
    the actor's case scope (``tenancy.scopes.approval_scope``)."""
    from arrears.cases.scopes import approval_scope

    return _one(
        Approval,
        actor,
        approval_id,
        (Approval.org_id == actor.org_id) | (Approval.requester_org_id == actor.org_id),
        approval_scope(actor),
    )


def get_job_for(actor: User, job_id: Any) -> JobRecord:
    if not isinstance(job_id, str) or len(job_id) != 36:
        raise NotFound(_("Not found."))
    return _one(JobRecord, actor, job_id, JobRecord.org_id == actor.org_id)


def get_token_for(actor: User, token_id: Any) -> ApiToken:
    """Own tokens; user managers also see their users' tokens."""
    condition = ApiToken.org_id == actor.org_id
    if not actor.can("org.users.manage"):
        condition = condition & (ApiToken.user_id == actor.id)
    return _one(ApiToken, actor, token_id, condition)


def get_organisation_for_operator(actor: User, org_id: Any) -> Organisation:
    """The platform operator's view of a tenant (organisations are the platform's directory)."""
    if not actor.can("platform.orgs.manage"):
        raise NotFound(_("Not found."))
    with cross_tenant("platform operator opens a tenant"):
        org = db.session.get(Organisation, _coerce_id(org_id))
    if org is None:
        raise NotFound(_("Not found."))
    return org


def get_case_for(actor: User, case_id: Any) -> Case:
    """A case the actor may see: the owner's own; an agency's while placed with it; inside the
    organisation, narrowed to one's team or one's own cases (``tenancy.scopes``)."""
    from arrears.cases.scopes import case_scope

    return _one(Case, actor, case_id, case_scope(actor))


def get_placement_for(actor: User, placement_id: Any) -> Placement:
    """The owner opens its placements; an agency the ones made with it."""
    return _one(
        Placement,
        actor,
        placement_id,
        (Placement.org_id == actor.org_id) | (Placement.agency_org_id == actor.org_id),
    )


def get_run_for(actor: User, run_id: Any) -> AllocationRun:
    return _one(AllocationRun, actor, run_id, AllocationRun.org_id == actor.org_id)


def get_strategy_for(actor: User, strategy_id: Any) -> AllocationStrategy:
    return _one(AllocationStrategy, actor, strategy_id, AllocationStrategy.org_id == actor.org_id)


def get_import_batch_for(actor: User, batch_id: Any) -> ImportBatch:
    return _one(ImportBatch, actor, batch_id, ImportBatch.org_id == actor.org_id)


def get_debtor_for(actor: User, debtor_id: Any) -> Debtor:
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("Not found."))
    return _one(Debtor, actor, debtor_id, Debtor.org_id == actor.org_id)


def _in_case_scope(actor: User, case_id_column: Any) -> Any:
    """Work on a case is visible while the case is: its ``case_id`` within the actor's case scope."""
    from arrears.cases.scopes import case_scope

    return case_id_column.in_(select(Case.id).where(case_scope(actor)))


def get_attachment_for(actor: User, attachment_id: Any) -> Any:
    """A file on a case in the actor's scope. The walls already hide another agency's files on the
    same case (an attachment is the owner's and the uploading agency's, nobody else's)."""
    from arrears.work.models import Attachment

    return _one(Attachment, actor, attachment_id, _in_case_scope(actor, Attachment.case_id))


def get_call_for(actor: User, call_id: Any) -> Any:
    """A call on a case in the actor's scope (an agency sees only its own people's calls)."""
    from arrears.work.models import Call

    return _one(Call, actor, call_id, _in_case_scope(actor, Call.case_id))


def get_letter_template_for(actor: User, template_id: Any) -> Any:
    """An owner's own letter template (agencies read them only through ``services.letters``)."""
    from arrears.work.models import LetterTemplate

    return _one(LetterTemplate, actor, template_id, LetterTemplate.org_id == actor.org_id)


def get_application_for(actor: User, application_id: Any) -> Application:
    """An application (申请) on a case in the actor's case scope, or one waiting for the actor's
    decision at its current stage. Walls 2 and 3 already narrow it to the case's owner and the agency
    that made it (never another agency's on the same case)."""
    from arrears.cases.scopes import case_scope
    from arrears.orgs.approvals import may_decide

    application = _one(Application, actor, application_id)
    if (
        db.session.scalar(select(Case.id).where(Case.id == application.case_id, case_scope(actor)))
        is not None
    ):
        return application
    approval = db.session.get(Approval, application.approval_id) if application.approval_id else None
    if approval is not None and may_decide(actor, approval):
        return application
    raise NotFound(_("Not found."))


def get_repayment_for(actor: User, repayment_id: Any) -> Any:
    """A repayment the reader may see: the owner's own; an agency's credited to it (with
    ``repayments.view``); a collector's credited to them. Otherwise, like a missing one, 404."""
    from arrears.errors import PermissionDenied
    from arrears.payments.models import Repayment
    from arrears.payments.repayments import scope

    try:
        condition = scope(actor)
    except PermissionDenied:
        raise NotFound(_("Not found.")) from None
    return _one(Repayment, actor, repayment_id, condition)


def get_commission_contract_for(actor: User, contract_id: Any) -> Any:
    """A commission contract the organisation pays (owner: agencies' and incentive; agency: its
    incentive contract) or is paid under (an agency: its own contract with the owner)."""
    from arrears.commission.models import CommissionContract

    return _one(
        CommissionContract,
        actor,
        contract_id,
        (CommissionContract.org_id == actor.org_id) | (CommissionContract.agency_org_id == actor.org_id),
    )


def get_commission_statement_for(actor: User, statement_id: Any) -> Any:
    """A statement the organisation pays or, an agency, is paid by; a collector's incentive
    statement only within its employer."""
    from arrears.commission.models import CommissionStatement

    return _one(
        CommissionStatement,
        actor,
        statement_id,
        (CommissionStatement.org_id == actor.org_id) | (CommissionStatement.agency_org_id == actor.org_id),
    )
