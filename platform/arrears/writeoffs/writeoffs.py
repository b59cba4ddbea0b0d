"""Write-off (核销): the owner's rules, the candidate query, proposals under maker-checker approval,
registration in the ledger (a queued, idempotent job), recoveries after write-off, the reversal of a
write-off with approval, and the ledger (核销台账) with its export.

* **Rules** (核销案件配置, ``writeoffs.configure``): days past due at least N, no confirmed payment for
  M days, some products, an outstanding range; whether an agency keeps the case after write-off. The
  owner's threshold above which a batch needs a second approver is an organisation setting
  (``writeoff_second_approval_above``).
* **Candidates** (核销案件查询, ``writeoffs.view``): the owner's open cases some active rule matches
  and no pending proposal holds. One statement: the rules (a handful) become one ``CASE`` whose
  first true branch names the first matching rule; no loop over cases.
* **Proposals** (``writeoffs.propose``): one batch of cases is one approval of kind
  ``writeoff.batch``, decided at the ``review`` stage, then at the ``second`` stage by somebody else
  when the batch's total is above the threshold. The maker never decides; nobody passes both stages.
* **Registration** (``writeoffs.writeoffs.register_job``, queued by the approval after its commit):
  chunk by chunk, the cases locked, each approved proposal becomes a ledger line with the case's
  balances at that moment (or lapses when the case was paid off or written off meanwhile); the
  case becomes ``written_off``; its placement ends unless the agency keeps it for recovery.
  Delivered twice, it registers nothing twice: a proposal leaves ``pending`` only in the
  transaction that writes its line, and ``uq_write_offs_registered`` allows one line per case.
* **Recoveries**: a payment applied to a written-off case counts against its write-off, up to what
  is left of it (``record_recoveries``, called by ``repayments._apply``); a reversed payment takes
  its recovery back (``reverse_recovery``, called by ``repayments._unapply``).
* **Reversal** (``writeoffs.propose`` asks, ``writeoffs.approve`` decides): the ledger line is marked
  reversed, never deleted; the case returns to the status it had.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    and_,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from arrears.allocation.models import PlacementCase, PlacementCaseStatus
from arrears.allocation.placements import release
from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.models import Case, CaseHolder, CaseStatus
from arrears.columns import utcnow
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.clock import business_date
from arrears.kernel.db import among
from arrears.kernel.jobs.queue import enqueue
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.money import cents, parse_amount
from arrears.kernel.transaction import transaction
from arrears.orgs import approvals
from arrears.orgs.models import Approval, ApprovalStatus
from arrears.payments.models import Repayment, RepaymentStatus
from arrears.security import masking
from arrears.tenancy.loaders import one
from arrears.tenancy.models import Organisation, OrgKind
from arrears.writeoffs.models import (
    ProposalStatus,
    WriteOff,
    WriteOffProposal,
    WriteOffRule,
    WriteOffStatus,
)

ZERO = Decimal("0.00")
COMPONENTS = ("principal", "interest", "penalty", "fee")
THRESHOLD_SETTING = "writeoff_second_approval_above"
DEFAULT_THRESHOLD = Decimal("50000.00")
BATCH_KIND = "writeoff.batch"
REVERSAL_KIND = "writeoff.reversal"
CHUNK = 1000  # proposals a registration transaction takes
MAX_CASES = 50_000  # cases in one batch
DPD_LIMIT = 36_500
CLOSED = (CaseStatus.CLOSED, CaseStatus.WRITTEN_OFF)
SORTS = {"dpd": _l("Days past due, highest first"), "amount": _l("Outstanding, highest first")}
LEDGER_STATUSES = {"": _l("All"), "registered": _l("Registered"), "reversed": _l("Reversed")}
PROPOSAL_LABELS: dict[str, Any] = {
    "pending": _l("waiting for approval"),
    "approved": _l("approved, being registered"),
    "registered": _l("registered"),
    "rejected": _l("rejected"),
    "cancelled": _l("withdrawn"),
    "lapsed": _l("lapsed (paid off or written off meanwhile)"),
}
STAGE_LABELS: dict[str, Any] = {"review": _l("Review"), "second": _l("Second approval")}


def _owner(actor: User) -> Organisation:
    """Write-off is the asset owner's business: anybody else finds nothing."""
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("Not found."))
    return actor.org


# --- loaders (wall 1): foreign and missing objects alike are 404 ---------------------------------------


def get_rule_for(actor: User, rule_id: Any) -> WriteOffRule:

    if actor.org.kind != OrgKind.ASSET_OWNER or not actor.can("writeoffs.view"):
        raise NotFound(_("Not found."))
    return one(WriteOffRule, actor, rule_id, WriteOffRule.org_id == actor.org_id)


def get_write_off_for(actor: User, write_off_id: Any) -> WriteOff:

    if actor.org.kind != OrgKind.ASSET_OWNER or not actor.can("writeoffs.view"):
        raise NotFound(_("Not found."))
    return one(WriteOff, actor, write_off_id, WriteOff.org_id == actor.org_id)


# --- rules (核销案件配置) and the threshold ------------------------------------------------------------


def _int(value: Any, name: str, *, low: int, high: int, optional: bool = False) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if optional:
            return None
        raise ValidationFailed(_("This field is required."), field=name)
    if isinstance(value, (bool, float)):
        raise ValidationFailed(_("Give a whole number."), field=name)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationFailed(_("Give a whole number."), field=name) from None
    if number < low or number > high:
        raise ValidationFailed(_("Give a number from %(low)d to %(high)d.", low=low, high=high), field=name)
    return number


def _products(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(p, str) for p in items):
        raise ValidationFailed(_("Give the products as a list of names."), field="products")
    out = sorted({p.strip() for p in items if p.strip()})
    if any(len(p) > 64 for p in out):
        raise ValidationFailed(_("A product name has at most 64 characters."), field="products")
    if len(out) > 100:
        raise ValidationFailed(_("At most 100 products per rule."), field="products")
    return out


def _optional_amount(value: Any, name: str) -> Decimal | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return parse_amount(value, name, allow_zero=True)


def check_rule(values: dict[str, Any]) -> dict[str, Any]:
    """The rule's fields, checked: a ``ValidationFailed`` names the first wrong field."""
    name = str(values.get("name") or "").strip()
    if not name:
        raise ValidationFailed(_("Give the rule a name."), field="name")
    if len(name) > 120:
        raise ValidationFailed(_("The name has at most 120 characters."), field="name")
    dpd_min = _int(values.get("dpd_min"), "dpd_min", low=0, high=DPD_LIMIT)
    quiet = _int(values.get("quiet_days"), "quiet_days", low=1, high=DPD_LIMIT, optional=True)
    products = _products(values.get("products"))
    low = _optional_amount(values.get("amount_min"), "amount_min")
    high = _optional_amount(values.get("amount_max"), "amount_max")
    if low is not None and high is not None and low > high:
        raise ValidationFailed(_("The highest amount is below the lowest."), field="amount_max")
    return {
        "name": name,
        "dpd_min": dpd_min,
        "quiet_days": quiet,
        "products": products,
        "amount_min": low,
        "amount_max": high,
        "keep_placement": bool(values.get("keep_placement")),
        "active": bool(values.get("active", True)),
    }


def rules(actor: User, *, active_only: bool = False) -> list[WriteOffRule]:
    _owner(actor)
    require(actor, "writeoffs.view")
    stmt = select(WriteOffRule).where(WriteOffRule.org_id == actor.org_id)
    if active_only:
        stmt = stmt.where(WriteOffRule.active.is_(True))
    return list(db.session.scalars(stmt.order_by(WriteOffRule.active.desc(), WriteOffRule.id)))


def save_rule(actor: User, rule: WriteOffRule | None, values: dict[str, Any]) -> WriteOffRule:
    """Create (``rule`` None) or change a rule of the owner's write-off configuration."""
    _owner(actor)
    require(actor, "writeoffs.configure")
    if rule is not None and rule.org_id != actor.org_id:
        raise NotFound(_("Not found."))
    checked = check_rule(values)
    with transaction():
        if rule is None:
            rule = WriteOffRule(org_id=actor.org_id, created_by_id=actor.id)
            db.session.add(rule)
        else:
            rule.updated_at = utcnow()
        for key, value in checked.items():
            setattr(rule, key, value)
        db.session.flush()
        audit.record(
            "writeoff.rule_saved",
            actor=actor,
            target=rule,
            details={k: str(v) if isinstance(v, Decimal) else v for k, v in checked.items()},
        )
    return rule


def create_rule(actor: User, values: dict[str, Any]) -> WriteOffRule:
    return save_rule(actor, None, values)


def update_rule(actor: User, rule: WriteOffRule, values: dict[str, Any]) -> WriteOffRule:
    return save_rule(actor, rule, values)


def deactivate_rule(actor: User, rule: WriteOffRule) -> WriteOffRule:
    _owner(actor)
    require(actor, "writeoffs.configure")
    if rule.org_id != actor.org_id:
        raise NotFound(_("Not found."))
    with transaction():
        rule.active = False
        rule.updated_at = utcnow()
        audit.record("writeoff.rule_deactivated", actor=actor, target=rule, details={"name": rule.name})
    return rule


def threshold(org: Organisation) -> Decimal:
    """Above this batch total a second approver is needed (the owner's setting)."""
    raw = (org.settings or {}).get(THRESHOLD_SETTING)
    try:
        return Decimal(str(raw)).quantize(Decimal("0.01")) if raw not in (None, "") else DEFAULT_THRESHOLD
    except ArithmeticError:
        return DEFAULT_THRESHOLD


def set_threshold(actor: User, value: Any) -> Decimal:
    _owner(actor)
    require(actor, "writeoffs.configure")
    amount = parse_amount(value, "threshold", allow_zero=True)
    with transaction():
        org = db.session.get(Organisation, actor.org_id)
        assert org is not None
        org.settings = {**(org.settings or {}), THRESHOLD_SETTING: str(amount)}
        audit.record("writeoff.threshold", actor=actor, details={"threshold": str(amount)})
    return amount


# --- candidates (核销案件查询) ------------------------------------------------------------------------


@dataclass
class CandidateFilter:
    rule_id: int | None = None
    loan_no: str | None = None
    product: str | None = None
    sort: str = "dpd"


def _pending_proposal() -> Any:
    return (
        select(WriteOffProposal.id)
        .where(WriteOffProposal.case_id == Case.id, WriteOffProposal.status == ProposalStatus.PENDING)
        .exists()
    )


def _rule_condition(rule: WriteOffRule, today: dt.date, now: dt.datetime) -> Any:
    """The rule as a condition on ``Case`` (its numbers are literals: one rule, one branch)."""
    parts: list[Any] = [Case.due_date <= today - dt.timedelta(days=rule.dpd_min)]
    if rule.products:
        parts.append(Case.product.in_(list(rule.products)))
    if rule.amount_min is not None:
        parts.append(Case.outstanding >= rule.amount_min)
    if rule.amount_max is not None:
        parts.append(Case.outstanding <= rule.amount_max)
    if rule.quiet_days:
        cutoff = now - dt.timedelta(days=rule.quiet_days)
        parts.append(
            ~select(Repayment.id)
            .where(
                Repayment.case_id == Case.id,
                Repayment.status == RepaymentStatus.CONFIRMED,
                Repayment.paid_at >= cutoff,
            )
            .exists()
        )
    return and_(*parts)


def _matching(actor: User, f: CandidateFilter) -> tuple[Any, Any, dict[int, WriteOffRule]]:
    """(the statement of candidates, the expression of the first matching rule's id, the rules)."""

    org = _owner(actor)
    require(actor, "writeoffs.view")
    active = rules(actor, active_only=True)
    if f.rule_id:
        active = [r for r in active if r.id == f.rule_id]
    by_id = {r.id: r for r in active}
    if not active:
        return select(Case, literal(None).label("rule_id")).where(false()), literal(None), by_id
    today, now = business_date(org), utcnow()
    rule_id = case(*((_rule_condition(r, today, now), literal(r.id)) for r in active), else_=None)
    stmt = select(Case, rule_id.label("rule_id")).where(
        Case.org_id == org.id,
        Case.status.not_in(CLOSED),
        Case.outstanding > 0,
        or_(*(_rule_condition(r, today, now) for r in active)),
        ~_pending_proposal(),
    )
    if f.loan_no:
        stmt = stmt.where(Case.loan_no == f.loan_no.strip())
    if f.product:
        stmt = stmt.where(Case.product == f.product.strip())
    return stmt, rule_id, by_id


def candidates(actor: User, f: CandidateFilter | None = None) -> Any:
    """The owner's cases to write off: (Case, first matching rule's id), sorted."""
    f = f or CandidateFilter()
    stmt, _rule_id, _rules = _matching(actor, f)
    if f.sort == "amount":
        return stmt.order_by(Case.outstanding.desc(), Case.id)
    return stmt.order_by(Case.due_date, Case.id)


@dataclass
class Page:
    rows: list[Any]
    total: int
    page: int
    per_page: int
    sums: dict[str, Decimal] = field(default_factory=dict)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1


@dataclass
class Candidate:
    case: Case
    rule: WriteOffRule | None
    dpd: int
    debtor_name: str


def candidates_page(
    actor: User, f: CandidateFilter | None = None, *, page: int = 1, per_page: int = 50
) -> Page:
    """One page of candidates, with how many match and their outstanding in all."""

    f = f or CandidateFilter()
    page, per_page = max(1, page), max(1, min(per_page, 500))
    stmt, _rule_id, by_id = _matching(actor, f)
    inner = stmt.with_only_columns(Case.id, Case.outstanding).subquery()
    total, amount = db.session.execute(
        select(func.count(), func.coalesce(func.sum(inner.c.outstanding), 0)).select_from(inner)
    ).one()
    ordered = candidates(actor, f).limit(per_page).offset((page - 1) * per_page)
    today = business_date(actor.org)
    rows = [
        Candidate(c, by_id.get(rid) if rid else None, c.days_past_due(today), masking.name(c.debtor.name))
        for c, rid in db.session.execute(ordered).all()
    ]
    return Page(rows, int(total or 0), page, per_page, sums={"outstanding": cents(amount)})


# --- the approval's handlers ----------------------------------------------------------------------------


def _stage_org(approval: Approval, level: str) -> int:
    return int(approval.payload.get("owner_org_id") or approval.requester_org_id)


def _may_decide(approval: Approval, actor: User, level: str) -> bool:
    """A holder of ``writeoffs.approve`` of the owner; the second stage only by somebody who did not
    pass the first (so one person never passes both)."""
    if actor.org_id != _stage_org(approval, level) or not actor.can("writeoffs.approve"):
        return False
    if actor.id == approval.requested_by_id:
        return False
    if level == "review":
        return approval.stage == "review"
    if level == "second":
        passed = {t.get("by") for t in approval.trail or []}
        return approval.stage == "second" and actor.id not in passed
    return False


def _batch_approved(approval: Approval, decider: User) -> None:
    """In the decision's transaction: the batch may post. The registration job is queued (sent after
    the commit); the proposals stay pending until it writes their lines."""

    record = enqueue(
        register_job,
        name="register write-offs",
        kwargs={"approval_id": approval.id},
        created_by=decider,
        retries=5,
        retry_intervals=[0],
    )
    approval.payload = {**approval.payload, "job_id": record.id}


def _batch_rejected(approval: Approval, actor: User) -> None:
    status = (
        ProposalStatus.CANCELLED if approval.status == ApprovalStatus.CANCELLED else ProposalStatus.REJECTED
    )
    db.session.execute(
        update(WriteOffProposal)
        .where(WriteOffProposal.approval_id == approval.id, WriteOffProposal.status == ProposalStatus.PENDING)
        .values(status=status)
        .execution_options(synchronize_session=False)
    )


def _describe_batch(approval: Approval) -> str:
    p = approval.payload or {}
    loans = ", ".join(p.get("loans") or [])
    count = int(p.get("count", 0))
    more = "…" if count > len(p.get("loans") or []) else ""
    return _(
        "Write off %(count)d loans (%(loans)s%(more)s), %(total)s in all",
        count=count,
        loans=loans,
        more=more,
        total=p.get("total", ""),
    )


def _describe_reversal(approval: Approval) -> str:
    p = approval.payload or {}
    return _(
        "Reverse the write-off of loan %(loan)s (%(total)s)",
        loan=p.get("loan_no", ""),
        total=p.get("total", ""),
    )


# --- registration (the job's work) ----------------------------------------------------------------------


def register_approved(
    approval_id: int, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Write the approved batch's proposals in the ledger, a chunk per transaction. Idempotent: run
    again (a second delivery, a retry after a crash) it finds nothing pending and writes nothing."""
    approval = db.session.get(Approval, approval_id)
    if approval is None or approval.kind != BATCH_KIND or approval.status != ApprovalStatus.APPROVED:
        return {"registered": 0, "lapsed": 0, "approved": False}
    owner = db.session.get(Organisation, int(approval.payload.get("owner_org_id") or approval.org_id))
    assert owner is not None
    approvers = [
        {"by": t.get("by"), "name": t.get("name", ""), "stage": t.get("stage"), "at": t.get("at")}
        for t in approval.trail or []
        if t.get("decision") == "approved"
    ] or [
        {
            "by": approval.decided_by_id,
            "name": approval.decided_by.name if approval.decided_by else "",
            "stage": "review",
            "at": approval.decided_at.isoformat() if approval.decided_at else None,
        }
    ]
    total_count = int(approval.payload.get("count", 0)) or 1
    registered = lapsed = 0
    amount = ZERO
    while True:
        with transaction():
            done = _register_chunk(owner, approval, approvers)
        if done is None:
            break
        registered += done[0]
        lapsed += done[1]
        amount += done[2]
        if progress is not None:
            progress(registered + lapsed, total_count)
    return {"registered": registered, "lapsed": lapsed, "amount": str(amount), "approved": True}


def _register_chunk(
    owner: Organisation, approval: Approval, approvers: list[dict[str, Any]]
) -> tuple[int, int, Decimal] | None:
    """One transaction: up to ``CHUNK`` pending proposals of the batch, their cases locked."""
    rows = db.session.execute(
        select(
            WriteOffProposal.id,
            WriteOffProposal.case_id,
            WriteOffProposal.rule_id,
            WriteOffProposal.keep_placement,
            WriteOffProposal.reason,
            WriteOffProposal.proposed_by_id,
        )
        .where(WriteOffProposal.approval_id == approval.id, WriteOffProposal.status == ProposalStatus.PENDING)
        .order_by(WriteOffProposal.case_id)
        .limit(CHUNK)
        .with_for_update()
    ).all()
    if not rows:
        return None
    now = utcnow()
    lines, gone = _lines_of(owner, approval, approvers, rows, now)
    if lines:
        _register_lines(owner, lines, now)
    if gone:
        db.session.execute(
            update(WriteOffProposal)
            .where(among(WriteOffProposal.id, gone))
            .values(status=ProposalStatus.LAPSED)
            .execution_options(synchronize_session=False)
        )
    amount = sum((line["total"] for line in lines), ZERO)
    audit.record(
        "writeoff.registered",
        org_id=owner.id,
        target=approval,
        details={
            "count": len(lines),
            "lapsed": len(gone),
            "total": str(amount),
            "cases": [line["case_id"] for line in lines][:200],
        },
    )
    db.session.expire_all()  # the statements above wrote past the ORM
    return len(lines), len(gone), amount


def _lines_of(
    owner: Organisation,
    approval: Approval,
    approvers: list[dict[str, Any]],
    rows: Sequence[Any],
    now: dt.datetime,
) -> tuple[list[dict[str, Any]], list[int]]:
    """The ledger lines of the proposals ``rows`` (their cases locked here), and the proposals that
    lapse (the case closed, paid off or written off meanwhile)."""
    case_ids = [r.case_id for r in rows]
    cases = {
        c.id: c
        for c in db.session.execute(
            select(
                Case.id,
                Case.status,
                Case.agency_org_id,
                Case.outstanding,
                *(getattr(Case, c) for c in COMPONENTS),
            )
            .where(among(Case.id, case_ids))
            .order_by(Case.id)
            .with_for_update(of=Case)
        )
    }
    already = set(
        db.session.scalars(
            select(WriteOff.case_id).where(
                among(WriteOff.case_id, case_ids), WriteOff.status == WriteOffStatus.REGISTERED
            )
        )
    )
    today = business_date(owner)
    lines: list[dict[str, Any]] = []
    gone: list[int] = []
    for r in rows:
        c = cases.get(r.case_id)
        if c is None or c.status in CLOSED or cents(c.outstanding) <= 0 or r.case_id in already:
            gone.append(r.id)
            continue
        amounts = {k: cents(getattr(c, k)) for k in COMPONENTS}
        lines.append(
            {
                "org_id": owner.id,
                "case_id": r.case_id,
                "proposal_id": r.id,
                "approval_id": approval.id,
                "rule_id": r.rule_id,
                "written_off_on": today,
                **amounts,
                "total": sum(amounts.values(), ZERO),
                "recovered": ZERO,
                "reason": r.reason,
                "proposed_by_id": r.proposed_by_id,
                "approvers": approvers,
                "previous_status": c.status.value if hasattr(c.status, "value") else str(c.status),
                "agency_org_id": c.agency_org_id,
                "keep_placement": bool(r.keep_placement),
                "status": WriteOffStatus.REGISTERED,
                "reversal_reason": "",
                "created_at": now,
            }
        )
    return lines, gone


def _register_lines(owner: Organisation, lines: list[dict[str, Any]], now: dt.datetime) -> None:
    """Write the lines, mark their proposals registered and their cases written off; release the
    cases whose placement is not kept."""
    db.session.execute(insert(WriteOff), lines)
    registered_ids = [line["proposal_id"] for line in lines]
    db.session.execute(
        update(WriteOffProposal)
        .where(among(WriteOffProposal.id, registered_ids))
        .values(
            status=ProposalStatus.REGISTERED,
            write_off_id=select(WriteOff.id)
            .where(WriteOff.proposal_id == WriteOffProposal.id)
            .scalar_subquery(),
        )
        .execution_options(synchronize_session=False)
    )
    written = [line["case_id"] for line in lines]
    db.session.execute(
        update(Case)
        .where(among(Case.id, written))
        .values(status=CaseStatus.WRITTEN_OFF, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    released = [line["case_id"] for line in lines if not line["keep_placement"]]
    if released:
        _release_cases(owner.id, released, now)


def _release_cases(owner_id: int, case_ids: list[int], now: dt.datetime) -> None:
    """Written off without recovery by the agency: the placement ends, the collector lets go."""
    release(
        owner_id,
        among(PlacementCase.case_id, case_ids),
        status=PlacementCaseStatus.ENDED,
        reason="written off",
        actor=None,
        now=now,
    )
    db.session.execute(
        delete(CaseHolder)
        .where(among(CaseHolder.case_id, case_ids))
        .execution_options(synchronize_session=False)
    )


def queue_registration(approval: Approval, actor: User | None = None) -> str:
    """Queue the registration again (the page's retry when a job failed): harmless when done."""

    with transaction():
        record = enqueue(
            register_job,
            name="register write-offs",
            kwargs={"approval_id": approval.id},
            created_by=actor,
            retries=5,
            retry_intervals=[0],
        )
    return record.id


# --- reversal of a write-off ----------------------------------------------------------------------------


def request_reversal(actor: User, write_off: WriteOff, reason: str) -> Approval:
    """Ask for a registered write-off to be reversed; a checker other than the maker decides."""
    _owner(actor)
    require(actor, "writeoffs.propose")
    if write_off.org_id != actor.org_id:
        raise NotFound(_("Not found."))
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(_("Say why the write-off is reversed."), field="reason")
    if write_off.status != WriteOffStatus.REGISTERED:
        raise Conflict(_("This write-off was reversed already."))
    loan = db.session.scalar(select(Case.loan_no).where(Case.id == write_off.case_id)) or ""
    with transaction():
        approval = approvals.submit(
            actor,
            kind=REVERSAL_KIND,
            subject_type="write_off",
            subject_id=write_off.id,
            approver_org_id=actor.org_id,
            summary=f"reverse write-off {loan}",
            payload={"owner_org_id": actor.org_id, "loan_no": loan, "total": str(write_off.total)},
            reason=text[:1000],
            stages=["review"],
            permission="writeoffs.propose",
        )
        audit.record(
            "writeoff.reversal_requested", actor=actor, target=write_off, details={"reason": text[:300]}
        )
    return approval


def _reversal_approved(approval: Approval, decider: User) -> None:
    write_off = db.session.scalar(
        select(WriteOff)
        .where(WriteOff.id == int(approval.subject_id))
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if write_off is None:
        raise NotFound(_("Not found."))
    if write_off.status != WriteOffStatus.REGISTERED:
        raise Conflict(_("This write-off was reversed already."))
    case_ = db.session.scalar(
        select(Case)
        .where(Case.id == write_off.case_id)
        .with_for_update(of=Case)
        .execution_options(populate_existing=True)
    )
    assert case_ is not None
    now = utcnow()
    write_off.status = WriteOffStatus.REVERSED
    write_off.reversed_at = now
    write_off.reversal_approval_id = approval.id
    write_off.reversal_reason = approval.reason[:1000]
    if case_.status == CaseStatus.WRITTEN_OFF:
        if cents(case_.outstanding) <= 0:
            case_.status = CaseStatus.CLOSED
        else:
            try:
                case_.status = CaseStatus(write_off.previous_status)
            except ValueError:
                case_.status = CaseStatus.ACTIVE
            if case_.status in CLOSED:
                case_.status = CaseStatus.ACTIVE
    audit.record(
        "writeoff.reversed",
        actor=decider,
        target=write_off,
        details={"case_id": case_.id, "status": case_.status.value, "reason": approval.reason[:300]},
    )


approvals.register(
    approvals.ApprovalKind(
        BATCH_KIND,
        _l("Write-off"),
        on_approved=_batch_approved,
        on_rejected=_batch_rejected,
        describe=_describe_batch,
        levels=("review", "second"),
        stage_org=_stage_org,
        may_decide=_may_decide,
    )
)
approvals.register(
    approvals.ApprovalKind(
        REVERSAL_KIND,
        _l("Write-off reversal"),
        on_approved=_reversal_approved,
        describe=_describe_reversal,
        levels=("review",),
        stage_org=_stage_org,
        may_decide=_may_decide,
    )
)


@job("writeoffs.register")
def register_job(job: JobContext, approval_id: int) -> dict[str, Any]:
    """Register the approved batch ``approval_id``, a chunk per transaction, reporting progress.
    Idempotent: delivered twice, or retried from the start after its worker died, it writes each
    line once (a proposal leaves ``pending`` only in the transaction that writes its line)."""

    def progress(done: int, total: int) -> None:
        job.progress(min(99, done * 100 // max(total, 1)), f"{done}/{total}")

    return register_approved(int(approval_id), progress=progress)
