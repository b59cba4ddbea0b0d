"""Flask commands: ``seed-demo``, ``tokens create``, ``worker``, ``cron``, ``create-tenant``, ``cases``,
``repayments reconcile|import``, ``pii``."""

from __future__ import annotations

import json
import logging
import os
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import force_locale
from rq import Worker
from rq.cron import CronScheduler

from arrears.auth import sessions as auth
from arrears.auth.models import ApiTokenAudience
from arrears.cases.cases import CaseFilter
from arrears.cases.exports import export_cases
from arrears.cases.imports.batches import import_cases, owner_by_slug
from arrears.demo.seed import DEFAULT_PASSWORD, seed
from arrears.errors import DomainError
from arrears.extensions import db
from arrears.kernel.jobs import runner
from arrears.kernel.jobs.queue import redis_connection
from arrears.kernel.jobs.schedule import SCHEDULE, run_periodic
from arrears.orgs.orgs import create_organisation
from arrears.payments import reconcile
from arrears.security.rotation import rotate_all
from arrears.tenancy import tenant


def _fail(exc: DomainError, as_json: bool) -> None:
    if as_json:
        click.echo(
            json.dumps(
                {"error": {"code": exc.code, "message": str(exc.message), "field": exc.field}},
                ensure_ascii=False,
            )
        )
    else:
        click.echo(f"error: {exc.message}", err=True)
    sys.exit(2)


@click.command("seed-demo")
@click.option("--password", default=None, help="Password for every demo user (default: Demo-Pass-2026!).")
@click.option("--json", "as_json", is_flag=True, help="Print organisations and logins as JSON.")
def seed_demo(password: str | None, as_json: bool) -> None:
    """Create (or refresh) the demo tenants and their users. Safe to run again."""

    try:
        result = seed(password or DEFAULT_PASSWORD)
    except DomainError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo("Demo tenants: " + ", ".join(f"{o['slug']} ({o['kind']})" for o in result["organisations"]))
    click.echo("Demo logins (password for all: %s):" % (password or DEFAULT_PASSWORD))
    for user in result["users"]:
        click.echo(f"  {user['org']:<18} {user['role']:<18} {user['email']}")


tokens = AppGroup("tokens", help="API tokens.")


@tokens.command("create")
@click.option("--email", required=True, help="The user the token acts as.")
@click.option(
    "--days", type=int, default=None, help="Lifetime in days (default from API_TOKEN_DEFAULT_DAYS)."
)
@click.option("--name", default="cli", help="A name to recognise the token by.")
@click.option("--json", "as_json", is_flag=True, help='Print {"token": ...} as JSON.')
def tokens_create(email: str, days: int | None, name: str, as_json: bool) -> None:
    """Create an API token for a user; the token is printed once."""

    try:
        user = auth.get_user_by_email(email)
        with tenant(user.org_id, user.org.kind, user.id):
            token, raw = auth.create_token(user, user, audience=ApiTokenAudience.API, name=name, days=days)
            payload = {
                "token": raw,
                "email": user.email,
                "org": user.org.slug,
                "expires_at": token.expires_at.isoformat(),
            }
    except DomainError as exc:
        _fail(exc, as_json)
        return
    if as_json:
        click.echo(json.dumps(payload))
    else:
        click.echo(raw)


@click.command("worker")
@click.option("--queue", "queues", multiple=True, help="Queues to listen on (default: RQ_QUEUES).")
@click.option("--burst", is_flag=True, help="Quit when the queues are empty.")
@click.option("--no-scheduler", is_flag=True, help="Do not run rq's scheduler for delayed jobs and retries.")
def worker(queues: tuple[str, ...], burst: bool, no_scheduler: bool) -> None:
    """Run an rq worker inside the application (jobs re-enter their tenant)."""

    conn = redis_connection()
    if conn is None:
        click.echo(
            "REDIS_URL is not set or Redis does not answer: jobs run inline, no worker needed.", err=True
        )
        sys.exit(1)
    names = list(queues) or current_app.config["RQ_QUEUES"]
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    runner.serve(app)
    # The work horse is a fork: it must not share the parent's pooled database connections.
    os.register_at_fork(after_in_child=lambda: _dispose_engine(app, db))
    logging.getLogger("rq").setLevel(logging.INFO)
    Worker(names, connection=conn).work(burst=burst, with_scheduler=not no_scheduler)


def _dispose_engine(app: Flask, db) -> None:
    with app.app_context():
        db.engine.dispose(close=False)


@click.command("cron")
def cron() -> None:
    """Run rq's cron scheduler for the periodic jobs (declared on their jobs: ``@job(periodic=...)``)."""

    conn = redis_connection()
    if conn is None:
        click.echo("REDIS_URL is not set or Redis does not answer: no periodic jobs without Redis.", err=True)
        sys.exit(1)
    scheduler = CronScheduler(connection=conn)
    for entry in SCHEDULE:
        scheduler.register(
            run_periodic,
            queue_name=entry.queue or current_app.config["RQ_QUEUES"][0],
            args=(entry.name,),
            cron=entry.cron,
            interval=entry.interval,
            name=entry.name,
        )
    scheduler.start()


@click.command("create-tenant")
@click.option("--kind", type=click.Choice(["platform", "asset_owner", "agency"]), required=True)
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option("--admin-email", required=True)
@click.option("--admin-name", required=True)
@click.option("--admin-password", required=True, prompt=True, hide_input=True)
def create_tenant(
    kind: str, slug: str, name: str, admin_email: str, admin_name: str, admin_password: str
) -> None:
    """Create an organisation with its first administrator (for a real installation)."""

    try:
        org = create_organisation(
            None,
            kind=kind,
            slug=slug,
            name=name,
            admin_email=admin_email,
            admin_name=admin_name,
            admin_password=admin_password,
        )
    except DomainError as exc:
        _fail(exc, False)
        return
    click.echo(f"created {org.slug} ({org.kind.value}) with admin {admin_email}")


cases = AppGroup("cases", help="Case files: import and export.")


@cases.command("import")
@click.option("--org", "org_slug", required=True, help="Short name of the asset owner.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--mapping", default="auto", help='"auto" (recognise the headers) or the name of a saved mapping.'
)
@click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def cases_import(org_slug: str, file: str, mapping: str, dry_run: bool, as_json: bool) -> None:
    """Import a case file (.xlsx or .csv). Exits 0 when the file was processed, even with rejected
    rows; 2 when it could not be read."""

    try:
        org = owner_by_slug(org_slug)
    except DomainError as exc:
        _fail(exc, as_json)
        return
    with force_locale("en"):
        _, report, refused = import_cases(org, Path(file), Path(file).name, dry_run=dry_run, mapping=mapping)
    if refused is not None or report is None:
        if as_json:
            click.echo(
                json.dumps({"error": {"code": "file_refused", "message": refused}}, ensure_ascii=False)
            )
        else:
            click.echo(f"error: {refused}", err=True)
        sys.exit(2)
    body = report.as_dict()
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False, default=str))
        return
    click.echo(
        f"{body['file']}: {body['rows_read']} rows read, {body['imported']} imported, "
        f"{body['updated']} updated, {body['unchanged']} unchanged, {body['skipped']} skipped, "
        f"{body['rejected']} rejected" + (" (dry run: nothing written)" if dry_run else "")
    )
    for error in body["errors"][:50]:
        click.echo(f"  row {error['row']}, {error['column']}: {error['reason']} ({error['value']!r})")
    if len(body["errors"]) > 50:
        click.echo(f"  ... and {len(body['errors']) - 50} more")


@cases.command("export")
@click.option("--org", "org_slug", required=True, help="Short name of the asset owner.")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), required=True)
@click.option(
    "--sort",
    type=click.Choice(["dpd", "amount"]),
    default="dpd",
    help="dpd: most days past due first; amount: largest outstanding first.",
)
@click.option("--dpd-min", type=int)
@click.option("--dpd-max", type=int)
@click.option("--amount-min", type=str)
@click.option("--amount-max", type=str)
@click.option("--product")
@click.option("--province")
@click.option("--city")
@click.option("--status")
@click.option("--unmask", is_flag=True, help="Personal data in clear (audited); masked by default.")
@click.argument("out", type=click.Path(dir_okay=False, writable=True))
def cases_export(
    org_slug: str,
    fmt: str,
    sort: str,
    dpd_min: int | None,
    dpd_max: int | None,
    amount_min: str | None,
    amount_max: str | None,
    product: str | None,
    province: str | None,
    city: str | None,
    status: str | None,
    unmask: bool,
    out: str,
) -> None:
    """Export an owner's cases to .xlsx or .csv (streamed; masked unless --unmask; audited)."""

    try:
        org = owner_by_slug(org_slug)
        bounds = [Decimal(a) if a else None for a in (amount_min, amount_max)]
    except (DomainError, InvalidOperation) as exc:
        click.echo(f"error: {getattr(exc, 'message', exc)}", err=True)
        sys.exit(2)
    f = CaseFilter(
        dpd_min=dpd_min,
        dpd_max=dpd_max,
        amount_min=bounds[0],
        amount_max=bounds[1],
        product=product,
        province=province,
        city=city,
        status=status,
        sort="-dpd" if sort == "dpd" else "-amount",
    )
    with tenant(org.id, org.kind), open(out, "wb") as stream:
        try:
            count = export_cases(None, org, f, fmt, stream, unmask=unmask)
        except DomainError as exc:
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(2)
    click.echo(f"{count} cases written to {out}")


repayments = AppGroup("repayments", help="Repayments: the lender's statements (reconcile, import).")


def _statement_command(  # noqa: C901
    org_slug: str, file: str, as_json: bool, xlsx: str | None, *, reconciling: bool
) -> None:

    try:
        org = owner_by_slug(org_slug)
    except DomainError as exc:
        _fail(exc, as_json)
        return
    path = Path(file)
    with force_locale("en"):
        try:
            if reconciling:
                body = reconcile.reconcile(org, path, path.name)
            else:
                body = reconcile.import_statement(org, path, path.name)
        except reconcile.StatementRefused as exc:
            if as_json:
                click.echo(
                    json.dumps({"error": {"code": "file_refused", "message": exc.reason}}, ensure_ascii=False)
                )
            else:
                click.echo(f"error: {exc.reason}", err=True)
            sys.exit(2)
        except DomainError as exc:
            _fail(exc, as_json)
            return
        if xlsx and reconciling:
            with open(xlsx, "wb") as out:
                reconcile.write_workbook(body, out)
    if as_json:
        click.echo(json.dumps(body, ensure_ascii=False, default=str))
        return
    click.echo(f"{body['file']}: {body['rows_read']} rows read")
    if reconciling:
        click.echo(
            f"  {body['transactions']} transactions, {body['total_amount_unique']} in all"
            + (f" ({body['period']['from']} to {body['period']['to']})" if body.get("period") else "")
        )
        for figures in body["summary"].values():
            click.echo(f"  {figures['label']:<40} {figures['count']:>7} {figures['amount']:>16}")
        for row in body["rows"]["invalid"][:50]:
            problems = "; ".join(f"{e['field']}: {e['reason']}" for e in row["errors"])
            click.echo(f"  row {row['row']}: {problems}")
        if xlsx:
            click.echo(f"  result written to {xlsx}")
        return
    click.echo(
        f"  {body['accepted']} accepted, {body['duplicates']} duplicates, {body['rejected']} rejected; "
        f"{body['applied']} applied ({body['applied_amount']})"
    )
    for item in [i for i in body["items"] if i["status"] == "rejected"][:50]:
        problems = "; ".join(f"{e['field']}: {e['reason']}" for e in item.get("errors", []))
        click.echo(f"  row {item['row']}: {problems}")


@repayments.command("reconcile")
@click.option("--org", "org_slug", required=True, help="Short name of the asset owner.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--xlsx", type=click.Path(dir_okay=False, writable=True), help="Write the result workbook here."
)
def repayments_reconcile(org_slug: str, file: str, as_json: bool, xlsx: str | None) -> None:
    """Reconcile a core-system statement (.xlsx or .csv) against the platform (对账): matched,
    applied now (missing, recorded and applied here), amount or loan differs, in the platform only,
    duplicates, unknown loans, invalid rows. Running it again applies nothing twice. Exits 0 when
    the file was read (even with bad rows); 2 when it could not be read."""
    _statement_command(org_slug, file, as_json, xlsx, reconciling=True)


@repayments.command("import")
@click.option("--org", "org_slug", required=True, help="Short name of the asset owner.")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def repayments_import(org_slug: str, file: str, as_json: bool) -> None:
    """Import a core-system statement's rows as repayment events (recorded once per transaction
    id, then applied here): accepted, duplicates, rejected with row, field and reason."""
    _statement_command(org_slug, file, as_json, None, reconciling=False)


pii = AppGroup("pii", help="Personal data keys.")


@pii.command("rotate")
def pii_rotate() -> None:
    """Re-encrypt every personal data value with the newest key of PII_KEYS (run after putting a
    new key first; afterwards the old key can be removed)."""

    counts = rotate_all()
    click.echo(json.dumps(counts))


def init_app(app: Flask) -> None:
    for command in (seed_demo, tokens, worker, cron, create_tenant, cases, repayments, pii):
        app.cli.add_command(command)
