"""Every module that declares background jobs (``kernel.jobs.registry.job``), exports
(``kernel.exports.exporter``) or stored files to purge (``housekeeping.retained_files``), imported
here so the registries are full before a worker runs a job or ``flask cron`` reads the schedule. A
module that declares one adds its line here (docs/adding-a-domain.md; tests/unit/test_layout.py
checks the list)."""

from __future__ import annotations

from arrears.allocation import runs as allocation_runs
from arrears.allocation import tasks as allocation_tasks
from arrears.auth import sessions
from arrears.cases import exports as case_exports
from arrears.cases.imports import batches as import_batches
from arrears.commission import commission
from arrears.commission import tasks as commission_tasks
from arrears.kernel import exports
from arrears.kernel.jobs import housekeeping
from arrears.orgs import jobs as org_jobs
from arrears.payments import queries as payment_queries
from arrears.payments import reconcile_runs, repayments
from arrears.payments import tasks as payment_tasks
from arrears.work import letters
from arrears.work import tasks as work_tasks
from arrears.writeoffs import ledger as writeoff_ledger
from arrears.writeoffs import writeoffs

MODULES = (
    allocation_runs,
    allocation_tasks,
    case_exports,
    commission,
    commission_tasks,
    exports,
    housekeeping,
    import_batches,
    letters,
    org_jobs,
    payment_queries,
    payment_tasks,
    reconcile_runs,
    repayments,
    sessions,
    work_tasks,
    writeoff_ledger,
    writeoffs,
)
