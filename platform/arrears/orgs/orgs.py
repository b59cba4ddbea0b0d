"""Tenants: creating asset owners and agencies with their built-in roles and first admin."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import select

from arrears.auth.models import User
from arrears.auth.permissions import ADMIN_ROLE_FOR_KIND
from arrears.auth.principal import require
from arrears.errors import Conflict, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.transaction import transaction
from arrears.orgs import roles, users
from arrears.tenancy import cross_tenant, tenant
from arrears.tenancy.models import Organisation, OrgKind, OrgStatus

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def validate_slug(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not SLUG_RE.match(slug):
        raise ValidationFailed(
            _("The short name may hold lower-case letters, digits and dashes (up to 64)."), field="slug"
        )
    return slug


def create_organisation(
    actor: User | None,
    *,
    kind: OrgKind | str,
    slug: str,
    name: str,
    admin_email: str,
    admin_name: str,
    admin_password: str,
) -> Organisation:
    """Create a tenant, its built-in roles and its first administrator (platform operator only;
    ``actor=None`` is the CLI bootstrapping the platform itself)."""
    if actor is not None:
        require(actor, "platform.orgs.manage")
    kind = OrgKind(kind)
    slug = validate_slug(slug)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("The name is required."), field="name")
    with cross_tenant("platform operator creates a tenant"), transaction():
        if db.session.scalar(select(Organisation.id).where(Organisation.slug == slug)) is not None:
            raise Conflict(_("The short name %(slug)s is taken.", slug=slug), field="slug")
        org = Organisation(kind=kind, slug=slug, name=name, status=OrgStatus.ACTIVE, settings={})
        db.session.add(org)
        db.session.flush()
        if actor is not None:
            audit.record("org.created", actor=actor, target=org, details={"slug": slug, "kind": kind.value})
    with tenant(org.id, org.kind), transaction():
        roles.ensure_builtin_roles(org)
        admin_role = roles.builtin_role(org, ADMIN_ROLE_FOR_KIND[kind])
        users.create_user(
            None,
            org=org,
            email=admin_email,
            name=admin_name,
            password=admin_password,
            role_ids=[admin_role.id],
        )
        audit.record(
            "org.created",
            org_id=org.id,
            actor_email=actor.email if actor else "cli",
            target=org,
            details={"slug": slug, "kind": kind.value, "admin": admin_email.lower()},
        )
    return org


def set_status(actor: User, org: Organisation, status: OrgStatus) -> Organisation:
    require(actor, "platform.orgs.manage")
    if org.kind == OrgKind.PLATFORM and status != OrgStatus.ACTIVE:
        raise ValidationFailed(_("The platform organisation cannot be disabled."))
    with cross_tenant("platform operator changes a tenant's status"), transaction():
        org.status = status
        audit.record("org.status_changed", actor=actor, target=org, details={"status": status.value})
    return org


def list_organisations(kind: OrgKind | None = None) -> list[Organisation]:
    stmt = select(Organisation).order_by(Organisation.kind, Organisation.name)
    if kind is not None:
        stmt = stmt.where(Organisation.kind == kind)
    return list(db.session.scalars(stmt))


def update_settings(actor: User, *, name: str, default_locale: str) -> Organisation:
    require(actor, "org.settings.manage")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("The name is required."), field="name")
    if default_locale not in ("zh_CN", "en"):
        raise ValidationFailed(_("Unknown language."), field="default_locale")
    org = actor.org
    with cross_tenant("an organisation edits its own directory entry"), transaction():
        before = {"name": org.name, "default_locale": org.settings.get("default_locale")}
        org.name = name
        org.settings = {**org.settings, "default_locale": default_locale}
        audit.record(
            "org.settings_changed",
            actor=actor,
            target=org,
            details={"before": before, "after": {"name": name, "default_locale": default_locale}},
        )
    return org
