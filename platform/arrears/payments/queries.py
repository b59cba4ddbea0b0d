"""What the consoles show of repayments (还款): the records (还款记录) in keyset pages with what each
payment took off each component, the collectors' reports waiting for the owner's audit (还款审核)
with their applications, evidence and the core records that could match them, the reductions and
their waiver postings (减免审核), a case's repayments and its ledger, and the export of the records.

Reading only: the rules (recording, applying, audit, reversal) are ``payments.repayments``. Who sees
which repayment is ``repayments.scope`` (the owner: its own; an agency: those credited to it; a
collector: those credited to them). Every page is a few set-based statements whatever its length:
the rows, their loan numbers, their postings, the names of the people and agencies.

A repayment credited to an agency stays the agency's after the case went back to its owner (paid
off, recalled): its loan number is then read by the case's id through the named escape hatch, and
the case is not linked (the agency no longer opens it).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from sqlalchemy import and_, func, literal_column, or_, select
from sqlalchemy.orm import aliased

from arrears.auth.models import User
from arrears.auth.principal import require, started_by
from arrears.cases import ledger
from arrears.cases.models import Case, Posting, PostingKind
from arrears.cases.scopes import case_scope
from arrears.errors import NotFound, PermissionDenied
from arrears.extensions import db
from arrears.kernel import audit, clock, exports, sheets
from arrears.kernel.jobs import args as jobs
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.transaction import transaction
from arrears.orgs import queries as org_queries
from arrears.payments.models import Repayment, RepaymentSource, RepaymentStatus
from arrears.payments.records import RepaymentFilter, of_case, postings_of, query
from arrears.payments.repayments import allocation_order
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import OrgKind
from arrears.work import queries as work_queries
from arrears.work.models import Application, ApplicationKind, Attachment

PAGE = 50
EXPORT_PAGE = 2000
CANDIDATES = 10  # core records offered per waiting report
COMPONENTS = ledger.COMPONENTS  # penalty, fee, interest, principal
STATUS_LABELS: dict[RepaymentStatus, Any] = {
    RepaymentStatus.RECEIVED: _l("received, being applied"),
    RepaymentStatus.PENDING_AUDIT: _l("waiting for audit"),
    RepaymentStatus.CONFIRMED: lazy_pgettext("repayment status", "applied"),
    RepaymentStatus.MATCHED: _l("matched to a core record"),
    RepaymentStatus.REJECTED: _l("rejected"),
    RepaymentStatus.REVERSED: _l("reversed"),
}
SOURCE_LABELS: dict[RepaymentSource, Any] = {
    RepaymentSource.API: _l("core system"),
    RepaymentSource.STATEMENT: _l("statement"),
    RepaymentSource.COLLECTOR: _l("collector's report"),
    RepaymentSource.MANUAL: _l("manual entry"),
}
POSTING_LABELS: dict[PostingKind, Any] = {
    PostingKind.OPENING: _l("opening balances"),
    PostingKind.PAYMENT: _l("payment"),
    PostingKind.REVERSAL: _l("reversal"),
    PostingKind.WAIVER: _l("reduction"),
    PostingKind.ADJUSTMENT: _l("changed by an import"),
}
COMPONENT_LABELS = ledger.COMPONENT_LABELS
EXPORT_COLUMNS: list[tuple[str, Any]] = [
    ("id", _l("Record")),
    ("transaction_id", _l("Transaction id")),
    ("loan_no", _l("Loan number")),
    ("amount", _l("Amount")),
    ("paid_at", _l("Paid at")),
    ("channel", _l("Channel")),
    ("source", _l("Source")),
    ("status", _l("Status")),
    ("agency", _l("Agency")),
    ("collector", _l("Collector")),
    *((c, COMPONENT_LABELS[c]) for c in COMPONENTS),
    ("credit", COMPONENT_LABELS["credit"]),
    ("applied_at", _l("Applied at")),
    ("note", _l("Note")),
]


# --- rows as the pages show them ------------------------------------------------------------------


@dataclass
class RepaymentRow:
    repayment: Repayment
    loan_no: str
    linked: bool  # the reader may open the case's page
    split: dict[str, Decimal]  # what the payment took off each component and the credit (applied)
    agency: str
    collector: str
    status: str
    source: str

    @property
    def applied(self) -> bool:
        return bool(self.split)


@dataclass
class Page:
    rows: list[Any]
    after: str | None  # the next page's cursor, None on the last


def loan_numbers(actor: User, case_ids: Iterable[int]) -> tuple[dict[int, str], set[int]]:
    """The loan numbers of the cases the reader's repayments were paid on, and which of those cases
    the reader may open (its case scope). A case that went back to its owner since (paid off,
    recalled) is read by id through the escape hatch, for its loan number only."""
    wanted = {int(i) for i in case_ids}
    if not wanted:
        return {}, set()
    found = dict(db.session.execute(select(Case.id, Case.loan_no).where(Case.id.in_(wanted))).all())
    linked = set(
        db.session.scalars(select(Case.id).where(Case.id.in_(set(found)), case_scope(actor))) if found else []
    )
    missing = wanted - set(found)
    if missing:
        with cross_tenant("a repayment credited to the reader names the loan it paid (the case went back)"):
            found.update(db.session.execute(select(Case.id, Case.loan_no).where(Case.id.in_(missing))).all())
    return found, linked


def rows_for(actor: User, found: list[Repayment]) -> list[RepaymentRow]:
    """Repayments as the lists show them: four queries whatever their number."""
    loans, linked = loan_numbers(actor, (r.case_id for r in found))
    splits = postings_of(r.id for r in found)
    people = org_queries.person_names(actor, (r.collector_user_id for r in found))
    agencies = org_queries.org_names(r.agency_org_id for r in found)
    return [
        RepaymentRow(
            repayment=r,
            loan_no=loans.get(r.case_id, ""),
            linked=r.case_id in linked,
            split=splits.get(r.id, {})
            if r.status in (RepaymentStatus.CONFIRMED, RepaymentStatus.REVERSED)
            else {},
            agency=agencies.get(r.agency_org_id or 0, ""),
            collector=people.get(r.collector_user_id or 0, ""),
            status=str(STATUS_LABELS.get(r.status, r.status.value)),
            source=str(SOURCE_LABELS.get(r.source, r.source.value)),
        )
        for r in found
    ]


# --- the records (还款记录) ---------------------------------------------------------------------------


def _cursor(raw: Any) -> tuple[dt.datetime, int] | None:
    """``<microseconds since the epoch>.<id>``: the last row of a page (paid_at, id)."""
    micros, _sep, rid = str(raw or "").partition(".")
    if not (rid.isdigit() and len(rid) < 19 and micros.lstrip("-").isdigit() and len(micros) < 19):
        return None
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    try:
        return epoch + dt.timedelta(microseconds=int(micros)), int(rid)
    except OverflowError:
        return None


def _cursor_of(row: Repayment) -> str:
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    delta = row.paid_at - epoch
    micros = (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return f"{micros}.{row.id}"


def records_page(
    actor: User, f: RepaymentFilter, *, own: bool = False, after: Any = None, limit: int = PAGE
) -> Page:
    """The repayments the reader sees (``own``: those credited to the reader), newest payment
    first, in keyset pages of ``limit``."""
    stmt = query(actor, f, own=own)
    cursor = _cursor(after)
    if cursor is not None:
        moment, rid = cursor
        # ``paid_at <=`` is the range the (reader, paid_at) index answers; the rest breaks the ties
        stmt = stmt.where(
            Repayment.paid_at <= moment,
            or_(Repayment.paid_at < moment, and_(Repayment.paid_at == moment, Repayment.id < rid)),
        )
    found = list(db.session.scalars(stmt.limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    return Page(rows_for(actor, found), _cursor_of(found[-1]) if more and found else None)


def count(actor: User, f: RepaymentFilter, *, own: bool = False) -> int:
    stmt = query(actor, f, own=own).order_by(None).with_only_columns(Repayment.id)
    return int(db.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0)


def agency_choices(actor: User) -> list[tuple[int, str]]:
    """The agencies an owner filters its records by (its partnerships, ended ones too)."""
    return org_queries.agency_choices(actor)


# --- one repayment --------------------------------------------------------------------------------


@dataclass
class Detail:
    row: RepaymentRow
    postings: list[Posting]
    application: Application | None
    evidence: list[Attachment]
    matched: Repayment | None  # the core record a report was matched to
    matches: list[Repayment]  # the reports a core record confirms
    candidates: list[Repayment]  # for a report waiting: the core records that could carry it
    decided_by: str
    entered_by: str
    may_reverse: bool
    may_audit: bool


def detail(actor: User, repayment: Repayment) -> Detail:
    """One repayment (loaded through ``get_repayment_for``) as its page shows it."""
    row = rows_for(actor, [repayment])[0]
    postings = list(
        db.session.scalars(select(Posting).where(Posting.repayment_id == repayment.id).order_by(Posting.id))
    )
    application = db.session.get(Application, repayment.application_id) if repayment.application_id else None
    evidence = (
        list(
            db.session.scalars(
                select(Attachment).where(Attachment.application_id == application.id).order_by(Attachment.id)
            )
        )
        if application is not None
        else []
    )
    matched = db.session.get(Repayment, repayment.matched_id) if repayment.matched_id else None
    matches = list(
        db.session.scalars(
            select(Repayment).where(Repayment.matched_id == repayment.id).order_by(Repayment.id)
        )
    )
    owner = actor.org.kind == OrgKind.ASSET_OWNER and actor.org_id == repayment.org_id
    waiting = repayment.status == RepaymentStatus.PENDING_AUDIT
    may_audit = owner and waiting and actor.can("repayments.audit")
    people = org_queries.person_names(actor, (repayment.decided_by_id, repayment.created_by_id))
    return Detail(
        row=row,
        postings=postings,
        application=application,
        evidence=evidence,
        matched=matched,
        matches=matches,
        candidates=candidates_for([repayment]).get(repayment.id, []) if may_audit else [],
        decided_by=people.get(repayment.decided_by_id or 0, ""),
        entered_by=people.get(repayment.created_by_id or 0, ""),
        may_reverse=owner
        and repayment.status in (RepaymentStatus.CONFIRMED, RepaymentStatus.RECEIVED)
        and (actor.can("repayments.post") or actor.can("repayments.audit")),
        may_audit=may_audit,
    )


# --- the owner's audit of collectors' reports (还款审核) ----------------------------------------------


@dataclass
class Report:
    row: RepaymentRow
    application: Application | None
    evidence: list[Attachment]
    candidates: list[Repayment]
    requester: str


def candidates_for(reports: list[Repayment]) -> dict[int, list[Repayment]]:
    """For each report, the applied core records of its case that no report claims yet, the nearest
    in payment time first (at most ``CANDIDATES``): one query for all of them."""
    case_ids = {r.case_id for r in reports}
    if not case_ids:
        return {}
    claimed = aliased(Repayment)
    found = db.session.scalars(
        select(Repayment)
        .where(
            Repayment.case_id.in_(case_ids),
            Repayment.origin == "core",
            Repayment.status == RepaymentStatus.CONFIRMED,
            ~select(claimed.id).where(claimed.matched_id == Repayment.id).exists(),
        )
        .order_by(Repayment.paid_at.desc(), Repayment.id.desc())
        .limit(50 * len(case_ids))
    )
    by_case: dict[int, list[Repayment]] = defaultdict(list)
    for core in found:
        by_case[core.case_id].append(core)
    return {r.id: _nearest(by_case.get(r.case_id, []), r) for r in reports}


def _nearest(cores: list[Repayment], report: Repayment) -> list[Repayment]:
    def distance(core: Repayment) -> tuple[dt.timedelta, int]:
        return abs(core.paid_at - report.paid_at), core.id

    return sorted(cores, key=distance)[:CANDIDATES]


# a literal, not a parameter: the partial index of the reports waiting answers it, in a prepared plan too
_WAITING = Repayment.status == literal_column("'pending_audit'")


def waiting_count(actor: User) -> int | None:
    """How many collectors' reports wait for the owner's audit (the navigation's badge)."""
    if actor.org.kind != OrgKind.ASSET_OWNER or not actor.can("repayments.audit"):
        return None
    return int(db.session.scalar(select(func.count()).where(Repayment.org_id == actor.org_id, _WAITING)) or 0)


def audit_page(actor: User, *, after: Any = None, limit: int = PAGE) -> Page:
    """The collectors' reports waiting for the owner's audit, oldest first (a queue), each with its
    application, the evidence filed with it and the core records that could match it."""
    require(actor, "repayments.audit")
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise PermissionDenied(_("Only an asset owner audits repayments."))
    stmt = select(Repayment).where(Repayment.org_id == actor.org_id, _WAITING)
    text = str(after or "")
    if text.isdigit() and len(text) < 19:
        stmt = stmt.where(Repayment.id > int(text))
    found = list(db.session.scalars(stmt.order_by(Repayment.id).limit(limit + 1)))
    more = len(found) > limit
    found = found[:limit]
    rows = rows_for(actor, found)
    app_ids = [r.application_id for r in found if r.application_id]
    apps = (
        {a.id: a for a in db.session.scalars(select(Application).where(Application.id.in_(app_ids)))}
        if app_ids
        else {}
    )
    files: dict[int, list[Attachment]] = defaultdict(list)
    if app_ids:
        for a in db.session.scalars(
            select(Attachment).where(Attachment.application_id.in_(app_ids)).order_by(Attachment.id)
        ):
            files[a.application_id or 0].append(a)
    requesters = org_queries.person_names(actor, (a.requested_by_id for a in apps.values()))
    offered = candidates_for(found)
    reports = []
    for row in rows:
        application = apps.get(row.repayment.application_id or 0)
        reports.append(
            Report(
                row=row,
                application=application,
                evidence=files.get(application.id, []) if application is not None else [],
                candidates=offered.get(row.repayment.id, []),
                requester=requesters.get(application.requested_by_id, "") if application is not None else "",
            )
        )
    return Page(reports, str(found[-1].id) if more and found else None)


# --- reductions (减免审核) ----------------------------------------------------------------------------


@dataclass
class ReductionRow:
    row: work_queries.ApplicationRow
    waived: dict[str, Decimal]  # what the waiver posting took off (an approved one)
    posted_at: dt.datetime | None


def reductions_page(actor: User, *, status: str | None = None, after: Any = None, limit: int = PAGE) -> Page:
    """The reduction applications on the cases in the reader's scope (approved, waiting, rejected),
    newest first, each with the waiver posting an approved one left in the ledger."""
    page = work_queries.applications_page(
        actor,
        work_queries.ApplicationFilter(status=status, kind=ApplicationKind.REDUCTION.value),
        after=after,
        limit=limit,
    )
    ids = [r.application.id for r in page.rows]
    postings: dict[int, Posting] = {}
    if ids:
        for p in db.session.scalars(
            select(Posting)
            .where(Posting.application_id.in_(ids), Posting.kind == PostingKind.WAIVER)
            .order_by(Posting.id)
        ):
            postings[p.application_id or 0] = p
    rows = []
    for r in page.rows:
        posting = postings.get(r.application.id)
        rows.append(
            ReductionRow(
                row=r,
                waived={c: -Decimal(getattr(posting, c)) for c in COMPONENTS} if posting is not None else {},
                posted_at=posting.created_at if posting is not None else None,
            )
        )
    return Page(rows, page.after)


# --- a case: its repayments and its ledger --------------------------------------------------------


@dataclass
class LedgerLine:
    posting: Posting
    kind: str
    changes: dict[str, Decimal]  # signed, per component and the credit
    balances: dict[str, Decimal]  # after this line
    total: Decimal  # the outstanding after this line
    actor: str
    transaction_id: str


@dataclass
class CaseMoney:
    """The case page's repayments and ledger tabs (``ledger`` None: the reader has no ledger tab)."""

    repayments: list[RepaymentRow]
    ledger: list[LedgerLine] | None = None
    order: tuple[str, ...] = field(default_factory=tuple)


def case_money(actor: User, case: Case, *, with_ledger: bool = False) -> CaseMoney | None:
    """A case's repayments the reader sees (the owner: all; an agency: those credited to it) and,
    for the owner, its ledger. None for a reader without ``repayments.view``."""

    if not actor.can("repayments.view"):
        return None
    money = CaseMoney(repayments=rows_for(actor, of_case(actor, case)))
    if with_ledger and actor.org_id == case.org_id:
        money.ledger = ledger_lines(actor, case)
        money.order = allocation_order(actor)
    return money


def ledger_lines(actor: User, case: Case) -> list[LedgerLine]:
    """Every posting of the case, oldest first, with the balances after each (the postings sum to
    the balances: the opening records them the first time money moved)."""
    postings = list(
        db.session.scalars(select(Posting).where(Posting.case_id == case.id).order_by(Posting.id))
    )
    txns = dict(
        db.session.execute(
            select(Repayment.id, Repayment.external_id).where(
                Repayment.id.in_({p.repayment_id for p in postings if p.repayment_id})
            )
        ).all()
    )
    people = org_queries.person_names(actor, (p.actor_user_id for p in postings))
    running = {c: Decimal("0.00") for c in (*COMPONENTS, "credit")}
    out = []
    for p in postings:
        changes = {c: Decimal(getattr(p, c)) for c in (*COMPONENTS, "credit")}
        for c, v in changes.items():
            running[c] += v
        out.append(
            LedgerLine(
                posting=p,
                kind=str(POSTING_LABELS.get(p.kind, p.kind.value)),
                changes=changes,
                balances=dict(running),
                total=sum((running[c] for c in COMPONENTS), Decimal("0.00")),
                actor=people.get(p.actor_user_id or 0, ""),
                transaction_id=txns.get(p.repayment_id or 0, ""),
            )
        )
    return out


# --- the export -----------------------------------------------------------------------------------


def _export_rows(actor: User, f: RepaymentFilter) -> Iterator[list[Any]]:
    zone = clock.zone()
    after: str | None = None
    while True:
        page = records_page(actor, f, after=after, limit=EXPORT_PAGE)
        for r in page.rows:
            p = r.repayment
            yield [
                p.id,
                p.external_id,
                r.loan_no,
                p.amount,
                p.paid_at.astimezone(zone).replace(tzinfo=None),
                p.channel,
                r.source,
                r.status,
                r.agency,
                r.collector,
                *(r.split.get(c) for c in COMPONENTS),
                r.split.get("credit"),
                p.applied_at.astimezone(zone).replace(tzinfo=None) if p.applied_at else None,
                p.note,
            ]
            db.session.expunge(p)  # the identity map (and memory) stays small
        if page.after is None:
            return
        after = page.after


def export_xlsx(actor: User, f: RepaymentFilter, out: IO[bytes], *, progress: Any = None) -> int:
    """Write the owner's repayment records matching ``f`` to ``out`` as .xlsx (amounts as numbers,
    never floats on the way: xlsxwriter takes the Decimal); audited. Returns how many."""

    require(actor, "repayments.view")
    require(actor, "cases.export")
    workbook = sheets.Workbook(out, {"constant_memory": True, "in_memory": False})
    sheet = workbook.add_worksheet("repayments")
    when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    money = workbook.add_format({"num_format": "#,##0.00"})
    sheet.write_row(0, 0, [str(label) for _name, label in EXPORT_COLUMNS])
    n = 0
    for n, row in enumerate(_export_rows(actor, f), 1):
        for col, value in enumerate(row):
            if value is None or value == "":
                continue
            if isinstance(value, dt.datetime):
                sheet.write_datetime(n, col, value, when)
            elif isinstance(value, Decimal):
                sheet.write_number(n, col, value, money)
            elif isinstance(value, int):
                sheet.write_number(n, col, value)
            else:
                sheet.write_string(n, col, str(value))
        if progress is not None and n % 10000 == 0:
            progress(n)
    workbook.close()
    audit.record(
        "repayments.exported",
        actor=actor,
        details={
            "format": "xlsx",
            "count": n,
            "filters": {k: str(v) for k, v in vars(f).items() if v not in (None, "")},
        },
    )
    db.session.commit()
    return n


@exports.exporter("repayments", filename="repayments.{fmt}")
def _export_to_storage(job: JobContext, filters: dict[str, Any], fmt: str, out: IO[bytes]) -> int:
    actor = started_by(job)
    if actor is None:
        raise NotFound(_("Not found."))  # the user who asked for the export is gone
    return export_xlsx(actor, filter_from(filters), out, progress=lambda n: job.progress(50, f"{n}"))


def start_export_job(actor: User, f: RepaymentFilter) -> str:
    """A large export runs in the background; its file is downloaded from the job's page."""
    require(actor, "repayments.view")
    require(actor, "cases.export")
    with transaction():
        record = exports.start(
            _export_to_storage, name="export repayments (xlsx)", filters=jobs.filter_args(f), created_by=actor
        )
    return record.id


def filter_from(values: dict[str, Any]) -> RepaymentFilter:
    """A filter from the job's JSON arguments."""
    return jobs.filter_of(RepaymentFilter, values, ("paid_from", "paid_to"))


__all__ = [
    "CaseMoney",
    "Detail",
    "LedgerLine",
    "Page",
    "ReductionRow",
    "RepaymentRow",
    "Report",
    "audit_page",
    "candidates_for",
    "case_money",
    "count",
    "detail",
    "export_xlsx",
    "ledger_lines",
    "records_page",
    "reductions_page",
    "rows_for",
    "start_export_job",
    "waiting_count",
]
