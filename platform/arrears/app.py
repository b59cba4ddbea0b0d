"""The application factory."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask, has_app_context
from flask_babel import get_locale
from werkzeug.middleware.proxy_fix import ProxyFix

import agency_console
import agent_workbench
import asset_console
import field_api
from arrears import jobs, models
from arrears.admin import admin_bp
from arrears.allocation import api as allocation_api
from arrears.allocation import placements, runs
from arrears.cases import api as cases_api
from arrears.cli import init_app as init_cli
from arrears.commission import api as commission_api
from arrears.config import load_config
from arrears.extensions import babel, bootstrap, csrf, db, login_manager, migrate
from arrears.hooks import HOOKS
from arrears.i18n import select_locale, select_timezone
from arrears.kernel import db as db_kernel
from arrears.kernel import hooks, transaction
from arrears.kernel.jobs import queue
from arrears.orgs import api as orgs_api
from arrears.payments import api as payments_api
from arrears.reports import api as reports_api
from arrears.security import logs, pii
from arrears.tenancy import criteria, rls
from arrears.web import guards, web_bp
from arrears.web import login as web_login
from arrears.web.api import api
from arrears.web.console import ep as console_ep
from arrears.web.errors import init_app as init_errors
from arrears.work import api as work_api
from arrears.work import api_applications, api_files, applications
from arrears.writeoffs import api as writeoffs_api

# Imported for what importing them registers: every model with the metadata, every job and
# schedule entry, the kinds of approval, and the routes of /api/v1.
REGISTERED_ON_IMPORT = (
    models,
    jobs,
    placements,
    runs,
    applications,
    allocation_api,
    cases_api,
    commission_api,
    orgs_api,
    payments_api,
    reports_api,
    work_api,
    api_applications,
    api_files,
    writeoffs_api,
)


def create_app(config: dict[str, Any] | None = None) -> Flask:
    instance_path = os.environ.get("ARREARS_INSTANCE_PATH") or os.path.join(os.getcwd(), "instance")
    app = Flask("arrears", instance_path=os.path.abspath(instance_path), instance_relative_config=False)
    app.config.update(load_config(app.instance_path))
    if config:
        app.config.update(config)
    _configure_logging(app)
    if app.config["TRUSTED_PROXIES"] > 0:
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
    logs.install()  # every record redacted as it is made: no personal data in any log
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)


def register_extensions(app: Flask) -> None:
    pii.init_app(app)
    db.init_app(app)
    migrate.init_app(
        app, db, directory=os.path.join(os.path.dirname(os.path.dirname(app.root_path)), "migrations")
    )
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    bootstrap.init_app(app)

    app.jinja_env.globals["get_locale"] = get_locale
    app.jinja_env.globals["ep"] = console_ep  # a view of the console at hand (web.console.ep)
    web_login.init_app(app, login_manager)
    guards.install(app)  # before any rule is added: bounded <int:> ids, the request guards
    criteria.install()
    db_kernel.install_timeouts()
    transaction.install()
    hooks.install(HOOKS)
    rls.install(_current_session)
    queue.install()


def _current_session() -> Any:
    if not has_app_context() or not db.session.registry.has():
        return None
    return db.session()


def register_blueprints(app: Flask) -> None:
    app.register_blueprint(web_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(asset_console.bp, url_prefix="/asset")
    app.register_blueprint(agency_console.bp, url_prefix="/agency")
    app.register_blueprint(agent_workbench.bp, url_prefix="/workbench")
    api.register(app)
    field_api.init_app(app)


def register_errors(app: Flask) -> None:
    init_errors(app)


def register_cli(app: Flask) -> None:
    init_cli(app)
