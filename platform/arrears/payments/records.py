"""Reading the repayment records: what a reader may see (the scope), filtered and paginated, one
record's view with its postings, a case's records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import (
    false,
    select,
)

from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.cases import ledger
from arrears.cases.models import Case, Posting, PostingKind
from arrears.errors import PermissionDenied
from arrears.extensions import db
from arrears.kernel import clock
from arrears.kernel.db import among
from arrears.payments.models import Repayment
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import OrgKind

# --- reading --------------------------------------------------------------------------------------------


@dataclass
class RepaymentFilter:
    status: str | None = None
    source: str | None = None
    loan_no: str | None = None
    transaction_id: str | None = None
    agency_id: int | None = None
    paid_from: dt.date | None = None
    paid_to: dt.date | None = None


def scope(actor: User, *, own: bool = False) -> Any:
    """Which repayments a reader sees: the owner all of its own; an agency those credited to it (with
    ``repayments.view``; a collector, or ``own``: those credited to them)."""
    if actor.org.kind == OrgKind.ASSET_OWNER and not own:
        require(actor, "repayments.view")
        return Repayment.org_id == actor.org_id
    if actor.org.kind == OrgKind.AGENCY and not own and actor.can("repayments.view"):
        return Repayment.agency_org_id == actor.org_id
    if actor.can("workbench.use"):
        return Repayment.collector_user_id == actor.id
    raise PermissionDenied(_("You do not have the permission for this action."))


def query(actor: User, filters: RepaymentFilter | None = None, *, own: bool = False) -> Any:
    f = filters or RepaymentFilter()
    stmt = select(Repayment).where(scope(actor, own=own))
    if f.status:
        stmt = stmt.where(Repayment.status == f.status)
    if f.source:
        stmt = stmt.where(Repayment.source == f.source)
    if f.transaction_id:
        stmt = stmt.where(Repayment.external_id == f.transaction_id.strip())
    if f.loan_no:
        # an agency finds the repayments credited to it by loan number after the case has left it:
        # the cases are looked up past the walls, the repayments stay within the reader's scope
        with cross_tenant("repayment records: the loan number of repayments credited to the reader"):
            ids = list(db.session.scalars(select(Case.id).where(Case.loan_no == f.loan_no.strip())))
        stmt = stmt.where(among(Repayment.case_id, ids) if ids else false())
    if f.agency_id:
        stmt = stmt.where(Repayment.agency_org_id == f.agency_id)
    zone = clock.zone()
    if f.paid_from:
        stmt = stmt.where(Repayment.paid_at >= dt.datetime.combine(f.paid_from, dt.time(0), tzinfo=zone))
    if f.paid_to:
        stmt = stmt.where(
            Repayment.paid_at < dt.datetime.combine(f.paid_to + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
        )
    return stmt.order_by(Repayment.paid_at.desc(), Repayment.id.desc())


def of_case(actor: User, case: Case) -> list[Repayment]:
    """A case's repayments the reader may see (the owner: all; an agency: those credited to it)."""
    stmt = select(Repayment).where(Repayment.case_id == case.id)
    if actor.org_id != case.org_id:
        stmt = stmt.where(Repayment.agency_org_id == actor.org_id)
    return list(db.session.scalars(stmt.order_by(Repayment.paid_at.desc(), Repayment.id.desc()).limit(500)))


def postings_of(repayment_ids: Iterable[int]) -> dict[int, dict[str, Decimal]]:
    """What each payment took off each component (its payment postings)."""

    ids = list(repayment_ids)
    if not ids:
        return {}
    out: dict[int, dict[str, Decimal]] = {}
    for row in db.session.execute(
        select(Posting.repayment_id, *(getattr(Posting, c) for c in (*ledger.COMPONENTS, "credit"))).where(
            Posting.repayment_id.in_(ids), Posting.kind == PostingKind.PAYMENT
        )
    ):
        out[row[0]] = {
            **{c: -Decimal(v) for c, v in zip(ledger.COMPONENTS, row[1:5], strict=True)},
            "credit": Decimal(row[5]),
        }
    return out


def loan_numbers(case_ids: Iterable[int]) -> dict[int, str]:
    """The loan numbers of the cases of repayments the reader sees (an agency keeps seeing the loan
    number of a payment credited to it after the case has left it)."""
    ids = list(set(case_ids))
    if not ids:
        return {}
    with cross_tenant("repayment records: the loan numbers of the repayments the reader sees"):
        return dict(db.session.execute(select(Case.id, Case.loan_no).where(among(Case.id, ids))).all())


def view(
    row: Repayment, loans: dict[int, str] | None = None, splits: dict[int, dict[str, Decimal]] | None = None
) -> dict[str, Any]:
    return {
        "id": row.id,
        "transaction_id": row.external_id,
        "case_id": row.case_id,
        "loan_no": (loans or {}).get(row.case_id),
        "amount": row.amount,
        "paid_at": row.paid_at,
        "channel": row.channel,
        "source": row.source.value,
        "status": row.status.value,
        "agency_org_id": row.agency_org_id,
        "collector_user_id": row.collector_user_id,
        "applied_at": row.applied_at,
        "matched_id": row.matched_id,
        "application_id": row.application_id,
        "note": row.note,
        "allocation": {k: str(v) for k, v in (splits or {}).get(row.id, {}).items()} or None,
    }


def views(rows: Sequence[Repayment]) -> list[dict[str, Any]]:
    loans = loan_numbers(r.case_id for r in rows)
    splits = postings_of(r.id for r in rows)
    return [view(r, loans, splits) for r in rows]
