"""Tenancy walls: who may see what (see docs/decisions/0002-three-tenancy-walls.md).

Wall 1, scoped loaders (``tenancy.loaders``): every lookup by id from a view or an API goes through
one function per aggregate that returns the object or raises ``NotFound``, the same for a missing
object and for one that belongs to somebody else (never 403, which would confirm it exists).

Wall 2, ORM global criteria (``tenancy.criteria``): a ``do_orm_execute`` hook adds each tenant-owned
model's visibility rule to every ORM SELECT/UPDATE/DELETE, and ``before_flush`` stamps and checks the
tenant of new and changed rows. ``cross_tenant(reason)`` is the only way around it.

Wall 3, PostgreSQL row-level security (``tenancy.rls``): ``ENABLE`` + ``FORCE ROW LEVEL SECURITY`` on
every tenant table with policies on ``current_setting('app.tenant_id', true)``, set per transaction
with ``set_config(..., true)``. The application connects as a role that owns no table and has no
BYPASSRLS. On SQLite (the embedded default) walls 1 and 2 hold.

Visibility rules (each model states its own in ``__tenant_filter__`` and ``__rls_using__``):

* Rows owned by one organisation (users, roles, teams, audit rows, jobs, tokens, sessions): visible
  to that organisation only.
* Partnerships and approvals involve two organisations: visible to both parties.
* Cases belong to the asset owner (their ``org_id``). An agency sees a case only while it is placed
  with that agency: ``cases.agency_org_id`` names the agency holding it, and it is set and cleared by
  the placement services in the same transaction that starts or ends the placement (the placement
  rows, ``placement_cases``, are the record of the periods). The rule is one indexed predicate used
  by both walls::

      org_id = :tenant OR agency_org_id = :tenant

  Debtors and their contacts follow their cases: an agency sees the debtor of a case placed with it
  (``EXISTS`` over cases with ``agency_org_id = :tenant``). Ending or recalling a placement clears
  ``agency_org_id`` in the same transaction, so the agency (and its collectors, whose own visibility
  is narrower still: assignment, checked by wall 1) loses access at once. An agency serving several
  owners sees each owner's cases only through that owner's placements, because the predicate is on
  the case, not on the partnership. Placement rows are seen by the agency only while active.
"""

from arrears.tenancy.context import (
    TenancyError,
    TenantContext,
    cross_tenant,
    current,
    current_org_id,
    set_context,
    tenant,
)

__all__ = [
    "TenancyError",
    "TenantContext",
    "cross_tenant",
    "current",
    "current_org_id",
    "set_context",
    "tenant",
]
