"""Payments reported by bank's core system (``arrears.payments``): a batch posted to the API, the
received ones applied, and payments recorded and applied in one step."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from arrears.extensions import db
from arrears.models import Organisation, RepaymentSource
from arrears.payments import repayments
from arrears.tenancy import tenant
from tests.builders.tenants import World


def post_repayments(client: Any, token: str, items: list[dict[str, Any]], key: str | None = None) -> Any:
    """POST ``items`` to ``/api/v1/repayments`` with the bearer token (and an Idempotency-Key if
    given); the response, nothing applied yet."""
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        "/api/v1/repayments",
        data=json.dumps({"items": items}),
        headers=headers,
        content_type="application/json",
    )


def apply_all(world: World) -> None:
    """Apply every repayment bank has received, batch by batch, until none is left."""
    with tenant(world.bank.org_id):
        org = db.session.get(Organisation, world.bank.org_id)
        while repayments.apply_received(org)["applied"]:
            pass


def pay(world: World, items: list[tuple[str, str, str]]) -> dict[str, int]:
    """Record (transaction id, loan number, amount) from the core system, paid now, and apply them;
    the repayment ids by transaction id."""
    now = dt.datetime.now(dt.UTC).isoformat()
    with tenant(world.bank.org_id):
        org = db.session.get(Organisation, world.bank.org_id)
        result = repayments.record(
            org,
            [
                {"transaction_id": t, "loan_no": loan, "amount": amount, "paid_at": now}
                for t, loan, amount in items
            ],
            source=RepaymentSource.API,
            enqueue_apply=False,
        )
        db.session.commit()
        assert result.accepted == len(items), result.items
        while repayments.apply_received(org)["applied"]:
            pass
        return {i["transaction_id"]: i["repayment_id"] for i in result.items}
