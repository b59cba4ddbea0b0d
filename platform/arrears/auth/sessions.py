"""Authentication use cases: console login sessions and bearer tokens (API and field app)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select, update

from arrears.auth import throttle
from arrears.auth.models import ApiToken, ApiTokenAudience, User, UserSession
from arrears.auth.passwords import check_policy, hash_password, needs_rehash, verify_password
from arrears.auth.principal import require
from arrears.columns import utcnow
from arrears.errors import AuthenticationFailed, NotFound, PermissionDenied, Throttled, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.jobs.registry import job
from arrears.kernel.transaction import transaction
from arrears.tenancy import cross_tenant, tenant
from arrears.tenancy.loaders import one
from arrears.tenancy.models import Organisation, OrgKind

TOKEN_PREFIX = "ark_"  # noqa: S105 (a prefix, not a secret)


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def generic_failure() -> AuthenticationFailed:
    # One message for unknown e-mail, wrong password, disabled user and disabled tenant.
    return AuthenticationFailed(_("Invalid e-mail address or password."))


def check_credentials(email: str, password: str, ip: str, devices: Any = ()) -> tuple[User, str]:
    """Verify e-mail and password, throttled (``auth.throttle``: per account and address, per
    account from untrusted clients, per address, per trusted device; ``devices`` are the device
    tokens the client holds). Returns the user, loaded inside its tenant, and the device token the
    client keeps for this account; raises ``Throttled`` or the generic ``AuthenticationFailed``."""
    email = (email or "").strip().lower()
    attempt = throttle.Attempt(email, ip, throttle.trusted_device(email, devices))
    wait = throttle.retry_after(attempt)
    if wait:
        with cross_tenant("audit a throttled login attempt"), transaction():
            _audit_failure(email, None, "throttled")
        raise Throttled(
            _("Too many failed attempts. Try again in %(n)d seconds.", n=wait), details={"retry_after": wait}
        )
    with cross_tenant("authentication looks an account up by e-mail"):
        user = db.session.scalar(select(User).where(func.lower(User.email) == email)) if email else None
    ok = verify_password(user.password_hash if user else None, password or "")
    if user is None or not ok or not user.is_active:
        with cross_tenant("audit a failed login attempt"), transaction():
            throttle.register_failure(attempt)
            _audit_failure(email, user, "bad_credentials" if user is None or not ok else "inactive")
        raise generic_failure()
    with tenant(user.org_id, user.org.kind, user.id), transaction():
        throttle.register_success(attempt)
        if needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        user.last_login_at = utcnow()
    return user, throttle.issue_device(email, attempt.device)


def _audit_failure(email: str, user: User | None, reason: str) -> None:
    org_id = user.org_id if user is not None else _platform_org_id()
    if org_id is None:
        return
    audit.record("auth.login_failed", org_id=org_id, actor_email=email[:254], details={"reason": reason})


def _platform_org_id() -> int | None:
    return db.session.scalar(select(Organisation.id).where(Organisation.kind == OrgKind.PLATFORM).limit(1))


def start_session(user: User, *, ip: str, user_agent: str) -> str:
    """Create the server-side session; returns the random key the cookie will carry."""
    key = secrets.token_urlsafe(32)
    with tenant(user.org_id, user.org.kind, user.id), transaction():
        db.session.add(
            UserSession(
                org_id=user.org_id,
                user_id=user.id,
                key_hash=_sha256(key),
                session_version=user.session_version,
                last_seen_at=utcnow(),
                ip=(ip or "")[:64],
                user_agent=(user_agent or "")[:300],
            )
        )
        audit.record("auth.login", actor=user, target=user)
    return key


def load_session(org_id: int, key: str) -> User | None:
    """Called on every console request by flask-login's user loader (inside the tenant)."""
    session_row = db.session.scalar(select(UserSession).where(UserSession.key_hash == _sha256(key)))
    if session_row is None or session_row.revoked_at is not None:
        return None
    user = session_row.user
    if not user.is_active or session_row.session_version != user.session_version or user.org_id != org_id:
        return None
    now = utcnow()
    idle = dt.timedelta(minutes=int(current_app.config["SESSION_IDLE_MINUTES"]))
    if now - session_row.last_seen_at > idle:
        session_row.revoked_at = now
        db.session.commit()
        return None
    if now - session_row.last_seen_at > dt.timedelta(seconds=60):
        session_row.last_seen_at = now  # at most one write a minute per session
        db.session.commit()
    user.session_key = key
    return user


def end_session(user: User, key: str | None) -> None:
    with transaction():
        if key:
            row = db.session.scalar(select(UserSession).where(UserSession.key_hash == _sha256(key)))
            if row is not None and row.revoked_at is None:
                row.revoked_at = utcnow()
        audit.record("auth.logout", actor=user, target=user)


# --- bearer tokens -------------------------------------------------------------------------------


def create_token(
    actor: User,
    user: User,
    *,
    audience: ApiTokenAudience,
    name: str,
    days: int | None = None,
    device_name: str = "",
) -> tuple[ApiToken, str]:
    """Issue a token for ``user`` (``actor`` is the user themself, or the CLI/admin acting for them).
    Returns the row and the raw token, which is shown once and never stored."""
    if audience == ApiTokenAudience.API:
        require(user, "api.tokens")
    max_days = int(current_app.config["API_TOKEN_MAX_DAYS"])
    days = int(days or current_app.config["API_TOKEN_DEFAULT_DAYS"])
    if not 1 <= days <= max_days:
        raise ValidationFailed(_("A token lives between 1 and %(n)d days.", n=max_days), field="days")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction():
        token = ApiToken(
            org_id=user.org_id,
            user_id=user.id,
            audience=audience,
            name=(name or "token")[:120],
            device_name=(device_name or "")[:120],
            prefix=raw[:12],
            token_hash=_sha256(raw),
            session_version=user.session_version,
            expires_at=utcnow() + dt.timedelta(days=days),
            created_by_id=actor.id,
        )
        db.session.add(token)
        db.session.flush()
        audit.record(
            "token.created",
            actor=actor,
            target=token,
            details={"user": user.email, "audience": audience.value, "days": days, "device": device_name},
        )
    return token, raw


def revoke_token(actor: User, token: ApiToken) -> ApiToken:
    if token.user_id != actor.id:
        require(actor, "org.users.manage")
    with transaction():
        if token.revoked_at is None:
            token.revoked_at = utcnow()
            audit.record("token.revoked", actor=actor, target=token, details={"user": token.user.email})
    return token


def authenticate_token(raw: str, audience: ApiTokenAudience) -> User | None:
    """Look the token up (by hash, across tenants), check it and return its user, or ``None``."""
    if not raw or not raw.startswith(TOKEN_PREFIX) or len(raw) > 200:
        return None
    with cross_tenant("authentication looks a bearer token up by its hash"):
        token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _sha256(raw)))
        if token is None or token.audience != audience or not token.is_usable(utcnow()):
            return None
        user = token.user
        now = utcnow()
        if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
            token.last_used_at = now
            db.session.commit()
    return user


def user_tokens(user: User) -> list[ApiToken]:
    return list(
        db.session.scalars(
            select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.created_at.desc())
        )
    )


def get_user_by_email(email: str) -> User:
    """For the CLI (``tokens create``): the platform-wide login name."""
    with cross_tenant("CLI finds a user by e-mail"):
        user = db.session.scalar(select(User).where(func.lower(User.email) == (email or "").strip().lower()))
    if user is None:
        raise NotFound(_("No user has this e-mail address."))
    return user


def revoke_current_token(user: User, raw: str) -> None:
    """The field app signs out: the token it holds is revoked."""
    token = db.session.scalar(
        select(ApiToken).where(ApiToken.token_hash == _sha256(raw), ApiToken.user_id == user.id)
    )
    if token is not None:
        revoke_token(user, token)


def field_login(
    email: str, password: str, device_name: str, ip: str, device: str | None = None
) -> tuple[ApiToken, str, User, str]:
    """The field app signs in: check the credentials, then issue a field token for the device.
    ``device``: the device token the app kept from its last sign-in (``auth.throttle``); the fourth
    value is the one to keep now."""
    user, device_token = check_credentials(email, password, ip, [device] if device else ())
    with tenant(user.org_id, user.org.kind, user.id):
        if not user.can("field.visit"):
            # Only said once the password was right, so it tells nothing to a guesser.
            raise PermissionDenied(_("This account may not use the field app."))
        token, raw = create_token(
            user,
            user,
            audience=ApiTokenAudience.FIELD,
            name="field app",
            device_name=device_name.strip(),
            days=min(30, int(current_app.config["API_TOKEN_MAX_DAYS"])),
        )
    return token, raw, user, device_token


def get_token_for(actor: User, token_id: Any) -> ApiToken:
    """Own tokens; user managers also see their users' tokens."""
    condition = ApiToken.org_id == actor.org_id
    if not actor.can("org.users.manage"):
        condition = condition & (ApiToken.user_id == actor.id)
    return one(ApiToken, actor, token_id, condition)


@job("auth.purge-sessions", periodic="purge-expired-sessions", cron="17 3 * * *")
def purge_expired_sessions(idle_days: int = 30) -> int:
    """Delete login sessions and tokens that ended long ago (the audit log keeps the history)."""
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=idle_days)
    with cross_tenant("housekeeping: purge dead sessions of every tenant"):
        n = db.session.query(UserSession).filter(UserSession.last_seen_at < cutoff).delete()
        n += db.session.query(ApiToken).filter(ApiToken.expires_at < cutoff).delete()
        db.session.commit()
    return int(n)


def end_sessions(user: User) -> None:
    """Every session of ``user`` (browser and field app) ends now; the caller's transaction commits."""
    user.session_version += 1
    db.session.execute(
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_tokens(user: User, *, actor: User, reason: str) -> int:
    """Revoke every API and field token ``user`` holds (an administrator's reset, a disabled account,
    or the user asking for it with a new password); the caller's transaction commits. Returns how
    many were revoked."""
    result: Any = db.session.execute(
        update(ApiToken)
        .where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
    revoked = int(result.rowcount or 0)
    if revoked:
        audit.record(
            "token.revoked_all", actor=actor, target=user, details={"tokens": revoked, "reason": reason}
        )
    return revoked


def change_password(
    user: User, *, current_password: str, new_password: str, revoke_api_tokens: bool = False
) -> User:
    """The user changes their own password: every session (this one too) and field login ends; with
    ``revoke_api_tokens`` their API tokens too (the integrations that use them stop)."""
    if not verify_password(user.password_hash, current_password):
        raise ValidationFailed(_("The current password is wrong."), field="current_password")
    check_policy(new_password, user.email, (user.name, user.org.name, user.org.slug))
    if verify_password(user.password_hash, new_password):
        raise ValidationFailed(_("The new password must differ from the current one."), field="new_password")
    with transaction():
        user.password_hash = hash_password(new_password)
        user.password_changed_at = utcnow()
        end_sessions(user)
        if revoke_api_tokens:
            revoke_tokens(user, actor=user, reason="password changed")
        audit.record("user.password_changed", actor=user, target=user)
    return user
