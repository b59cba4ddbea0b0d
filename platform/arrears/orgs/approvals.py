"""Maker-checker approvals, one mechanism for every flow that needs a second pair of eyes.

A flow registers a handler for its ``kind``: ``on_approved(approval, decider)`` applies the change in
the same transaction as the decision; ``on_rejected`` may undo a reservation. The checker must be a
different person from the maker, hold ``approvals.decide`` and belong to the deciding organisation.

A kind may be decided level by level (``levels``: an application passes the team lead, the agency
manager, then the asset owner, as far as its amount needs). Such a request carries its ``stages`` (the
levels it must pass, in order), the ``stage`` deciding now and a ``trail`` of who passed each. The
kind says which organisation decides a level (``stage_org``: the request's ``org_id`` moves with the
stage) and who may decide it (``may_decide``). A decider passes every stage from the current one up
to the highest they may decide in their own organisation at once; a rejection at any stage ends the
request. The maker never decides any stage.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import BigInteger, Select, case, cast, or_, select, true
from sqlalchemy.sql.elements import True_

from arrears.auth.models import User
from arrears.auth.permissions import GRANTABLE
from arrears.auth.principal import require
from arrears.columns import utcnow
from arrears.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.transaction import transaction
from arrears.orgs.models import Approval, ApprovalStatus, Partnership, PartnershipStatus
from arrears.orgs.partnerships import add_grant
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import OrgKind


@dataclass(frozen=True)
class ApprovalKind:
    key: str
    label: object
    on_approved: Callable[[Approval, User], None]
    on_rejected: Callable[[Approval, User], None] | None = None
    # Renders the request for the reader, in the reader's language, from the stored payload.
    describe: Callable[[Approval], str] | None = None
    # Decided level by level (see the module's docstring); single decision when ``levels`` is empty.
    levels: tuple[str, ...] = ()
    stage_org: Callable[[Approval, str], int] | None = None
    may_decide: Callable[[Approval, User, str], bool] | None = None


_KINDS: dict[str, ApprovalKind] = {}


def register(kind: ApprovalKind) -> None:
    _KINDS[kind.key] = kind


def kinds() -> dict[str, ApprovalKind]:
    return dict(_KINDS)


# Who sees which request in the approval pages, by the type of its subject: a domain whose requests
# are about its own objects registers the rule (an application's request is seen only with its case
# in the reader's case scope, ``work.applications``). Requests of other subjects: every one.
SubjectScope = Callable[[User, Any], Any]
_SUBJECT_SCOPES: dict[str, SubjectScope] = {}


class LevelLabel(Protocol):
    def __call__(self, level: str, *, in_house: bool = False) -> str: ...


_LEVEL_LABELS: dict[str, LevelLabel] = {}


def register_subject_scope(subject_type: str, rule: SubjectScope) -> None:
    """``rule(actor, subject_id)`` is a condition on ``Approval`` (``subject_id``: the request's
    subject id as a BIGINT expression, NULL for another subject type), or ``true()``."""
    _SUBJECT_SCOPES[subject_type] = rule


def register_level_labels(kinds: Iterable[str], label: LevelLabel) -> None:
    """``label(level, in_house=...)`` names the levels of requests of ``kinds`` decided level by level
    (the stage path of the approval page); other kinds show a level as it is stored."""
    for kind in kinds:
        _LEVEL_LABELS[kind] = label


def level_labels(kind: str) -> LevelLabel | None:
    return _LEVEL_LABELS.get(kind)


def scope(actor: User) -> Any:
    """The condition on ``Approval`` for the requests a person sees in their organisation's
    approval pages (the rules of ``register_subject_scope``; ``true()`` when none narrows)."""
    narrowing: dict[str, Any] = {}
    for subject_type, rule in sorted(_SUBJECT_SCOPES.items()):
        # the subject's id is text; it is cast only for this subject type's requests (CASE is lazy)
        subject = case(
            (Approval.subject_type == subject_type, cast(Approval.subject_id, BigInteger)), else_=None
        )
        condition = rule(actor, subject)
        if not isinstance(condition, True_):
            narrowing[subject_type] = condition
    if not narrowing:
        return true()
    return or_(Approval.subject_type.notin_(list(narrowing)), *narrowing.values())


def describe(approval: Approval) -> str:
    """What the request is about, for the person reading it (``summary`` is the stored fallback)."""
    kind = _KINDS.get(approval.kind)
    if kind is not None and kind.describe is not None:
        return kind.describe(approval)
    return approval.summary


def kind_label(approval: Approval) -> str:
    kind = _KINDS.get(approval.kind)
    return str(kind.label) if kind is not None else approval.kind


def submit(
    actor: User,
    *,
    kind: str,
    subject_type: str,
    subject_id: Any,
    approver_org_id: int,
    summary: str,
    payload: dict[str, Any] | None = None,
    reason: str = "",
    stages: list[str] | None = None,
    permission: str = "approvals.request",
) -> Approval:
    """``stages``: the levels a request of a staged kind must pass, in order; ``approver_org_id`` is
    then the organisation deciding the first. ``permission``: what the maker needs to ask."""
    require(actor, permission)
    if kind not in _KINDS:
        raise ValidationFailed(_("Unknown kind of request."), field="kind")
    if stages and any(s not in _KINDS[kind].levels for s in stages):
        raise ValidationFailed(_("Unknown kind of request."), field="kind")
    with transaction():
        waiting = db.session.scalars(
            select(Approval).where(
                Approval.kind == kind,
                Approval.subject_type == subject_type,
                Approval.subject_id == str(subject_id),
                Approval.status == ApprovalStatus.PENDING,
            )
        )
        if any(a.payload == (payload or {}) for a in waiting):
            raise Conflict(_("The same request is waiting for a decision already."))
        approval = Approval(
            org_id=approver_org_id,
            requester_org_id=actor.org_id,
            kind=kind,
            subject_type=subject_type,
            subject_id=str(subject_id),
            summary=summary[:300],
            payload=payload or {},
            requested_by_id=actor.id,
            reason=reason[:1000],
            status=ApprovalStatus.PENDING,
            stages=list(stages or []),
            stage=stages[0] if stages else None,
            trail=[],
        )
        db.session.add(approval)
        db.session.flush()
        audit.record(
            "approval.requested", actor=actor, target=approval, details={"kind": kind, "summary": summary}
        )
        if approver_org_id != actor.org_id:
            # The deciding organisation's log shows the request too: a write into its tenant,
            # so it goes through the named escape hatch, flushed inside it.
            db.session.flush()
            with cross_tenant("an approval request is logged for the deciding organisation"):
                audit.record(
                    "approval.requested",
                    org_id=approver_org_id,
                    actor=actor,
                    target=approval,
                    details={"kind": kind, "summary": summary, "from_org": actor.org.slug},
                )
                db.session.flush()
    return approval


def reach(actor: User, approval: Approval) -> int | None:
    """For a staged request: the index of the last stage ``actor`` would pass now (every stage from
    the current one up to the highest they may decide, all in their own organisation), or None when
    they may decide none. Never the maker."""
    kind = _KINDS.get(approval.kind)
    if (
        kind is None
        or not approval.stages
        or approval.stage not in approval.stages
        or approval.status != ApprovalStatus.PENDING
        or approval.requested_by_id == actor.id
        or kind.stage_org is None
        or kind.may_decide is None
    ):
        return None
    start = approval.stages.index(approval.stage)
    best = None
    for i in range(start, len(approval.stages)):
        level = approval.stages[i]
        if kind.stage_org(approval, level) != actor.org_id:
            break  # a later level belongs to another organisation: nobody skips it
        if kind.may_decide(approval, actor, level):
            best = i
    return best


def may_decide(actor: User, approval: Approval) -> bool:
    """Whether ``actor`` may decide the request now (its current stage, for a staged one)."""
    if approval.status != ApprovalStatus.PENDING or approval.org_id != actor.org_id:
        return False
    if approval.stages:
        return reach(actor, approval) is not None
    return actor.can("approvals.decide") and approval.requested_by_id != actor.id


def decide(actor: User, approval: Approval, *, approve: bool, note: str = "") -> Approval:
    if approval.stages:
        return _decide_stage(actor, approval, approve=approve, note=note)
    require(actor, "approvals.decide")
    if approval.org_id != actor.org_id:
        raise PermissionDenied(_("This request is decided by another organisation."))
    with transaction():
        locked = _locked(approval)  # two checkers clicking at once decide it once
        if locked.status != ApprovalStatus.PENDING:
            raise Conflict(_("This request was decided already."))
        if locked.requested_by_id == actor.id:
            raise PermissionDenied(_("You cannot decide your own request."))
        locked.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
        locked.decided_by_id, locked.decided_at, locked.decision_note = actor.id, utcnow(), note[:1000]
        handler = _KINDS[locked.kind]
        if approve:
            handler.on_approved(locked, actor)
        elif handler.on_rejected is not None:
            handler.on_rejected(locked, actor)
        audit.record(
            "approval.approved" if approve else "approval.rejected",
            actor=actor,
            target=locked,
            details={"kind": locked.kind, "summary": locked.summary, "note": note},
        )
    return locked


def _locked(approval: Approval) -> Approval:
    """The request's row under a lock, read as it is now (``populate_existing``: not the copy
    already in memory), so concurrent decisions see each other."""
    locked = db.session.scalar(
        select(Approval)
        .where(Approval.id == approval.id)
        .with_for_update(of=Approval)
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise NotFound(_("Request not found."))
    return locked


def _decide_stage(actor: User, approval: Approval, *, approve: bool, note: str) -> Approval:
    """One decision on a staged request: pass the stages up to the actor's level (the last one
    approves the request), or reject it."""
    if approval.org_id != actor.org_id:
        raise PermissionDenied(_("This request is decided by another organisation."))
    with transaction():
        locked = _locked(approval)
        if locked.status != ApprovalStatus.PENDING:
            raise Conflict(_("This request was decided already."))
        if locked.requested_by_id == actor.id:
            raise PermissionDenied(_("You cannot decide your own request."))
        if locked.org_id != actor.org_id:
            raise PermissionDenied(_("This request is decided by another organisation."))
        last = reach(actor, locked)
        if last is None:
            raise PermissionDenied(_("This request needs a decision at a level you cannot decide."))
        handler = _KINDS[locked.kind]
        start = locked.stages.index(locked.stage or "")
        now = utcnow()
        passed = locked.stages[start : last + 1] if approve else [locked.stage]
        entry = {"by": actor.id, "name": actor.name, "org_id": actor.org_id, "at": now.isoformat()}
        locked.trail = [
            *locked.trail,
            *(
                {**entry, "stage": s, "decision": "approved" if approve else "rejected", "note": note[:1000]}
                for s in passed
            ),
        ]
        final = not approve or last == len(locked.stages) - 1
        if final:
            locked.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
            locked.decided_by_id, locked.decided_at, locked.decision_note = actor.id, now, note[:1000]
            if approve:
                handler.on_approved(locked, actor)
            elif handler.on_rejected is not None:
                handler.on_rejected(locked, actor)
        else:
            assert handler.stage_org is not None
            locked.stage = locked.stages[last + 1]
            locked.org_id = handler.stage_org(locked, locked.stage)
        details = {"kind": locked.kind, "summary": locked.summary, "note": note, "stages": passed}
        action = "approval.rejected" if not approve else "approval.approved" if final else "approval.passed"
        audit.record(action, actor=actor, target=locked, details=details)
        if not final and locked.org_id != actor.org_id:
            # the request moves on to another organisation: its log shows it arriving
            db.session.flush()
            with cross_tenant("a staged request moves on to the organisation deciding its next level"):
                audit.record(
                    "approval.requested",
                    org_id=locked.org_id,
                    actor=actor,
                    target=locked,
                    details={**details, "stage": locked.stage, "from_org": actor.org.slug},
                )
                db.session.flush()
    return locked


def cancel(actor: User, approval: Approval) -> Approval:
    """The requester withdraws a pending request. Like a rejection, it releases what the request held
    (``on_rejected``): an allocation run waiting for review would otherwise wait for ever, neither
    decidable nor discardable."""
    with transaction():
        if approval.requested_by_id != actor.id:
            raise PermissionDenied(_("Only the person who asked can withdraw a request."))
        locked = _locked(approval)
        if locked.status != ApprovalStatus.PENDING:
            raise Conflict(_("This request was decided already."))
        locked.status = ApprovalStatus.CANCELLED
        locked.decided_at = utcnow()
        handler = _KINDS.get(locked.kind)
        if handler is not None and handler.on_rejected is not None:
            handler.on_rejected(locked, actor)
        audit.record("approval.cancelled", actor=actor, target=locked)
    return locked


def listing(
    org_id: int,
    *,
    side: str = "inbox",
    status: ApprovalStatus | None = None,
    kinds: Collection[str] | None = None,
) -> Select[tuple[Approval]]:
    """``inbox``: requests this organisation decides; ``outbox``: requests it asked for; ``kinds``
    narrows to some kinds of request (the placement approvals tab, 委案审批)."""
    column = Approval.org_id if side == "inbox" else Approval.requester_org_id
    stmt = select(Approval).where(column == org_id).order_by(Approval.created_at.desc())
    if status is not None:
        stmt = stmt.where(Approval.status == status)
    if kinds is not None:
        stmt = stmt.where(Approval.kind.in_(list(kinds)))
    return stmt


# --- the first flow on the mechanism: an agency asks its asset owner for a right -----------------


def _grant_right(approval: Approval, decider: User) -> None:

    partnership = db.session.get(Partnership, int(approval.subject_id))
    if partnership is None or partnership.org_id != decider.org_id:
        raise NotFound(_("Partnership not found."))
    add_grant(partnership, approval.payload["right"])


def _describe_grant(approval: Approval) -> str:
    right = approval.payload.get("right", "")
    return f"{approval.requester_org.name}: {GRANTABLE.get(right, right)}"


register(
    ApprovalKind(
        "partnership.grant", _l("Agency asks for a right"), on_approved=_grant_right, describe=_describe_grant
    )
)


def request_right(actor: User, partnership: Partnership, right: str, reason: str) -> Approval:
    """An agency manager asks the asset owner for one more right in their partnership."""
    if actor.org.kind != OrgKind.AGENCY or partnership.agency_org_id != actor.org_id:
        raise NotFound(_("Partnership not found."))
    if right not in GRANTABLE:
        raise ValidationFailed(_("Unknown right: %(names)s", names=right), field="right")
    if right in partnership.grants:
        raise Conflict(_("The agency has this right already."), field="right")
    if partnership.status != PartnershipStatus.ACTIVE:
        raise ValidationFailed(_("The partnership is not active."))
    return submit(
        actor,
        kind="partnership.grant",
        subject_type="partnership",
        subject_id=partnership.id,
        approver_org_id=partnership.org_id,
        summary=f"{actor.org.name}: {right}",
        payload={"right": right},
        reason=reason,
    )
