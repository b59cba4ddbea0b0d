"""What the commission (佣金) pages read and the documents they hand out: a statement as .xlsx (a
summary, its lines by bucket, its records) and as .pdf (A4, Chinese through the built-in CID font
STSong-Light: no font file, offline), and the records query (佣金记录查询) as .xlsx.

The rows are ``commission.commission``'s; this module names them for the reader (payer, payee, loan
numbers, transaction ids) and writes them out. Amounts go to the workbook as numbers from their
``Decimal`` (xlsxwriter takes the Decimal; no float arithmetic on the way) with a two-decimal format;
the totals written are the statement's own. Every export is audited (``commission.exported``). What
the reader may see is pinned by the loaders and the queries of ``commission.commission``: an agency
exports its own statements and records.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from sqlalchemy import select

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.commission import commission as service
from arrears.commission.models import (
    AdjustmentKind,
    CommissionAdjustment,
    CommissionContract,
    CommissionRecord,
    CommissionStatement,
    ContractKind,
    ContractStatus,
    RecordKind,
    StatementStatus,
    TierBasis,
)
from arrears.extensions import db
from arrears.kernel import audit, documents, sheets
from arrears.kernel.money import format_amount
from arrears.orgs import queries as org_queries
from arrears.payments.models import Repayment
from arrears.payments.queries import loan_numbers

ZERO = Decimal("0.00")
CHUNK = 1000

# --- labels (the stored values are stable codes; the pages and documents translate them) ---------------

STATUS_LABELS: dict[str, Any] = {
    StatementStatus.DRAFT.value: _l("draft"),
    StatementStatus.APPROVED.value: _l("approved"),
    StatementStatus.PAID.value: _l("paid"),
}
STATUS_COLOURS = {"draft": "warning", "approved": "primary", "paid": "success"}
RECORD_KIND_LABELS: dict[str, Any] = {
    RecordKind.COMMISSION.value: _l("commission"),
    RecordKind.CLAWBACK.value: _l("clawback"),
}
ADJUSTMENT_LABELS: dict[str, Any] = {
    AdjustmentKind.TIER.value: _l("tier bonus"),
    AdjustmentKind.MINIMUM.value: _l("minimum"),
    AdjustmentKind.CAP.value: _l("cap"),
    AdjustmentKind.MANUAL.value: _l("manual"),
}
CONTRACT_KIND_LABELS: dict[str, Any] = {
    ContractKind.AGENCY.value: _l("Agency commission"),
    ContractKind.INCENTIVE.value: _l("Collector incentive"),
}
CONTRACT_STATUS_LABELS: dict[str, Any] = {
    ContractStatus.ACTIVE.value: _l("active"),
    ContractStatus.ENDED.value: _l("ended"),
}
TIER_BASIS_LABELS: dict[str, Any] = {
    TierBasis.RECOVERY_RATE.value: _l("Recovery rate of the period"),
    TierBasis.COLLECTED.value: _l("Amount collected in the period"),
}


def label(labels: dict[str, Any], value: Any) -> str:
    key = getattr(value, "value", value)
    return str(labels.get(key, key))


# --- names and rows as the pages show them ---------------------------------------------------------------


def payees(actor: User, statements: Iterable[CommissionStatement]) -> dict[int, str]:
    """Each statement's payee: the agency's name, or the collector's name (an incentive)."""
    rows = list(statements)
    agencies = org_queries.org_names(s.agency_org_id for s in rows if s.collector_user_id is None)
    people = org_queries.person_names(actor, (s.collector_user_id for s in rows))
    return {
        s.id: (
            people.get(s.collector_user_id, f"#{s.collector_user_id}")
            if s.collector_user_id is not None
            else agencies.get(s.agency_org_id or 0, "")
        )
        for s in rows
    }


def payers(statements_or_contracts: Iterable[Any]) -> dict[int, str]:
    """The paying organisations' names, by organisation id."""
    return org_queries.org_names(x.org_id for x in statements_or_contracts)


def contract_payees(contracts: Iterable[CommissionContract]) -> dict[int, str]:
    """Each contract's payee: the agency's name, or "its collectors" (an incentive)."""
    rows = list(contracts)
    names = org_queries.org_names(c.agency_org_id for c in rows)
    return {
        c.id: names.get(c.agency_org_id, "") if c.agency_org_id else _("its own collectors") for c in rows
    }


@dataclass
class RecordRow:
    record: CommissionRecord
    loan_no: str
    transaction_id: str
    payee: str
    period: str  # the period of the statement that settled it, "" while unsettled


def record_rows(actor: User, records: list[CommissionRecord]) -> list[RecordRow]:
    """Records as the lists and the workbooks show them: a few queries whatever their number."""
    loans, _linked = loan_numbers(actor, (r.case_id for r in records))
    wanted = {r.repayment_id for r in records}
    txns = (
        dict(
            db.session.execute(
                select(Repayment.id, Repayment.external_id).where(Repayment.id.in_(wanted))
            ).all()
        )
        if wanted
        else {}
    )
    statement_ids = {r.statement_id for r in records if r.statement_id}
    periods = (
        dict(
            db.session.execute(
                select(CommissionStatement.id, CommissionStatement.period).where(
                    CommissionStatement.id.in_(statement_ids)
                )
            ).all()
        )
        if statement_ids
        else {}
    )
    people = org_queries.person_names(
        actor, (r.collector_user_id for r in records if r.agency_org_id is None)
    )
    agencies = org_queries.org_names(r.agency_org_id for r in records)
    return [
        RecordRow(
            record=r,
            loan_no=loans.get(r.case_id, ""),
            transaction_id=txns.get(r.repayment_id, ""),
            payee=(
                agencies.get(r.agency_org_id, "")
                if r.agency_org_id
                else people.get(r.collector_user_id or 0, "")
            ),
            period=periods.get(r.statement_id or 0, ""),
        )
        for r in records
    ]


@dataclass
class StatementView:
    statement: CommissionStatement
    payer: str
    payee: str
    contract: CommissionContract | None
    lines: list[dict[str, Any]]  # the statement's lines with Decimal amounts
    adjustments: list[CommissionAdjustment]
    approved_by: str
    paid_by: str
    mine: bool  # the reader's organisation pays it (and may act on it)


def statement_view(actor: User, statement: CommissionStatement) -> StatementView:
    require(actor, "commission.view")
    people = org_queries.person_names(actor, (statement.approved_by_id, statement.paid_by_id))
    lines = [
        {
            **line,
            "amount": Decimal(str(line.get("amount", "0"))),
            "commission": Decimal(str(line.get("commission", "0"))),
            "clawbacks": Decimal(str(line.get("clawbacks", "0"))),
        }
        for line in statement.lines or []
    ]
    return StatementView(
        statement=statement,
        payer=payers([statement]).get(statement.org_id, ""),
        payee=payees(actor, [statement])[statement.id],
        contract=db.session.get(CommissionContract, statement.contract_id),
        lines=lines,
        adjustments=service.adjustments_of(statement),
        approved_by=people.get(statement.approved_by_id or 0, ""),
        paid_by=people.get(statement.paid_by_id or 0, ""),
        mine=statement.org_id == actor.org_id,
    )


def _local(moment: dt.datetime | None) -> dt.datetime | None:
    """A moment as the owner's wall-clock time (a workbook's datetimes have no zone)."""
    if moment is None:
        return None
    return moment.astimezone(service.clock.zone()).replace(tzinfo=None)


def _records_of(actor: User, f: service.RecordFilter) -> Iterator[list[RecordRow]]:
    """The records matching ``f``, named, a chunk at a time."""
    stmt = service.record_query(actor, f)
    batch: list[CommissionRecord] = []
    for record in db.session.scalars(stmt.execution_options(yield_per=CHUNK)):
        batch.append(record)
        if len(batch) >= CHUNK:
            yield record_rows(actor, batch)
            batch = []
    if batch:
        yield record_rows(actor, batch)


# --- workbooks -------------------------------------------------------------------------------------------


class _Book:
    """An xlsxwriter workbook with the formats every sheet here uses."""

    def __init__(self, out: IO[bytes]) -> None:

        self.workbook = sheets.Workbook(out, {"in_memory": False})
        self.money = self.workbook.add_format({"num_format": "#,##0.00"})
        self.rate = self.workbook.add_format({"num_format": "0.00####%"})
        self.when = self.workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.bold = self.workbook.add_format({"bold": True})
        self.bold_money = self.workbook.add_format({"bold": True, "num_format": "#,##0.00"})

    def cell(self, sheet: Any, row: int, col: int, value: Any, fmt: Any = None) -> None:
        if value is None or value == "":
            return
        if isinstance(value, dt.datetime):
            sheet.write_datetime(row, col, value, fmt or self.when)
        elif isinstance(value, Decimal):
            sheet.write_number(row, col, value, fmt or self.money)
        elif isinstance(value, int) and not isinstance(value, bool):
            sheet.write_number(row, col, value, fmt)
        else:
            sheet.write_string(row, col, str(value), fmt)

    def close(self) -> None:
        self.workbook.close()


def _record_columns() -> list[str]:
    return [
        _("Loan number"),
        _("Transaction id"),
        _("Paid at"),
        _("Counts at"),
        _("Bucket"),
        _("Amount"),
        _("Rate"),
        _("Commission"),
        _("Kind"),
        _("Contract version"),
        _("Payee"),
        _("Settled in"),
    ]


def _write_records(book: _Book, sheet: Any, chunks: Iterable[list[RecordRow]]) -> tuple[int, Decimal]:
    sheet.write_row(0, 0, _record_columns(), book.bold)
    n, total = 0, ZERO
    for rows in chunks:
        for row in rows:
            n += 1
            r = row.record
            values: list[tuple[Any, Any]] = [
                (row.loan_no, None),
                (row.transaction_id, None),
                (_local(r.paid_at), None),
                (_local(r.event_at), None),
                (r.bucket, None),
                (r.amount, book.money),
                (r.rate, book.rate),
                (r.commission, book.money),
                (label(RECORD_KIND_LABELS, r.kind), None),
                (r.version_number, None),
                (row.payee, None),
                (row.period, None),
            ]
            for col, (value, fmt) in enumerate(values):
                book.cell(sheet, n, col, value, fmt)
            total += r.commission
    book.cell(sheet, n + 1, 0, _("Total"), book.bold)
    book.cell(sheet, n + 1, 7, total, book.bold_money)
    sheet.set_column(0, 1, 22)
    sheet.set_column(2, 3, 20)
    sheet.set_column(5, 7, 14)
    sheet.set_column(10, 10, 24)
    return n, total


def _summary(view: StatementView) -> list[tuple[str, Any]]:
    s = view.statement
    return [
        (_("Payer"), view.payer),
        (_("Payee"), view.payee),
        (_("Contract"), view.contract.name if view.contract else ""),
        (_("Period"), s.period),
        (_("Status"), label(STATUS_LABELS, s.status)),
        (_("Base amount"), s.base_amount),
        (_("Recovery rate"), s.recovery_rate),
        (_("Commission"), s.commission),
        (_("Clawbacks"), s.clawbacks),
        (_("Adjustments"), s.adjustments),
        (_("Net"), s.net),
        (_("Records"), s.record_count),
        (_("Approved by"), view.approved_by),
        (_("Approved at"), _local(s.approved_at)),
        (_("Paid at"), _local(s.paid_at)),
        (_("Payment reference"), s.paid_reference),
    ]


def statement_xlsx(actor: User, statement: CommissionStatement, out: IO[bytes]) -> int:
    """The statement as a workbook: the summary (with its adjustments), the lines by bucket, the
    records. Returns how many records; audited."""
    view = statement_view(actor, statement)
    book = _Book(out)
    summary = book.workbook.add_worksheet(_("Summary")[:31])
    for i, (name, value) in enumerate(_summary(view)):
        book.cell(summary, i, 0, name, book.bold)
        fmt = book.rate if name == _("Recovery rate") else (book.bold_money if name == _("Net") else None)
        book.cell(summary, i, 1, value, fmt)
    row = len(_summary(view)) + 1
    book.cell(summary, row, 0, _("Adjustments"), book.bold)
    summary.write_row(row + 1, 0, [_("Kind"), _("Amount"), _("Reason")], book.bold)
    for j, adj in enumerate(view.adjustments, row + 2):
        book.cell(summary, j, 0, label(ADJUSTMENT_LABELS, adj.kind))
        book.cell(summary, j, 1, adj.amount)
        book.cell(summary, j, 2, adj.reason)
    summary.set_column(0, 0, 20)
    summary.set_column(1, 1, 24)
    summary.set_column(2, 2, 50)

    lines = book.workbook.add_worksheet(_("Lines")[:31])
    lines.write_row(
        0,
        0,
        [_("Bucket"), _("Payments"), _("Amount"), _("Commission"), _("Clawbacks (count)"), _("Clawbacks")],
        book.bold,
    )
    for i, line in enumerate(view.lines, 1):
        for col, value in enumerate(
            (
                line["bucket"],
                int(line.get("count", 0)),
                line["amount"],
                line["commission"],
                int(line.get("clawback_count", 0)),
                line["clawbacks"],
            )
        ):
            book.cell(lines, i, col, value)
    total = len(view.lines) + 1
    book.cell(lines, total, 0, _("Total"), book.bold)
    book.cell(lines, total, 2, statement.base_amount, book.bold_money)
    book.cell(lines, total, 3, statement.commission, book.bold_money)
    book.cell(lines, total, 5, statement.clawbacks, book.bold_money)
    lines.set_column(0, 5, 16)

    records = book.workbook.add_worksheet(_("Records")[:31])
    n, _total = _write_records(
        book, records, _records_of(actor, service.RecordFilter(statement_id=statement.id))
    )
    book.close()
    _audited(actor, "statement", n, target=statement, extra={"period": statement.period})
    return n


def records_xlsx(actor: User, f: service.RecordFilter, out: IO[bytes]) -> int:
    """The records query (佣金记录查询) as a workbook; audited. Returns how many."""
    require(actor, "commission.view")
    book = _Book(out)
    sheet = book.workbook.add_worksheet(_("Records")[:31])
    n, _total = _write_records(book, sheet, _records_of(actor, f))
    book.close()
    filters = {k: str(getattr(v, "value", v)) for k, v in vars(f).items() if v not in (None, "", False)}
    _audited(actor, "records", n, extra={"filters": filters})
    return n


def _audited(
    actor: User,
    what: str,
    count: int,
    *,
    target: Any = None,
    extra: dict[str, Any] | None = None,
    fmt: str = "xlsx",
) -> None:
    audit.record(
        "commission.exported",
        actor=actor,
        target=target,
        details={"what": what, "format": fmt, "count": count, **(extra or {})},
    )
    db.session.commit()


# --- the statement as a PDF ------------------------------------------------------------------------------


def _percent(value: Decimal | None) -> str:
    if value is None:
        return "—"
    return f"{(value * 100).normalize():f}%"


def _when(moment: dt.datetime | None) -> str:
    local = _local(moment)
    return local.strftime("%Y-%m-%d %H:%M") if local else "—"


class _Pdf:
    """A4 with the documents' font: the styles, the text width, paragraphs and tables."""

    def __init__(self) -> None:
        self.font = documents.font()
        self.heading = ParagraphStyle(
            "heading", fontName=self.font, fontSize=16, leading=24, alignment=1, wordWrap="CJK"
        )
        self.section = ParagraphStyle("section", fontName=self.font, fontSize=12, leading=18, wordWrap="CJK")
        self.normal = ParagraphStyle("body", fontName=self.font, fontSize=10, leading=15, wordWrap="CJK")
        self.width = A4[0] - 36 * mm

    def p(self, text: Any, style: ParagraphStyle | None = None) -> Paragraph:
        return Paragraph(documents.markup(str(text)), style or self.normal)

    def title(self, text: str) -> list[Any]:
        return [Spacer(1, 5 * mm), self.p(text, self.section), Spacer(1, 2 * mm)]

    def table(
        self, rows: list[list[Any]], widths: list[float], *, header: bool = True, numbers: int = 1
    ) -> Table:
        t = Table(rows, colWidths=[self.width * w for w in widths], repeatRows=1 if header else 0)
        style = [
            ("FONTNAME", (0, 0), (-1, -1), self.font),
            ("FONTSIZE", (0, 0), (-1, -1), 9),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("ALIGN", (numbers, 1 if header else 0), (-1, -1), "RIGHT"),
        ]
        if header:
            style.append(("BACKGROUND", (0, 0), (-1, 0), colors.whitesmoke))
        t.setStyle(TableStyle(style))
        return t


def statement_pdf(actor: User, statement: CommissionStatement) -> bytes:
    """The statement on A4: title, parties, period, the lines by bucket, the adjustments, the net,
    the status and approval; audited."""
    view = statement_view(actor, statement)
    s = statement
    pdf = _Pdf()
    out = io.BytesIO()
    title = _("Commission statement %(period)s", period=s.period)
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=title,
        creator="arrears",
    )
    story: list[Any] = [pdf.p(title, pdf.heading), Spacer(1, 4 * mm)]
    story += _parties(pdf, view, s)
    story += pdf.title(_("Lines by bucket")) + _lines(pdf, view, s)
    story += pdf.title(_("Adjustments")) + _adjustments(pdf, view)
    story += pdf.title(_("Totals")) + _totals(pdf, s)
    story += pdf.title(_("Approval and payment")) + _approval(pdf, view, s)
    story += [
        Spacer(1, 6 * mm),
        pdf.p(_("Generated %(when)s; %(count)d records.", when=_when(s.generated_at), count=s.record_count)),
    ]
    doc.build(story)
    _audited(actor, "statement", s.record_count, target=s, extra={"period": s.period}, fmt="pdf")
    return out.getvalue()


def _parties(pdf: _Pdf, view: StatementView, s: CommissionStatement) -> list[Any]:
    parties = [
        [_("Payer"), view.payer],
        [_("Payee"), view.payee],
        [_("Contract"), view.contract.name if view.contract else "—"],
        [_("Period"), f"{s.period} ({_when(s.period_start)} – {_when(s.period_end)})"],
        [_("Status"), label(STATUS_LABELS, s.status)],
    ]
    return [pdf.table([[pdf.p(a), pdf.p(b)] for a, b in parties], [0.3, 0.7], header=False, numbers=9)]


def _lines(pdf: _Pdf, view: StatementView, s: CommissionStatement) -> list[Any]:
    rows: list[list[Any]] = [
        [_("Bucket"), _("Payments"), _("Amount"), _("Commission"), _("Clawbacks")],
        *(
            [
                line["bucket"],
                str(line.get("count", 0) + line.get("clawback_count", 0)),
                format_amount(line["amount"]),
                format_amount(line["commission"]),
                format_amount(line["clawbacks"]),
            ]
            for line in view.lines
        ),
        [
            _("Total"),
            str(s.record_count),
            format_amount(s.base_amount),
            format_amount(s.commission),
            format_amount(s.clawbacks),
        ],
    ]
    return [pdf.table(rows, [0.16, 0.14, 0.24, 0.23, 0.23])]


def _adjustments(pdf: _Pdf, view: StatementView) -> list[Any]:
    if not view.adjustments:
        return [pdf.p(_("No adjustments."))]
    rows: list[list[Any]] = [
        [_("Kind"), _("Amount"), _("Reason")],
        *(
            [label(ADJUSTMENT_LABELS, a.kind), format_amount(a.amount), pdf.p(a.reason or "—")]
            for a in view.adjustments
        ),
    ]
    t = pdf.table(rows, [0.2, 0.2, 0.6])
    t.setStyle(TableStyle([("ALIGN", (2, 0), (2, -1), "LEFT")]))
    return [t]


def _totals(pdf: _Pdf, s: CommissionStatement) -> list[Any]:
    totals = [
        [_("Base amount"), format_amount(s.base_amount)],
        [_("Recovery rate"), _percent(s.recovery_rate)],
        [_("Commission"), format_amount(s.commission)],
        [_("Clawbacks"), format_amount(s.clawbacks)],
        [_("Adjustments"), format_amount(s.adjustments)],
        [_("Net"), format_amount(s.net)],
    ]
    t = pdf.table(totals, [0.3, 0.3], header=False)
    t.setStyle(TableStyle([("FONTSIZE", (0, -1), (-1, -1), 11)]))
    return [t]


def _approval(pdf: _Pdf, view: StatementView, s: CommissionStatement) -> list[Any]:
    approval = [
        [_("Status"), label(STATUS_LABELS, s.status)],
        [_("Approved by"), view.approved_by or "—"],
        [_("Approved at"), _when(s.approved_at)],
        [_("Paid at"), _when(s.paid_at)],
        [_("Payment reference"), s.paid_reference or "—"],
    ]
    return [pdf.table([[a, pdf.p(b)] for a, b in approval], [0.3, 0.7], header=False, numbers=9)]


__all__ = [
    "ADJUSTMENT_LABELS",
    "CONTRACT_KIND_LABELS",
    "CONTRACT_STATUS_LABELS",
    "RECORD_KIND_LABELS",
    "STATUS_LABELS",
    "TIER_BASIS_LABELS",
    "RecordRow",
    "StatementView",
    "contract_payees",
    "payees",
    "payers",
    "record_rows",
    "records_xlsx",
    "statement_pdf",
    "statement_view",
    "statement_xlsx",
]
