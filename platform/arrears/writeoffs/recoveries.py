"""Recoveries of written-off loans (核销后回款): a repayment applied to a written-off loan is recorded against
its write-off, a reversed one takes its recovery back (the hooks payments emits, see arrears.hooks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    insert,
    select,
    update,
)

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases.models import CaseStatus
from arrears.columns import utcnow
from arrears.extensions import db
from arrears.kernel.db import among
from arrears.kernel.money import cents
from arrears.payments.events import RepaymentReversed, RepaymentsApplied
from arrears.payments.models import Repayment
from arrears.writeoffs.models import (
    WriteOff,
    WriteOffRecovery,
    WriteOffStatus,
)
from arrears.writeoffs.writeoffs import ZERO, _owner

# --- recoveries (called by payments.repayments) --------------------------------------------------------


def record_recoveries(owner_id: int, claimed: Sequence[Any], cases: Mapping[int, Any]) -> None:
    """Payments applied to written-off cases count against their write-offs, up to what is left.
    ``claimed``: the applied chunk (``repayments.Claimed``); ``cases``: their locked rows (with
    ``status``). Nothing is read when no case of the chunk is written off."""
    written = sorted(
        {c.case_id for c in claimed if _status(cases[c.case_id]) == CaseStatus.WRITTEN_OFF.value}
    )
    if not written:
        return
    offs = {
        row.case_id: row
        for row in db.session.execute(
            select(WriteOff.id, WriteOff.case_id, WriteOff.total, WriteOff.recovered)
            .where(among(WriteOff.case_id, written), WriteOff.status == WriteOffStatus.REGISTERED)
            .with_for_update()
        )
    }
    if not offs:
        return
    left = {row.id: cents(row.total) - cents(row.recovered) for row in offs.values()}
    gained: dict[int, Decimal] = {}
    lines: list[dict[str, Any]] = []
    now = utcnow()
    for item in sorted(claimed, key=lambda c: (c.paid_at, c.id)):
        off = offs.get(item.case_id)
        if off is None:
            continue
        amount = min(cents(item.amount), left[off.id])
        if amount <= 0:
            continue  # all written off is recovered: the rest is simply not a recovery
        left[off.id] -= amount
        gained[off.id] = gained.get(off.id, ZERO) + amount
        lines.append(
            {
                "org_id": owner_id,
                "write_off_id": off.id,
                "repayment_id": item.id,
                "amount": amount,
                "amount_sign": 1,
                "paid_at": item.paid_at,
                "created_at": now,
            }
        )
    if not lines:
        return
    db.session.execute(insert(WriteOffRecovery), lines)
    for write_off_id, amount in gained.items():
        db.session.execute(
            update(WriteOff)
            .where(WriteOff.id == write_off_id)
            .values(recovered=WriteOff.recovered + amount)
            .execution_options(synchronize_session=False)
        )
    _expire_write_offs(set(gained))


def _status(row: Any) -> str:
    status = row.status
    return status.value if hasattr(status, "value") else str(status)


def _expire_write_offs(ids: set[int]) -> None:
    for obj in list(db.session.identity_map.values()):
        if isinstance(obj, WriteOff) and obj.id in ids:
            db.session.expire(obj)


def reverse_recovery(repayment: Repayment, now: dt.datetime) -> None:
    """A reversed payment that was a recovery: a negative line, and the write-off's recovered is
    lowered by it (once: the unique key on the repayment and the sign)."""
    line = db.session.execute(
        select(WriteOffRecovery.write_off_id, WriteOffRecovery.amount).where(
            WriteOffRecovery.repayment_id == repayment.id, WriteOffRecovery.amount_sign == 1
        )
    ).first()
    if line is None:
        return
    if db.session.scalar(
        select(WriteOffRecovery.id).where(
            WriteOffRecovery.repayment_id == repayment.id, WriteOffRecovery.amount_sign == -1
        )
    ):
        return
    amount = cents(line.amount)
    db.session.execute(select(WriteOff.id).where(WriteOff.id == line.write_off_id).with_for_update()).first()
    db.session.execute(
        insert(WriteOffRecovery).values(
            org_id=repayment.org_id,
            write_off_id=line.write_off_id,
            repayment_id=repayment.id,
            amount=-amount,
            amount_sign=-1,
            paid_at=repayment.paid_at,
            created_at=now,
        )
    )
    db.session.execute(
        update(WriteOff)
        .where(WriteOff.id == line.write_off_id)
        .values(recovered=WriteOff.recovered - amount)
        .execution_options(synchronize_session=False)
    )
    _expire_write_offs({line.write_off_id})


def recoveries_of(actor: User, write_off: WriteOff) -> list[WriteOffRecovery]:
    _owner(actor)
    require(actor, "writeoffs.view")
    return list(
        db.session.scalars(
            select(WriteOffRecovery)
            .where(WriteOffRecovery.write_off_id == write_off.id)
            .order_by(WriteOffRecovery.id)
        )
    )


# --- hooks (``arrears.hooks``) ---------------------------------------------------------------------


def on_repayments_applied(event: RepaymentsApplied) -> None:
    """Payments applied to written-off cases count against their write-offs (reads nothing unless a
    case of the chunk is written off)."""
    record_recoveries(event.owner_id, event.claimed, event.cases)


def on_repayment_reversed(event: RepaymentReversed) -> None:
    """A recovery of a write-off is taken back with its payment."""
    if event.applied:
        reverse_recovery(event.repayment, event.now)
