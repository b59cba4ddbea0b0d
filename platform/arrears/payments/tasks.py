"""Jobs of the repayments (``services.repayments``): applying what was received, the periodic drain
of anything no job applied, and the nightly check of the ledger against the balances."""

from __future__ import annotations

import logging
from typing import Any

from arrears.kernel.jobs.runner import JobContext

log = logging.getLogger(__name__)


def _owner() -> Any:
    from arrears.extensions import db
    from arrears.tenancy import current_org_id
    from arrears.tenancy.models import Organisation

    return db.session.get(Organisation, current_org_id() or 0)


def apply_job(job: JobContext, max_rounds: int = 1000) -> dict[str, Any]:
    """Apply the owner's received repayments, a chunk per transaction, until none is left (rows other
    workers hold are theirs). Delivered twice or retried after a crash, it applies nothing twice:
    a row leaves ``received`` only in the transaction that moves its money.

    Tests only: with ``ARREARS_ENV=testing``, ``REPAYMENTS_TEST_APPLY_PAUSE`` seconds are waited
    between claiming the rows and moving their money (0, and never read, elsewhere)."""
    from flask import current_app

    from arrears.payments.repayments import apply_all

    org = _owner()
    if org is None:
        return {"applied": 0}
    pause = current_app.config.get("REPAYMENTS_TEST_APPLY_PAUSE", 0) if current_app.testing else 0
    return apply_all(org, pause=pause, max_rounds=max_rounds)


def drain() -> dict[str, int]:
    """Periodic, for every tenant: received repayments that no job applied within two minutes (the
    job was lost with Redis, or its worker died with its retries spent) get a new apply job."""
    from arrears.extensions import db
    from arrears.payments.repayments import queue_apply, stale_tenants
    from arrears.tenancy import tenant
    from arrears.tenancy.models import Organisation

    ids = stale_tenants()
    for org_id in ids:
        with tenant(org_id):
            org = db.session.get(Organisation, org_id)
            if org is not None:
                queue_apply(org)
                db.session.commit()
    return {"tenants": len(ids)}


def ledger_check_job(job: JobContext) -> dict[str, Any]:
    """Nightly, per owner: every loan whose postings and balances disagree (none when all is well)."""
    from arrears.payments.ledger_check import disagreements
    from arrears.tenancy.models import OrgKind

    org = _owner()
    if org is None or org.kind != OrgKind.ASSET_OWNER:
        return {"checked": False, "disagreements": []}
    found = disagreements(org.id)
    if found:
        from arrears.extensions import db
        from arrears.kernel import audit

        log.error("ledger check: %d disagreement(s) for tenant %s: %s", len(found), org.id, found[:5])
        # in the owner's operation log too, where its admin sees it
        audit.record("ledger.disagreement", org_id=org.id, details={"count": len(found), "first": found[:20]})
        db.session.commit()
    return {"checked": True, "count": len(found), "disagreements": found[:100]}
