"""Wall 2: ORM global criteria and tenant stamping.

``do_orm_execute`` adds every tenant-owned model's ``__tenant_filter__`` (via
``with_loader_criteria``) to each ORM SELECT, UPDATE and DELETE; the option propagates to lazy and
eager relationship loads of the objects it loads. ``before_flush`` stamps new rows with the current
tenant and refuses a new or changed row whose tenant is not the current one. Inside
``tenancy.cross_tenant(reason)`` neither applies.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from arrears.tenancy.context import TenancyError, current
from arrears.tenancy.models import TENANT_MODELS, TenantScoped

_installed = False


def _add_tenant_criteria(state: ORMExecuteState) -> None:
    if not (state.is_select or state.is_update or state.is_delete):
        return
    if state.is_column_load or state.is_relationship_load:
        return  # the criteria of the parent statement propagate to these loads
    ctx = current()
    if ctx is not None and ctx.cross_tenant:
        return
    org_id = ctx.org_id if ctx is not None else None
    state.statement = state.statement.options(*_options(org_id))


@functools.lru_cache(maxsize=1024)
def _options(org_id: int | None) -> tuple[Any, ...]:
    """The criteria of every tenant model for one tenant, built once per tenant and shared by its
    statements: building ~50 of them for every query was a third of a workbench list request's time
    (bench/workbench_list.py --profile). SQL constructs are immutable, so sharing them is safe."""
    return tuple(
        with_loader_criteria(model, model.__tenant_filter__(org_id), include_aliases=True)
        for model in TENANT_MODELS
    )


def _check_tenant_on_flush(session: Session, flush_context: Any, instances: Any) -> None:
    ctx = current()
    if ctx is not None and ctx.cross_tenant:
        return
    for obj in session.new:
        if not isinstance(obj, TenantScoped):
            continue
        if ctx is None or ctx.org_id is None:
            raise TenancyError(f"cannot create {type(obj).__name__} outside a tenant context")
        obj.stamp_tenant(ctx.org_id)
        if ctx.org_id not in obj.tenant_ids():
            raise TenancyError(f"{type(obj).__name__} belongs to another tenant")
    for obj in session.dirty:
        if (
            isinstance(obj, TenantScoped)
            and session.is_modified(obj)
            and (ctx is None or ctx.org_id not in obj.tenant_ids())
        ):
            raise TenancyError(f"{type(obj).__name__} cannot be moved to another tenant")
    for obj in session.deleted:
        if isinstance(obj, TenantScoped) and (ctx is None or ctx.org_id not in obj.tenant_ids()):
            raise TenancyError(f"{type(obj).__name__} of another tenant cannot be deleted")


def install() -> None:
    """Attach the hooks to every ORM Session (idempotent; called by the app factory)."""
    global _installed
    if _installed:
        return
    event.listen(Session, "do_orm_execute", _add_tenant_criteria)
    event.listen(Session, "before_flush", _check_tenant_on_flush)
    _installed = True
