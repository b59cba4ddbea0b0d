"""The ledger (分账): how a payment splits over a loan's balance components, and the postings that
record every change of a case's balances.

``allocate`` is pure arithmetic on Decimals: a payment takes each component in the owner's order
(default penalty → fee → interest → principal) down to zero, and what is left is the debtor's credit.
The caller holds the case's row lock. Postings are signed changes (a payment takes off: negative;
a reversal puts back: positive), so per case the postings sum to the balances: the first time money
moves on a case an ``opening`` posting records the balances it had.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import literal_column, select

from arrears.cases.models import Case, Posting, PostingKind
from arrears.columns import utcnow
from arrears.errors import ValidationFailed
from arrears.extensions import db
from arrears.kernel.db import among, insert_rows
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import Organisation

ZERO = Decimal("0.00")
COMPONENTS = ("penalty", "fee", "interest", "principal")
DEFAULT_ORDER: tuple[str, ...] = COMPONENTS
COMPONENT_LABELS = {
    "penalty": _l("Penalty"),
    "fee": _l("Fees"),
    "interest": _l("Interest"),
    "principal": _l("Principal"),
    "credit": _l("Credit"),
}


@dataclass(frozen=True)
class Split:
    """What one payment took off each component, and the overpayment kept as credit."""

    taken: dict[str, Decimal]
    credit: Decimal

    @property
    def total(self) -> Decimal:
        return sum(self.taken.values(), ZERO) + self.credit


def allocate(balances: Mapping[str, Decimal], amount: Decimal, order: Sequence[str] = DEFAULT_ORDER) -> Split:
    """Split ``amount`` (> 0) over ``balances`` in ``order``: each component is paid down to zero
    before the next; never more than a component owes; the rest is credit. Exact: the parts sum to
    ``amount``."""
    left = amount
    taken: dict[str, Decimal] = {}
    for component in order:
        owed = max(balances.get(component, ZERO), ZERO)
        take = min(owed, left)
        taken[component] = take
        left -= take
    return Split(taken=taken, credit=left)


def order_of(org: Organisation) -> tuple[str, ...]:
    """The owner's allocation order (``settings["repayment_order"]``), or the default."""
    stored = (org.settings or {}).get("repayment_order")
    if isinstance(stored, list) and sorted(stored) == sorted(COMPONENTS):
        return tuple(stored)
    return DEFAULT_ORDER


def check_order(raw: Iterable[Any]) -> list[str]:
    order = [str(c).strip() for c in raw if str(c).strip()]
    if sorted(order) != sorted(COMPONENTS):
        raise ValidationFailed(
            _("Name each of penalty, fee, interest and principal once, in the order payments take them."),
            field="repayment_order",
        )
    return order


def balances(case: Case) -> dict[str, Decimal]:
    return {c: Decimal(getattr(case, c)) for c in COMPONENTS}


def posting_row(
    case_id: int,
    org_id: int,
    kind: PostingKind,
    changes: Mapping[str, Decimal],
    *,
    credit: Decimal = ZERO,
    agency_org_id: int | None = None,
    repayment_id: int | None = None,
    application_id: int | None = None,
    actor_user_id: int | None = None,
) -> dict[str, Any]:
    """A posting as a row for a bulk INSERT (``changes``: signed, per component)."""
    return {
        "org_id": org_id,
        "case_id": case_id,
        "agency_org_id": agency_org_id,
        "kind": kind,
        "repayment_id": repayment_id,
        "application_id": application_id,
        "actor_user_id": actor_user_id,
        "principal": changes.get("principal", ZERO),
        "interest": changes.get("interest", ZERO),
        "penalty": changes.get("penalty", ZERO),
        "fee": changes.get("fee", ZERO),
        "credit": credit,
        "created_at": utcnow(),
    }


def opened(case_ids: Iterable[int]) -> set[int]:
    """The cases among ``case_ids`` that have their opening posting. Whoever wrote it (the owner's
    apply job, or an agency's manager approving a reduction), so read past the walls: the caller has
    the cases (locked) already, and only learns which of them have one."""
    ids = list(case_ids)
    if not ids:
        return set()
    with cross_tenant("the ledger: whether a case has its opening posting, whoever wrote it"):
        # the kind as a literal, not a parameter: a prepared (generic) plan must still see that the
        # partial unique index of the openings answers it
        return set(
            db.session.scalars(
                select(Posting.case_id).where(
                    among(Posting.case_id, ids), Posting.kind == literal_column("'opening'")
                )
            )
        )


def opening_row(case: Any, *, agency_org_id: int | None = None) -> dict[str, Any]:
    """The opening posting of a case (locked by the caller): its balances and credit as they are.
    ``agency_org_id``: the agency writing it (an agency's manager approving a reduction), which then
    sees it, as it sees the case's balances."""
    return posting_row(
        case.id,
        case.org_id,
        PostingKind.OPENING,
        {c: Decimal(getattr(case, c)) for c in COMPONENTS},
        credit=Decimal(case.credit or 0),
        agency_org_id=agency_org_id,
    )


POSTING_COLUMNS = [
    "org_id",
    "case_id",
    "agency_org_id",
    "kind",
    "repayment_id",
    "application_id",
    "actor_user_id",
    "principal",
    "interest",
    "penalty",
    "fee",
    "credit",
    "created_at",
]


def write(rows: list[dict[str, Any]]) -> None:
    """Append postings (COPY through a staging table on PostgreSQL: ``bulk.insert_rows``)."""
    if not rows:
        return

    insert_rows(
        Posting.__table__,
        POSTING_COLUMNS,
        [[(r[c].value if c == "kind" else r[c]) for c in POSTING_COLUMNS] for r in rows],
    )


def post_waiver(case: Case, waivers: Mapping[str, Decimal], *, application_id: int, actor_id: int) -> None:
    """An approved reduction as a posting (the caller holds the case's row lock and moves the
    balances): the opening first if money never moved on the case."""
    rows = [] if case.id in opened([case.id]) else [opening_row(case, agency_org_id=case.agency_org_id)]
    rows.append(
        posting_row(
            case.id,
            case.org_id,
            PostingKind.WAIVER,
            {c: -v for c, v in waivers.items()},
            agency_org_id=case.agency_org_id,
            application_id=application_id,
            actor_user_id=actor_id,
        )
    )
    write(rows)


def post_adjustments(
    org_id: int, changes: Sequence[tuple[Any, Mapping[str, Decimal]]], *, actor_id: int | None
) -> None:
    """A later import changed the balances of the owner's cases: an ``adjustment`` posting for each
    case that has a ledger (``changes``: the case row before the change, and the new balances)."""
    has_ledger = opened(c.id for c, _new in changes)
    rows = []
    for case, new in changes:
        if case.id not in has_ledger:
            continue
        delta = {c: Decimal(new[c]) - Decimal(getattr(case, c)) for c in COMPONENTS}
        if any(delta.values()):
            rows.append(posting_row(case.id, org_id, PostingKind.ADJUSTMENT, delta, actor_user_id=actor_id))
    write(rows)
