"""Errors mapped to HTTP in one place: JSON for ``/api`` and ``/field``, pages for the consoles."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, flash, jsonify, redirect, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.csrf import CSRFError
from psycopg.errors import QueryCanceled
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from arrears.errors import DomainError
from arrears.extensions import db

_MESSAGES = {
    400: _l("The request could not be understood."),
    401: _l("Authentication is required."),
    403: _l("You do not have the permission for this action."),
    404: _l("Not found."),
    405: _l("This method is not allowed here."),
    409: _l("The request conflicts with the current state."),
    413: _l("The upload is too large."),
    422: _l("The data is not valid."),
    429: _l("Too many requests. Try again later."),
    500: _l("Something went wrong on our side."),
}


def wants_json() -> bool:
    return request.path.startswith(("/api/", "/field/"))


def json_error(status: int, code: str, message: str, **extra: Any):
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    body["error"].update({k: v for k, v in extra.items() if v is not None})
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="arrears"'
    return response


def _translated(status: int) -> str:
    return str(_MESSAGES.get(status, _MESSAGES[500]))


def _domain_json(exc: DomainError) -> Any:
    response = json_error(exc.status, exc.code, str(exc.message), field=exc.field, details=exc.details)
    retry = exc.details.get("retry_after") if isinstance(exc.details, dict) else None
    if exc.status == 429 and retry:
        response.headers["Retry-After"] = str(retry)
    return response


def _http_response(app: Flask, exc: HTTPException) -> Any:
    status = exc.code or 500
    if wants_json():
        code = (exc.name or "error").lower().replace(" ", "_")
        response = json_error(status, code, _translated(status))
    else:
        page = render_template("errors/error.html", status=status, message=_translated(status))
        response = app.make_response((page, status))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))  # RFC 9110 §15.5.6
    return response


def _domain(exc: DomainError) -> Any:
    if wants_json():
        return _domain_json(exc)
    if exc.status == 404:
        return render_template("errors/error.html", status=404, message=str(exc.message)), 404
    flash(str(exc.message), "danger")
    if request.method == "POST":
        return redirect(request.referrer or request.path)
    return render_template("errors/error.html", status=exc.status, message=str(exc.message)), exc.status


def _csrf(exc: CSRFError) -> Any:
    message = _("The form expired or was not sent from this site. Reload the page and try again.")
    if wants_json():
        return json_error(400, "csrf_failed", message)
    return render_template("errors/error.html", status=400, message=message), 400


def _unexpected(exc: Exception) -> Any:
    current_app.logger.exception("unhandled error")
    db.session.rollback()
    if wants_json():
        return json_error(500, "internal_error", _translated(500))
    return render_template("errors/error.html", status=500, message=_translated(500)), 500


def _database(exc: OperationalError) -> Any:
    """A statement stopped by its timeout (``kernel.db.install_timeouts``) is a 503 that says what
    to do, not a 500; any other database failure is unexpected."""
    if not isinstance(exc.orig, QueryCanceled):
        return _unexpected(exc)
    db.session.rollback()
    message = _(
        "This took too long and was stopped. Narrow it down (a filter, a shorter period) and try again."
    )
    if wants_json():
        return json_error(503, "too_slow", message)
    return render_template("errors/error.html", status=503, message=message), 503


def init_app(app: Flask) -> None:
    app.register_error_handler(DomainError, _domain)
    app.register_error_handler(CSRFError, _csrf)
    app.register_error_handler(HTTPException, lambda exc: _http_response(app, exc))
    app.register_error_handler(OperationalError, _database)
    app.register_error_handler(Exception, _unexpected)
