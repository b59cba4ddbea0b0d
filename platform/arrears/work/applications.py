"""Applications (申请) on a case: a repayment the collector reports (还款申请) and a reduction of the
penalty, interest or fee (减免申请), decided level by level through the approvals.

Levels, lowest first (``LEVELS``):

* ``team``: the lead of the case's team (``applications.approve.team``, the case in their scope);
* ``org``: the holding organisation's ``applications.approve.all`` (the agency's manager; for an
  in-house case, the owner's admin);
* ``owner``: the case owner's ``applications.approve.all``.

The owner sets thresholds per kind in its settings (``application_limits``): an amount up to the
team limit needs the team lead, up to the org limit the agency's manager, above it the owner. The
stages start at ``team`` when the case has a team (else at ``org``) and run up to that level; an
in-house case has one stage, ``org``. A decider of a higher level passes every stage below theirs
in their organisation at once; nobody approves above their level, and the requester decides
nothing (``orgs.approvals``).

An approved reduction comes off the case's components under a row lock, never below zero, as a
``waiver`` posting in the ledger (减免审核). An approved repayment report becomes a repayment waiting
for the owner's audit (还款审核, ``payments.repayments``), matched at once to a core-system record of
it when one was applied already.
Every decision reminds the requester (``ReminderKind.APPLICATION``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, select, true

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases import ledger
from arrears.cases.cases import owners_granting
from arrears.cases.models import Case, CaseEvent
from arrears.cases.scopes import case_scope, sees_everything
from arrears.columns import utcnow
from arrears.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit, hooks
from arrears.kernel.clock import business_date
from arrears.kernel.money import as_decimal, parse_amount
from arrears.kernel.transaction import transaction
from arrears.orgs import approvals
from arrears.orgs.models import Approval, ApprovalStatus
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import Organisation, OrgKind
from arrears.work import attachments as attachment_service
from arrears.work.events import RepaymentReported
from arrears.work.models import (
    Application,
    ApplicationKind,
    ApplicationStatus,
    Attachment,
    Reminder,
    ReminderKind,
)
from arrears.work.notes import worked_case

LEVELS = ("team", "org", "owner")
LEVEL_LABELS = {
    "team": _l("Team lead"),
    "org": _l("Agency manager"),
    "owner": _l("Asset owner"),
    # the stages of a write-off batch (writeoffs.writeoffs), shown on the same approval pages
    "review": _l("Write-off review"),
    "second": _l("Second approval (above the threshold)"),
}
KIND_LABELS = {ApplicationKind.REPAYMENT: _l("Repayment"), ApplicationKind.REDUCTION: _l("Reduction")}
STATUS_LABELS = {
    ApplicationStatus.PENDING: _l("pending"),
    ApplicationStatus.APPROVED: _l("approved"),
    ApplicationStatus.REJECTED: _l("rejected"),
    ApplicationStatus.CANCELLED: _l("cancelled"),
}
# the partnership right an agency needs from the case's owner, per kind
RIGHTS = {ApplicationKind.REDUCTION: "reductions.request", ApplicationKind.REPAYMENT: "repayments.report"}
APPROVAL_KINDS = {
    ApplicationKind.REDUCTION: "application.reduction",
    ApplicationKind.REPAYMENT: "application.repayment",
}
DEFAULT_LIMITS: dict[str, dict[str, Decimal]] = {
    "reduction": {"team": Decimal("500.00"), "org": Decimal("5000.00")},
    "repayment": {"team": Decimal("2000.00"), "org": Decimal("20000.00")},
}
COMPONENTS = ("penalty", "interest", "fee")


# --- thresholds ---------------------------------------------------------------------------------------


def get_limits(org: Organisation) -> dict[str, dict[str, Decimal]]:
    """The owner's thresholds per kind and level, the defaults where it set none."""
    stored = (org.settings or {}).get("application_limits") or {}
    out: dict[str, dict[str, Decimal]] = {}
    for kind, levels in DEFAULT_LIMITS.items():
        mine = stored.get(kind) or {}
        out[kind] = {}
        for level, default in levels.items():
            try:
                out[kind][level] = Decimal(str(mine[level])) if level in mine else default
            except (InvalidOperation, TypeError):
                out[kind][level] = default
    return out


def set_limits(actor: User, limits: dict[str, dict[str, Any]]) -> dict[str, dict[str, Decimal]]:
    """The owner's admin sets the thresholds: ``{"reduction": {"team": "500", "org": "5000"}, ...}``
    (a kind or level left out keeps its value). Fields are named ``<kind>_<level>``."""
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("Not found."))
    require(actor, "org.settings.manage")
    current = get_limits(actor.org)
    new: dict[str, dict[str, Decimal]] = {k: dict(v) for k, v in current.items()}
    for kind, levels in (limits or {}).items():
        if kind not in DEFAULT_LIMITS:
            raise ValidationFailed(_("Unknown kind of application: %(kind)s", kind=kind), field="kind")
        for level, raw in (levels or {}).items():
            if level not in ("team", "org"):
                raise ValidationFailed(_("Unknown level: %(level)s", level=level), field=f"{kind}_{level}")
            new[kind][level] = _amount(raw, f"{kind}_{level}", allow_zero=True)
    for kind, levels in new.items():
        if levels["team"] > levels["org"]:
            raise ValidationFailed(
                _("The team lead's limit cannot be above the organisation's."), field=f"{kind}_team"
            )
    with transaction():
        org = db.session.get(Organisation, actor.org_id)
        assert org is not None
        stored = {k: {lvl: str(v) for lvl, v in levels.items()} for k, levels in new.items()}
        org.settings = {**(org.settings or {}), "application_limits": stored}
        audit.record(
            "applications.limits_changed",
            actor=actor,
            target=org,
            details={
                "before": {k: {lvl: str(v) for lvl, v in lv.items()} for k, lv in current.items()},
                "after": stored,
            },
        )
    return new


def required_level(kind: ApplicationKind, amount: Decimal, limits: dict[str, dict[str, Decimal]]) -> str:
    """The level an amount needs by the owner's thresholds (an agency's case)."""
    mine = limits[kind.value]
    if amount <= mine["team"]:
        return "team"
    if amount <= mine["org"]:
        return "org"
    return "owner"


def stages_for(case: Case, level: str) -> list[str]:
    """The levels an application on ``case`` passes to reach ``level``: from the team lead when the
    case has a team (else from the organisation's level); an in-house case has the owner's only."""
    if case.agency_org_id is None:
        return ["org"]
    start = LEVELS.index("team" if case.team_id else "org")
    return list(LEVELS[start : max(start, LEVELS.index(level)) + 1])


# --- input ---------------------------------------------------------------------------------------------


def _amount(raw: Any, field: str, *, allow_zero: bool = False) -> Decimal:
    """``money.parse_amount``, taking a JSON number from the API as its shortest decimal form."""
    number = as_decimal(raw)
    if number is None:
        raise ValidationFailed(_("Enter an amount."), field=field)
    return parse_amount(number, field, allow_zero=allow_zero)


def _may_ask(actor: User, case: Case, kind: ApplicationKind) -> None:
    require(actor, "workbench.use")
    if actor.org.kind == OrgKind.AGENCY and case.org_id not in owners_granting(actor, RIGHTS[kind]):
        raise PermissionDenied(_("The case's owner does not let the agency make this application."))


def may_apply(actor: User, case: Case, kind: ApplicationKind) -> bool:
    """Whether the case page offers the application: the actor works cases, and an agency holds
    the owner's grant for the kind."""
    try:
        _may_ask(actor, case, kind)
    except PermissionDenied:
        return False
    return True


def _evidence(actor: User, case: Case, ids: Iterable[Any] | None) -> list[Attachment]:
    wanted = sorted({int(i) for i in ids or []})
    if not wanted:
        return []
    found = list(
        db.session.scalars(
            select(Attachment).where(
                Attachment.id.in_(wanted), Attachment.case_id == case.id, Attachment.application_id.is_(None)
            )
        )
    )
    if len(found) != len(wanted):
        missing = sorted(set(wanted) - {a.id for a in found})
        raise ValidationFailed(
            _("Not an attachment of this case: %(ids)s", ids=", ".join(map(str, missing[:20]))),
            field="evidence_ids",
        )
    return found


def request_repayment(
    actor: User,
    case_id: Any,
    *,
    amount: Any,
    paid_on: dt.date | None,
    channel: str = "",
    reason: str = "",
    evidence_ids: Iterable[Any] | None = None,
    files: Sequence[tuple[str, bytes]] = (),
) -> Application:
    """还款申请: the collector reports a payment the debtor made, with evidence: attachments already on
    the case (``evidence_ids``) or files uploaded with it (``files``: name and bytes), stored in the
    same transaction as the application."""

    case = worked_case(actor, case_id)
    _may_ask(actor, case, ApplicationKind.REPAYMENT)
    value = _amount(amount, "amount")
    if paid_on is None:
        raise ValidationFailed(_("Say when it was paid."), field="paid_on")
    owner = _owner(case)
    if paid_on > business_date(owner):
        raise ValidationFailed(_("The payment date cannot be in the future."), field="paid_on")
    return _create(
        actor,
        case,
        owner,
        ApplicationKind.REPAYMENT,
        value,
        paid_on=paid_on,
        channel=(channel or "").strip()[:64],
        reason=(reason or "").strip()[:1000],
        evidence=_evidence(actor, case, evidence_ids),
        files=_checked_files(files),
    )


def request_reduction(
    actor: User,
    case_id: Any,
    *,
    waive_penalty: Any = "0",
    waive_interest: Any = "0",
    waive_fee: Any = "0",
    reason: str = "",
    evidence_ids: Iterable[Any] | None = None,
    files: Sequence[tuple[str, bytes]] = (),
) -> Application:
    """减免申请: waive some of the penalty, interest or fee, never more than the case owes of each."""

    case = worked_case(actor, case_id)
    _may_ask(actor, case, ApplicationKind.REDUCTION)
    raw = {"penalty": waive_penalty, "interest": waive_interest, "fee": waive_fee}
    waivers = {
        c: _amount(raw[c] if raw[c] not in (None, "") else "0", f"waive_{c}", allow_zero=True)
        for c in COMPONENTS
    }
    for component in COMPONENTS:
        if waivers[component] > getattr(case, component):
            raise ValidationFailed(
                _(
                    "A reduction never takes a balance component below zero (%(component)s: %(owed)s).",
                    owed=getattr(case, component),
                    component=_component_label(component),
                ),
                field=f"waive_{component}",
            )
    total = sum(waivers.values(), Decimal("0"))
    if total <= 0:
        raise ValidationFailed(
            _("Waive something: the penalty, the interest or the fee."), field="waive_penalty"
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(_("Say why."), field="reason")
    return _create(
        actor,
        case,
        _owner(case),
        ApplicationKind.REDUCTION,
        total,
        waivers=waivers,
        reason=reason[:1000],
        evidence=_evidence(actor, case, evidence_ids),
        files=_checked_files(files),
    )


MAX_FILES = 10


def _checked_files(files: Sequence[tuple[str, bytes]]) -> list[tuple[str, bytes, Any]]:
    """Every uploaded file checked (type sniffed, size) before anything is written."""
    wanted = [(name, data) for name, data in files or () if name or data]
    if len(wanted) > MAX_FILES:
        raise ValidationFailed(_("At most %(n)d files at once.", n=MAX_FILES), field="file")
    out = []
    for name, data in wanted:
        clean, file_type = attachment_service.check_file(name, data)
        out.append((clean, data, file_type))
    return out


def _component_label(component: str) -> str:
    return str({"penalty": _l("penalty"), "interest": _l("interest"), "fee": _l("fee")}[component])


def _owner(case: Case) -> Organisation:
    owner = db.session.get(Organisation, case.org_id)
    assert owner is not None
    return owner


def _create(
    actor: User,
    case: Case,
    owner: Organisation,
    kind: ApplicationKind,
    amount: Decimal,
    *,
    waivers: dict[str, Decimal] | None = None,
    paid_on: dt.date | None = None,
    channel: str = "",
    reason: str = "",
    evidence: list[Attachment],
    files: list[tuple[str, bytes, Any]] = [],  # noqa: B006 (never mutated)
) -> Application:
    level = required_level(kind, amount, get_limits(owner))
    stages = stages_for(case, level)
    keyed = [(attachment_service.new_key(case, t), name, data, t) for name, data, t in files]
    with contextlib.ExitStack() as stored:
        for key, _name, data, file_type in keyed:
            # in storage first; removed again if the transaction below fails
            stored.enter_context(attachment_service.stored(key, data, file_type.content_type))
        return _write(actor, case, kind, amount, stages, waivers, paid_on, channel, reason, evidence, keyed)


def _write(
    actor: User,
    case: Case,
    kind: ApplicationKind,
    amount: Decimal,
    stages: list[str],
    waivers: dict[str, Decimal] | None,
    paid_on: dt.date | None,
    channel: str,
    reason: str,
    evidence: list[Attachment],
    keyed: list[tuple[str, str, bytes, Any]],
) -> Application:
    with transaction():
        application = Application(
            org_id=case.org_id,
            case_id=case.id,
            agency_org_id=case.agency_org_id,
            kind=kind,
            status=ApplicationStatus.PENDING,
            requested_by_id=actor.id,
            amount=amount,
            waive_penalty=(waivers or {}).get("penalty", Decimal("0")),
            waive_interest=(waivers or {}).get("interest", Decimal("0")),
            waive_fee=(waivers or {}).get("fee", Decimal("0")),
            paid_on=paid_on,
            channel=channel,
            reason=reason,
            required_level=stages[-1],
        )
        db.session.add(application)
        db.session.flush()
        for attachment in evidence:
            attachment.application_id = application.id
        for key, name, data, file_type in keyed:
            attachment_service.store(
                actor,
                case,
                key=key,
                filename=name,
                data=data,
                kind="evidence",
                file_type=file_type,
                application_id=application.id,
            )
        payload = {
            "application_id": application.id,
            "case_id": case.id,
            "loan_no": case.loan_no,
            "amount": str(amount),
            "owner_org_id": case.org_id,
            **{f"waive_{c}": str(v) for c, v in (waivers or {}).items()},
        }
        approval = approvals.submit(
            actor,
            kind=APPROVAL_KINDS[kind],
            subject_type="application",
            subject_id=application.id,
            approver_org_id=_stage_org_of(case.org_id, actor.org_id, stages[0]),
            summary=f"{kind.value} {amount} {case.loan_no}",
            payload=payload,
            reason=reason,
            stages=stages,
            permission="workbench.use",
        )
        application.approval_id = approval.id
        audit.record(
            "application.requested",
            actor=actor,
            target=application,
            details={"kind": kind.value, "amount": str(amount), "case_id": case.id, "stages": stages},
        )
    return application


# --- deciding -----------------------------------------------------------------------------------------


def _stage_org_of(owner_id: int, requester_org_id: int, level: str) -> int:
    return owner_id if level == "owner" else requester_org_id


def _stage_org(approval: Approval, level: str) -> int:
    return _stage_org_of(int(approval.payload["owner_org_id"]), approval.requester_org_id, level)


def _may_decide(approval: Approval, actor: User, level: str) -> bool:
    """Who decides a level: the team lead with the case in their scope; the holding organisation's
    (or the owner's) ``applications.approve.all``."""
    if actor.org_id != _stage_org(approval, level):
        return False
    if level == "team":
        if not actor.can("applications.approve.team"):
            return False
        case_id = int(approval.payload["case_id"])
        return db.session.scalar(select(Case.id).where(Case.id == case_id, case_scope(actor))) is not None
    return actor.can("applications.approve.all")


def _application(approval: Approval) -> Application:
    application = db.session.scalar(
        select(Application)
        .where(Application.id == int(approval.subject_id))
        .with_for_update(of=Application)
        .execution_options(populate_existing=True)
    )
    if application is None:
        raise NotFound(_("Not found."))
    if application.status != ApplicationStatus.PENDING:
        raise Conflict(_("This application was decided already."))
    return application


def _on_approved(approval: Approval, decider: User) -> None:
    application = _application(approval)
    if application.kind == ApplicationKind.REDUCTION:
        _apply_reduction(application, decider)
    else:
        # the reported money waits for the owner's audit as a repayment (``payments``)
        hooks.emit(
            RepaymentReported(
                application_id=application.id,
                org_id=application.org_id,
                case_id=application.case_id,
                amount=application.amount,
                paid_on=application.paid_on,
                channel=application.channel,
                agency_org_id=application.agency_org_id,
                requested_by_id=application.requested_by_id,
                decider_id=decider.id,
            )
        )
    _close(application, approval, ApplicationStatus.APPROVED, decider)


def _on_rejected(approval: Approval, actor: User) -> None:
    application = _application(approval)
    status = (
        ApplicationStatus.CANCELLED
        if approval.status == ApprovalStatus.CANCELLED
        else ApplicationStatus.REJECTED
    )
    _close(application, approval, status, actor)


def _apply_reduction(application: Application, decider: User) -> None:
    """Take the waivers off the case under a row lock; a payment since the request may have left
    less of a component than the reduction waives: then nothing changes (Conflict)."""
    case = db.session.scalar(
        select(Case)
        .where(Case.id == application.case_id)
        .with_for_update(of=Case)
        .execution_options(populate_existing=True)
    )
    if case is None:
        raise Conflict(_("The case is no longer held by the organisation deciding."))
    waivers = {
        "penalty": application.waive_penalty,
        "interest": application.waive_interest,
        "fee": application.waive_fee,
    }
    for component, value in waivers.items():
        if value > getattr(case, component):
            raise Conflict(
                _(
                    "A reduction never takes a balance component below zero (%(component)s now: %(owed)s).",
                    owed=getattr(case, component),
                    component=_component_label(component),
                ),
                field=f"waive_{component}",
            )
    before = {c: str(getattr(case, c)) for c in (*COMPONENTS, "outstanding")}

    ledger.post_waiver(case, waivers, application_id=application.id, actor_id=decider.id)
    for component, value in waivers.items():
        setattr(case, component, getattr(case, component) - value)
    case.outstanding = case.principal + case.interest + case.penalty + case.fee
    changes = {
        c: [before[c], str(getattr(case, c))]
        for c in (*COMPONENTS, "outstanding")
        if before[c] != str(getattr(case, c))
    }
    event = CaseEvent(
        org_id=case.org_id,
        case_id=case.id,
        kind="reduced",
        actor_user_id=decider.id,
        changes={
            **changes,
            "application_id": application.id,
            "waived": {c: str(v) for c, v in waivers.items()},
        },
    )
    db.session.flush()
    # the case's history is the owner's: an agency's manager writes it through the named escape hatch
    with cross_tenant("an approved reduction is written into the case owner's history"):
        db.session.add(event)
        db.session.flush()
    audit.record(
        "case.reduced",
        actor=decider,
        target=case,
        details={"application_id": application.id, "waived": {c: str(v) for c, v in waivers.items()}},
    )


def _close(application: Application, approval: Approval, status: ApplicationStatus, actor: User) -> None:
    application.status = status
    application.decided_at = utcnow()
    application.decision_note = (approval.decision_note or "")[:1000]
    audit.record(
        f"application.{status.value}",
        actor=actor,
        target=application,
        details={
            "kind": application.kind.value,
            "amount": str(application.amount),
            "note": application.decision_note,
        },
    )
    if status == ApplicationStatus.CANCELLED:
        return  # the requester withdrew it: nothing to remind them of
    owner = db.session.get(Organisation, application.org_id)
    assert owner is not None
    if application.kind == ApplicationKind.REDUCTION:
        text = _(
            "Your reduction application of %(amount)s was %(status)s.",
            amount=application.amount,
            status=STATUS_LABELS[status],
        )
    else:
        text = _(
            "Your repayment report of %(amount)s was %(status)s.",
            amount=application.amount,
            status=STATUS_LABELS[status],
        )
    if application.decision_note:
        text = f"{text} {application.decision_note}"
    db.session.add(
        Reminder(
            org_id=application.org_id,
            case_id=application.case_id,
            agency_org_id=application.agency_org_id,
            user_id=application.requested_by_id,
            kind=ReminderKind.APPLICATION,
            due_on=business_date(owner),
            text=text[:300],
        )
    )


def _describe(approval: Approval) -> str:
    p = approval.payload
    kind = (
        ApplicationKind.REDUCTION
        if approval.kind == APPROVAL_KINDS[ApplicationKind.REDUCTION]
        else ApplicationKind.REPAYMENT
    )
    return _(
        "%(kind)s of %(amount)s on loan %(loan)s",
        kind=KIND_LABELS[kind],
        amount=p.get("amount", ""),
        loan=p.get("loan_no", ""),
    )


for _kind, _label in (
    (ApplicationKind.REDUCTION, _l("Reduction application")),
    (ApplicationKind.REPAYMENT, _l("Repayment application")),
):
    approvals.register(
        approvals.ApprovalKind(
            APPROVAL_KINDS[_kind],
            _label,
            on_approved=_on_approved,
            on_rejected=_on_rejected,
            describe=_describe,
            levels=LEVELS,
            stage_org=_stage_org,
            may_decide=_may_decide,
        )
    )


def approval_of(application: Application) -> Approval:
    approval = db.session.get(Approval, application.approval_id) if application.approval_id else None
    if approval is None:
        raise NotFound(_("Not found."))
    return approval


def decide(actor: User, application: Application, *, approve: bool, note: str = "") -> Application:
    """Approve (pass the stages up to the actor's level) or reject an application."""
    approvals.decide(actor, approval_of(application), approve=approve, note=note)
    db.session.refresh(application)
    return application


def cancel(actor: User, application: Application) -> Application:
    """The requester withdraws a pending application."""
    if application.requested_by_id != actor.id:
        raise PermissionDenied(_("Only the person who asked can withdraw a request."))
    approvals.cancel(actor, approval_of(application))
    db.session.refresh(application)
    return application


def may_decide(actor: User, application: Application) -> bool:
    approval = db.session.get(Approval, application.approval_id) if application.approval_id else None
    return approval is not None and approvals.may_decide(actor, approval)


# --- reading ------------------------------------------------------------------------------------------

BOXES = ("mine", "inbox")


def _may_read(actor: User) -> bool:
    return any(
        actor.can(p)
        for p in ("workbench.use", "work.view", "applications.approve.team", "applications.approve.all")
    )


def of_case(actor: User, case: Case) -> list[Application]:
    """The applications on a case (the case page's tab): the owner sees all of them; an agency its
    own (walls 2 and 3)."""
    if not _may_read(actor):
        raise PermissionDenied(_("You do not have the permission for this action."))
    return _loaded(
        db.session.scalars(
            select(Application).where(Application.case_id == case.id).order_by(Application.id.desc())
        )
    )


def mine(actor: User, *, status: ApplicationStatus | None = None, limit: int = 200) -> list[Application]:
    stmt = select(Application).where(Application.requested_by_id == actor.id)
    if status is not None:
        stmt = stmt.where(Application.status == status)
    return _loaded(db.session.scalars(stmt.order_by(Application.id.desc()).limit(limit)))


def inbox_query(actor: User) -> Select[tuple[Application]]:
    """The pending applications waiting at a level the actor decides: a team lead's at the team stage
    on their cases; an agency manager's at the agency's stages; an owner's at the owner's (and its
    in-house cases). Never one's own."""
    stmt = (
        select(Application)
        .join(Approval, Approval.id == Application.approval_id)
        .where(
            Approval.status == ApprovalStatus.PENDING,
            Approval.org_id == actor.org_id,
            Approval.requested_by_id != actor.id,
            Approval.kind.in_(list(APPROVAL_KINDS.values())),
        )
        .order_by(Application.id)
    )
    if actor.can("applications.approve.all"):
        return stmt
    if actor.can("applications.approve.team"):
        return stmt.join(Case, Case.id == Application.case_id).where(
            Approval.stage == "team", case_scope(actor)
        )
    return stmt.where(Approval.id.is_(None))


def inbox(actor: User, *, limit: int = 200) -> list[Application]:
    return _loaded(db.session.scalars(inbox_query(actor).limit(limit)))


def _loaded(rows: Iterable[Application]) -> list[Application]:
    """The applications with their approvals in the session (one query), for ``view``."""
    out = list(rows)
    approvals_by_id(a.approval_id for a in out)
    return out


def approvals_by_id(ids: Iterable[int | None]) -> dict[int, Approval]:
    """The approvals behind applications the reader already sees, in one query (two for an owner
    whose application still waits at the agency's level: the agency's row, read by its id through
    the named escape hatch, never listed)."""
    wanted = sorted({int(i) for i in ids if i})
    if not wanted:
        return {}
    found = {a.id: a for a in db.session.scalars(select(Approval).where(Approval.id.in_(wanted)))}
    missing = [i for i in wanted if i not in found]
    if missing:
        with cross_tenant("an application's reader follows its approval to the level deciding it"):
            found.update(
                {a.id: a for a in db.session.scalars(select(Approval).where(Approval.id.in_(missing)))}
            )
    return found


def view(application: Application) -> dict[str, Any]:
    """What a reader sees of an application: labels, where it waits, who passed which stage."""
    approval = (
        approvals_by_id([application.approval_id]).get(application.approval_id)
        if application.approval_id
        else None
    )
    stage = approval.stage if approval is not None and approval.status == ApprovalStatus.PENDING else None
    in_house = application.agency_org_id is None
    return {
        "application": application,
        "kind_label": str(KIND_LABELS[application.kind]),
        "status_label": str(STATUS_LABELS[application.status]),
        "stage": stage,
        "stage_label": level_label(stage, in_house=in_house) if stage else "",
        "required_label": level_label(application.required_level, in_house=in_house),
        "stages": list(approval.stages) if approval is not None else [],
        "trail": list(approval.trail) if approval is not None else [],
    }


def level_label(level: str | None, *, in_house: bool = False) -> str:
    if level == "org" and in_house:
        return str(LEVEL_LABELS["owner"])
    return str(LEVEL_LABELS.get(level or "", level or ""))


def _approval_scope(actor: User, subject: Any) -> Any:
    """An application's request (申请) is seen in the approval pages only with its case in the
    reader's case scope, so a team lead or a collector never reads another team's applications there;
    people who see every case see every request."""
    if sees_everything(actor):
        return true()
    return (
        select(Application.id)
        .join(Case, Case.id == Application.case_id)
        .where(Application.id == subject, case_scope(actor))
        .exists()
    )


approvals.register_subject_scope("application", _approval_scope)
approvals.register_level_labels(APPROVAL_KINDS.values(), level_label)
