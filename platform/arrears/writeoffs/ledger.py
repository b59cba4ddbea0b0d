"""The write-off ledger (核销台账): the owner's written-off loans with what was recovered since, filtered,
totalled, one loan's detail, and the export (inline, or the export-to-storage job for a large one)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    func,
    select,
)

from arrears.auth.models import User
from arrears.auth.principal import require, started_by
from arrears.cases.models import Case, Debtor
from arrears.errors import NotFound, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit, exports, sheets
from arrears.kernel.jobs import args as jobs
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.money import cents
from arrears.kernel.transaction import transaction
from arrears.orgs.models import Approval
from arrears.security import masking
from arrears.tenancy.models import Organisation
from arrears.writeoffs.models import (
    WriteOff,
    WriteOffRecovery,
    WriteOffStatus,
)
from arrears.writeoffs.recoveries import recoveries_of
from arrears.writeoffs.writeoffs import COMPONENTS, LEDGER_STATUSES, REVERSAL_KIND, Page, _owner

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
        **{c: cents(v) for c, v in zip((*COMPONENTS, "total", "recovered"), row[1:], strict=True)},
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
                *(cents(getattr(w, c)) for c in COMPONENTS),
                cents(w.total),
                cents(w.recovered),
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

    require(actor, "writeoffs.view")
    require(actor, "cases.export")
    f = f or LedgerFilter()
    unmasked = unmask and actor.can("pii.unmask")
    totals = ledger_totals(actor, f)
    workbook = sheets.Workbook(fileobj, {"constant_memory": True, "in_memory": False})
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
    actor = started_by(job)
    if actor is None:
        raise NotFound(_("Not found."))  # the user who asked for the export is gone
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
