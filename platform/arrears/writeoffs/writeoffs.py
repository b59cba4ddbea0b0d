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
* **Registration** (``tasks.writeoffs.register_job``, queued by the approval after its commit):
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
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

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
from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.models import Case, CaseHolder, CaseStatus, Debtor
from arrears.columns import utcnow
from arrears.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit, exports
from arrears.kernel.db import among
from arrears.kernel.jobs import args as jobs
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.money import parse_amount
from arrears.kernel.transaction import transaction
from arrears.orgs import approvals
from arrears.orgs.models import Approval, ApprovalStatus
from arrears.payments.events import RepaymentReversed, RepaymentsApplied
from arrears.payments.models import Repayment, RepaymentStatus
from arrears.security import masking
from arrears.tenancy.models import Organisation, OrgKind
from arrears.writeoffs.models import (
    ProposalStatus,
    WriteOff,
    WriteOffProposal,
    WriteOffRecovery,
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


def _money(value: Any) -> Decimal:
    return Decimal(value if value is not None else 0).quantize(Decimal("0.01"))


# --- loaders (wall 1): foreign and missing objects alike are 404 ---------------------------------------


def get_rule_for(actor: User, rule_id: Any) -> WriteOffRule:
    from arrears.tenancy.loaders import one

    if actor.org.kind != OrgKind.ASSET_OWNER or not actor.can("writeoffs.view"):
        raise NotFound(_("Not found."))
    return one(WriteOffRule, actor, rule_id, WriteOffRule.org_id == actor.org_id)


def get_write_off_for(actor: User, write_off_id: Any) -> WriteOff:
    from arrears.tenancy.loaders import one

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
    from arrears.cases.cases import business_date

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
    from arrears.cases.cases import business_date

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
    return Page(rows, int(total or 0), page, per_page, sums={"outstanding": _money(amount)})


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
        total = sum((_money(getattr(r, c)) for r in found.values() for c in COMPONENTS), ZERO)
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
                    **{c: _money(getattr(found[i], c)) for c in COMPONENTS},
                    "total": sum((_money(getattr(found[i], c)) for c in COMPONENTS), ZERO),
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
        approval = _submit(actor, count=int(count), total=_money(total), loans=loans, reason=text, keep=None)
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
            details={"count": int(count), "total": str(_money(total)), "all_candidates": True},
        )
    return Proposed(approval, int(count), _money(total), list(approval.stages))


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
            _money(a.payload.get("total", 0)),
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
    from arrears.kernel.jobs.queue import enqueue

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
    from arrears.cases.cases import business_date

    today, now = business_date(owner), utcnow()
    lines: list[dict[str, Any]] = []
    gone: list[int] = []
    for r in rows:
        c = cases.get(r.case_id)
        if c is None or c.status in CLOSED or _money(c.outstanding) <= 0 or r.case_id in already:
            gone.append(r.id)
            continue
        amounts = {k: _money(getattr(c, k)) for k in COMPONENTS}
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
    if lines:
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


def _release_cases(owner_id: int, case_ids: list[int], now: dt.datetime) -> None:
    """Written off without recovery by the agency: the placement ends, the collector lets go."""
    from arrears.allocation.placements import _release

    _release(
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
    from arrears.kernel.jobs.queue import enqueue

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


# --- recoveries (called by services.repayments) --------------------------------------------------------


def record_recoveries(owner_id: int, claimed: Sequence[Any], cases: Mapping[int, Any]) -> None:
    """Payments applied to written-off cases count against their write-offs, up to what is left.
    ``claimed``: the applied chunk (``repayments.Claimed``); ``cases``: their locked rows (with
    ``status``). Nothing is read when no case of the chunk is written off."""
    written = sorted(
        {c.case_id for c in claimed if _status(cases[c.case_id]) == CaseStatus.WRITTEN_OFF.value}
    )
    if not written:
        return
    offs = {
        row.case_id: row
        for row in db.session.execute(
            select(WriteOff.id, WriteOff.case_id, WriteOff.total, WriteOff.recovered)
            .where(among(WriteOff.case_id, written), WriteOff.status == WriteOffStatus.REGISTERED)
            .with_for_update()
        )
    }
    if not offs:
        return
    left = {row.id: _money(row.total) - _money(row.recovered) for row in offs.values()}
    gained: dict[int, Decimal] = {}
    lines: list[dict[str, Any]] = []
    now = utcnow()
    for item in sorted(claimed, key=lambda c: (c.paid_at, c.id)):
        off = offs.get(item.case_id)
        if off is None:
            continue
        amount = min(_money(item.amount), left[off.id])
        if amount <= 0:
            continue  # all written off is recovered: the rest is simply not a recovery
        left[off.id] -= amount
        gained[off.id] = gained.get(off.id, ZERO) + amount
        lines.append(
            {
                "org_id": owner_id,
                "write_off_id": off.id,
                "repayment_id": item.id,
                "amount": amount,
                "amount_sign": 1,
                "paid_at": item.paid_at,
                "created_at": now,
            }
        )
    if not lines:
        return
    db.session.execute(insert(WriteOffRecovery), lines)
    for write_off_id, amount in gained.items():
        db.session.execute(
            update(WriteOff)
            .where(WriteOff.id == write_off_id)
            .values(recovered=WriteOff.recovered + amount)
            .execution_options(synchronize_session=False)
        )
    _expire_write_offs(set(gained))


def _status(row: Any) -> str:
    status = row.status
    return status.value if hasattr(status, "value") else str(status)


def _expire_write_offs(ids: set[int]) -> None:
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, WriteOff) and obj.id in ids:
            db.session.expire(obj)


def reverse_recovery(repayment: Repayment, now: dt.datetime) -> None:
    """A reversed payment that was a recovery: a negative line, and the write-off's recovered is
    lowered by it (once: the unique key on the repayment and the sign)."""
    line = db.session.execute(
        select(WriteOffRecovery.write_off_id, WriteOffRecovery.amount).where(
            WriteOffRecovery.repayment_id == repayment.id, WriteOffRecovery.amount_sign == 1
        )
    ).first()
    if line is None:
        return
    if db.session.scalar(
        select(WriteOffRecovery.id).where(
            WriteOffRecovery.repayment_id == repayment.id, WriteOffRecovery.amount_sign == -1
        )
    ):
        return
    amount = _money(line.amount)
    db.session.execute(select(WriteOff.id).where(WriteOff.id == line.write_off_id).with_for_update()).first()
    db.session.execute(
        insert(WriteOffRecovery).values(
            org_id=repayment.org_id,
            write_off_id=line.write_off_id,
            repayment_id=repayment.id,
            amount=-amount,
            amount_sign=-1,
            paid_at=repayment.paid_at,
            created_at=now,
        )
    )
    db.session.execute(
        update(WriteOff)
        .where(WriteOff.id == line.write_off_id)
        .values(recovered=WriteOff.recovered - amount)
        .execution_options(synchronize_session=False)
    )
    _expire_write_offs({line.write_off_id})


def recoveries_of(actor: User, write_off: WriteOff) -> list[WriteOffRecovery]:
    _owner(actor)
    require(actor, "writeoffs.view")
    return list(
        db.session.scalars(
            select(WriteOffRecovery)
            .where(WriteOffRecovery.write_off_id == write_off.id)
            .order_by(WriteOffRecovery.id)
        )
    )


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
        if _money(case_.outstanding) <= 0:
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


# --- the ledger (核销台账) ---------------------------------------------------------------------------------


@dataclass
class LedgerFilter:
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    status: str | None = None
    agency_id: int | None = None
    loan_no: str | None = None


def _ledger_where(actor: User, f: LedgerFilter) -> list[Any]:
    _owner(actor)
    require(actor, "writeoffs.view")
    where: list[Any] = [WriteOff.org_id == actor.org_id]
    if f.date_from:
        where.append(WriteOff.written_off_on >= f.date_from)
    if f.date_to:
        where.append(WriteOff.written_off_on <= f.date_to)
    if f.status:
        try:
            where.append(WriteOff.status == WriteOffStatus(f.status))
        except ValueError:
            raise ValidationFailed(_("Unknown status."), field="status") from None
    if f.agency_id:
        where.append(WriteOff.agency_org_id == f.agency_id)
    if f.loan_no:
        where.append(WriteOff.case_id.in_(select(Case.id).where(Case.loan_no == f.loan_no.strip())))
    return where


def ledger_query(actor: User, f: LedgerFilter | None = None) -> Any:
    """(WriteOff, loan number, debtor's name) rows, newest first."""
    where = _ledger_where(actor, f or LedgerFilter())
    return (
        select(WriteOff, Case.loan_no, Debtor.name)
        .join(Case, Case.id == WriteOff.case_id)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(*where)
        .order_by(WriteOff.written_off_on.desc(), WriteOff.id.desc())
    )


def ledger_totals(actor: User, f: LedgerFilter | None = None) -> dict[str, Any]:
    where = _ledger_where(actor, f or LedgerFilter())
    row = db.session.execute(
        select(
            func.count(WriteOff.id),
            *(func.coalesce(func.sum(getattr(WriteOff, c)), 0) for c in (*COMPONENTS, "total", "recovered")),
        ).where(*where)
    ).one()
    return {
        "count": int(row[0] or 0),
        **{c: _money(v) for c, v in zip((*COMPONENTS, "total", "recovered"), row[1:], strict=True)},
    }


@dataclass
class LedgerRow:
    write_off: WriteOff
    loan_no: str
    debtor_name: str
    agency: str
    proposer: str


def _names(
    user_ids: Iterable[int | None], org_ids: Iterable[int | None]
) -> tuple[dict[int, str], dict[int, str]]:
    uids = {i for i in user_ids if i}
    oids = {i for i in org_ids if i}
    people = (
        dict(db.session.execute(select(User.id, User.name).where(User.id.in_(uids))).all()) if uids else {}
    )
    orgs = (
        dict(
            db.session.execute(
                select(Organisation.id, Organisation.name).where(Organisation.id.in_(oids))
            ).all()
        )
        if oids
        else {}
    )
    return people, orgs


def _ledger_rows(found: list[Any], unmasked: bool) -> list[LedgerRow]:
    people, orgs = _names((w.proposed_by_id for w, *_r in found), (w.agency_org_id for w, *_r in found))
    return [
        LedgerRow(
            w,
            loan,
            name if unmasked else masking.name(name),
            orgs.get(w.agency_org_id or 0, ""),
            people.get(w.proposed_by_id or 0, ""),
        )
        for w, loan, name in found
    ]


def ledger_page(actor: User, f: LedgerFilter | None = None, *, page: int = 1, per_page: int = 50) -> Page:
    f = f or LedgerFilter()
    page, per_page = max(1, page), max(1, min(per_page, 500))
    sums = ledger_totals(actor, f)
    found = db.session.execute(ledger_query(actor, f).limit(per_page).offset((page - 1) * per_page)).all()
    return Page(_ledger_rows(list(found), False), sums["count"], page, per_page, sums=sums)


def view(w: WriteOff, loan_no: str | None = None) -> dict[str, Any]:
    """A write-off as the API gives it."""
    if loan_no is None:
        loan_no = db.session.scalar(select(Case.loan_no).where(Case.id == w.case_id))
    return {
        "id": w.id,
        "case_id": w.case_id,
        "loan_no": loan_no,
        "proposal_id": w.proposal_id,
        "approval_id": w.approval_id,
        "rule_id": w.rule_id,
        "written_off_on": w.written_off_on,
        **{c: getattr(w, c) for c in COMPONENTS},
        "total": w.total,
        "recovered": w.recovered,
        "reason": w.reason,
        "proposed_by_id": w.proposed_by_id,
        "approvers": w.approvers,
        "previous_status": w.previous_status,
        "agency_org_id": w.agency_org_id,
        "keep_placement": w.keep_placement,
        "status": w.status.value,
        "reversed_at": w.reversed_at,
        "reversal_reason": w.reversal_reason,
    }


def agency_choices(actor: User) -> list[tuple[int, str]]:
    """The agencies holding cases when they were written off (the ledger's filter)."""
    _owner(actor)
    ids = list(
        db.session.scalars(
            select(WriteOff.agency_org_id).where(WriteOff.agency_org_id.is_not(None)).distinct()
        )
    )
    _people, orgs = _names([], ids)
    return sorted(orgs.items(), key=lambda kv: kv[1])


EXPORT_COLUMNS: list[tuple[str, Any]] = [
    ("loan_no", _l("Loan number")),
    ("name", _l("Debtor name")),
    ("principal", _l("Principal")),
    ("interest", _l("Interest")),
    ("penalty", _l("Penalty")),
    ("fee", _l("Fees")),
    ("total", _l("Written off")),
    ("recovered", _l("Recovered")),
    ("written_off_on", _l("Write-off date")),
    ("agency", _l("Agency")),
    ("proposer", _l("Proposed by")),
    ("approvers", _l("Approved by")),
    ("reason", _l("Reason")),
    ("status", _l("Status")),
]
EXPORT_PAGE = 2000
INLINE_MAX = 5000


def _export_rows(actor: User, f: LedgerFilter, unmasked: bool) -> Iterable[list[Any]]:
    stmt = ledger_query(actor, f).order_by(None).order_by(WriteOff.id)
    after = 0
    while True:
        found = list(db.session.execute(stmt.where(WriteOff.id > after).limit(EXPORT_PAGE)).all())
        if not found:
            return
        for r in _ledger_rows(found, unmasked):
            w = r.write_off
            yield [
                r.loan_no,
                r.debtor_name,
                *(_money(getattr(w, c)) for c in COMPONENTS),
                _money(w.total),
                _money(w.recovered),
                w.written_off_on,
                r.agency,
                r.proposer,
                ", ".join(f"{a.get('name', '')} ({a.get('stage', '')})" for a in w.approvers or []),
                w.reason,
                str(LEDGER_STATUSES.get(w.status.value, w.status.value)),
            ]
        after = found[-1][0].id
        db.session.expunge_all()


def export_xlsx(
    actor: User,
    f: LedgerFilter | None,
    fileobj: IO[bytes],
    *,
    unmask: bool = False,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the ledger lines matching ``f`` to ``fileobj`` as .xlsx, with a totals row (amounts as
    numbers: xlsxwriter takes the Decimal); the debtor's name masked unless asked for and allowed.
    Audited. Returns how many lines."""
    import xlsxwriter

    require(actor, "writeoffs.view")
    require(actor, "cases.export")
    f = f or LedgerFilter()
    unmasked = unmask and actor.can("pii.unmask")
    totals = ledger_totals(actor, f)
    workbook = xlsxwriter.Workbook(fileobj, {"constant_memory": True, "in_memory": False})
    sheet = workbook.add_worksheet("write-offs")
    day = workbook.add_format({"num_format": "yyyy-mm-dd"})
    money = workbook.add_format({"num_format": "#,##0.00"})
    bold = workbook.add_format({"bold": True, "num_format": "#,##0.00"})
    sheet.write_row(0, 0, [str(label) for _name, label in EXPORT_COLUMNS])
    n = 0
    for n, row in enumerate(_export_rows(actor, f, unmasked), 1):
        for col, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, dt.date):
                sheet.write_datetime(n, col, dt.datetime.combine(value, dt.time(0)), day)
            elif isinstance(value, Decimal):
                sheet.write_number(n, col, value, money)
            else:
                sheet.write_string(n, col, str(value))
        if progress is not None and n % 10000 == 0:
            progress(n)
    last = n + 1
    sheet.write_string(last, 0, str(_l("Total")))
    for col, key in enumerate((*COMPONENTS, "total", "recovered"), 2):
        sheet.write_number(last, col, totals[key], bold)
    workbook.close()
    audit.record(
        "writeoffs.exported",
        actor=actor,
        details={
            "format": "xlsx",
            "count": n,
            "unmasked": unmasked,
            "filters": {k: str(v) for k, v in vars(f).items() if v not in (None, "")},
        },
    )
    db.session.commit()
    return n


@exports.exporter("writeoffs", filename="write-offs.{fmt}")
def _export_to_storage(job: JobContext, filters: dict[str, Any], fmt: str, out: IO[bytes]) -> int:
    actor = db.session.get(User, job.created_by_id or 0)
    if actor is None:
        raise PermissionDenied("the export's user is gone")
    return export_xlsx(actor, filter_from(filters), out, progress=lambda n: job.progress(50, f"{n}"))


def start_export_job(actor: User, f: LedgerFilter | None) -> str:
    """A large export runs in the background; its file is downloaded from the job's page."""
    require(actor, "writeoffs.view")
    require(actor, "cases.export")
    f = f or LedgerFilter()
    with transaction():
        record = exports.start(
            _export_to_storage, name="export write-offs (xlsx)", filters=jobs.filter_args(f), created_by=actor
        )
    return record.id


def filter_from(values: dict[str, Any]) -> LedgerFilter:
    return jobs.filter_of(LedgerFilter, values, ("date_from", "date_to"))


def ledger_count(actor: User, f: LedgerFilter | None = None) -> int:
    return int(ledger_totals(actor, f)["count"])


@dataclass
class Detail:
    write_off: WriteOff
    loan_no: str
    debtor_name: str
    agency: str
    proposer: str
    recoveries: list[WriteOffRecovery]
    reversal: Approval | None  # the request to reverse it, waiting or decided


def detail(actor: User, write_off: WriteOff) -> Detail:
    """One ledger line as its page shows it (loaded through ``get_write_off_for``)."""
    found = db.session.execute(
        select(WriteOff, Case.loan_no, Debtor.name)
        .join(Case, Case.id == WriteOff.case_id)
        .join(Debtor, Debtor.id == Case.debtor_id)
        .where(*_ledger_where(actor, LedgerFilter()), WriteOff.id == write_off.id)
    ).one()
    row = _ledger_rows([found], False)[0]
    reversal = db.session.scalar(
        select(Approval)
        .where(
            Approval.kind == REVERSAL_KIND,
            Approval.subject_type == "write_off",
            Approval.subject_id == str(write_off.id),
        )
        .order_by(Approval.id.desc())
        .limit(1)
    )
    return Detail(
        write_off,
        row.loan_no,
        row.debtor_name,
        row.agency,
        row.proposer,
        recoveries_of(actor, write_off),
        reversal,
    )


# --- hooks (``arrears.hooks``) ---------------------------------------------------------------------


def on_repayments_applied(event: RepaymentsApplied) -> None:
    """Payments applied to written-off cases count against their write-offs (reads nothing unless a
    case of the chunk is written off)."""
    record_recoveries(event.owner_id, event.claimed, event.cases)


def on_repayment_reversed(event: RepaymentReversed) -> None:
    """A recovery of a write-off is taken back with its payment."""
    if event.applied:
        reverse_recovery(event.repayment, event.now)


@job("writeoffs.register")
def register_job(job: JobContext, approval_id: int) -> dict[str, Any]:
    """Register the approved batch ``approval_id``, a chunk per transaction, reporting progress.
    Idempotent: delivered twice, or retried from the start after its worker died, it writes each
    line once (a proposal leaves ``pending`` only in the transaction that writes its line)."""

    def progress(done: int, total: int) -> None:
        job.progress(min(99, done * 100 // max(total, 1)), f"{done}/{total}")

    return register_approved(int(approval_id), progress=progress)
