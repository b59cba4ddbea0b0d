"""The API's batch of repayment events, with its Idempotency-Key: a retried request gets the first
answer, and each item is recorded or rejected on its own."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.columns import utcnow
from arrears.errors import Conflict, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.db import is_postgres
from arrears.kernel.transaction import transaction
from arrears.payments.models import IdempotencyKey, RepaymentSource
from arrears.payments.repayments import MAX_ITEMS, record
from arrears.tenancy.models import OrgKind

# --- the API's batch, with its Idempotency-Key ---------------------------------------------------------


def post_batch(actor: User, body: bytes, idempotency_key: str | None) -> tuple[int, dict[str, Any], bool]:
    """``POST /api/v1/repayments``: (status, answer, replayed). The key's answer is stored in the
    transaction that records the events; the same key with the same body gets the same answer and
    records nothing; with another body it is refused."""
    require(actor, "repayments.post")
    if actor.org.kind != OrgKind.ASSET_OWNER:
        raise PermissionDenied(_("Only an asset owner records repayments."))
    key = (idempotency_key or "").strip()
    if len(key) > 200:
        raise ValidationFailed(
            _("The Idempotency-Key is longer than 200 characters."), field="Idempotency-Key"
        )
    items = _batch_items(body)
    digest = hashlib.sha256(body).hexdigest()
    with transaction():
        if key:
            stored = _claim_key(actor.org_id, "repayments.post", key, digest)
            if stored is not None:
                return stored[0], stored[1], True
        result = record(actor.org, items, source=RepaymentSource.API, actor_id=actor.id)
        answer = result.as_dict()
        if key:
            db.session.execute(
                update(IdempotencyKey)
                .where(
                    IdempotencyKey.org_id == actor.org_id,
                    IdempotencyKey.scope == "repayments.post",
                    IdempotencyKey.key == key,
                )
                .values(status_code=202, response=json.dumps(answer, default=str))
            )
        audit.record(
            "repayments.received",
            actor=actor,
            details={
                "accepted": result.accepted,
                "duplicates": result.duplicates,
                "rejected": result.rejected,
                "idempotency_key": key or None,
            },
        )
    return 202, answer, False


def _batch_items(body: bytes) -> list[Any]:
    """The body as a batch: ``{"items": [...]}`` with 1 to 1,000 items (or 400/422 naming why).
    Numbers are read as decimals, never floats."""
    try:
        data = json.loads(body or b"null", parse_float=Decimal)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:  # too deep: RecursionError
        err = ValidationFailed(_("The body is not valid JSON: %(msg)s", msg=str(exc)[:200]))
        err.status, err.code = 400, "malformed_json"
        raise err from None
    items = data.get("items") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ValidationFailed(_("Send a JSON object with a list of items."), field="items")
    if not items:
        raise ValidationFailed(_("Send a non-empty list of items."), field="items")
    if len(items) > MAX_ITEMS:
        raise ValidationFailed(_("At most %(n)d items per request.", n=MAX_ITEMS), field="items")
    return items


def _claim_key(org_id: int, scope: str, key: str, digest: str) -> tuple[int, dict[str, Any]] | None:
    """Take the key for this request (None), or the answer stored for it. A concurrent request with
    the same key waits on the unique index until the first commits, then reads its answer."""
    insert_ = pg_insert if is_postgres() else sqlite_insert
    stmt = (
        insert_(IdempotencyKey)
        .values(
            org_id=org_id,
            scope=scope,
            key=key,
            request_digest=digest,
            status_code=0,
            response="",
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["org_id", "scope", "key"])
        .returning(IdempotencyKey.id)
    )
    if db.session.execute(stmt).first() is not None:
        return None
    stored = db.session.execute(
        select(IdempotencyKey.request_digest, IdempotencyKey.status_code, IdempotencyKey.response).where(
            IdempotencyKey.org_id == org_id, IdempotencyKey.scope == scope, IdempotencyKey.key == key
        )
    ).one()
    if stored[0] != digest:
        raise Conflict(
            _("This Idempotency-Key was used for a different request: use a new key for new data."),
            field="Idempotency-Key",
        )
    return int(stored[1]), json.loads(stored[2] or "{}")
