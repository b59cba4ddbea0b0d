"""Roles: built-in templates per organisation kind and multi-level custom roles (M-R3).

No escalation: a user can create, change or assign only roles whose permissions they hold
themselves; a custom role under a parent can hold only its parent's permissions; permissions must
fit the organisation's kind.
"""

from __future__ import annotations

from collections.abc import Iterable

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from arrears.auth.models import Role, RolePermission, User, UserRole
from arrears.auth.permissions import ROLE_TEMPLATES, permissions_for_kind, templates_for_kind
from arrears.auth.principal import require
from arrears.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.transaction import transaction
from arrears.tenancy.models import Organisation


def ensure_builtin_roles(org: Organisation) -> list[Role]:
    """Create or refresh the organisation's built-in roles from the templates (idempotent)."""
    existing = {
        r.template_key: r for r in db.session.scalars(select(Role).where(Role.template_key.is_not(None)))
    }
    result = []
    for template in templates_for_kind(org.kind):
        role = existing.get(template.key)
        if role is None:
            with force_locale("en"):
                stored_name = str(template.name)  # shown translated via Role.display_name
            role = Role(org_id=org.id, name=stored_name, template_key=template.key, description="")
            db.session.add(role)
        wanted = set(template.permissions)
        have = {g.permission for g in role.grants}
        for grant in list(role.grants):
            if grant.permission not in wanted:
                role.grants.remove(grant)
        for permission in sorted(wanted - have):
            role.grants.append(RolePermission(org_id=org.id, permission=permission))
        result.append(role)
    db.session.flush()
    return result


def builtin_role(org: Organisation, key: str) -> Role:
    role = db.session.scalar(select(Role).where(Role.org_id == org.id, Role.template_key == key))
    if role is None:
        raise NotFound(_("Role not found."))
    return role


def _clean_permissions(org: Organisation, permissions: Iterable[str]) -> set[str]:
    allowed = {p.name for p in permissions_for_kind(org.kind)}
    wanted = {p.strip() for p in permissions if p and p.strip()}
    unknown = sorted(wanted - allowed)
    if unknown:
        raise ValidationFailed(
            _("Unknown permission for this organisation: %(names)s", names=", ".join(unknown)),
            field="permissions",
        )
    return wanted


def _no_escalation(actor: User | None, permissions: set[str]) -> None:
    if actor is None:
        return
    beyond = sorted(permissions - actor.permissions)
    if beyond:
        raise PermissionDenied(
            _("You cannot grant permissions you do not hold: %(names)s", names=", ".join(beyond))
        )


def save_role(  # noqa: C901
    actor: User,
    *,
    role: Role | None,
    name: str,
    description: str,
    permissions: Iterable[str],
    parent_id: int | None = None,
) -> Role:
    """Create (``role=None``) or change a custom role."""
    require(actor, "org.roles.manage")
    org = actor.org
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("The name is required."), field="name")
    wanted = _clean_permissions(org, permissions)
    _no_escalation(actor, wanted)
    with transaction():
        if role is not None and role.builtin:
            raise ValidationFailed(_("Built-in roles cannot be changed; create a custom role instead."))
        parent = None
        if parent_id:
            parent = db.session.get(Role, parent_id)
            if parent is None:
                raise ValidationFailed(_("The parent role does not exist."), field="parent_id")
            if role is not None and _is_descendant(parent, role):
                raise ValidationFailed(_("A role cannot be placed under itself."), field="parent_id")
            beyond = sorted(wanted - parent.permissions)
            if beyond:
                raise ValidationFailed(
                    _(
                        "A sub-role can only hold its parent's permissions; not in the parent: %(names)s",
                        names=", ".join(beyond),
                    ),
                    field="permissions",
                )
        clash = db.session.scalar(
            select(Role.id).where(func.lower(Role.name) == name.lower(), Role.id != (role.id if role else -1))
        )
        if clash is not None:
            raise Conflict(_("A role named %(name)s exists already.", name=name), field="name")
        before = sorted(role.permissions) if role is not None else []
        if role is None:
            role = Role(name=name, description=description or "", parent_id=parent.id if parent else None)
            db.session.add(role)
            db.session.flush()
        role.name, role.description = name, description or ""
        role.parent_id = parent.id if parent else None
        for grant in list(role.grants):
            if grant.permission not in wanted:
                role.grants.remove(grant)
        have = {g.permission for g in role.grants}
        for permission in sorted(wanted - have):
            role.grants.append(RolePermission(org_id=role.org_id, permission=permission))
        db.session.flush()
        _trim_children(role)
        audit.record(
            "role.saved",
            actor=actor,
            target=role,
            details={
                "name": name,
                "added": sorted(wanted - set(before)),
                "removed": sorted(set(before) - wanted),
            },
        )
    return role


def _is_descendant(candidate: Role, ancestor: Role) -> bool:
    node: Role | None = candidate
    seen = set()
    while node is not None and node.id not in seen:
        if node.id == ancestor.id:
            return True
        seen.add(node.id)
        node = node.parent
    return False


def _trim_children(role: Role) -> None:
    """A parent that loses a permission takes it from its sub-roles too."""
    for child in db.session.scalars(select(Role).where(Role.parent_id == role.id)):
        for grant in list(child.grants):
            if grant.permission not in role.permissions:
                child.grants.remove(grant)
        _trim_children(child)


def delete_role(actor: User, role: Role) -> None:
    require(actor, "org.roles.manage")
    with transaction():
        if role.builtin:
            raise ValidationFailed(_("Built-in roles cannot be deleted."))
        in_use = db.session.scalar(
            select(func.count()).select_from(UserRole).where(UserRole.role_id == role.id)
        )
        if in_use:
            raise Conflict(_("The role is held by %(n)d users; take it from them first.", n=in_use))
        if db.session.scalar(select(Role.id).where(Role.parent_id == role.id)) is not None:
            raise Conflict(_("The role has sub-roles; delete or move them first."))
        audit.record("role.deleted", actor=actor, target=role, details={"name": role.name})
        db.session.delete(role)


def assignable_roles(actor: User) -> list[Role]:
    """Roles the actor may hand out: those whose permissions they hold."""
    roles = db.session.scalars(select(Role).order_by(Role.name)).all()
    return [r for r in roles if r.permissions <= actor.permissions]


def check_assignable(actor: User | None, roles: list[Role]) -> None:
    wanted: set[str] = set()
    for role in roles:
        wanted |= role.permissions
    _no_escalation(actor, wanted)


def template_label(key: str | None) -> str:
    return str(ROLE_TEMPLATES[key].name) if key in ROLE_TEMPLATES else ""
