"""Who is asking: the tenant context of the current request or job.

The context lives in a ``ContextVar`` so that web requests, rq jobs and CLI commands all use one
mechanism. Code never passes the tenant around by hand to get scoping; it enters a context:

    with tenancy.tenant(org.id, org.kind, user_id=user.id):
        ...  # every ORM query of a tenant-owned model is filtered, PostgreSQL RLS is set

    with tenancy.cross_tenant("platform admin lists organisations"):
        ...  # the one explicit, named escape hatch (platform admin, authentication look-ups)

Leaving a context restores the previous one. With no context at all, tenant-owned reads return
nothing (fail closed) and tenant-owned writes are refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TenantContext:
    org_id: int | None
    org_kind: str | None = None
    user_id: int | None = None
    cross_tenant_reason: str | None = None

    @property
    def cross_tenant(self) -> bool:
        return self.cross_tenant_reason is not None


_current: ContextVar[TenantContext | None] = ContextVar("arrears_tenant", default=None)
# Called with the new context whenever it changes, so an open PostgreSQL transaction can re-set
# ``app.tenant_id`` at once (see tenancy.rls). Registered by the app factory, not at import.
_listeners: list[Callable[[TenantContext | None], None]] = []


class TenancyError(RuntimeError):
    """A write or read would cross the tenant wall."""


def current() -> TenantContext | None:
    return _current.get()


def current_org_id() -> int | None:
    ctx = _current.get()
    return ctx.org_id if ctx else None


def on_change(listener: Callable[[TenantContext | None], None]) -> None:
    if listener not in _listeners:
        _listeners.append(listener)


def _notify(ctx: TenantContext | None) -> None:
    for listener in _listeners:
        listener(ctx)


def set_context(ctx: TenantContext | None) -> None:
    """Bind the context for the rest of the request (the request teardown restores the previous)."""
    _current.set(ctx)
    _notify(ctx)


def begin_request() -> Token[TenantContext | None]:
    """Start a request with no tenant; returns the token that ``end_request`` restores."""
    token = _current.set(None)
    _notify(None)
    return token


def end_request(token: Token[TenantContext | None] | None) -> None:
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:  # created in another context (should not happen); fail closed
            _current.set(None)
    else:
        _current.set(None)


@contextmanager
def _enter(ctx: TenantContext) -> Iterator[TenantContext]:
    token = _current.set(ctx)
    _notify(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)
        _notify(_current.get())


def tenant(org_id: int, org_kind: str | None = None, user_id: int | None = None):
    """Enter the tenant ``org_id`` (a context manager)."""
    if org_id is None:
        raise TenancyError("tenant() needs an organisation id")
    return _enter(TenantContext(org_id=int(org_id), org_kind=org_kind, user_id=user_id))


def cross_tenant(reason: str):
    """The named escape hatch: no tenant filter, RLS opened for this transaction.

    ``reason`` is mandatory and logged: every use must say why it needs to see across tenants.
    Used by the platform operator's pages and by authentication look-ups (email, token hash), never
    by tenant-facing views.
    """
    if not reason or not reason.strip():
        raise TenancyError("cross_tenant() needs a reason")
    outer = _current.get()
    log.debug("cross-tenant access: %s", reason)
    return _enter(
        TenantContext(
            org_id=outer.org_id if outer else None,
            org_kind=outer.org_kind if outer else None,
            user_id=outer.user_id if outer else None,
            cross_tenant_reason=reason,
        )
    )
