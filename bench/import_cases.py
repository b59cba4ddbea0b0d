"""Benchmark: importing a 100,000-row lender case file (.xlsx, 23 columns) into PostgreSQL.

Value: wall time of ``arrears.services.imports.import_cases(org, path, "bench.xlsx", dry_run=False)``
(read with calamine, validate every cell, blind-index and encrypt personal data, bulk-write debtors,
contacts, cases and their history; one transaction, committed), in a child process whose peak RSS is
the reported memory. Baseline, in the same run: openpyxl's bare read-only iteration over every row of
the same file.

    .venv/bin/python bench/import_cases.py [--rows N] [--phases] [--profile]

``--phases`` times the engine's stages with wrappers (a few % overhead); ``--profile`` runs the import
under cProfile (much slower: for finding hotspots, not for the figure). The last line printed is the
result as JSON.
"""

from __future__ import annotations

import argparse
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.append(str(Path(__file__).resolve().parents[1] / "platform"))  # append, never prepend

import _common as c  # bench/ is the script's directory, first on sys.path

BENCH = "import_cases"
TARGET = "<= 1.5x the bare openpyxl read; peak memory <= 300 MB"


def bare_openpyxl_read(path: Path) -> tuple[float, int]:
    """The baseline: openpyxl's read-only mode, every row of the cases sheet, nothing else."""
    from openpyxl import load_workbook

    start = time.perf_counter()
    workbook = load_workbook(path, read_only=True)
    ws = workbook.worksheets[0]
    rows = 0
    for _row in ws.iter_rows(values_only=True):
        rows += 1
    seconds = time.perf_counter() - start
    workbook.close()
    return seconds, rows


def _install_phases() -> c.Phases:
    from arrears.cases.imports import engine
    from arrears.cases.imports.reader import Table
    from arrears.extensions import db
    from arrears.security import pii

    phases = c.Phases()
    phases.wrap(engine, "open_table", "read: open_table (zip checks, calamine parse, header)")
    phases.wrap_iterator(Table, "rows", "read: next data row (calamine row -> list)")
    phases.wrap(engine, "_parse_row", "validate: _parse_row (normalise every cell)")
    phases.wrap(engine._Writer, "prepare", "prepare: _Writer.prepare (reading thread)")
    phases.wrap(engine, "_digest", "  prepare > _digest (keyed BLAKE2b of row/debtor)")
    phases.wrap(pii.Keyring, "blind_index", "  prepare > Keyring.blind_index (HMAC)")
    phases.wrap(pii.Keyring, "encrypt", "  prepare > Keyring.encrypt (AES-GCM, per value)")
    phases.wrap(engine._Writer, "write", "write: _Writer.write (writer thread, overlaps the above)")
    phases.wrap(engine._Writer, "_debtors", "  write > _debtors (select, insert, contacts)")
    phases.wrap(engine._Writer, "_contacts", "    _debtors > _contacts (upsert)")
    phases.wrap(engine._Writer, "_cases", "  write > _cases (select, insert cases + events)")
    phases.wrap(engine, "_insert_pages", "    > _insert_pages (COPY to staging + INSERT ... SELECT)")
    c.time_sql(db.engine, phases)
    return phases


def run_import(config: dict[str, Any], org_id: int, path: str, phases: bool, profile: bool) -> dict[str, Any]:
    """In the child process: the measured import."""
    from arrears.cases.imports import engine
    from arrears.cases.imports.batches import import_cases

    with c.app_context(config):
        org = c.load_org(org_id)
        source = Path(path)  # as the CLI and the job give it: read from disk, not held in memory
        marks: dict[str, float] = {}
        c.watch_memory(engine, "open_table", marks, "open_table")
        timers = _install_phases() if phases else None
        rss_samples: list[float] = []
        peak_samples: list[float] = []

        def progress(done: int, _unit: str) -> None:
            if done % 10_000 == 0:
                rss_samples.append(round(c.rss_mb(), 1))
                peak_samples.append(round(c.self_peak_mb(), 1))

        rss_before, peak_before = c.rss_mb(), c.self_peak_mb()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        start = time.perf_counter()
        batch, report, refused = import_cases(org, source, "bench.xlsx", dry_run=False, progress=progress)
        seconds = time.perf_counter() - start
        if profiler is not None:
            profiler.disable()
        outcome: dict[str, Any] = {
            "seconds": seconds,
            "refused": refused,
            "rss_before_mb": round(rss_before, 1),
            "peak_before_mb": round(peak_before, 1),
            "self_peak_mb": round(c.self_peak_mb(), 1),
            "rss_samples_mb": rss_samples,
            "peak_samples_mb": peak_samples,
            "marks": marks,
        }
        if report is not None:
            outcome.update(
                imported=report.imported,
                updated=report.updated,
                unchanged=report.unchanged,
                rejected=report.rejected,
                rows_read=report.rows_read,
                summary_rows=report.summary_rows,
                total_outstanding=str(report.total_outstanding),
                errors=[e.as_dict() for e in report.errors[:5]],
                batch_status=str(batch.status.value),
            )
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--phases", action="store_true", help="time the import's stages")
    parser.add_argument("--profile", action="store_true", help="run the import under cProfile")
    args = parser.parse_args()

    child = c.Child()  # started while this process is small (see Child)
    try:
        measure(args, child)
    finally:
        child.close()


def measure(args: argparse.Namespace, child: c.Child) -> None:
    with c.environment("arrears_bench") as env:
        with c.app_context(env.config):
            org_id = c.make_owner("bench-owner")
        path = env.workdir / "bench.xlsx"
        start = time.perf_counter()
        made = c.write_case_file(path, args.rows)
        c.say(
            f"generated {path.name}: {args.rows} rows x {len(c.HEADERS)} columns, "
            f"{made['bytes'] / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s"
        )

        baseline, read_rows = bare_openpyxl_read(path)
        c.say(f"baseline: bare openpyxl read-only iteration of {read_rows} rows: {baseline:.2f} s")

        outcome, peak_mb = child.run(run_import, env.config, org_id, str(path), args.phases, args.profile)
        value = outcome["seconds"]
        c.say(
            f"import_cases: {value:.2f} s ({args.rows / value:,.0f} rows/s), child peak RSS {peak_mb:.0f} MB "
            f"(RSS before the import {outcome['rss_before_mb']:.0f} MB; during: {outcome['rss_samples_mb']})"
        )
        c.say(
            f"peak RSS of the child: {outcome['peak_before_mb']:.0f} MB before the import, "
            f"{outcome['peak_samples_mb']} every 10,000 rows, {peak_mb:.0f} MB in all "
            f"(its own address space's VmHWM: {outcome['vmhwm_mb']:.0f} MB)"
        )
        c.say(f"memory around the reader's open_table(): {outcome['marks']}")
        if outcome.get("phases"):
            c.print_phases(outcome["phases"], value)
        if outcome.get("profile"):
            c.say(outcome["profile"])

        cases, debtors, contacts = c.owner_sql(
            env,
            "SELECT count(*) FROM cases",
            "SELECT count(*) FROM debtors",
            "SELECT count(*) FROM debtor_contacts",
        )
        c.say(f"in the database: {cases} cases, {debtors} debtors, {contacts} contacts")
        problems = []
        if outcome.get("refused"):
            problems.append(f"the file was refused: {outcome['refused']}")
        if outcome.get("imported") != args.rows:
            problems.append(f"imported {outcome.get('imported')} != {args.rows}")
        if outcome.get("rejected") != 0:
            problems.append(f"rejected {outcome.get('rejected')} rows: {outcome.get('errors')}")
        if outcome.get("summary_rows") != 1:
            problems.append(f"summary rows {outcome.get('summary_rows')} != 1 (the 合计 row)")
        if Decimal(outcome.get("total_outstanding", "0")) != made["total_outstanding"]:
            problems.append(f"total {outcome.get('total_outstanding')} != {made['total_outstanding']}")
        if cases != args.rows:
            problems.append(f"{cases} cases in the database, expected {args.rows}")
        if problems:
            raise SystemExit("import benchmark FAILED: " + "; ".join(problems))

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
            rss_before_import_mb=outcome["rss_before_mb"],
            code=c.code_version(),
            phases_timed=args.phases,
            profiled=args.profile,
        )
    )


if __name__ == "__main__":
    main()
