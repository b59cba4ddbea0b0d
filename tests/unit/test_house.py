"""The house's rules that import-linter does not express (docs/architecture.md)."""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
PLATFORM = ROOT / "platform"
DECLARES = re.compile(r"^@(job|exports\.exporter|exporter|retained_files)\(", re.M)


def _module(path: pathlib.Path) -> str:
    return ".".join(path.relative_to(PLATFORM).with_suffix("").parts)


def test_every_module_declaring_jobs_is_imported_by_arrears_jobs() -> None:
    """A job a worker cannot find fails; ``arrears.jobs`` imports every module that declares one."""
    declaring = {
        _module(path)
        for path in (PLATFORM / "arrears").rglob("*.py")
        if DECLARES.search(path.read_text()) and path.name != "registry.py"
    }
    tree = ast.parse((PLATFORM / "arrears" / "jobs.py").read_text())
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    assert declaring - imported == set()


def test_the_registry_knows_every_job_and_schedule_entry(app: object) -> None:
    from arrears.kernel.jobs.registry import SCHEDULE, names

    assert {"exports.to-storage", "orgs.census", "payments.apply", "writeoffs.register"} <= set(names())
    assert {entry.name for entry in SCHEDULE} >= {
        "sweep-jobs",
        "drain-repayments",
        "purge-expired-sessions",
        "purge-stale-files",
        "purge-idempotency-keys",
        "end-placements",
        "evaluate-promises",
        "ledger-check",
        "accrue-commission",
        "settle-commission",
        "reconcile-statements",
    }


def test_one_helper_of_each_kind() -> None:
    """The business clock, the signed-in user and the dialect check are each defined once."""
    for pattern in (
        r"def _zone\(",
        r"def _me\(",
        r"def _postgres\(",
        r"ZoneInfo\(current_app",
        r"def (_field_error|show_error)\(",
    ):
        found = [
            str(path.relative_to(PLATFORM))
            for path in PLATFORM.rglob("*.py")
            if re.search(pattern, path.read_text())
        ]
        assert len(found) <= 1, (pattern, found)


def test_no_module_is_over_a_thousand_lines() -> None:
    long = {
        str(path.relative_to(PLATFORM)): n
        for path in PLATFORM.rglob("*.py")
        if (n := len(path.read_text().splitlines())) > 1000
    }
    assert long == {}


DOMAINS = ("allocation", "auth", "cases", "commission", "orgs", "payments", "reports", "work", "writeoffs")


def test_every_domain_says_what_it_owns() -> None:
    """A domain's ``__init__`` docstring is its map: what it owns, its public modules, the hooks it
    emits and handles, its jobs (docs/adding-a-domain.md)."""
    for domain in DOMAINS:
        doc = ast.get_docstring(ast.parse((PLATFORM / "arrears" / domain / "__init__.py").read_text())) or ""
        for heading in ("Public:", "Hooks:", "Jobs:"):
            assert heading in doc, (domain, heading)


# The functions older than the rule (ruff's C901 and PLR0915, selected in pyproject.toml) that are
# still too complex or too long carry a noqa. The list only shrinks: a new function is split instead.
TOO_COMPLEX_ALLOWED = frozenset(
    {
        "agency_console/cases.py:cases_move",
        "arrears/allocation/pages.py:rules_from_form",
        "arrears/allocation/pages.py:describe_rule",
        "arrears/allocation/pages.py:_strategy_post",
        "arrears/allocation/pages.py:run_new",
        "arrears/allocation/rules.py:parse_rules",
        "arrears/allocation/rules.py:dump_rules",
        "arrears/allocation/rules.py:describe_changes",
        "arrears/cases/cases.py:filtered",
        "arrears/cases/cases.py:_decode",
        "arrears/cases/exports.py:export_cases",
        "arrears/cases/imports/engine.py:pipeline",
        "arrears/cases/imports/normalize.py:amount",
        "arrears/cli.py:_statement_command",
        "arrears/commission/commission.py:version_input",
        "arrears/demo/seed.py:seed",
        "arrears/demo/work.py:_history",
        "arrears/orgs/roles.py:save_role",
        "arrears/payments/checks.py:check_event",
        "arrears/payments/repayments.py:record",
        "arrears/payments/statement_columns.py:parse_amount",
        "arrears/payments/statement_columns.py:parse_paid_at",
        "arrears/work/notes.py:add_note",
        "asset_console/imports.py:import_mapping",
    }
)


def test_complex_functions_only_get_fewer() -> None:
    marked = set()
    for path in PLATFORM.rglob("*.py"):
        for line in path.read_text().splitlines():
            match = re.match(r"\s*(?:async )?def (\w+)\(.*# noqa: [^#]*\b(C901|PLR0915)", line)
            if match:
                marked.add(f"{path.relative_to(PLATFORM)}:{match.group(1)}")
    assert marked - TOO_COMPLEX_ALLOWED == set()
    assert len(marked) <= len(TOO_COMPLEX_ALLOWED)


def test_imports_inside_functions_say_why() -> None:
    """PLC0415 keeps imports at the top; the rare lazy import says why on its line."""
    for path in PLATFORM.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "noqa: PLC0415" in line:
                assert re.search(r"noqa: PLC0415\s+\(.+\)", line), f"{path}:{number}"


def test_every_spreadsheet_is_written_through_kernel_sheets() -> None:
    """One writer for .xlsx and .csv cells (formula injection: kernel.sheets); no other."""
    pattern = re.compile(r"xlsxwriter\.Workbook\(|csv\.writer\(|csv\.DictWriter\(|openpyxl\.Workbook\(")
    found = [
        str(path.relative_to(PLATFORM))
        for path in PLATFORM.rglob("*.py")
        if pattern.search(path.read_text()) and path.name != "sheets.py"
    ]
    assert found == []
