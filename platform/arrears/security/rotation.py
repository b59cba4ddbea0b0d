"""Key rotation for the encrypted personal data."""

from __future__ import annotations

from sqlalchemy import select, update

from arrears.extensions import db
from arrears.security.pii import EncryptedText, keyring
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import TENANT_MODELS

BATCH = 1000


def encrypted_columns() -> dict[type, list[str]]:
    out: dict[type, list[str]] = {}
    for model in TENANT_MODELS:
        names = [c.key for c in model.__table__.columns if isinstance(c.type, EncryptedText)]  # type: ignore[attr-defined]
        if names:
            out[model] = names
    return out


def rotate_all() -> dict[str, int]:
    """Re-encrypt, with the newest key, every value that is not already under it. Idempotent and
    resumable: batches commit as they go, and values already current are skipped."""
    ring = keyring()
    counts: dict[str, int] = {}
    with cross_tenant("key rotation re-encrypts every tenant's personal data"):
        for model, names in encrypted_columns().items():
            table = model.__table__  # type: ignore[attr-defined]
            raw = [table.c[name].cast(db.Text) for name in names]  # read the tokens, not the clear text
            last_id = 0
            rotated = 0
            while True:
                rows = db.session.execute(
                    select(table.c.id, *raw).where(table.c.id > last_id).order_by(table.c.id).limit(BATCH)
                ).all()
                if not rows:
                    break
                changes = []
                for row in rows:
                    values = {}
                    for name, token in zip(names, row[1:], strict=True):
                        if token and not ring.is_current(token):
                            values[name] = ring.decrypt(token)  # the column type re-encrypts with the newest
                    if values:
                        changes.append({"id": row[0], **values})
                if changes:
                    db.session.execute(update(model), changes)
                    rotated += len(changes)
                db.session.commit()
                last_id = rows[-1][0]
            counts[table.name] = rotated
    return counts
