"""flask-login wiring: the cookie carries ``<org id>.<session key>``; the loader enters that tenant
before it reads anything, then checks the server-side session (logout, password change, disable and
idle timeout all end it)."""

from __future__ import annotations

from flask import Flask, g, request
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager

from arrears import tenancy
from arrears.auth.models import User
from arrears.auth.sessions import load_session
from arrears.tenancy.context import begin_request, end_request


def _load_user(user_id: str) -> User | None:

    org_part, _, key = (user_id or "").partition(".")
    if not org_part.isdigit() or not key:
        return None
    org_id = int(org_part)
    tenancy.set_context(tenancy.TenantContext(org_id=org_id))
    user = load_session(org_id, key)
    if user is None:
        tenancy.set_context(None)
        return None
    tenancy.set_context(tenancy.TenantContext(org_id=user.org_id, org_kind=user.org.kind, user_id=user.id))
    return user


def init_app(app: Flask, login_manager: LoginManager) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "web.login"
    login_manager.login_message = _l("Please sign in to continue.")
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "basic"
    login_manager.user_loader(_load_user)

    @app.before_request
    def _reset_tenant() -> None:
        g.tenant_token = begin_request()
        g.api_user = None

    @app.teardown_request
    def _clear_tenant(exc: BaseException | None) -> None:
        end_request(g.pop("tenant_token", None))

    hsts = app.config.get("HSTS_SECONDS", 0)

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self'; frame-ancestors 'none'",
        )
        # every answer may carry personal data (pages, API and field answers, files, errors): no
        # cache keeps it, a shared proxy's least of all; only the static assets may be cached
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        if hsts and request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", f"max-age={hsts}; includeSubDomains")
        return response
