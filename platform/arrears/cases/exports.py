"""Case exports (M-I2): .xlsx or .csv, streamed in keyset pages (memory stays flat), masked unless
the exporter may unmask, always audited."""

from __future__ import annotations

import io
from collections.abc import Iterator
from decimal import Decimal
from typing import IO, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from arrears.auth.models import User
from arrears.auth.principal import require, started_by
from arrears.cases.cases import CaseFilter, bucket, filtered, page
from arrears.cases.models import Case
from arrears.cases.schemas import debtor_view
from arrears.extensions import db
from arrears.kernel import audit, exports, sheets
from arrears.kernel.clock import business_date
from arrears.kernel.jobs.runner import JobContext
from arrears.kernel.transaction import transaction
from arrears.tenancy.models import Organisation

COLUMNS: list[tuple[str, Any]] = [
    ("loan_no", _l("Loan number")),
    ("name", _l("Debtor name")),
    ("id_number", _l("ID number")),
    ("mobile", _l("Mobile")),
    ("email", _l("E-mail")),
    ("product", _l("Product")),
    ("loan_date", _l("Loan date")),
    ("loan_amount", _l("Loan amount")),
    ("due_date", _l("Due date")),
    ("dpd", _l("Days past due")),
    ("bucket", _l("Bucket")),
    ("principal", _l("Principal outstanding")),
    ("interest", _l("Interest")),
    ("penalty", _l("Penalty")),
    ("fee", _l("Fees")),
    ("outstanding", _l("Total outstanding")),
    ("province", _l("Province")),
    ("city", _l("City")),
    ("address", _l("Home address")),
    ("employer", _l("Employer")),
    ("status", _l("Status")),
    ("tags", _l("Tags")),
]
PAGE = 2000


def _rows(org: Organisation, f: CaseFilter, unmasked: bool) -> Iterator[list[Any]]:
    today = business_date(org)
    cursor = None
    while True:
        cases, cursor = page(org, f, limit=PAGE, cursor=cursor, unmasked=unmasked, max_limit=PAGE)
        for case in cases:
            yield _row(case, today, unmasked)
        db.session.expunge_all()  # keep the identity map (and memory) small
        if cursor is None:
            return


def _row(case: Case, today: Any, unmasked: bool) -> list[Any]:
    d = debtor_view(case.debtor, unmasked=unmasked)
    dpd = case.days_past_due(today)
    return [
        case.loan_no,
        d["name"],
        d["id_number"],
        d["mobile"] or "",
        d["email"] or "",
        case.product,
        case.loan_date,
        case.loan_amount,
        case.due_date,
        dpd,
        bucket(dpd),
        case.principal,
        case.interest,
        case.penalty,
        case.fee,
        case.outstanding,
        case.province,
        case.city,
        d["home_address"] or "",
        d["employer"] or "",
        case.status.value,
        ", ".join(case.tags),
    ]


def export_cases(  # noqa: C901
    actor: User | None,
    org: Organisation,
    f: CaseFilter,
    fmt: str,
    out: IO[bytes],
    *,
    unmask: bool = False,
    progress: Any = None,
) -> int:
    """Write the cases matching ``f`` to ``out``; returns how many. ``actor=None`` is the CLI."""
    if actor is not None:
        require(actor, "cases.export")
        unmask = unmask and actor.can("pii.unmask")
    headers = [str(label) for _, label in COLUMNS]
    count = 0
    if fmt == "xlsx":
        workbook = sheets.Workbook(out, {"constant_memory": True, "in_memory": False})
        sheet = workbook.add_worksheet("cases")
        date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
        money_format = workbook.add_format({"num_format": "#,##0.00"})
        sheet.write_row(0, 0, headers)
        for count, row in enumerate(_rows(org, f, unmask), 1):
            for col, value in enumerate(row):
                if value is None or value == "":
                    continue
                if hasattr(value, "isoformat"):
                    sheet.write_datetime(count, col, value, date_format)
                elif hasattr(value, "quantize"):
                    sheet.write_number(count, col, value, money_format)  # xlsxwriter takes the Decimal
                elif isinstance(value, int):
                    sheet.write_number(count, col, value)
                else:
                    sheet.write_string(count, col, str(value))
            if progress is not None and count % 10000 == 0:
                progress(count)
        workbook.close()
    elif fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")  # BOM: Excel opens it right
        writer = sheets.csv_writer(text)
        writer.writerow(headers)
        for row in _rows(org, f, unmask):
            writer.writerow(["" if v is None else v for v in row])
            count += 1
        text.flush()
        text.detach()
    else:
        raise ValueError(f"unknown export format {fmt!r}")
    audit.record(
        "cases.exported",
        actor=actor,
        org_id=org.id,
        actor_email="" if actor else "cli",
        details={
            "format": fmt,
            "count": count,
            "unmasked": unmask,
            "sort": f.sort,
            "filters": {k: str(v) for k, v in vars(f).items() if v not in (None, [], "") and k != "sort"},
        },
    )
    db.session.commit()
    return count


INLINE_MAX = 5000  # larger exports run as a job with a progress bar


def count_cases(org: Organisation, f: CaseFilter) -> int:

    return int(db.session.scalar(select(func.count()).select_from(filtered(org, f).subquery())) or 0)


@exports.exporter("cases")
def _export_to_storage(
    job: JobContext, filters: dict[str, Any], fmt: str, out: IO[bytes], unmask: bool = False
) -> int:
    org = db.session.get(Organisation, job.tenant_id)
    actor = started_by(job)
    assert org is not None
    values = dict(filters)
    for key in ("amount_min", "amount_max"):
        if values.get(key) is not None:
            values[key] = Decimal(values[key])
    return export_cases(
        actor, org, CaseFilter(**values), fmt, out, unmask=unmask, progress=lambda n: job.progress(50, f"{n}")
    )


def start_export_job(actor: User, f: CaseFilter, fmt: str) -> str:
    require(actor, "cases.export")
    filters = {k: (str(v) if hasattr(v, "quantize") else v) for k, v in vars(f).items()}
    with transaction():
        record = exports.start(
            _export_to_storage,
            name=f"export cases ({fmt})",
            filters=filters,
            fmt=fmt,
            unmask=False,
            created_by=actor,
        )
    return record.id
