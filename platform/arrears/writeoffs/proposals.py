"""Write-off proposals: the owner's staff propose a batch of candidates (核销申请), checked against the
rule that found them; the batch goes to two-stage approval (the handlers and the registration are in
``writeoffs.writeoffs``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    false,
    func,
    insert,
    literal,
    select,
)

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.models import Case
from arrears.columns import utcnow
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.db import among
from arrears.kernel.money import cents
from arrears.kernel.transaction import transaction
from arrears.orgs import approvals
from arrears.orgs.models import Approval, ApprovalStatus
from arrears.writeoffs.models import (
    ProposalStatus,
    WriteOffProposal,
)
from arrears.writeoffs.writeoffs import (
    BATCH_KIND,
    CLOSED,
    COMPONENTS,
    MAX_CASES,
    ZERO,
    CandidateFilter,
    Page,
    _matching,
    _owner,
    get_rule_for,
    threshold,
)

# --- proposals ------------------------------------------------------------------------------------------


@dataclass
class Proposed:
    approval: Approval
    count: int
    total: Decimal
    stages: list[str]


def _submit(
    actor: User, *, count: int, total: Decimal, loans: list[str], reason: str, keep: bool | None
) -> Approval:
    org = actor.org
    stages = ["review", "second"] if total > threshold(org) else ["review"]
    return approvals.submit(
        actor,
        kind=BATCH_KIND,
        subject_type="writeoff_batch",
        subject_id=uuid.uuid4().hex,
        approver_org_id=org.id,
        summary=f"write-off {count} cases {total}",
        payload={
            "owner_org_id": org.id,
            "count": count,
            "total": str(total),
            "loans": loans[:10],
            "keep_placement": keep,
        },
        reason=reason,
        stages=stages,
        permission="writeoffs.propose",
    )


def _reason(reason: str) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(_("Say why these loans are written off."), field="reason")
    return text[:1000]


def propose(
    actor: User,
    case_ids: Sequence[Any],
    reason: str,
    rule_id: Any = None,
    keep_placement: bool | None = None,
) -> Proposed:
    """Propose one case or many for write-off, in one batch waiting for one approval. A case
    already proposed, closed or written off is refused, naming its loan number."""
    _owner(actor)
    require(actor, "writeoffs.propose")
    text = _reason(reason)
    ids: list[int] = []
    for raw in case_ids or []:
        try:
            value = int(str(raw))
        except ValueError:
            raise ValidationFailed(_("Choose the cases to write off."), field="case_ids") from None
        if value not in ids:
            ids.append(value)
    if not ids:
        raise ValidationFailed(_("Choose the cases to write off."), field="case_ids")
    if len(ids) > MAX_CASES:
        raise ValidationFailed(_("At most %(n)d cases per batch.", n=MAX_CASES), field="case_ids")
    rule = get_rule_for(actor, rule_id) if rule_id not in (None, "", 0) else None
    keep = keep_placement if keep_placement is not None else (rule.keep_placement if rule else False)
    with transaction():
        found = {
            row.id: row
            for row in db.session.execute(
                select(Case.id, Case.loan_no, Case.status, *(getattr(Case, c) for c in COMPONENTS))
                .where(Case.org_id == actor.org_id, among(Case.id, ids))
                .order_by(Case.id)
                .with_for_update(of=Case)
            )
        }
        if len(found) != len(ids):
            raise NotFound(_("Not found."))
        for row in found.values():
            if row.status in CLOSED:
                raise Conflict(
                    _("Loan %(loan)s is closed or written off already.", loan=row.loan_no), field="case_ids"
                )
        waiting = list(
            db.session.scalars(
                select(Case.loan_no)
                .join(WriteOffProposal, WriteOffProposal.case_id == Case.id)
                .where(among(Case.id, ids), WriteOffProposal.status == ProposalStatus.PENDING)
                .order_by(Case.loan_no)
            )
        )
        if waiting:
            raise Conflict(
                _("Loan %(loan)s is waiting in another write-off proposal.", loan=waiting[0]),
                field="case_ids",
            )
        total = sum((cents(getattr(r, c)) for r in found.values() for c in COMPONENTS), ZERO)
        loans = [found[i].loan_no for i in ids]
        approval = _submit(actor, count=len(ids), total=total, loans=loans, reason=text, keep=keep)
        now = utcnow()
        db.session.execute(
            insert(WriteOffProposal),
            [
                {
                    "org_id": actor.org_id,
                    "approval_id": approval.id,
                    "case_id": i,
                    "rule_id": rule.id if rule else None,
                    "status": ProposalStatus.PENDING,
                    **{c: cents(getattr(found[i], c)) for c in COMPONENTS},
                    "total": sum((cents(getattr(found[i], c)) for c in COMPONENTS), ZERO),
                    "keep_placement": keep,
                    "reason": text,
                    "proposed_by_id": actor.id,
                    "created_at": now,
                }
                for i in ids
            ],
        )
        audit.record(
            "writeoff.proposed",
            actor=actor,
            target=approval,
            details={"count": len(ids), "total": str(total), "loans": loans[:20]},
        )
    return Proposed(approval, len(ids), total, list(approval.stages))


def propose_candidates(actor: User, f: CandidateFilter | None, reason: str) -> Proposed:
    """Propose every candidate of the query at once: one batch, one set-based insert. Each case's
    rule (the first matching) decides whether its agency keeps it."""
    _owner(actor)
    require(actor, "writeoffs.propose")
    text = _reason(reason)
    f = f or CandidateFilter()
    with transaction():
        stmt, rule_id, by_id = _matching(actor, f)
        inner = stmt.with_only_columns(
            Case.id, *(getattr(Case, c) for c in COMPONENTS), rule_id.label("rule_id")
        ).subquery()
        count, total = db.session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(sum((getattr(inner.c, c) for c in COMPONENTS), literal(0))), 0),
            ).select_from(inner)
        ).one()
        if not count:
            raise ValidationFailed(_("No case matches: nothing to propose."), field="case_ids")
        if count > MAX_CASES:
            raise ValidationFailed(_("At most %(n)d cases per batch.", n=MAX_CASES), field="case_ids")
        loans = list(db.session.scalars(stmt.with_only_columns(Case.loan_no).order_by(Case.id).limit(10)))
        keep_ids = [r.id for r in by_id.values() if r.keep_placement]
        approval = _submit(actor, count=int(count), total=cents(total), loans=loans, reason=text, keep=None)
        source = select(
            literal(actor.org_id),
            literal(approval.id),
            inner.c.id,
            inner.c.rule_id,
            literal(ProposalStatus.PENDING.value),
            *(getattr(inner.c, c) for c in COMPONENTS),
            sum((getattr(inner.c, c) for c in COMPONENTS), literal(0)),
            inner.c.rule_id.in_(keep_ids) if keep_ids else false(),
            literal(text),
            literal(actor.id),
            literal(utcnow()),
        )
        db.session.execute(
            insert(WriteOffProposal).from_select(
                [
                    "org_id",
                    "approval_id",
                    "case_id",
                    "rule_id",
                    "status",
                    *COMPONENTS,
                    "total",
                    "keep_placement",
                    "reason",
                    "proposed_by_id",
                    "created_at",
                ],
                source,
            )
        )
        audit.record(
            "writeoff.proposed",
            actor=actor,
            target=approval,
            details={"count": int(count), "total": str(cents(total)), "all_candidates": True},
        )
    return Proposed(approval, int(count), cents(total), list(approval.stages))


@dataclass
class Batch:
    approval: Approval
    count: int
    total: Decimal
    status: str
    stage: str | None
    requested_by: str


def batches(actor: User, *, status: str | None = None, page: int = 1, per_page: int = 30) -> Page:
    """The owner's proposal batches (their approvals), newest first."""
    _owner(actor)
    require(actor, "writeoffs.view")
    stmt = select(Approval).where(Approval.kind == BATCH_KIND, Approval.requester_org_id == actor.org_id)
    if status == "pending":
        stmt = stmt.where(Approval.status == ApprovalStatus.PENDING)
    elif status == "decided":
        stmt = stmt.where(Approval.status != ApprovalStatus.PENDING)
    total = int(db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
    page, per_page = max(1, page), max(1, min(per_page, 200))
    found = list(
        db.session.scalars(
            stmt.order_by(Approval.created_at.desc(), Approval.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
    )
    rows = [
        Batch(
            a,
            int(a.payload.get("count", 0)),
            cents(a.payload.get("total", 0)),
            a.status.value,
            a.stage,
            a.requested_by.name if a.requested_by else "",
        )
        for a in found
    ]
    return Page(rows, total, page, per_page)


def proposal_status(proposal: WriteOffProposal, approval_status: ApprovalStatus | None) -> str:
    """What the reader is told: a pending proposal of an approved batch is being registered."""
    if proposal.status == ProposalStatus.PENDING and approval_status == ApprovalStatus.APPROVED:
        return "approved"
    return proposal.status.value


def proposals(
    actor: User,
    *,
    status: str | None = None,
    approval_id: int | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Proposal rows (one case each), with their loan numbers and the batch's approval status."""
    _owner(actor)
    require(actor, "writeoffs.view")
    stmt = (
        select(WriteOffProposal, Case.loan_no, Approval.status)
        .join(Case, Case.id == WriteOffProposal.case_id)
        .join(Approval, Approval.id == WriteOffProposal.approval_id)
        .where(WriteOffProposal.org_id == actor.org_id, WriteOffProposal.id > after)
    )
    if status:
        if status == "approved":
            stmt = stmt.where(
                WriteOffProposal.status == ProposalStatus.PENDING, Approval.status == ApprovalStatus.APPROVED
            )
        else:
            try:
                stmt = stmt.where(WriteOffProposal.status == ProposalStatus(status))
            except ValueError:
                raise ValidationFailed(_("Unknown status."), field="status") from None
    if approval_id:
        stmt = stmt.where(WriteOffProposal.approval_id == approval_id)
    out = []
    for p, loan, approval_status in db.session.execute(
        stmt.order_by(WriteOffProposal.id).limit(max(1, min(limit, 1000)))
    ):
        out.append(
            {
                "id": p.id,
                "approval_id": p.approval_id,
                "case_id": p.case_id,
                "loan_no": loan,
                "rule_id": p.rule_id,
                "status": proposal_status(p, approval_status),
                **{c: getattr(p, c) for c in COMPONENTS},
                "total": p.total,
                "keep_placement": p.keep_placement,
                "reason": p.reason,
                "proposed_by_id": p.proposed_by_id,
                "write_off_id": p.write_off_id,
                "created_at": p.created_at,
            }
        )
    return out
