"""Users, roles made of named permissions, and server-side login sessions."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, func, select
from sqlalchemy.orm import Mapped, column_property, mapped_column, object_session, relationship

from arrears.auth.permissions import ROLE_TEMPLATES
from arrears.columns import BigId, CreatedAtMixin, UTCDateTime, enum_type
from arrears.extensions import db
from arrears.tenancy.models import Organisation, TenantScoped

if TYPE_CHECKING:  # the team is the orgs domain's, above this one: named in the relationship only
    from arrears.orgs.models import Team


class UserStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"


class Role(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """A set of permissions inside one organisation.

    Built-in roles come from templates (``template_key``); custom roles may hang under a parent role
    (multi-level, M-R3) and can only hold permissions their parent holds, and nobody can create or
    assign a role with a permission they do not hold themselves.
    """

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    description: Mapped[str] = mapped_column(String(500), default="", nullable=False)
    template_key: Mapped[str | None] = mapped_column(String(64))
    parent_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("roles.id"))

    parent: Mapped[Role | None] = relationship(remote_side="Role.id")
    grants: Mapped[list[RolePermission]] = relationship(
        back_populates="role", cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def builtin(self) -> bool:
        return self.template_key is not None

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(g.permission for g in self.grants)

    @property
    def display_name(self) -> str:
        if self.template_key:
            template = ROLE_TEMPLATES.get(self.template_key)
            if template is not None:
                return str(template.name)
        return self.name


class RolePermission(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "role_permissions"

    role_id: Mapped[int] = mapped_column(BigId, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)
    permission: Mapped[str] = mapped_column(String(64), primary_key=True)

    role: Mapped[Role] = relationship(back_populates="grants")


class UserRole(TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role_id: Mapped[int] = mapped_column(BigId, ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True)


class User(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    __tablename__ = "users"

    # Set by the login flow to the session's random key; flask-login stores ``get_id()``.
    __allow_unmapped__ = True  # for session_key below, a plain attribute
    session_key: str | None = None

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Unique across the platform: the login name. Stored lower-case.
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    status: Mapped[UserStatus] = mapped_column(
        enum_type(UserStatus, "user_status"), default=UserStatus.ACTIVE, nullable=False
    )
    locale: Mapped[str | None] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("teams.id"))
    case_cap: Mapped[int | None] = mapped_column(Integer)  # most open cases a collector may hold
    # Bumped on password change and disable: every session and field login issued before dies.
    session_version: Mapped[int] = mapped_column(Integer, default=1, nullable=False)
    password_changed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    org: Mapped[Organisation] = relationship(lazy="joined", foreign_keys="User.org_id")
    team: Mapped[Team | None] = relationship(back_populates="members", foreign_keys=[team_id])
    # Role membership rows carry the tenant id, so they are association objects; ``roles`` reads
    # through them and ``set_roles`` writes them.
    # Read when asked for (the role pages); a request's permission checks read ``permission_list``.
    role_links: Mapped[list[UserRole]] = relationship(cascade="all, delete-orphan")
    roles: Mapped[list[Role]] = relationship(secondary="user_roles", viewonly=True, order_by="Role.name")
    # ``permission_list`` (below the class): the user's permissions, comma-separated, read with the
    # user's row by a correlated subquery, so a signed-in request costs no query for its checks.

    def set_roles(self, roles: list[Role]) -> None:
        wanted = {r.id for r in roles}
        keep = [link for link in self.role_links if link.role_id in wanted]
        have = {link.role_id for link in keep}
        self.role_links = keep + [
            UserRole(org_id=self.org_id, role_id=r.id) for r in roles if r.id not in have
        ]
        session = object_session(self)
        if session is not None and self in session and self.id is not None:
            session.expire(self, ["permission_list", "roles"])

    @property
    def is_active_user(self) -> bool:
        return self.status == UserStatus.ACTIVE

    @property
    def permissions(self) -> frozenset[str]:
        return frozenset(p for p in (self.permission_list or "").split(",") if p)

    # flask-login's interface, written out: its UserMixin would make every two users with the same
    # get_id() compare equal (identity comparison is what SQLAlchemy and the services expect).
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:  # flask-login
        return self.is_active_user and self.org.is_active

    def get_id(self) -> str:
        """What flask-login keeps in the cookie: the tenant and the session key, never the user id
        alone, so the loader can enter the tenant before it reads anything."""
        return f"{self.org_id}.{self.session_key}"

    def can(self, permission: str) -> bool:
        return permission in self.permissions

    def __repr__(self) -> str:
        return f"<User {self.email}>"


User.permission_list = column_property(
    select(func.aggregate_strings(RolePermission.permission, ","))
    .join(UserRole, UserRole.role_id == RolePermission.role_id)
    .where(UserRole.user_id == User.id)
    .correlate_except(RolePermission, UserRole)
    .scalar_subquery(),
    # an UPDATE of the user's own row does not change it (set_roles expires it)
    expire_on_flush=False,
)


class UserSession(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """A console login. The cookie holds a random key; only its SHA-256 is stored. Logout revokes the
    row, so a copied cookie dies with the session; idle sessions expire."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    session_version: Mapped[int] = mapped_column(Integer, nullable=False)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    ip: Mapped[str] = mapped_column(String(64), default="", nullable=False)
    user_agent: Mapped[str] = mapped_column(String(300), default="", nullable=False)

    user: Mapped[User] = relationship(lazy="joined")


class AuthThrottle(db.Model):  # type: ignore[name-defined]
    """Sign-in failure counters when Redis is absent (the embedded default, ``auth.throttle``). Not
    tenant data: keyed by a hash of the account name, the client address or a device id."""

    __tablename__ = "auth_throttle"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, nullable=False)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)


class ApiTokenAudience(enum.StrEnum):
    API = "api"
    FIELD = "field"


class ApiToken(CreatedAtMixin, TenantScoped, db.Model):  # type: ignore[name-defined]
    """A bearer token for ``/api/v1`` (integration) or ``/field/v1`` (the field app).

    Random (``secrets``), shown once, stored as SHA-256; expiring; revocable; acting as its user with
    the user's permissions. Field tokens carry the device name and die with the user's session
    version (password change, disable)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True
    )
    audience: Mapped[ApiTokenAudience] = mapped_column(
        enum_type(ApiTokenAudience, "token_audience"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    device_name: Mapped[str] = mapped_column(String(120), default="", nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    session_version: Mapped[int] = mapped_column(Integer, nullable=False)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id"))

    user: Mapped[User] = relationship(foreign_keys=[user_id], lazy="joined")

    def is_usable(self, now: dt.datetime) -> bool:
        return (
            self.revoked_at is None
            and self.expires_at > now
            and self.user.is_active_user
            and self.user.org.is_active
            and (self.audience != ApiTokenAudience.FIELD or self.session_version == self.user.session_version)
        )
