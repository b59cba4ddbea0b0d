"""The operation log (M-S1/S3): ``AuditEvent`` rows, append-only, written by ``record`` into the
current transaction (so an audit row commits or rolls back with its change), read by ``query`` for
the log pages.

The application's database role may only INSERT and SELECT ``audit_events``, and a trigger refuses
UPDATE and DELETE for everybody (see the initial migration)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from flask import has_request_context, request
from sqlalchemy import JSON, ForeignKey, Index, Select, String, select
from sqlalchemy.orm import Mapped, mapped_column

from arrears.columns import BigId, UTCDateTime, utcnow
from arrears.extensions import db
from arrears.kernel.db import literal_like
from arrears.tenancy import current_org_id
from arrears.tenancy.models import TenantScoped


class Actor(Protocol):
    """Who acts: a signed-in user (``auth.models.User``); the kernel needs only these."""

    id: int
    org_id: int
    email: str


class AuditEvent(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_org_created", "org_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    actor_user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))
    actor_email: Mapped[str] = mapped_column(String(254), default="", nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    target_type: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    target_id: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, nullable=False)
    ip: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    user_agent: Mapped[str] = mapped_column(String(300), default="", nullable=False)


def _client() -> tuple[str, str]:
    if not has_request_context():
        return "", ""
    return (request.remote_addr or "")[:64], (request.user_agent.string or "")[:300]


def record(
    action: str,
    *,
    actor: Actor | None = None,
    org_id: int | None = None,
    target: Any = None,
    target_type: str = "",
    target_id: Any = "",
    details: dict[str, Any] | None = None,
    actor_email: str = "",
) -> AuditEvent:
    """Add an audit row to the current transaction: it commits or rolls back with the change."""
    if target is not None:
        target_type = target_type or type(target).__name__.lower()
        target_id = target_id or getattr(target, "id", "")
    ip, agent = _client()
    event = AuditEvent(
        org_id=org_id or (actor.org_id if actor is not None else None) or current_org_id(),
        actor_user_id=actor.id if actor is not None else None,
        actor_email=actor.email if actor is not None else actor_email,
        action=action,
        target_type=target_type,
        target_id=str(target_id or ""),
        details=details or {},
        ip=ip,
        user_agent=agent,
    )
    db.session.add(event)
    return event


def query(
    *,
    action: str | None = None,
    actor: str | None = None,
    target_type: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Select[tuple[AuditEvent]]:
    """The tenant's log, newest first (the tenant walls do the scoping)."""
    stmt = select(AuditEvent).order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action))
    if actor:
        stmt = stmt.where(AuditEvent.actor_email.ilike(f"%{literal_like(actor.strip())}%", escape="\\"))
    if target_type:
        stmt = stmt.where(AuditEvent.target_type == target_type)
    if since:
        stmt = stmt.where(AuditEvent.created_at >= dt.datetime.combine(since, dt.time.min, dt.UTC))
    if until:
        stmt = stmt.where(
            AuditEvent.created_at < dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, dt.UTC)
        )
    return stmt
