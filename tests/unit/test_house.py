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
    for pattern in (r"def _zone\(", r"def _me\(", r"def _postgres\(", r"ZoneInfo\(current_app"):
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
