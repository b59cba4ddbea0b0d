"""Locale and time zone selection, first match wins: the language switch (kept in the session),
the user's own language, the organisation's default language, the browser's Accept-Language, then
``DEFAULT_LOCALE``."""

from __future__ import annotations

from flask import current_app, has_request_context, request, session
from flask_login import current_user


def select_locale() -> str | None:
    supported = current_app.config["LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("lang")
    if chosen in supported:
        return chosen
    user = getattr(current_user, "_get_current_object", lambda: None)()
    if user is not None and getattr(user, "is_authenticated", False):
        if user.locale in supported:
            return user.locale
        org_default = (user.org.settings or {}).get("default_locale")
        if org_default in supported:
            return org_default
    best = request.accept_languages.best_match([*supported, "zh", "zh-CN", "en-US", "en-GB"])
    if best:
        return "zh_CN" if best.lower().startswith("zh") else "en" if best.lower().startswith("en") else best
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]
