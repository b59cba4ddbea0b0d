"""Sign in, sign out, language, profile, own password and own API tokens."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import text
from werkzeug.wrappers import Response as BaseResponse

from arrears.auth import sessions as auth_service
from arrears.auth import throttle
from arrears.auth.models import ApiTokenAudience
from arrears.auth.sessions import get_token_for
from arrears.errors import AuthenticationFailed, DomainError, Throttled
from arrears.extensions import db
from arrears.kernel.jobs.queue import is_eager, jobs_mode
from arrears.web.console import home_endpoint_for
from arrears.web.forms import ConfirmForm, LoginForm, PasswordChangeForm, TokenForm

web_bp = Blueprint("web", __name__)
_DEVICES_KEPT = 5  # accounts a browser is trusted for (people sharing a desk)


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@web_bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint_for(current_user)))
    return redirect(url_for("web.login"))


@web_bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for(home_endpoint_for(current_user)))
    form = LoginForm()
    status = 200
    retry = None
    if form.validate_on_submit():
        try:
            user, device = auth_service.check_credentials(
                form.email.data or "",
                form.password.data or "",
                request.remote_addr or "",
                _device_tokens(),
            )
        except (AuthenticationFailed, Throttled) as exc:
            flash(str(exc.message), "danger")
            status = exc.status
            retry = (exc.details or {}).get("retry_after") if isinstance(exc, Throttled) else None
        else:
            key = auth_service.start_session(
                user, ip=request.remote_addr or "", user_agent=request.user_agent.string
            )
            session.clear()  # no fixation: a fresh session for the signed-in user
            user.session_key = key
            login_user(user)
            session.permanent = True  # lifetime = idle timeout, refreshed on each request
            response = redirect(_safe_next(request.args.get("next")) or url_for(home_endpoint_for(user)))
            _keep_device(response, device)
            return response
    elif request.method == "POST":
        status = 400
    response = make_response(render_template("auth/login.html", form=form, eager=is_eager()), status)
    if status == 429 and retry:
        response.headers["Retry-After"] = str(retry)
    return response


def _device_tokens() -> list[str]:
    """The device tokens this browser keeps (one per account that signed in here, ``auth.throttle``)."""
    raw = request.cookies.get(throttle.DEVICE_COOKIE, "")
    return [token for token in raw.split(" ") if token][:_DEVICES_KEPT]


def _keep_device(response: BaseResponse, device: str) -> None:
    kept = [device, *(t for t in _device_tokens() if t != device)][:_DEVICES_KEPT]
    response.set_cookie(
        throttle.DEVICE_COOKIE,
        " ".join(kept),
        max_age=throttle.DEVICE_MAX_AGE,
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        httponly=True,
        samesite="Lax",
    )


@web_bp.route("/logout", methods=["POST"])
@login_required
def logout():
    auth_service.end_session(current_user._get_current_object(), current_user.session_key)
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("web.login"))


@web_bp.route("/lang/<code>")
def set_language(code: str):
    if code in current_app.config["LANGUAGES"]:
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next")) or url_for("web.index"))


@web_bp.route("/profile", methods=["GET", "POST"])
@login_required
def profile():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            auth_service.change_password(
                current_user._get_current_object(),
                current_password=form.current_password.data or "",
                new_password=form.new_password.data or "",
                revoke_api_tokens=bool(form.revoke_api_tokens.data),
            )
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            # Every session ended, this one too: sign in again with the new password.
            logout_user()
            session.clear()
            flash(_("Your password was changed. Sign in with the new password."), "success")
            return redirect(url_for("web.login"))
    return render_template("auth/profile.html", form=form, home=home_endpoint_for(current_user))


@web_bp.route("/profile/tokens", methods=["GET", "POST"])
@login_required
def tokens():
    user = current_user._get_current_object()
    form = TokenForm()
    if request.method == "GET":
        form.days.data = current_app.config["API_TOKEN_DEFAULT_DAYS"]
    form.days.validators[-1].max = current_app.config["API_TOKEN_MAX_DAYS"]
    raw = None
    if form.validate_on_submit():
        try:
            _, raw = auth_service.create_token(
                user, user, audience=ApiTokenAudience.API, name=form.name.data or "", days=form.days.data
            )
        except DomainError as exc:
            flash(str(exc.message), "danger")
    return render_template(
        "auth/tokens.html",
        form=form,
        raw_token=raw,
        tokens=auth_service.user_tokens(user),
        revoke_form=ConfirmForm(),
        can_create=user.can("api.tokens"),
        home=home_endpoint_for(user),
    )


@web_bp.route("/profile/tokens/<int:token_id>/revoke", methods=["POST"])
@login_required
def revoke_token(token_id: int):
    user = current_user._get_current_object()
    token = get_token_for(user, token_id)
    if ConfirmForm().validate_on_submit():
        auth_service.revoke_token(user, token)
        flash(_("The token was revoked."), "success")
    return redirect(url_for("web.tokens"))


@web_bp.route("/healthz")
def healthz():

    db.session.execute(text("SELECT 1"))
    return jsonify({"status": "ok", "jobs": jobs_mode()})
