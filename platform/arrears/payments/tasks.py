"""Periodic jobs of the payments: the drain of received repayments no job applied, the nightly check
of the ledger against the balances, the daily look at the statement drop, and the purge of old
Idempotency-Key answers. (The jobs that code starts sit beside their use case: ``repayments.apply_job``,
``reconcile_runs.reconcile_job``.)"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.jobs.registry import job
from arrears.kernel.jobs.runner import JobContext
from arrears.payments import reconcile_runs
from arrears.payments.ledger_check import disagreements
from arrears.payments.models import IdempotencyKey
from arrears.payments.repayments import queue_apply, stale_tenants
from arrears.tenancy import cross_tenant, current_org_id, tenant
from arrears.tenancy.models import Organisation, OrgKind

log = logging.getLogger(__name__)


def _owner() -> Organisation | None:
    return db.session.get(Organisation, current_org_id() or 0)


# received repayments that no job applied (lost with Redis, or a worker died for good)
@job("payments.drain", periodic="drain-repayments", every=60)
def drain() -> dict[str, int]:
    """Periodic, for every tenant: received repayments that no job applied within two minutes (the
    job was lost with Redis, or its worker died with its retries spent) get a new apply job."""
    ids = stale_tenants()
    for org_id in ids:
        with tenant(org_id):
            org = db.session.get(Organisation, org_id)
            if org is not None:
                queue_apply(org)
                db.session.commit()
    return {"tenants": len(ids)}


# every loan whose ledger and balances disagree, reported
@job("payments.ledger-check", periodic="ledger-check", cron="40 2 * * *", per_tenant=True)
def ledger_check_job(job: JobContext) -> dict[str, Any]:
    """Nightly, per owner: every loan whose postings and balances disagree (none when all is well)."""
    org = _owner()
    if org is None or org.kind != OrgKind.ASSET_OWNER:
        return {"checked": False, "disagreements": []}
    found = disagreements(org.id)
    if found:
        log.error("ledger check: %d disagreement(s) for tenant %s: %s", len(found), org.id, found[:5])
        # in the owner's operation log too, where its admin sees it
        audit.record("ledger.disagreement", org_id=org.id, details={"count": len(found), "first": found[:20]})
        db.session.commit()
    return {"checked": True, "count": len(found), "disagreements": found[:100]}


# the stored answers of the Idempotency-Key header (a client retries within minutes; the
# transaction ids keep a payment from being recorded twice however late it comes again)
@job("payments.purge-idempotency-keys", periodic="purge-idempotency-keys", cron="17 3 * * *")
def purge_idempotency_keys(keep_days: int = 7) -> int:
    """Delete the Idempotency-Key answers older than ``keep_days``."""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=keep_days)
    with cross_tenant("housekeeping: purge old Idempotency-Key answers of every tenant"):
        n = db.session.query(IdempotencyKey).filter(IdempotencyKey.created_at < cutoff).delete()
        db.session.commit()
    return int(n)


# statements the core system dropped in the owner's statement source, each reconciled once (对账)
@job("payments.scan-statements", periodic="reconcile-statements", cron="10 7 * * *", per_tenant=True)
def statements_job(job: JobContext) -> dict[str, Any]:
    """Daily, per owner: when a statement source is configured, every new file the core system
    dropped there gets a reconciliation job (each file once)."""
    org = _owner()
    if org is None or org.kind != OrgKind.ASSET_OWNER or reconcile_runs.source_prefix(org) is None:
        return {"configured": False, "queued": 0}
    keys = reconcile_runs.queue_new_statements(org)
    if keys:
        log.info("statement source of tenant %s: %d new file(s) to reconcile", org.id, len(keys))
    return {
        "configured": True,
        "folder": reconcile_runs.source_folder(org),
        "queued": len(keys),
        "files": keys[:100],
    }
