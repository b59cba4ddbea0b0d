"""Reconciliation against the lender's statements (对账, M-P5), and statements imported as events.

A **statement** is the core system's list of payments for some days: one row per transaction with
its transaction id (交易流水号), loan number (借据号), payment time (还款时间), amount (还款金额) and
channel (还款渠道). It comes as .xlsx or .csv (UTF-8, UTF-8 with BOM, GBK/GB18030), with Chinese or
English column names under any of their usual aliases, the header on any of the first rows, blank
rows, summary rows and extra columns. It is read by the case importer's hardened reader
(``imports.reader``: size, zip-bomb and XML checks) with the statement's own header rule. Money is
``Decimal`` (a number cell, a float in the workbook, is read through its shortest text and refused
with more than two decimals); times are Excel dates or text, in the owner's zone unless they say.
Every row that is not a payment is reported with its row number, the field and the reason.

**Reconcile** sorts the statement against the platform's core-system records (origin ``core``: the
API's and the statements' transaction ids are one namespace):

* ``matched``: in the statement and in the platform, the same loan and amount;
* ``applied``: in the statement, missing from the platform: recorded now as statement events
  (``repayments.record(..., source=STATEMENT)``) and applied at once;
* ``mismatched``: the same transaction id with another amount or loan (or reversed in the
  platform): reported, never applied again;
* ``platform_only``: core records of the statement's days (whole days in the owner's zone) that
  the statement does not list;
* ``duplicates``: a transaction id the file lists again (the first row counts);
* ``unknown_loans``: a loan number that is none of the owner's cases;
* ``invalid``: rows that are not a payment (every problem named).

Run it again and it applies nothing twice: what it applied the first time is now ``matched``.

**Import** feeds the statement's rows as events and reports accepted, duplicates and rejected.

**Daily**, when the owner configured a statement source (``settings["statement_source"] =
{"prefix": "statements/"}``: the files the core system drops under ``tenants/<id>/statements/``
in storage), every new file there is reconciled once (``payments.reconcile_runs``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO, Any

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import String, select

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.imports import normalize as n
from arrears.cases.imports.fields import is_summary_row
from arrears.cases.imports.reader import FileRefused, Limits, open_table
from arrears.cases.models import Case
from arrears.columns import utcnow
from arrears.errors import NotFound
from arrears.extensions import db
from arrears.kernel import audit, clock, sheets
from arrears.kernel.db import among
from arrears.kernel.transaction import transaction
from arrears.payments import repayments
from arrears.payments.checks import case_ids_by_loan
from arrears.payments.models import Repayment, RepaymentSource, RepaymentStatus
from arrears.payments.repayments import apply_all, queue_apply
from arrears.payments.statement_columns import (
    CENT,
    COLUMNS,
    STATEMENT_HEADER,
    channel,
    column_for,
    identifier,
    jsonable,
    parse_amount,
    parse_paid_at,
)
from arrears.tenancy import tenant
from arrears.tenancy.models import Organisation, OrgKind

CHUNK = 1000  # events recorded per transaction
APPLY_ROUNDS = 10_000  # apply_received chunks at most, inline
CLOCK_SKEW = dt.timedelta(minutes=5)  # as repayments.CLOCK_SKEW: a little ahead of our clock is fine
EARLIEST = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)  # before this, a "date" is a misread number
JOB = "payments.reconcile"  # the job of one statement, by name: the history lists its records
DEFAULT_PREFIX = "statements/"
RESERVED_FOLDERS = {"reconciliations", "imports", "exports"}  # ours: never read as a core system's drop
ProgressFn = Callable[[int, str], None]


class StatementRefused(ValueError):
    """The file is not a statement we can read; ``reason`` says why (nothing was written)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- reading a statement --------------------------------------------------------------------------------


@dataclass
class Line:
    """One data row of the statement: its cells as given, and what the checks made of them."""

    row: int
    cells: dict[str, Any]
    transaction_id: str = ""
    loan_no: str = ""
    paid_at: dt.datetime | None = None
    amount: Decimal | None = None
    channel: str = ""
    errors: list[dict[str, Any]] = field(default_factory=list)

    def error(self, key: str, reason: str) -> None:
        self.errors.append({"field": key, "reason": reason, "value": self.cells.get(key)})

    def item(self) -> dict[str, Any]:
        """The event ``repayments.record`` takes."""
        assert self.paid_at is not None
        return {
            "transaction_id": self.transaction_id,
            "loan_no": self.loan_no,
            "amount": str(self.amount),
            "paid_at": self.paid_at.isoformat(),
            "channel": self.channel,
        }


@dataclass
class Statement:
    filename: str
    format: str
    encoding: str | None
    sheet: str
    header_row: int
    columns: dict[str, str]  # column key -> the header as written
    lines: list[Line]
    blank_rows: int = 0
    summary_rows: int = 0

    def info(self) -> dict[str, Any]:
        return {
            "file": self.filename,
            "format": self.format,
            "encoding": self.encoding,
            "sheet": self.sheet,
            "header_row": self.header_row,
            "columns": self.columns,
            "rows_read": len(self.lines),
            "blank_rows": self.blank_rows,
            "summary_rows": self.summary_rows,
        }


def limits() -> Limits:
    return Limits(
        max_bytes=int(current_app.config["IMPORT_MAX_MB"]) * 1024 * 1024,
        max_rows=int(current_app.config["IMPORT_MAX_ROWS"]),
    )


def open_statement(data: bytes | Path, filename: str) -> tuple[Any, dict[str, int]]:
    """The table and where each column is (``{key: index}``), or StatementRefused: not readable,
    no header, a required column missing. Cheap: the rows are not read yet."""
    try:
        table = open_table(data, filename, limits(), STATEMENT_HEADER)
    except FileRefused as exc:
        raise StatementRefused(exc.reason)
    mapping: dict[str, int] = {}
    for index, header in enumerate(table.headers):
        key = column_for(header)
        if key is not None and key not in mapping:
            mapping[key] = index
    missing = [str(c.label) for c in COLUMNS if c.required and c.key not in mapping]
    if missing:
        raise StatementRefused(_("The statement has no column for: %(columns)s.", columns=", ".join(missing)))
    return table, mapping


def read_statement(data: bytes | Path, filename: str, *, now: dt.datetime | None = None) -> Statement:
    """Every data row of the statement, checked (blank and summary rows counted and left out)."""
    table, mapping = open_statement(data, filename)
    zone = clock.zone()
    now = now or utcnow()
    statement = Statement(
        filename=Path(filename).name or "statement",
        format=table.format,
        encoding=table.encoding,
        sheet=table.sheet,
        header_row=table.header_row,
        columns={key: n.text(table.headers[i]) for key, i in mapping.items()},
        lines=[],
    )
    try:
        for number, cells in table.rows():
            values = {key: (cells[i] if i < len(cells) else None) for key, i in mapping.items()}
            if all(n.is_blank(v) for v in values.values()):
                statement.blank_rows += 1
                continue
            if is_summary_row(cells):
                statement.summary_rows += 1
                continue
            statement.lines.append(_check(number, values, zone, now))
    except FileRefused as exc:  # too many rows
        raise StatementRefused(exc.reason)
    return statement


def _check(number: int, values: dict[str, Any], zone: dt.tzinfo, now: dt.datetime) -> Line:
    line = Line(row=number, cells={k: jsonable(v) for k, v in values.items()})
    try:
        line.transaction_id = identifier(
            values.get("transaction_id"),
            _l("The transaction id is missing."),
            _l("The transaction id is longer than 64 characters."),
        )
    except n.CellError as exc:
        line.error("transaction_id", exc.reason)
    try:
        line.loan_no = identifier(
            values.get("loan_no"),
            _l("The loan number is missing."),
            _l("The loan number is longer than 64 characters."),
        )
    except n.CellError as exc:
        line.error("loan_no", exc.reason)
    try:
        line.paid_at = parse_paid_at(values.get("paid_at"), zone)
        if line.paid_at > now + CLOCK_SKEW:
            line.error("paid_at", _("The payment time is in the future."))
        elif line.paid_at < EARLIEST:
            line.error("paid_at", _("The payment time is before 1990: a number misread as a date?"))
    except n.CellError as exc:
        line.error("paid_at", exc.reason)
    try:
        line.amount = parse_amount(values.get("amount"))
    except n.CellError as exc:
        line.error("amount", exc.reason)
    try:
        line.channel = channel(values.get("channel"))
    except n.CellError as exc:
        line.error("channel", exc.reason)
    return line


# --- reconciling ------------------------------------------------------------------------------------------

CATEGORIES: tuple[str, ...] = (
    "matched",
    "applied",
    "mismatched",
    "platform_only",
    "duplicates",
    "unknown_loans",
    "invalid",
)
CATEGORY_LABELS: dict[str, Any] = {
    "matched": _l("Matched"),
    "applied": _l("Applied now"),
    "mismatched": _l("Amount or loan differs"),
    "platform_only": _l("In the platform, not in the statement"),
    "duplicates": _l("Duplicates in the file"),
    "unknown_loans": _l("Unknown loans"),
    "invalid": _l("Invalid rows"),
}
CATEGORY_HELP: dict[str, Any] = {
    "matched": _l("In the statement and in the platform, with the same loan and amount."),
    "applied": _l("In the statement but missing from the platform: recorded and applied now."),
    "mismatched": _l(
        "The same transaction id with another amount or loan, or reversed in the platform: "
        "reported, never applied again."
    ),
    "platform_only": _l("Core-system payments of the statement's days that the statement does not list."),
    "duplicates": _l("A transaction id the file lists again; the first row counts."),
    "unknown_loans": _l("Loan numbers that are none of our cases: nothing recorded."),
    "invalid": _l("Rows that are not a payment: every problem named."),
}


def _local(moment: dt.datetime | None, zone: dt.tzinfo) -> str | None:
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment is not None else None


def _line_row(line: Line, zone: dt.tzinfo, **extra: Any) -> dict[str, Any]:
    return {
        "row": line.row,
        "transaction_id": line.transaction_id,
        "loan_no": line.loan_no,
        "paid_at": _local(line.paid_at, zone),
        "amount": str(line.amount) if line.amount is not None else None,
        "channel": line.channel,
        **extra,
    }


def _invalid_row(line: Line, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "row": line.row,
        "transaction_id": line.transaction_id or _text_or_none(line.cells.get("transaction_id")),
        "loan_no": line.loan_no or _text_or_none(line.cells.get("loan_no")),
        "paid_at": _text_or_none(line.cells.get("paid_at")),
        "amount": _text_or_none(line.cells.get("amount")),
        "channel": _text_or_none(line.cells.get("channel")),
        "errors": errors if errors is not None else line.errors,
    }


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _split(statement: Statement) -> tuple[list[Line], list[tuple[Line, Line]], list[Line]]:
    """The valid rows, first of each transaction id; the repeated ones (with their first); the
    invalid ones."""
    first: dict[str, Line] = {}
    again: list[tuple[Line, Line]] = []
    invalid: list[Line] = []
    for line in statement.lines:
        if line.errors:
            invalid.append(line)
        elif line.transaction_id in first:
            again.append((line, first[line.transaction_id]))
        else:
            first[line.transaction_id] = line
    return list(first.values()), again, invalid


PAGE = 10_000  # values looked up per statement


@dataclass
class CoreRow:
    id: int
    transaction_id: str
    case_id: int
    loan_no: str
    amount: Decimal
    paid_at: dt.datetime
    status: str
    source: str


def _value(member: Any) -> str:
    return str(getattr(member, "value", member))


def _core_rows(org_id: int, transaction_ids: Iterable[str]) -> dict[str, CoreRow]:
    """The owner's core-system records (API or statement) of these transaction ids."""
    ids = sorted(set(transaction_ids))
    out: dict[str, CoreRow] = {}
    for start in range(0, len(ids), PAGE):
        for row in db.session.execute(
            select(
                Repayment.id,
                Repayment.external_id,
                Repayment.case_id,
                Case.loan_no,
                Repayment.amount,
                Repayment.paid_at,
                Repayment.status,
                Repayment.source,
            )
            .join(Case, Case.id == Repayment.case_id)
            .where(
                Repayment.org_id == org_id,
                Repayment.origin == "core",
                among(Repayment.external_id, ids[start : start + PAGE], String()),
            )
        ):
            out[row[1]] = CoreRow(
                row[0], row[1], row[2], row[3], Decimal(row[4]), row[5], _value(row[6]), _value(row[7])
            )
    return out


def _record(
    org: Organisation,
    lines: list[Line],
    actor_id: int | None,
    progress: ProgressFn | None,
    span: tuple[int, int],
) -> list[tuple[Line, dict[str, Any]]]:
    """``repayments.record`` the lines as statement events, a chunk per transaction (recording is
    idempotent: a chunk recorded before a crash is a duplicate when the work runs again)."""

    out: list[tuple[Line, dict[str, Any]]] = []
    for offset in range(0, len(lines), CHUNK):
        chunk = lines[offset : offset + CHUNK]
        with transaction():
            recorded = repayments.record(
                org,
                [line.item() for line in chunk],
                source=RepaymentSource.STATEMENT,
                actor_id=actor_id,
                enqueue_apply=False,
            )
        out.extend(zip(chunk, recorded.items, strict=True))
        if progress is not None:
            done = offset + len(chunk)
            progress(span[0] + (span[1] - span[0]) * done // max(1, len(lines)), _("%(n)d recorded", n=done))
    return out


def apply_now(org: Organisation) -> dict[str, Any]:
    """Apply the owner's received repayments inline (``repayments.apply_all``): exactly once, as the
    apply job."""

    done = apply_all(org, max_rounds=APPLY_ROUNDS)
    return {"applied": done["applied"], "amount": done["amount"]}


def _platform_only(
    org_id: int, start: dt.datetime, end: dt.datetime, listed: set[str]
) -> list[tuple[CoreRow, str]]:
    rows = []
    for row in db.session.execute(
        select(
            Repayment.id,
            Repayment.external_id,
            Repayment.case_id,
            Case.loan_no,
            Repayment.amount,
            Repayment.paid_at,
            Repayment.status,
            Repayment.source,
            Repayment.channel,
        )
        .join(Case, Case.id == Repayment.case_id)
        .where(
            Repayment.org_id == org_id,
            Repayment.origin == "core",
            Repayment.status != RepaymentStatus.REVERSED,
            Repayment.paid_at >= start,
            Repayment.paid_at < end,
        )
        .order_by(Repayment.paid_at, Repayment.id)
    ):
        if row[1] not in listed:
            rows.append(
                (
                    CoreRow(
                        row[0],
                        row[1],
                        row[2],
                        row[3],
                        Decimal(row[4]),
                        row[5],
                        _value(row[6]),
                        _value(row[7]),
                    ),
                    row[8] or "",
                )
            )
    return rows


def _total(rows: Iterable[dict[str, Any]], key: str = "amount") -> str:
    total = Decimal("0.00")
    for row in rows:
        value = row.get(key)
        if value is None:
            continue
        try:
            total += Decimal(str(value))
        except InvalidOperation:
            continue
    return str(total.quantize(CENT))


def reconcile(
    org: Organisation,
    data: bytes | Path,
    filename: str,
    *,
    actor: User | None = None,
    progress: ProgressFn | None = None,
    now: dt.datetime | None = None,
    via: str = "cli",
) -> dict[str, Any]:
    """Reconcile a statement (bytes, or a path) against the owner's core-system records: what is
    missing is recorded and applied now; the rest is reported by category (module docstring).
    Returns the result (JSON-ready: amounts as strings); StatementRefused when the file cannot be
    read (nothing written)."""
    if org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("Only an asset owner reconciles statements."))
    if actor is not None:
        require(actor, "repayments.audit")
    actor_id = actor.id if actor is not None else None
    with tenant(org.id, org.kind, actor_id):
        if progress is not None:
            progress(5, _("reading the statement"))
        statement = read_statement(data, filename, now=now)
        zone = clock.zone()
        unique, again, invalid = _split(statement)
        if progress is not None:
            progress(15, _("%(n)d rows read", n=len(statement.lines)))
        cases = case_ids_by_loan(org.id, (line.loan_no for line in unique), PAGE)
        known = [line for line in unique if line.loan_no in cases]
        unknown = [line for line in unique if line.loan_no not in cases]
        before = _core_rows(org.id, (line.transaction_id for line in known))
        fresh = [line for line in known if line.transaction_id not in before]
        recorded = _record(org, fresh, actor_id, progress, (20, 70))
        if progress is not None:
            progress(75, _("applying"))
        if any(item["status"] == "accepted" for _line, item in recorded):
            apply_now(org)
        after = _core_rows(org.id, (line.transaction_id for line in known))
        # each line of the statement in its category
        rows: dict[str, list[dict[str, Any]]] = {c: [] for c in CATEGORIES}
        _compare_known(rows, known, recorded, after, cases, zone)
        rows["unknown_loans"] = [_line_row(line, zone) for line in unknown]
        _add_duplicates_and_invalid(rows, again, invalid, zone)
        # the statement's days, whole, in the owner's zone
        period = _add_platform_only(rows, org, statement, unique, zone)
        summary = {
            c: {"count": len(rows[c]), "amount": _total(rows[c]), "label": str(CATEGORY_LABELS[c])}
            for c in CATEGORIES
        }
        result = _result(statement, unique, again, unknown, period, summary, rows, zone)
        with transaction():
            audit.record(
                "repayments.reconciled",
                actor=actor,
                org_id=org.id,
                actor_email="" if actor else via,
                details={
                    "file": statement.filename,
                    "transactions": result["transactions"],
                    **{c: summary[c]["count"] for c in CATEGORIES},
                    "applied_amount": summary["applied"]["amount"],
                },
            )
        if progress is not None:
            progress(95, _("reconciled"))
        return result


# --- reconciling, category by category ------------------------------------------------------------------


def _compare_known(
    rows: dict[str, list[dict[str, Any]]],
    known: list[Any],
    recorded: list[Any],
    after: dict[str, Any],
    cases: dict[str, int],
    zone: Any,
) -> None:
    """The lines whose loan the owner has: applied now, matched, mismatched or invalid."""
    outcome = {line.transaction_id: item for line, item in recorded}
    for line in known:
        item = outcome.get(line.transaction_id)
        core = after.get(line.transaction_id)
        if item is not None and item["status"] == "rejected":
            rows["invalid"].append(_invalid_row(line, item.get("errors", [])))
            continue
        if core is None:  # not there even now (cannot happen unless deleted meanwhile)
            rows["invalid"].append(
                _invalid_row(line, [{"field": "transaction_id", "reason": _("Not recorded."), "value": None}])
            )
            continue
        platform = {
            "repayment_id": core.id,
            "platform_status": core.status,
            "platform_source": core.source,
        }
        if item is not None and item["status"] == "accepted":
            rows["applied"].append(_line_row(line, zone, **platform))
            continue
        differs = [
            name
            for name, mine, theirs in (
                ("amount", line.amount, core.amount),
                ("loan_no", cases[line.loan_no], core.case_id),
            )
            if mine != theirs
        ]
        if core.status == RepaymentStatus.REVERSED.value:
            differs.append("status")
        if differs:
            rows["mismatched"].append(
                _line_row(
                    line,
                    zone,
                    **platform,
                    platform_loan_no=core.loan_no,
                    platform_amount=str(core.amount),
                    platform_paid_at=_local(core.paid_at, zone),
                    differs=differs,
                )
            )
        else:
            rows["matched"].append(_line_row(line, zone, **platform))


def _add_duplicates_and_invalid(
    rows: dict[str, list[dict[str, Any]]], again: list[Any], invalid: list[Any], zone: Any
) -> None:
    """Lines delivered again (with what differs from the first), and the unreadable ones, by row."""
    for line, first in again:
        differs = [
            name
            for name in ("loan_no", "amount", "paid_at", "channel")
            if getattr(line, name) != getattr(first, name)
        ]
        rows["duplicates"].append(_line_row(line, zone, first_row=first.row, differs=differs))
    rows["invalid"] = [_invalid_row(line) for line in invalid] + rows["invalid"]
    rows["invalid"].sort(key=lambda r: r["row"])


def _add_platform_only(
    rows: dict[str, list[dict[str, Any]]], org: Organisation, statement: Any, unique: list[Any], zone: Any
) -> dict[str, str] | None:
    """The platform's core-system records of the statement's days that the statement does not list;
    returns those days (``None`` for a statement without a payment time)."""
    moments = [line.paid_at for line in unique if line.paid_at is not None]
    if not moments:
        return None
    first_day = min(moments).astimezone(zone).date()
    last_day = max(moments).astimezone(zone).date()
    listed = {line.transaction_id for line in statement.lines if line.transaction_id}
    start = dt.datetime.combine(first_day, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    rows["platform_only"] = [
        {
            "row": None,
            "transaction_id": core.transaction_id,
            "loan_no": core.loan_no,
            "paid_at": _local(core.paid_at, zone),
            "amount": str(core.amount),
            "channel": channel,
            "repayment_id": core.id,
            "platform_status": core.status,
            "platform_source": core.source,
        }
        for core, channel in _platform_only(org.id, start, end, listed)
    ]
    return {"from": first_day.isoformat(), "to": last_day.isoformat()}


def _result(
    statement: Any,
    unique: list[Any],
    again: list[Any],
    unknown: list[Any],
    period: dict[str, str] | None,
    summary: dict[str, Any],
    rows: dict[str, list[dict[str, Any]]],
    zone: Any,
) -> dict[str, Any]:
    """The reconciliation's result, JSON-ready (amounts as strings)."""
    return {
        "kind": "reconciliation",
        **statement.info(),
        "period": period,
        "reconciled_at": utcnow().astimezone(zone).isoformat(timespec="seconds"),
        "transactions": len(unique),
        "duplicate_deliveries": len(again),
        "unknown_loans": len(unknown),
        "invalid_rows": len(rows["invalid"]),
        "total_amount_unique": str(
            sum((line.amount for line in unique if line.amount is not None), Decimal("0.00"))
        ),
        "applied": summary["applied"]["count"],
        "applied_amount": summary["applied"]["amount"],
        "pending_apply": sum(1 for r in rows["applied"] if r["platform_status"] != "confirmed"),
        "summary": summary,
        "rows": rows,
    }


def summary_of(result: dict[str, Any]) -> dict[str, Any]:
    """The result without its rows (what a job record keeps)."""
    return {k: v for k, v in result.items() if k not in ("rows", "items")}


# --- importing ------------------------------------------------------------------------------------------


def import_statement(
    org: Organisation,
    data: bytes | Path,
    filename: str,
    *,
    actor: User | None = None,
    apply: bool = True,
    progress: ProgressFn | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Feed the statement's rows as events (``repayments.record(..., source=STATEMENT)``): one
    result per row, accepted, duplicate (recorded before, or repeated in the file) or rejected
    (with every problem); then, with ``apply``, apply what was accepted at once."""
    if org.kind != OrgKind.ASSET_OWNER:
        raise NotFound(_("Only an asset owner imports statements."))
    if actor is not None:
        require(actor, "repayments.post")
    actor_id = actor.id if actor is not None else None
    with tenant(org.id, org.kind, actor_id):
        statement = read_statement(data, filename, now=now)
        valid = [line for line in statement.lines if not line.errors]
        recorded = {id(line): item for line, item in _record(org, valid, actor_id, progress, (10, 80))}
        items: list[dict[str, Any]] = []
        counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
        new_ids: list[int] = []
        for line in statement.lines:
            if line.errors:
                entry: dict[str, Any] = {
                    "row": line.row,
                    "transaction_id": line.transaction_id or None,
                    "status": "rejected",
                    "errors": line.errors,
                }
            else:
                item = recorded[id(line)]
                entry = {"row": line.row, **{k: v for k, v in item.items() if k != "index"}}
                if item["status"] == "accepted":
                    new_ids.append(item["repayment_id"])
            counts[entry["status"]] += 1
            items.append(entry)
        applied: dict[str, Any] = {"applied": 0, "amount": "0.00"}
        if apply and new_ids:
            if progress is not None:
                progress(85, _("applying"))
            apply_now(org)
            confirmed = db.session.execute(
                select(Repayment.amount).where(
                    Repayment.id.in_(new_ids), Repayment.status == RepaymentStatus.CONFIRMED
                )
            ).all()
            applied = {
                "applied": len(confirmed),
                "amount": str(sum((Decimal(r[0]) for r in confirmed), Decimal("0.00"))),
            }
        elif new_ids:
            with transaction():
                queue_apply(org, actor_id=actor_id)
        with transaction():
            audit.record(
                "repayments.statement_imported",
                actor=actor,
                org_id=org.id,
                actor_email="" if actor else "cli",
                details={"file": statement.filename, **counts, "applied": applied["applied"]},
            )
        return {
            "kind": "statement_import",
            **statement.info(),
            "accepted": counts["accepted"],
            "duplicates": counts["duplicate"],
            "rejected": counts["rejected"],
            "applied": applied["applied"],
            "applied_amount": applied["amount"],
            "items": items,
        }


# --- the result workbook --------------------------------------------------------------------------------


def _sheet_columns() -> dict[str, list[tuple[str, str]]]:
    base = [
        ("row", _("Row")),
        ("transaction_id", _("Transaction id")),
        ("loan_no", _("Loan number")),
        ("paid_at", _("Paid at")),
        ("amount", _("Amount")),
        ("channel", _("Channel")),
    ]
    platform = [("repayment_id", _("Platform record")), ("platform_status", _("Platform status"))]
    return {
        "matched": base + platform,
        "applied": base + platform,
        "mismatched": base
        + platform
        + [
            ("platform_loan_no", _("Platform loan number")),
            ("platform_amount", _("Platform amount")),
            ("platform_paid_at", _("Platform paid at")),
            ("differs", _("Differs")),
        ],
        "platform_only": base[1:] + platform + [("platform_source", _("Source"))],
        "duplicates": [*base, ("first_row", _("First row")), ("differs", _("Differs"))],
        "unknown_loans": base,
        "invalid": [*base, ("errors", _("Problems"))],
    }


FIELD_LABELS: dict[str, Any] = {
    "transaction_id": _l("Transaction id"),
    "loan_no": _l("Loan number"),
    "paid_at": _l("Paid at"),
    "amount": _l("Amount"),
    "channel": _l("Channel"),
    "status": _l("Status"),
    "item": _l("Row"),
}


def describe(value: Any) -> str:
    """A cell of the result as text: lists of fields or of problems joined."""
    if value is None:
        return ""
    if isinstance(value, list):
        parts = []
        for entry in value:
            if isinstance(entry, dict):
                name = entry.get("field", "")
                parts.append(f"{FIELD_LABELS.get(name, name)}: {entry.get('reason', '')}")
            else:
                parts.append(str(FIELD_LABELS.get(entry, entry)))
        return "; ".join(parts)
    return str(value)


def write_workbook(result: dict[str, Any], out: IO[bytes]) -> None:
    """The result as .xlsx: a summary sheet, then one sheet per category with its rows."""

    workbook = sheets.Workbook(out, {"in_memory": True})
    bold = workbook.add_format({"bold": True})
    money = workbook.add_format({"num_format": "#,##0.00"})
    when = workbook.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    summary = workbook.add_worksheet(_("Summary")[:31])
    facts = [
        (_("File"), result.get("file")),
        (_("Period"), _period_text(result.get("period"))),
        (_("Reconciled at"), result.get("reconciled_at")),
        (_("Rows read"), result.get("rows_read")),
        (_("Transactions"), result.get("transactions")),
        (_("Total amount (unique transactions)"), Decimal(str(result.get("total_amount_unique") or "0"))),
    ]
    for i, (label, value) in enumerate(facts):
        summary.write_string(i, 0, str(label), bold)
        _write(summary, i, 1, value, money)
    top = len(facts) + 1
    summary.write_row(top, 0, [_("Category"), _("Count"), _("Amount")], bold)
    for i, category in enumerate(CATEGORIES, top + 1):
        figures = result["summary"][category]
        summary.write_string(i, 0, str(CATEGORY_LABELS[category]))
        summary.write_number(i, 1, figures["count"])
        summary.write_number(i, 2, Decimal(figures["amount"]), money)
    summary.set_column(0, 0, 36)
    summary.set_column(1, 2, 18)
    columns = _sheet_columns()
    for category in CATEGORIES:
        sheet = workbook.add_worksheet(_sheet_name(str(CATEGORY_LABELS[category])))
        heads = columns[category]
        sheet.write_row(0, 0, [label for _key, label in heads], bold)
        for r, row in enumerate(result["rows"].get(category, []), 1):
            for c, (key, _label) in enumerate(heads):
                value = row.get(key)
                if category != "invalid" and value is not None:  # invalid rows: the cells as given
                    if key in ("amount", "platform_amount"):
                        with contextlib.suppress(InvalidOperation):
                            value = Decimal(str(value))
                    elif key in ("paid_at", "platform_paid_at"):
                        with contextlib.suppress(ValueError):
                            local = dt.datetime.fromisoformat(str(value)).replace(tzinfo=None)
                            sheet.write_datetime(r, c, local, when)
                            continue
                _write(sheet, r, c, describe(value) if isinstance(value, list) else value, money)
        sheet.set_column(0, len(heads) - 1, 18)
        sheet.freeze_panes(1, 0)
    workbook.close()


def _write(sheet: Any, row: int, col: int, value: Any, money: Any) -> None:
    if value is None or value == "":
        return
    if isinstance(value, Decimal):
        sheet.write_number(row, col, value, money)
    elif isinstance(value, int) and not isinstance(value, bool):
        sheet.write_number(row, col, value)
    else:
        sheet.write_string(row, col, str(value))


def _sheet_name(label: str) -> str:
    return re.sub(r"[\[\]:*?/\\]", " ", label)[:31]


def _period_text(period: Any) -> str:
    if not period:
        return ""
    return f"{period['from']} – {period['to']}"


def workbook_bytes(result: dict[str, Any]) -> bytes:

    buffer = io.BytesIO()
    write_workbook(result, buffer)
    return buffer.getvalue()
