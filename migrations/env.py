"""Alembic environment (Flask-Migrate).

Migrations run as the schema owner: ``DATABASE_MIGRATION_URL`` when set, otherwise the app's
``DATABASE_URL``. On PostgreSQL, after the migrations, the application role (``DATABASE_APP_ROLE``)
is created if missing (when the owner may create roles) and given exactly the privileges it needs:
data access on every table but no UPDATE/DELETE/TRUNCATE on the audit log. It owns nothing, so
row-level security (FORCE) applies to it, and it has no BYPASSRLS.
"""

import logging
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy import create_engine, pool

config = context.config
fileConfig(config.config_file_name)
logger = logging.getLogger("alembic.env")

target_db = current_app.extensions["migrate"].db


def get_engine():
    url = current_app.config.get("DATABASE_MIGRATION_URL")
    if url:
        return create_engine(url, poolclass=pool.NullPool)
    return target_db.engine


config.set_main_option(
    "sqlalchemy.url", get_engine().url.render_as_string(hide_password=False).replace("%", "%%")
)


def render_item(type_, obj, autogen_context):
    """Our column types (UTCDateTime, EncryptedText) are TypeDecorators: migrations store their
    database type, so a migration never imports application code for a column."""
    from sqlalchemy.types import TypeDecorator

    if type_ == "type" and isinstance(obj, TypeDecorator):
        autogen_context.imports.add("import sqlalchemy as sa")
        return "sa." + repr(obj.impl)
    return False


def get_metadata():
    return target_db.metadata


def run_migrations_offline():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"), target_metadata=get_metadata(), literal_binds=True
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    def process_revision_directives(context, revision, directives):
        if getattr(config.cmd_opts, "autogenerate", False):
            script = directives[0]
            if script.upgrade_ops.is_empty():
                directives[:] = []
                logger.info("No changes in schema detected.")

    conf_args = dict(current_app.extensions["migrate"].configure_args)
    conf_args.setdefault("render_item", render_item)
    conf_args.setdefault("process_revision_directives", process_revision_directives)

    engine = get_engine()
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=get_metadata(),
            **conf_args,
        )
        with context.begin_transaction():
            context.run_migrations()
            if connection.dialect.name == "postgresql" and not getattr(
                config.cmd_opts, "autogenerate", False
            ):
                from arrears.tenancy.rls import grant_app_role

                grant_app_role(connection, current_app.config["DATABASE_APP_ROLE"])


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
