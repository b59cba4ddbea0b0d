"""The import engine, shared by the console, the CLI and the job: read, map, validate, write.

One pass over the rows: each row is validated on its own (every bad cell is reported with the
spreadsheet's row number, the column header, the value and the reason), valid rows are buffered in
chunks and written with set-based statements (bulk INSERT ... RETURNING, bulk UPDATE by id), never
row by row. The whole import is one transaction: all valid rows or none. A dry run takes exactly the
same path and writes nothing.

Re-importing the same file changes nothing: a keyed hash of each normalised row is stored on the
case, so an unchanged row is recognised without decrypting anything; a changed row updates its case
by loan number and records what changed in the case's history.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import select, text, update

from arrears.cases.imports import normalize as n
from arrears.cases.imports.fields import FIELD_BY_KEY, FIELDS, auto_mapping, header_key, is_summary_row
from arrears.cases.imports.reader import FileRefused, Limits, Table, open_table
from arrears.cases.ledger import post_adjustments
from arrears.cases.models import Case, CaseEvent, CaseStatus, Debtor, DebtorContact
from arrears.columns import utcnow
from arrears.extensions import db
from arrears.kernel.db import insert_pages as _insert_pages
from arrears.security import masking
from arrears.security.pii import keyring

CHUNK = 2000
ZERO = Decimal("0.00")
# Columns of a case that an import sets (and compares for the history of changes).
CASE_FIELDS = (
    "product",
    "loan_date",
    "loan_amount",
    "term",
    "due_date",
    "principal",
    "interest",
    "penalty",
    "fee",
    "outstanding",
    "lender_total",
    "lender_dpd",
    "account_no",
    "card_no_masked",
    "card_type",
    "statement_date",
    "min_payment",
    "province",
    "city",
    "region",
    "tags",
)
DEBTOR_FIELDS = ("name", "mobile", "email", "home_address", "work_address", "employer")


@dataclass
class RowError:
    row: int
    column: str
    value: Any
    reason: str

    def as_dict(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        return {"row": self.row, "column": self.column, "value": value, "reason": self.reason}


@dataclass
class Report:
    file: str
    format: str = ""
    sheet: str = ""
    encoding: str | None = None
    header_row: int = 0
    mapping: dict[str, str] = field(default_factory=dict)
    unmapped_columns: list[str] = field(default_factory=list)
    dry_run: bool = False
    rows_read: int = 0
    imported: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    summary_rows: int = 0
    rejected: int = 0
    total_outstanding: Decimal = ZERO
    errors: list[RowError] = field(default_factory=list)
    rejected_rows: dict[int, list[Any]] = field(default_factory=dict)  # original cells, for the .xlsx
    # row number -> imported / updated / unchanged / rejected, when the caller asks (the API)
    row_status: dict[int, str] | None = None
    headers: list[str] = field(default_factory=list)

    @property
    def valid_rows(self) -> int:
        return self.imported + self.updated + self.unchanged

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "sheet": self.sheet,
            "encoding": self.encoding,
            "header_row": self.header_row,
            "mapping": self.mapping,
            "unmapped_columns": self.unmapped_columns,
            "dry_run": self.dry_run,
            "rows_read": self.rows_read,
            "valid_rows": self.valid_rows,
            "imported": self.imported,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "summary_rows": self.summary_rows,
            "rejected": self.rejected,
            "rejected_rows": self.rejected,
            "total_outstanding": str(self.total_outstanding),  # exact, as the API writes money
            "errors": [e.as_dict() for e in self.errors],
        }


class ImportAborted(RuntimeError):
    """The file cannot be imported at all (not readable, required columns missing)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class Parsed:
    """A valid row: its parsed values, then what ``_Writer.prepare`` derives from them."""

    row: int
    values: dict[str, Any]
    row_hash: str = ""
    debtor_hash: str = ""
    debtor: dict[str, Any] = field(default_factory=dict)  # clear values, blind indexes, masked
    # the debtor's personal data, encrypted (on PostgreSQL, for COPY; clear on SQLite, where the
    # column types encrypt on insert)
    sealed: dict[str, str] = field(default_factory=dict)
    case: dict[str, Any] = field(default_factory=dict)
    contact: dict[str, Any] | None = None


def resolve_mapping(table: Table, columns: dict[str, str] | None) -> dict[str, int]:
    """Field → column index, from a saved or edited ``{field: header}`` or automatically."""
    if not columns:
        return auto_mapping(table.headers)
    by_header = {header_key(h): i for i, h in enumerate(table.headers) if not n.is_blank(h)}
    mapping: dict[str, int] = {}
    for key, header in columns.items():
        if key not in FIELD_BY_KEY or not header:
            continue
        index = by_header.get(header_key(header))
        if index is None:
            raise ImportAborted(f"the mapping names a column that is not in the file: {header}")
        mapping[key] = index
    return mapping


def run_import(
    org_id: int,
    source: bytes | Path | str,
    filename: str,
    *,
    dry_run: bool,
    columns: dict[str, str] | None = None,
    batch_id: int | None = None,
    actor_id: int | None = None,
    limits: Limits | None = None,
    progress: Callable[[int, str], None] | None = None,
) -> Report:
    """Import a case file for the asset owner ``org_id`` (the caller is inside that tenant and owns
    the transaction: this function flushes but never commits)."""
    try:
        table = open_table(source, filename, limits)
    except FileRefused as exc:
        raise ImportAborted(exc.reason)
    return run_table(
        org_id,
        table,
        filename,
        dry_run=dry_run,
        columns=columns,
        batch_id=batch_id,
        actor_id=actor_id,
        progress=progress,
    )


def rows_table(items: list[dict[str, Any]]) -> Table:
    """Records (the API's JSON items, keyed by field) as a table numbered from 1."""
    keys = [f.key for f in FIELDS]
    return Table(
        "json",
        "",
        None,
        0,
        list(keys),
        iter((i, [item.get(k) for k in keys]) for i, item in enumerate(items, 1)),
    )


def run_table(
    org_id: int,
    table: Table,
    filename: str,
    *,
    dry_run: bool,
    columns: dict[str, str] | None = None,
    batch_id: int | None = None,
    actor_id: int | None = None,
    progress: Callable[[int, str], None] | None = None,
    track_rows: bool = False,
) -> Report:
    mapping = resolve_mapping(table, columns)
    missing = [f.label for f in FIELDS if f.required and f.key not in mapping]
    if missing:
        raise ImportAborted(
            "required columns not found: "
            + ", ".join(missing)
            + " (map them in the console or name them as in the import guide)"
        )
    report = Report(
        file=filename,
        format=table.format,
        sheet=table.sheet,
        encoding=table.encoding,
        header_row=table.header_row,
        dry_run=dry_run,
        row_status={} if track_rows else None,
    )
    report.headers = ["" if h is None else str(h) for h in table.headers]
    report.mapping = {key: str(table.headers[i]) for key, i in sorted(mapping.items(), key=lambda kv: kv[1])}
    used = set(mapping.values())
    report.unmapped_columns = [
        str(h)
        for i, h in enumerate(table.headers)
        if i not in used and not n.is_blank(h) and header_key(h) not in _IGNORED_HEADERS
    ]
    writer = _Writer(org_id, report, dry_run=dry_run, batch_id=batch_id, actor_id=actor_id)
    try:
        _consume(table, mapping, report, writer, progress)
    except FileRefused as exc:  # a limit found while reading (rows of a CSV)
        raise ImportAborted(exc.reason)
    return report


def _consume(
    table: Table,
    mapping: dict[str, int],
    report: Report,
    writer: _Writer,
    progress: Callable[[int, str], None] | None,
) -> None:
    seen: set[str] = set()  # loan numbers of this file so far
    chunk: list[Parsed] = []
    with writer.pipeline() as submit:
        for number, cells in table.rows():
            if all(n.is_blank(c) for c in cells):
                continue
            if is_summary_row(cells):
                report.summary_rows += 1
                report.skipped += 1
                continue
            report.rows_read += 1
            parsed = _parse_row(number, cells, mapping, table.headers, report, seen)
            if parsed is None:
                report.rejected += 1
                report.rejected_rows[number] = list(cells)
                if report.row_status is not None:
                    report.row_status[number] = "rejected"
                continue
            chunk.append(parsed)
            if len(chunk) >= CHUNK:
                submit(chunk)
                chunk = []
                if progress is not None:
                    progress(report.rows_read, "rows")
        if chunk:
            submit(chunk)


_IGNORED_HEADERS = {header_key(h) for h in ("序号", "编号", "行号", "no", "#", "seq", "index")}


def _parse_row(
    number: int,
    cells: list[Any],
    mapping: dict[str, int],
    headers: list[Any],
    report: Report,
    seen: set[str],
) -> Parsed | None:
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for key, index in mapping.items():
        spec = FIELD_BY_KEY[key]
        raw = cells[index] if index < len(cells) else None
        header = str(headers[index])
        if n.is_blank(raw):
            if spec.required:
                errors.append(RowError(number, header, None, spec.missing_reason))
            continue
        try:
            values[key] = spec.parse(raw)
        except n.CellError as exc:
            errors.append(RowError(number, header, raw, exc.reason))
    loan_no = values.get("loan_no")
    if loan_no:
        if loan_no in seen:
            errors.append(
                RowError(number, str(headers[mapping["loan_no"]]), loan_no, "duplicate loan number in file")
            )
        else:
            seen.add(loan_no)
    if errors:
        report.errors.extend(errors)
        return None
    for money in ("interest", "penalty", "fee"):
        values.setdefault(money, ZERO)
    values["outstanding"] = values["principal"] + values["interest"] + values["penalty"] + values["fee"]
    report.total_outstanding += values["outstanding"]
    return Parsed(number, values)


def _digest(key: bytes, values: tuple[Any, ...]) -> str:
    """A keyed hash (BLAKE2b, 128 bits) of normalised values: recognises an unchanged row or debtor
    without decrypting anything, and says nothing about the values without the key."""
    return hashlib.blake2b(repr(values).encode(), key=key, digest_size=16).hexdigest()


# Personal data of a debtor that is encrypted at rest: column -> key of the parsed values.
_SEALED_DEBTOR = {
    "id_number": "id_number",
    "mobile": "mobile",
    "email": "email",
    "home_address": "address",
    "work_address": "work_address",
}


class _DebtorIndex:
    """The debtors an import has met: id-number blind index -> (debtor id, data hash).

    Packed into ints (the 256-bit index as the key; the id and the first 64 bits of the data hash
    as the value), which keeps a 100k-debtor import at about 14 MB here instead of 31 MB of strings
    and tuples. The index is kept whole, so two debtors never share an entry; the hash only tells
    whether a debtor's data changed.
    """

    __slots__ = ("_map",)
    _LOW = (1 << 64) - 1

    def __init__(self) -> None:
        self._map: dict[int, int] = {}

    def __contains__(self, bidx: str) -> bool:
        return int(bidx, 16) in self._map

    def put(self, bidx: str, debtor_id: int, data_hash: str) -> None:
        self._map[int(bidx, 16)] = (debtor_id << 64) | int(data_hash[:16] or "0", 16)

    def id(self, bidx: str) -> int:
        return self._map[int(bidx, 16)] >> 64

    def same(self, bidx: str, data_hash: str) -> bool:
        return self._map[int(bidx, 16)] & self._LOW == int(data_hash[:16] or "0", 16)


class _Writer:
    """Set-based writes for one chunk of valid rows at a time.

    ``prepare`` (pure computation: hashes, blind indexes, masked projections, encryption) runs in the
    reading thread; ``write`` (the look-ups and bulk writes) in one writer thread that alone uses the
    session's connection while the import runs, so PostgreSQL works on one chunk while Python reads,
    validates and encrypts the next (see ``pipeline``).
    """

    def __init__(
        self, org_id: int, report: Report, *, dry_run: bool, batch_id: int | None, actor_id: int | None
    ):
        self.org_id, self.report, self.dry_run = org_id, report, dry_run
        self.batch_id, self.actor_id = batch_id, actor_id
        self.keys = keyring()
        self.digest_key = hashlib.sha256(b"arrears import row digest:" + self.keys.index_key).digest()
        self.dialect = db.session.get_bind().dialect.name
        self.sealing = self.dialect == "postgresql"  # COPY takes tokens; elsewhere the column types encrypt
        if self.dialect == "postgresql":
            # The per-chunk look-ups (loan numbers, ID indexes IN a 2,000-value list) are prepared by
            # psycopg after five runs; once the table grows inside this transaction PostgreSQL may
            # switch them to a generic plan that compares every row with the whole list (about 100x
            # slower, measured). Plan each execution for its own values, for this transaction only.
            db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
            if not dry_run:
                # One import at a time per owner (a second one waits for the first to commit), so that
                # what this import finds in the tables below stays true until it commits.
                db.session.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext('arrears:case-import'), :org)"),
                    {"org": org_id},
                )
        # Debtors written by this import (id-number blind index -> id, data hash): a debtor with
        # several loans is looked up here, not in the database, when its next loan comes.
        self.known = _DebtorIndex()
        # Whether the owner had any debtors / cases before this import. When not (a first import),
        # nothing needs looking up in the database at all: a loan number occurs once per file (a
        # repeat is rejected) and debtors of earlier chunks are in ``known``. This matters beyond the
        # saved queries: a table that grew inside this transaction has no statistics for the planner,
        # which then scans the owner's every row for each chunk's look-up.
        self.had_debtors = self._any(Debtor)
        self.had_cases = self._any(Case)

    def _any(self, model: Any) -> bool:
        return bool(db.session.scalar(select(select(model.id).where(model.org_id == self.org_id).exists())))

    # --- the pipeline -----------------------------------------------------------------------------
    @contextmanager
    def pipeline(self) -> Iterator[Callable[[list[Parsed]], None]]:  # noqa: C901
        """Yields ``submit(rows)``: prepares the rows here and has them written in order.

        On PostgreSQL a writer thread (running in a copy of this thread's context: the same app
        context, tenant and session) writes chunk N while this thread prepares chunk N+1; at most two
        prepared chunks wait, so memory stays bounded. The session is used by the writer thread only
        until it is joined, which happens before this context exits, whatever happens: the caller's
        commit or rollback then sees every write. A failure in the writer is raised here (at the next
        ``submit`` or at the end), and a failure here stops the writer after its current chunk.
        On SQLite (one connection per thread) the chunks are written inline.
        """
        if self.dialect != "postgresql":

            def inline(rows: list[Parsed]) -> None:
                self.prepare(rows)
                self.write(rows)

            yield inline
            return
        work: queue.Queue[list[Parsed] | None] = queue.Queue(maxsize=2)
        failures: list[BaseException] = []

        def drain() -> None:
            while (rows := work.get()) is not None:
                if failures:
                    continue  # the transaction is lost: drop the rest, the caller rolls back
                try:
                    self.write(rows)
                except BaseException as exc:  # handed over to the submitting thread
                    failures.append(exc)

        worker = threading.Thread(
            target=contextvars.copy_context().run, args=(drain,), name="import-writer", daemon=True
        )
        worker.start()

        def submit(rows: list[Parsed]) -> None:
            self.prepare(rows)
            while True:
                if failures:
                    raise failures[0]
                try:
                    work.put(rows, timeout=0.2)
                    return
                except queue.Full:
                    continue

        try:
            yield submit
        finally:
            work.put(None)
            worker.join()
        if failures:
            raise failures[0]

    # --- preparing (no database) ------------------------------------------------------------------
    def prepare(self, rows: list[Parsed]) -> None:
        keys, org_id = self.keys, self.org_id
        seal = keys.encrypt if self.sealing else str
        for row in rows:
            v = row.values
            id_bidx = keys.blind_index("id", v["id_number"])
            mobile = v.get("mobile")
            debtor = {
                "org_id": org_id,
                "name": v["name"],
                "id_number": v["id_number"],
                "id_number_bidx": id_bidx,
                "mobile": mobile,
                "mobile_bidx": keys.blind_index("mobile", mobile) if mobile else None,
                "email": v.get("email"),
                "home_address": v.get("address"),
                "work_address": v.get("work_address"),
                "employer": v.get("employer"),
                "id_number_masked": masking.id_number(v["id_number"]),
                "mobile_masked": masking.phone(mobile) or None,
                "email_masked": masking.email(v.get("email")) or None,
                "home_address_masked": masking.address(v.get("address")) or None,
                "work_address_masked": masking.address(v.get("work_address")) or None,
            }
            row.debtor_hash = debtor["data_hash"] = _digest(
                self.digest_key, tuple(debtor[k] for k in DEBTOR_FIELDS)
            )
            row.debtor = debtor
            row.sealed = {
                column: seal(str(v[key]))
                for column, key in _SEALED_DEBTOR.items()
                if v.get(key) not in (None, "")
            }
            case = {
                "product": v.get("product", ""),
                "loan_date": v.get("loan_date"),
                "loan_amount": v.get("loan_amount"),
                "term": v.get("term"),
                "due_date": v["due_date"],
                "principal": v["principal"],
                "interest": v["interest"],
                "penalty": v["penalty"],
                "fee": v["fee"],
                "outstanding": v["outstanding"],
                "lender_total": v.get("total"),
                "lender_dpd": v.get("lender_dpd"),
                "account_no": v.get("account_no"),
                "card_no_masked": masking.card(v.get("card_no")) or None,
                "card_type": v.get("card_type"),
                "statement_date": v.get("statement_date"),
                "min_payment": v.get("min_payment"),
                "province": v.get("province", ""),
                "city": v.get("city", ""),
                "region": v.get("region", ""),
                "tags": v.get("tags", []),
            }
            row.case = case
            contact = v.get("contact_phone")
            if contact:
                row.contact = {
                    "org_id": org_id,
                    "name": v.get("contact_name", ""),
                    "relation": v.get("contact_relation", ""),
                    "phone": seal(contact),
                    "phone_bidx": keys.blind_index("phone", contact),
                    "phone_masked": masking.phone(contact),
                }
            row.row_hash = _digest(
                self.digest_key,
                (
                    *(case[f] for f in CASE_FIELDS),
                    row.debtor_hash,
                    id_bidx,
                    v.get("contact_name"),
                    v.get("contact_relation"),
                    contact,
                ),
            )

    # --- writing (the writer thread) --------------------------------------------------------------
    def write(self, rows: list[Parsed]) -> None:
        debtor_ids = self._debtors(rows)
        self._cases(rows, debtor_ids)

    # --- debtors ----------------------------------------------------------------------------------
    def _debtors(self, rows: list[Parsed]) -> dict[str, int]:
        if self.dry_run:  # the report counts cases; debtors matter only when writing
            return {}
        latest: dict[str, Parsed] = {}
        for row in rows:  # one debtor may have several loans in the file: the last row describes them
            latest[row.debtor["id_number_bidx"]] = row
        known = self.known
        unknown = [bidx for bidx in latest if bidx not in known]
        if unknown and self.had_debtors:
            for debtor_id, bidx, data_hash in db.session.execute(
                select(Debtor.id, Debtor.id_number_bidx, Debtor.data_hash).where(
                    Debtor.org_id == self.org_id, Debtor.id_number_bidx.in_(unknown)
                )
            ):
                known.put(bidx, debtor_id, data_hash)
        now = utcnow()
        new_rows = [r for bidx, r in latest.items() if bidx not in known]
        changed = [r for bidx, r in latest.items() if bidx in known and not known.same(bidx, r.debtor_hash)]
        if new_rows:
            params = [
                {**r.debtor, **r.sealed, "created_at": now, "updated_at": now, "face_image_key": None}
                for r in new_rows
            ]
            returned = _insert_pages(
                Debtor.__table__, params, (Debtor.id, Debtor.id_number_bidx), sealed=self.sealing
            )
            hashes = {r.debtor["id_number_bidx"]: r.debtor_hash for r in new_rows}
            for debtor_id, bidx in returned:
                known.put(bidx, debtor_id, hashes[bidx])
        if changed:  # rare: through the ORM's bulk UPDATE, whose column types encrypt the clear values
            params = []
            for r in changed:
                bidx = r.debtor["id_number_bidx"]
                params.append({**r.debtor, "id": known.id(bidx), "updated_at": now})
                known.put(bidx, known.id(bidx), r.debtor_hash)
            db.session.execute(update(Debtor), params)
        ids = {bidx: known.id(bidx) for bidx in latest}
        self._contacts(rows, ids)
        return ids

    def _contacts(self, rows: list[Parsed], debtor_ids: dict[str, int]) -> None:
        params: dict[tuple[int, str], dict[str, Any]] = {}
        now = utcnow()
        for row in rows:
            if row.contact is None:
                continue
            debtor_id = debtor_ids[row.debtor["id_number_bidx"]]
            params[(debtor_id, row.contact["phone_bidx"])] = {
                **row.contact,
                "debtor_id": debtor_id,
                "created_at": now,
            }
        if not params:
            return
        _insert_pages(
            DebtorContact.__table__,
            list(params.values()),
            conflict="ON CONFLICT (debtor_id, phone_bidx) DO UPDATE SET name = EXCLUDED.name, "
            "relation = EXCLUDED.relation",
            sealed=self.sealing,
        )

    # --- cases ------------------------------------------------------------------------------------
    def _cases(self, rows: list[Parsed], debtor_ids: dict[str, int]) -> None:
        loan_nos = [r.values["loan_no"] for r in rows]
        existing = (
            {}
            if not self.had_cases
            else {
                c.loan_no: c
                for c in db.session.execute(
                    select(
                        Case.id,
                        Case.loan_no,
                        Case.row_hash,
                        Case.debtor_id,
                        *[getattr(Case, f) for f in CASE_FIELDS],
                    ).where(Case.org_id == self.org_id, Case.loan_no.in_(loan_nos))
                )
            }
        )
        new_rows = [r for r in rows if r.values["loan_no"] not in existing]
        changed = [
            r
            for r in rows
            if r.values["loan_no"] in existing and existing[r.values["loan_no"]].row_hash != r.row_hash
        ]
        self.report.imported += len(new_rows)
        self.report.updated += len(changed)
        self.report.unchanged += len(rows) - len(new_rows) - len(changed)
        if self.report.row_status is not None:
            changed_nos = {r.values["loan_no"] for r in changed}
            for r in rows:
                no = r.values["loan_no"]
                self.report.row_status[r.row] = (
                    "imported" if no not in existing else "updated" if no in changed_nos else "unchanged"
                )
        if self.dry_run:
            return
        now = utcnow()
        event = {
            "org_id": self.org_id,
            "import_batch_id": self.batch_id,
            "actor_user_id": self.actor_id,
            "created_at": now,
        }
        if new_rows:
            params = [
                {
                    "org_id": self.org_id,
                    "loan_no": r.values["loan_no"],
                    "debtor_id": debtor_ids[r.debtor["id_number_bidx"]],
                    "import_batch_id": self.batch_id,
                    "row_hash": r.row_hash,
                    "status": CaseStatus.NEW,
                    "created_at": now,
                    "updated_at": now,
                    "currency": "CNY",
                    "flags": {},
                    "extra": {},
                    "priority": 0,
                    **r.case,
                }
                for r in new_rows
            ]
            # Each new case gets its "imported" event in the same statement (PostgreSQL) or from the
            # returned ids (elsewhere).
            created = _insert_pages(Case.__table__, params, (Case.id,), events={**event, "kind": "imported"})
            if created:
                _insert_pages(
                    CaseEvent.__table__,
                    [
                        {**event, "kind": "imported", "case_id": case_id, "changes": {}}
                        for (case_id,) in created
                    ],
                )
        if changed:
            updates, events = [], []
            for r in changed:
                old = existing[r.values["loan_no"]]
                new_debtor = debtor_ids[r.debtor["id_number_bidx"]]
                diff = {
                    f: [_plain(getattr(old, f)), _plain(r.case[f])]
                    for f in CASE_FIELDS
                    if _plain(getattr(old, f)) != _plain(r.case[f])
                }
                if old.debtor_id != new_debtor:
                    diff["debtor_id"] = [old.debtor_id, new_debtor]
                if not diff:
                    diff["debtor"] = ["changed", "changed"]  # personal data changed (not logged in clear)
                updates.append(
                    {
                        "id": old.id,
                        "row_hash": r.row_hash,
                        "debtor_id": new_debtor,
                        "import_batch_id": self.batch_id,
                        "updated_at": now,
                        **r.case,
                    }
                )
                events.append({**event, "kind": "updated", "case_id": old.id, "changes": diff})
            db.session.execute(update(Case), updates)
            _insert_pages(CaseEvent.__table__, events)
            # the lender's file moved the balances of loans that have a ledger: adjustment postings

            post_adjustments(
                self.org_id,
                [(existing[r.values["loan_no"]], r.case) for r in changed],
                actor_id=self.actor_id,
            )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list):
        return sorted(value)
    return value


def rows_for_report(report: Report, headers: Iterable[Any]) -> list[list[Any]]:
    """Rejected rows as they were in the file, with their reasons (for the downloadable .xlsx)."""
    by_row: dict[int, list[str]] = {}
    for error in report.errors:
        by_row.setdefault(error.row, []).append(f"{error.column}: {error.reason}")
    out = []
    for number, cells in sorted(report.rejected_rows.items()):
        out.append([number, *cells, "; ".join(by_row.get(number, []))])
    return out
