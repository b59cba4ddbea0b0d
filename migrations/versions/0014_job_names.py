"""jobs by name: the job records keep a job's registered name (``kernel.jobs.registry``) instead of the
dotted path of its function, so moving a module moves nothing in the database. The three exports
become the one export-to-storage job, told apart by the ``kind`` argument it records.

Upgrade with the queues drained: an rq message sent before the upgrade names the old runner's path.

Revision ID: 0014_job_names
Revises: 0013_writeoffs_commission
"""

import json

import sqlalchemy as sa
from alembic import op

revision = "0014_job_names"
down_revision = "0013_writeoffs_commission"
branch_labels = None
depends_on = None

# old dotted path -> (name, the export's kind or None)
RENAMES: dict[str, tuple[str, str | None]] = {
    "arrears.tasks.allocation.apply_run_job": ("allocation.apply-run", None),
    "arrears.tasks.allocation.end_placements_job": ("allocation.end-placements", None),
    "arrears.tasks.builtin.tenant_census": ("orgs.census", None),
    "arrears.tasks.commission.settle_job": ("commission.settle", None),
    "arrears.tasks.commission.settle_previous_month_job": ("commission.settle-previous-month", None),
    "arrears.tasks.exports.run_export_job": ("exports.to-storage", "cases"),
    "arrears.tasks.imports.run_import_job": ("cases.import", None),
    "arrears.tasks.letters.run_bulk_letters": ("work.bulk-letters", None),
    "arrears.tasks.reconcile.reconcile_job": ("payments.reconcile", None),
    "arrears.tasks.reconcile.statements_job": ("payments.scan-statements", None),
    "arrears.tasks.repayment_exports.run_export_job": ("exports.to-storage", "repayments"),
    "arrears.tasks.repayments.apply_job": ("payments.apply", None),
    "arrears.tasks.repayments.ledger_check_job": ("payments.ledger-check", None),
    "arrears.tasks.work.evaluate_promises_job": ("work.evaluate-promises", None),
    "arrears.tasks.writeoffs.register_job": ("writeoffs.register", None),
    "arrears.tasks.writeoffs.run_export_job": ("exports.to-storage", "writeoffs"),
}

jobs = sa.table(
    "jobs",
    sa.column("id", sa.String),
    sa.column("func", sa.String),
    sa.column("kwargs", sa.JSON),
)


def _rename(pairs: list[tuple[str, str, str | None]]) -> None:
    bind = op.get_bind()
    if _postgres():
        op.execute("SELECT set_config('app.cross_tenant', 'on', true)")  # the jobs table has RLS forced
    for old, new, kind in pairs:
        for job_id, kwargs in bind.execute(sa.select(jobs.c.id, jobs.c.kwargs).where(jobs.c.func == old)):
            values = kwargs if isinstance(kwargs, dict) else json.loads(kwargs or "{}")
            if kind is not None:
                values = {**values, "kind": kind}
            bind.execute(sa.update(jobs).where(jobs.c.id == job_id).values(func=new, kwargs=values))


def _postgres() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    _rename([(old, new, kind) for old, (new, kind) in RENAMES.items()])


def downgrade() -> None:
    bind = op.get_bind()
    if _postgres():
        op.execute("SELECT set_config('app.cross_tenant', 'on', true)")
    back = {(new, kind): old for old, (new, kind) in RENAMES.items()}
    for job_id, func, kwargs in bind.execute(
        sa.select(jobs.c.id, jobs.c.func, jobs.c.kwargs).where(jobs.c.func.in_({n for n, _ in back}))
    ):
        values = kwargs if isinstance(kwargs, dict) else json.loads(kwargs or "{}")
        kind = values.get("kind") if func == "exports.to-storage" else None
        old = back.get((func, kind))
        if old is None:
            continue
        if kind is not None:
            values = {k: v for k, v in values.items() if k != "kind"}
        bind.execute(sa.update(jobs).where(jobs.c.id == job_id).values(func=old, kwargs=values))
