"""Users of one organisation: create, change, disable, passwords."""

from __future__ import annotations

import re

from flask_babel import gettext as _
from sqlalchemy import func, select

from arrears.auth.models import Role, User, UserStatus
from arrears.auth.passwords import check_policy, hash_password
from arrears.auth.principal import require
from arrears.auth.sessions import end_sessions, revoke_tokens
from arrears.columns import utcnow
from arrears.errors import Conflict, PermissionDenied, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.db import literal_like
from arrears.kernel.transaction import transaction
from arrears.orgs.models import Team
from arrears.orgs.roles import check_assignable
from arrears.tenancy import cross_tenant
from arrears.tenancy.models import Organisation

EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise ValidationFailed(_("Enter a valid e-mail address."), field="email")
    return email


def _email_taken(email: str, exclude_id: int | None = None) -> bool:
    # Login names are unique across the platform, so this one look-up must see every tenant.
    with cross_tenant("e-mail addresses are unique across tenants"):
        stmt = select(User.id).where(func.lower(User.email) == email)
        if exclude_id is not None:
            stmt = stmt.where(User.id != exclude_id)
        return db.session.scalar(stmt) is not None


def _roles(role_ids: list[int]) -> list[Role]:
    if not role_ids:
        return []
    roles = list(db.session.scalars(select(Role).where(Role.id.in_(role_ids))))
    if len(roles) != len(set(role_ids)):
        raise ValidationFailed(_("A chosen role does not exist."), field="role_ids")
    return roles


def _team(team_id: int | None) -> Team | None:
    if not team_id:
        return None
    team = db.session.get(Team, team_id)
    if team is None:
        raise ValidationFailed(_("The chosen team does not exist."), field="team_id")
    return team


def create_user(
    actor: User | None,
    *,
    org: Organisation,
    email: str,
    name: str,
    password: str,
    role_ids: list[int],
    team_id: int | None = None,
    locale: str | None = None,
) -> User:
    if actor is not None:
        require(actor, "org.users.manage")
    email = normalise_email(email)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("The name is required."), field="name")
    check_policy(password, email, (name, org.name, org.slug))
    with transaction():
        if _email_taken(email):
            raise Conflict(_("A user with this e-mail address exists already."), field="email")
        roles = _roles(role_ids)
        check_assignable(actor, roles)
        user = User(
            org_id=org.id,
            email=email,
            name=name,
            password_hash=hash_password(password),
            status=UserStatus.ACTIVE,
            locale=locale,
            team=_team(team_id),
            password_changed_at=utcnow(),
        )
        user.set_roles(roles)
        db.session.add(user)
        db.session.flush()
        db.session.expire(user, ["roles"])
        audit.record(
            "user.created",
            actor=actor,
            org_id=org.id,
            actor_email="" if actor else "system",
            target=user,
            details={"email": email, "roles": sorted(r.name for r in roles)},
        )
    return user


def update_user(
    actor: User,
    user: User,
    *,
    name: str,
    role_ids: list[int],
    team_id: int | None,
    locale: str | None = None,
) -> User:
    require(actor, "org.users.manage")
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("The name is required."), field="name")
    with transaction():
        roles = _roles(role_ids)
        before = sorted(r.name for r in user.roles)
        added = [r for r in roles if r not in user.roles]
        removed = [r for r in user.roles if r not in roles]
        check_assignable(actor, added + removed)
        if user.id == actor.id and removed and not _keeps_user_admin(roles):
            raise PermissionDenied(_("You cannot take your own user-management right away."))
        user.name, user.team = name, _team(team_id)
        user.set_roles(roles)
        db.session.flush()
        db.session.expire(user, ["roles"])
        if locale is not None:
            user.locale = locale or None
        after = sorted(r.name for r in roles)
        audit.record(
            "user.updated",
            actor=actor,
            target=user,
            details={"roles_before": before, "roles_after": after} if before != after else {"name": name},
        )
    return user


def _keeps_user_admin(roles: list[Role]) -> bool:
    return any("org.users.manage" in r.permissions for r in roles)


def set_status(actor: User, user: User, status: UserStatus) -> User:
    require(actor, "org.users.manage")
    if user.id == actor.id:
        raise PermissionDenied(_("You cannot disable yourself."))
    with transaction():
        check_assignable(actor, list(user.roles))
        user.status = status
        if status == UserStatus.DISABLED:
            end_sessions(user)
            revoke_tokens(user, actor=actor, reason="account disabled")
        audit.record(
            "user.disabled" if status == UserStatus.DISABLED else "user.enabled", actor=actor, target=user
        )
    return user


def reset_password(actor: User, user: User, *, new_password: str) -> User:
    require(actor, "org.users.manage")
    check_policy(new_password, user.email, (user.name, user.org.name, user.org.slug))
    with transaction():
        check_assignable(actor, list(user.roles))
        user.password_hash = hash_password(new_password)
        user.password_changed_at = utcnow()
        end_sessions(user)
        # whoever knew the old password may have made tokens with it: they go too
        revoke_tokens(user, actor=actor, reason="password reset")
        audit.record("user.password_reset", actor=actor, target=user)
    return user


def list_users(search: str | None = None) -> list[User]:
    stmt = select(User).order_by(User.name)
    if search:
        like = f"%{literal_like(search.strip().lower())}%"
        stmt = stmt.where(
            func.lower(User.name).like(like, escape="\\") | func.lower(User.email).like(like, escape="\\")
        )
    return list(db.session.scalars(stmt))
