"""Benchmark: exporting 100,000 cases to .xlsx.

Value: wall time of ``arrears.services.exports.export_cases(None, org, CaseFilter(sort="-dpd"), "xlsx",
stream)`` into a temporary file (keyset pages from PostgreSQL, decrypting and masking personal data,
xlsxwriter in constant-memory mode), in a child process whose peak RSS is the reported memory.
Baseline, in the same run: a bare openpyxl write-only workbook writing the same 100,000 rows x 22
columns of plain Python values, prepared in memory before the clock starts.

    .venv/bin/python bench/export_cases.py [--rows N] [--phases] [--profile]

The cases are put in the database first, not timed, with the import engine (``engine.run_table``
over ``engine.rows_table(items)`` in chunks, inside the owner's tenant, committed), then VACUUM
ANALYZE as an export long after the import would find them.
``--phases`` times the export's stages with wrappers; ``--profile`` runs it under cProfile (slower:
for finding hotspots).
The last line printed is the result as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from itertools import islice
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[1] / "platform"))  # append, never prepend

import _common as c  # bench/ is the script's directory, first on sys.path

BENCH = "export_cases"
TARGET = "<= 1.3x a bare openpyxl write-only of the same rows; memory flat"
SEED_CHUNK = 5000


def seed_cases(org_id: int, count: int) -> int:
    """``count`` cases through the import engine (``run_table`` over ``rows_table``), committed chunk
    by chunk, inside an app context: the rows the export reads are written as an import writes them."""
    from arrears.cases.imports.engine import rows_table, run_table
    from arrears.extensions import db
    from arrears.tenancy import tenant

    items = c.case_items(count)
    imported = 0
    while chunk := list(islice(items, SEED_CHUNK)):
        with tenant(org_id, "asset_owner"):
            report = run_table(org_id, rows_table(chunk), "bench-seed", dry_run=False)
            db.session.commit()
        if report.rejected:
            raise SystemExit(f"seeding rejected rows: {[e.as_dict() for e in report.errors[:5]]}")
        imported += report.imported
    return imported


def plain_rows(count: int, today: dt.date) -> list[list[Any]]:
    """The export's 22 columns for the same cases, as plain Python values (masked like the export,
    money as float, dates as dates), built from the generator without the database."""
    from arrears.cases.cases import bucket
    from arrears.cases.imports import normalize as n
    from arrears.security import masking

    rows = []
    for item in c.case_items(count):
        due = n.date(item["due_date"])
        loan_date = n.date(item["loan_date"])
        dpd = max((today - due).days, 0)
        principal, interest = n.amount(item["principal"]), n.amount(item["interest"])
        penalty, fee = n.amount(item["penalty"]), n.amount(item.get("fee", 0))
        rows.append(
            [
                item["loan_no"],
                masking.name(item["name"]),
                masking.id_number(item["id_number"]),
                masking.phone(n.mobile(item["mobile"])),
                masking.email(item.get("email")),
                item["product"],
                loan_date,
                float(n.amount(item["loan_amount"])),
                due,
                dpd,
                bucket(dpd),
                float(principal),
                float(interest),
                float(penalty),
                float(fee),
                float(principal + interest + penalty + fee),
                item["province"],
                item["city"],
                masking.address(item["address"]),
                item.get("employer") or "",
                "new",
                "",
            ]
        )
    rows.sort(key=lambda r: r[8])  # the export's order: due date, oldest first ("-dpd")
    # The export leaves empty values out (no cell); so does openpyxl for None.
    return [[None if v == "" else v for v in row] for row in rows]


def bare_openpyxl_write(rows: list[list[Any]], headers: list[str], path: Path) -> float:
    """The baseline: openpyxl's write-only mode, the same rows, saved to a file."""
    from openpyxl import Workbook

    start = time.perf_counter()
    workbook = Workbook(write_only=True)
    ws = workbook.create_sheet("cases")
    ws.append(headers)
    for row in rows:
        ws.append(row)
    workbook.save(path)
    return time.perf_counter() - start


def _install_phases() -> c.Phases:
    import xlsxwriter
    from xlsxwriter.worksheet import Worksheet

    from arrears.cases import cases as case_services
    from arrears.cases import exports
    from arrears.extensions import db
    from arrears.security import pii

    phases = c.Phases()
    phases.wrap(exports, "page", "db: services.cases.page (query + ORM load, 500 a page)")
    phases.wrap(exports, "_row", "rows: exports._row (everything per case)")
    phases.wrap(exports, "debtor_view", "  _row > debtor_view (masking)")
    phases.wrap(pii.Keyring, "decrypt", "decrypt: Keyring.decrypt (AES-GCM, per value)")
    phases.wrap(case_services, "filtered", "  page > filtered (statement building)")
    for method in ("write_string", "write_number", "write_datetime"):
        phases.wrap(Worksheet, method, "xlsx: Worksheet.write_string/number/datetime")
    phases.wrap(Worksheet, "_write_single_row", "  xlsx > _write_single_row (row XML to temp file)")
    phases.wrap(xlsxwriter.Workbook, "close", "xlsx: Workbook.close (assemble the zip)")
    c.time_sql(db.engine, phases)
    return phases


def run_export(config: dict[str, Any], org_id: int, path: str, phases: bool, profile: bool) -> dict[str, Any]:
    """In the child process: the measured export."""
    import xlsxwriter

    from arrears.cases.cases import CaseFilter
    from arrears.cases.exports import export_cases
    from arrears.tenancy import tenant

    with c.app_context(config):
        org = c.load_org(org_id)
        marks: dict[str, float] = {}
        c.watch_memory(xlsxwriter.Workbook, "close", marks, "workbook_close")
        timers = _install_phases() if phases else None
        rss_samples: list[float] = []
        peak_samples: list[float] = []

        def progress(done: int) -> None:
            rss_samples.append(round(c.rss_mb(), 1))
            peak_samples.append(round(c.self_peak_mb(), 1))

        rss_before, peak_before = c.rss_mb(), c.self_peak_mb()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        with open(path, "wb") as stream, tenant(org.id, org.kind):
            start = time.perf_counter()
            count = export_cases(None, org, CaseFilter(sort="-dpd"), "xlsx", stream, progress=progress)
            seconds = time.perf_counter() - start
        if profiler is not None:
            profiler.disable()
        outcome: dict[str, Any] = {
            "seconds": seconds,
            "count": count,
            "rss_before_mb": round(rss_before, 1),
            "peak_before_mb": round(peak_before, 1),
            "self_peak_mb": round(c.self_peak_mb(), 1),
            "rss_samples_mb": rss_samples,
            "peak_samples_mb": peak_samples,
            "marks": marks,
        }
        if timers is not None:
            timers.undo()
            outcome["phases"] = timers.report()
        if profiler is not None:
            import io
            import pstats

            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(35)
            outcome["profile"] = out.getvalue()
        return outcome


def check_file(path: Path, expected: int) -> list[str]:
    """The exported workbook holds the header and ``expected`` rows in due-date order."""
    from python_calamine import CalamineWorkbook

    problems = []
    workbook = CalamineWorkbook.from_path(str(path))
    rows = workbook.get_sheet_by_name("cases").to_python()
    if len(rows) != expected + 1:
        problems.append(f"the file holds {len(rows) - 1} rows, expected {expected}")
    dues = [r[8] for r in rows[1:]]
    if dues != sorted(dues):
        problems.append("the rows are not in due-date order")
    workbook.close()
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--phases", action="store_true", help="time the export's stages")
    parser.add_argument("--profile", action="store_true", help="run the export under cProfile")
    args = parser.parse_args()

    child = c.Child()  # started while this process is small (see Child)
    try:
        measure(args, child)
    finally:
        child.close()


def measure(args: argparse.Namespace, child: c.Child) -> None:
    with c.environment("arrears_bench") as env:
        with c.app_context(env.config):
            from arrears.cases.exports import COLUMNS
            from arrears.kernel.clock import business_date

            org_id = c.make_owner("bench-owner")
            start = time.perf_counter()
            seeded = seed_cases(org_id, args.rows)
            c.say(f"seeded {seeded} cases with the import engine in {time.perf_counter() - start:.1f} s")
            today = business_date(c.load_org(org_id))
            headers = [str(label) for _, label in COLUMNS]
        if seeded != args.rows:
            raise SystemExit(f"export benchmark FAILED: seeded {seeded} cases, not {args.rows}")
        # A settled database, as an export long after the import sees it (autovacuum would analyze the
        # new rows within a minute or so; without statistics the planner's choices for the keyset
        # pages differ, and the figure would depend on whether autovacuum ran before the clock).
        start = time.perf_counter()
        c.owner_sql(env, "VACUUM ANALYZE cases", "VACUUM ANALYZE debtors")
        c.say(f"VACUUM ANALYZE cases, debtors: {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        rows = plain_rows(args.rows, today)
        c.say(
            f"prepared {len(rows)} rows x {len(rows[0])} columns in memory "
            f"in {time.perf_counter() - start:.1f} s"
        )
        baseline = bare_openpyxl_write(rows, headers, env.workdir / "baseline.xlsx")
        size = (env.workdir / "baseline.xlsx").stat().st_size
        c.say(
            f"baseline: bare openpyxl write-only of {len(rows)} rows: {baseline:.2f} s ({size / 1e6:.1f} MB)"
        )
        del rows

        path = env.workdir / "export.xlsx"
        outcome, peak_mb = child.run(run_export, env.config, org_id, str(path), args.phases, args.profile)
        value = outcome["seconds"]
        samples = outcome["rss_samples_mb"]
        growth = (samples[-1] - samples[0]) if len(samples) > 1 else 0.0
        c.say(
            f"export_cases: {value:.2f} s ({args.rows / value:,.0f} rows/s, "
            f"{path.stat().st_size / 1e6:.1f} MB), "
            f"child peak RSS {peak_mb:.0f} MB (before the export {outcome['rss_before_mb']:.0f} MB; "
            f"every 10,000 rows: {samples})"
        )
        c.say(
            f"peak RSS of the child: {outcome['peak_before_mb']:.0f} MB before the export, "
            f"{outcome['peak_samples_mb']} every 10,000 rows, {peak_mb:.0f} MB in all "
            f"(its own address space's VmHWM: {outcome['vmhwm_mb']:.0f} MB)"
        )
        c.say(f"memory around xlsxwriter's Workbook.close(): {outcome['marks']}")
        if outcome.get("phases"):
            c.print_phases(outcome["phases"], value)
        if outcome.get("profile"):
            c.say(outcome["profile"])
        problems = []
        if outcome["count"] != args.rows:
            problems.append(f"exported {outcome['count']} cases, expected {args.rows}")
        problems += check_file(path, args.rows)
        if problems:
            raise SystemExit("export benchmark FAILED: " + "; ".join(problems))

    print(
        c.result_line(
            BENCH,
            value,
            baseline,
            TARGET,
            rows=args.rows,
            rows_per_s=round(args.rows / value),
            peak_mb=round(peak_mb, 1),
            peak_mb_vmhwm=outcome["vmhwm_mb"],
            rss_before_export_mb=outcome["rss_before_mb"],
            rss_growth_during_export_mb=round(growth, 1),
            code=c.code_version(),
            phases_timed=args.phases,
            profiled=args.profile,
        )
    )


if __name__ == "__main__":
    main()
