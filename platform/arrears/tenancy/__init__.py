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
* Cases belong to the asset owner (their ``org_id``). An agency sees a case only while
  it is placed with that agency: a placement row (case, agency) with status ``active`` must exist.
  The status is the single source of truth: the placement becomes active when it starts and is
  ended by the recall or by the end-date job, which flip the status in the transaction that ends
  it. The rule is one predicate used by both walls::

      org_id = :tenant
      OR EXISTS (SELECT 1 FROM placements p
                 WHERE p.case_id = cases.id AND p.agency_org_id = :tenant
                   AND p.status = 'active')

  Ending or recalling a placement flips its status in the same transaction, so the agency (and its
  collectors, whose own visibility is narrower still: assignment, checked by wall 1) loses access
  at once. An agency serving several owners sees each owner's cases only through that owner's
  placements, because the predicate joins on the case, not on the partnership.
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
