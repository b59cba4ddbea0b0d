"""Every module that declares background jobs (``kernel.jobs.registry.job``), imported here so the
registry knows each job and schedule entry before a worker runs one or ``flask cron`` reads the
schedule. A domain that adds a job module adds its line here (docs/adding-a-domain.md)."""

from __future__ import annotations

from arrears.allocation import runs
from arrears.allocation import tasks as allocation_tasks
from arrears.auth import sessions
from arrears.cases import exports as case_exports
from arrears.cases.imports import batches
from arrears.commission import commission
from arrears.commission import tasks as commission_tasks
from arrears.kernel import exports
from arrears.kernel.jobs import housekeeping
from arrears.orgs import jobs as org_jobs
from arrears.payments import queries as payment_queries
from arrears.payments import reconcile, repayments
from arrears.payments import tasks as payment_tasks
from arrears.work import letters
from arrears.work import tasks as work_tasks
from arrears.writeoffs import writeoffs

MODULES = (
    allocation_tasks,
    batches,
    case_exports,
    commission,
    commission_tasks,
    exports,
    housekeeping,
    letters,
    org_jobs,
    payment_queries,
    payment_tasks,
    reconcile,
    repayments,
    runs,
    sessions,
    work_tasks,
    writeoffs,
)
