"""The application factory."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask

from arrears.config import load_config


def create_app(config: dict[str, Any] | None = None) -> Flask:
    instance_path = os.environ.get("ARREARS_INSTANCE_PATH") or os.path.join(os.getcwd(), "instance")
    app = Flask("arrears", instance_path=os.path.abspath(instance_path), instance_relative_config=False)
    app.config.update(load_config(app.instance_path))
    if config:
        app.config.update(config)
    _configure_logging(app)
    if app.config["TRUSTED_PROXIES"] > 0:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Client addresses (login throttling, audit rows) come from X-Forwarded-For, trusting
        # exactly as many hops as there are proxies.
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    register_extensions(app)
    register_blueprints(app)
    register_errors(app)
    register_cli(app)
    return app


def _configure_logging(app: Flask) -> None:
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def register_extensions(app: Flask) -> None:
    from arrears import (
        jobs,  # noqa: F401  (every job and schedule entry registered)
        models,  # noqa: F401  (register every model with the metadata)
    )
    from arrears.allocation import placements  # noqa: F401  (register their kinds of approval)
    from arrears.allocation import runs as allocation  # noqa: F401  (register their kinds of approval)
    from arrears.extensions import babel, bootstrap, csrf, db, login_manager, migrate
    from arrears.hooks import HOOKS
    from arrears.i18n import select_locale, select_timezone
    from arrears.kernel import hooks, transaction
    from arrears.kernel.jobs import queue
    from arrears.security import pii
    from arrears.tenancy import criteria, rls
    from arrears.web import login as web_login
    from arrears.work import applications  # noqa: F401  (register their kinds of approval)

    pii.init_app(app)
    db.init_app(app)
    migrate.init_app(
        app, db, directory=os.path.join(os.path.dirname(os.path.dirname(app.root_path)), "migrations")
    )
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    bootstrap.init_app(app)
    from flask_babel import get_locale

    from arrears.web.console import ep as console_ep

    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["ep"] = console_ep  # a view of the console at hand (web.console.ep)
    web_login.init_app(app, login_manager)
    criteria.install()
    transaction.install()
    hooks.install(HOOKS)
    rls.install(_current_session)
    queue.install()


def _current_session() -> Any:
    from flask import has_app_context

    from arrears.extensions import db

    if not has_app_context() or not db.session.registry.has():
        return None
    return db.session()


def register_blueprints(app: Flask) -> None:
    import agency_console
    import agent_workbench
    import asset_console
    import field_api
    from arrears.admin import admin_bp
    from arrears.allocation import api as _allocation_api  # noqa: F401  (its routes join /api/v1)
    from arrears.cases import api as _cases_api  # noqa: F401
    from arrears.commission import api as _commission_api  # noqa: F401
    from arrears.orgs import api as _orgs_api  # noqa: F401
    from arrears.payments import api as _payments_api  # noqa: F401
    from arrears.reports import api as _reports_api  # noqa: F401
    from arrears.web import web_bp
    from arrears.web.api import api
    from arrears.work import api as _work_api  # noqa: F401
    from arrears.work import api_applications as _applications_api  # noqa: F401
    from arrears.work import api_files as _work_files_api  # noqa: F401
    from arrears.writeoffs import api as _writeoffs_api  # noqa: F401

    app.register_blueprint(web_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(asset_console.bp, url_prefix="/asset")
    app.register_blueprint(agency_console.bp, url_prefix="/agency")
    app.register_blueprint(agent_workbench.bp, url_prefix="/workbench")
    api.register(app)
    field_api.init_app(app)


def register_errors(app: Flask) -> None:
    from arrears.web.errors import init_app

    init_app(app)


def register_cli(app: Flask) -> None:
    from arrears.cli import init_app

    init_app(app)
