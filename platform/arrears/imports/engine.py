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

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from arrears.extensions import db
from arrears.imports import normalize as n
from arrears.imports.fields import FIELD_BY_KEY, FIELDS, auto_mapping, header_key, is_summary_row
from arrears.imports.reader import FileRefused, Limits, Table, open_table
from arrears.models import Case, CaseEvent, CaseStatus, Debtor, DebtorContact
from arrears.models.base import utcnow
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


@dataclass
class Parsed:
    row: int
    values: dict[str, Any]
    row_hash: str = ""
    debtor_hash: str = ""


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
    source: bytes | str,
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
    seen: dict[str, int] = {}
    chunk: list[Parsed] = []
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
            writer.write(chunk)
            chunk = []
            if progress is not None:
                progress(report.rows_read, "rows")
    if chunk:
        writer.write(chunk)


_IGNORED_HEADERS = {header_key(h) for h in ("序号", "编号", "行号", "no", "#", "seq", "index")}


def _parse_row(
    number: int,
    cells: list[Any],
    mapping: dict[str, int],
    headers: list[Any],
    report: Report,
    seen: dict[str, int],
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
            seen[loan_no] = number
    if errors:
        report.errors.extend(errors)
        return None
    for money in ("interest", "penalty", "fee"):
        values.setdefault(money, ZERO)
    values["outstanding"] = values["principal"] + values["interest"] + values["penalty"] + values["fee"]
    report.total_outstanding += values["outstanding"]
    return Parsed(number, values)


def _digest(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return hmac.new(keyring().index_key, text.encode(), hashlib.sha256).hexdigest()


class _Writer:
    """Set-based writes for one chunk of valid rows at a time."""

    def __init__(
        self, org_id: int, report: Report, *, dry_run: bool, batch_id: int | None, actor_id: int | None
    ):
        self.org_id, self.report, self.dry_run = org_id, report, dry_run
        self.batch_id, self.actor_id = batch_id, actor_id
        self.keys = keyring()
        self.dialect = db.session.get_bind().dialect.name
        if self.dialect == "postgresql":
            # The per-chunk look-ups (loan numbers, ID indexes IN a 2,000-value list) are prepared by
            # psycopg after five runs; once the table grows inside this transaction PostgreSQL may
            # switch them to a generic plan that compares every row with the whole list (about 100x
            # slower, measured). Plan each execution for its own values, for this transaction only.
            db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))

    def write(self, rows: list[Parsed]) -> None:
        for row in rows:
            v = row.values
            v["id_number_bidx"] = self.keys.blind_index("id", v["id_number"])
            v["debtor"] = {
                "name": v["name"],
                "mobile": v.get("mobile"),
                "email": v.get("email"),
                "home_address": v.get("address"),
                "work_address": v.get("work_address"),
                "employer": v.get("employer"),
            }
            v["case"] = {
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
            row.debtor_hash = _digest(v["debtor"])
            row.row_hash = _digest(
                {
                    "c": v["case"],
                    "d": row.debtor_hash,
                    "id": v["id_number_bidx"],
                    "k": [v.get("contact_name"), v.get("contact_relation"), v.get("contact_phone")],
                }
            )
        debtor_ids = self._debtors(rows)
        self._cases(rows, debtor_ids)

    # --- debtors ----------------------------------------------------------------------------------
    def _debtors(self, rows: list[Parsed]) -> dict[str, int]:
        latest: dict[str, Parsed] = {}
        for row in rows:  # one debtor may have several loans in the file: the last row describes them
            latest[row.values["id_number_bidx"]] = row
        existing = {
            bidx: (debtor_id, data_hash)
            for debtor_id, bidx, data_hash in db.session.execute(
                select(Debtor.id, Debtor.id_number_bidx, Debtor.data_hash).where(
                    Debtor.org_id == self.org_id, Debtor.id_number_bidx.in_(list(latest))
                )
            )
        }
        ids = {bidx: pair[0] for bidx, pair in existing.items()}
        if self.dry_run:
            return ids
        new_rows = [r for bidx, r in latest.items() if bidx not in existing]
        if new_rows:
            now = utcnow()
            params = [{**self._debtor_params(r), "created_at": now, "face_image_key": None} for r in new_rows]
            returned = _insert_pages(Debtor.__table__, params, (Debtor.id, Debtor.id_number_bidx))
            ids.update({bidx: debtor_id for debtor_id, bidx in returned})
        changed = [r for bidx, r in latest.items() if bidx in existing and existing[bidx][1] != r.debtor_hash]
        if changed:
            db.session.execute(
                update(Debtor),
                [{"id": existing[r.values["id_number_bidx"]][0], **self._debtor_params(r)} for r in changed],
            )
        self._contacts(rows, ids)
        return ids

    def _debtor_params(self, row: Parsed) -> dict[str, Any]:
        v = row.values
        mobile = v.get("mobile")
        return {
            "org_id": self.org_id,
            "id_number": v["id_number"],
            "id_number_bidx": v["id_number_bidx"],
            "mobile_bidx": self.keys.blind_index("mobile", mobile) if mobile else None,
            "data_hash": row.debtor_hash,
            "id_number_masked": masking.id_number(v["id_number"]),
            "mobile_masked": masking.phone(mobile) or None,
            "email_masked": masking.email(v.get("email")) or None,
            "home_address_masked": masking.address(v.get("address")) or None,
            "work_address_masked": masking.address(v.get("work_address")) or None,
            "updated_at": utcnow(),
            **v["debtor"],
        }

    def _contacts(self, rows: list[Parsed], debtor_ids: dict[str, int]) -> None:
        params: dict[tuple[int, str], dict[str, Any]] = {}
        for row in rows:
            v = row.values
            if not v.get("contact_phone"):
                continue
            debtor_id = debtor_ids[v["id_number_bidx"]]
            bidx = self.keys.blind_index("phone", v["contact_phone"])
            params[(debtor_id, bidx)] = {
                "org_id": self.org_id,
                "debtor_id": debtor_id,
                "name": v.get("contact_name", ""),
                "relation": v.get("contact_relation", ""),
                "phone": v["contact_phone"],
                "phone_bidx": bidx,
                "phone_masked": masking.phone(v["contact_phone"]),
                "created_at": utcnow(),
            }
        if not params:
            return
        _insert_pages(
            DebtorContact.__table__,
            list(params.values()),
            conflict="ON CONFLICT (debtor_id, phone_bidx) DO UPDATE SET name = EXCLUDED.name, "
            "relation = EXCLUDED.relation",
        )

    # --- cases ------------------------------------------------------------------------------------
    def _cases(self, rows: list[Parsed], debtor_ids: dict[str, int]) -> None:
        loan_nos = [r.values["loan_no"] for r in rows]
        existing = {
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
        events: list[dict[str, Any]] = []
        if new_rows:
            params = [
                {
                    "org_id": self.org_id,
                    "loan_no": r.values["loan_no"],
                    "debtor_id": debtor_ids[r.values["id_number_bidx"]],
                    "import_batch_id": self.batch_id,
                    "row_hash": r.row_hash,
                    "status": CaseStatus.NEW,
                    "created_at": now,
                    "updated_at": now,
                    "currency": "CNY",
                    "flags": {},
                    "extra": {},
                    "priority": 0,
                    **r.values["case"],
                }
                for r in new_rows
            ]
            for case_id, _loan_no in _insert_pages(Case.__table__, params, (Case.id, Case.loan_no)):
                events.append(
                    {
                        "org_id": self.org_id,
                        "case_id": case_id,
                        "kind": "imported",
                        "import_batch_id": self.batch_id,
                        "actor_user_id": self.actor_id,
                        "created_at": now,
                        "changes": {},
                    }
                )
        if changed:
            updates = []
            for r in changed:
                old = existing[r.values["loan_no"]]
                new_debtor = debtor_ids[r.values["id_number_bidx"]]
                diff = {
                    f: [_plain(getattr(old, f)), _plain(r.values["case"][f])]
                    for f in CASE_FIELDS
                    if _plain(getattr(old, f)) != _plain(r.values["case"][f])
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
                        **r.values["case"],
                    }
                )
                events.append(
                    {
                        "org_id": self.org_id,
                        "case_id": old.id,
                        "kind": "updated",
                        "import_batch_id": self.batch_id,
                        "actor_user_id": self.actor_id,
                        "created_at": now,
                        "changes": diff,
                    }
                )
            db.session.execute(update(Case), updates)
        if events:
            _insert_pages(CaseEvent.__table__, events)


def _insert_pages(
    table: Any,
    rows: list[dict[str, Any]],
    returning: tuple[Any, ...] = (),
    *,
    conflict: str = "",
) -> list[Any]:
    """Insert many rows at once; returns the ``returning`` columns of the inserted rows.

    PostgreSQL: COPY into a temporary staging table, then one ``INSERT ... SELECT ... RETURNING``
    (COPY cannot write into a table under row-level security; the INSERT is checked by its policy).
    The values are converted as the column types would (encryption, JSON, enums) before COPY.
    Elsewhere (SQLite): an executemany through SQLAlchemy Core.
    """
    if not rows:
        return []
    columns = list(rows[0])
    if db.session.get_bind().dialect.name != "postgresql":
        stmt = insert(table)
        if conflict:
            stmt = sqlite_insert(table).on_conflict_do_update(
                index_elements=_CONFLICTS[table.name][0],
                set_={c: getattr(sqlite_insert(table).excluded, c) for c in _CONFLICTS[table.name][1]},
            )
        if returning:
            return [
                r for row in rows for r in db.session.execute(stmt.values(row).returning(*returning)).all()
            ]
        db.session.execute(stmt, rows)
        return []
    converters = [_converter(table.c[name].type) for name in columns]
    raw = db.session.connection().connection.dbapi_connection
    stage = f"stage_{table.name}"
    names = ", ".join(columns)
    with raw.cursor() as cur:  # type: ignore[union-attr]
        cur.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS {stage} ON COMMIT DROP AS "  # noqa: S608 (our own table names)
            f"SELECT {names} FROM {table.name} WITH NO DATA"
        )
        cur.execute(f"TRUNCATE {stage}")
        with cur.copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(
                    [convert(row[name]) for convert, name in zip(converters, columns, strict=True)]
                )
        sql = f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage}"  # noqa: S608
        if conflict:
            sql += " " + conflict
        if returning:
            sql += " RETURNING " + ", ".join(c.name for c in returning)
        cur.execute(sql)
        result = cur.fetchall() if returning else []
        cur.execute(f"DROP TABLE {stage}")
    return result


# upserts: table -> (conflict columns, columns to update)
_CONFLICTS = {"debtor_contacts": (["debtor_id", "phone_bidx"], ["name", "relation"])}


def _converter(column_type: Any) -> Callable[[Any], Any]:
    """What the column type would bind, for COPY: encrypt, serialise JSON, enum values."""
    from sqlalchemy import JSON, Enum

    from arrears.security.pii import EncryptedText

    if isinstance(column_type, EncryptedText):
        ring = keyring()
        return lambda v: ring.encrypt(str(v)) if v not in (None, "") else v
    if isinstance(column_type, JSON):
        return lambda v: None if v is None else json.dumps(v, ensure_ascii=False, default=str)
    if isinstance(column_type, Enum):
        return lambda v: v.value if hasattr(v, "value") else v
    return lambda v: v


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
