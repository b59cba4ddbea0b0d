"""The cross-tenant matrix: every route in ``app.url_map``, requested by users of other tenants.

* A route with an object id in its URL is requested, with every method it accepts, by the other
  asset owner, by an agency that is not partnered with the victim owner, and by the platform
  operator, each with a valid CSRF token; it must answer 404 and change nothing.
* Each such route must also answer the object's own side (a positive control), so a wrong id in
  the matrix cannot make the test pass vacuously.
* A route without ids is fetched by the same attackers; nothing of the victims may show.
* A route whose parameters the matrix does not know fails the test: new routes join the matrix.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, text

from arrears.orgs.jobs import tenant_census
from tests.builders.placements import dispatch_objects, placement_objects
from tests.builders.tenants import PASSWORD, World, other_collector
from tests.conftest import Database, api_token, csrf_token, signed_in

# URL parameters that are not object ids, with the reason.
# A route whose parameter needs a particular kind of object: (rule, parameter) -> key in the objects.
PARAM_OBJECTS = {
    ("/asset/exports/<job_id>/download", "job_id"): "export_job_id",
    ("/workbench/letters/jobs/<job_id>", "job_id"): "letters_job_id",
    ("/api/v1/letters/jobs/<job_id>", "job_id"): "letters_job_id",
    ("/asset/reconciliations/<job_id>", "job_id"): "reconcile_job_id",
    ("/asset/reconciliations/<job_id>/result.xlsx", "job_id"): "reconcile_job_id",
}
# The work on a case (and the case itself): another collector of the very agency that holds the case
# must get 404 too, on the workbench and through the API (a collector sees only their own cases).
CASE_WORK_PARAMS = {
    "case_id",
    "promise_id",
    "reminder_id",
    "attachment_id",
    "call_id",
    "application_id",
    "repayment_id",
}
NOT_OBJECT_PARAMS = {
    "filename": "static files are public and the same for everybody",
    "code": "the language switch takes a language code",
}
# Tables whose content must not change when an attacker calls a route.
WATCHED = [
    "organisations",
    "partnerships",
    "teams",
    "roles",
    "role_permissions",
    "user_roles",
    "users",
    "approvals",
    "jobs",
    "api_tokens",
    "cases",
    "placements",
    "placement_cases",
    "allocation_strategies",
    "allocation_strategy_versions",
    "allocation_runs",
    "allocation_results",
    "case_assignments",
    "collection_notes",
    "promises",
    "reminders",
    "applications",
    "attachments",
    "calls",
    "letters",
    "letter_templates",
    "result_codes",
    "repayments",
    "ledger_postings",
    "idempotency_keys",
    "write_off_rules",
    "write_off_proposals",
    "write_offs",
    "write_off_recoveries",
    "commission_contracts",
    "commission_versions",
    "commission_rates",
    "commission_records",
    "commission_statements",
    "commission_adjustments",
]
# Columns that legitimately change on any authenticated request.
VOLATILE = {"api_tokens": "last_used_at"}


def _fingerprint(database: Database) -> dict[str, str]:
    out = {}
    with database.owner_engine.connect() as conn:
        for table in WATCHED:
            cols = [
                r[0]
                for r in conn.execute(
                    text(
                        "SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = :t ORDER BY ordinal_position"
                    ),
                    {"t": table},
                )
                if r[0] != VOLATILE.get(table)
            ]
            row = ", ".join(f'"{c}"' for c in cols)
            out[table] = conn.execute(
                text(
                    f"SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) FROM "
                    f"(SELECT ({row})::text AS x FROM {table}) s"
                )
            ).scalar()
    return out


def _objects(world: World) -> dict[str, dict[str, list[Any]]]:
    """Objects per side: ``bank`` (the victim owner), ``east`` (its agency), ``platform`` (the
    operator's own, for the admin pages' positive control)."""
    from arrears.auth import sessions as auth
    from arrears.extensions import db
    from arrears.kernel.jobs.queue import enqueue
    from arrears.models import Partnership, Team
    from arrears.orgs import approvals, roles
    from arrears.tenancy import tenant

    out: dict[str, dict[str, list[Any]]] = {}
    for side, t in (("bank", world.bank), ("east", world.east), ("platform", world.platform)):
        admin = auth.get_user_by_email(t.admin_email)
        with tenant(t.org_id):
            role = roles.save_role(
                admin, role=None, name=f"{side} custom role", description="", permissions=["org.audit.view"]
            )
            job = enqueue(tenant_census, name="census", created_by=admin)
            db.session.commit()
            token, _ = auth.create_token(admin, admin, audience=auth.ApiTokenAudience.API, name="t")
            out[side] = {
                "user_id": [t.admin_id],
                "role_id": [role.id],
                "job_id": [job.id],
                "token_id": [token.id],
                "org_id": [t.org_id],
            }
    east_manager = auth.get_user_by_email(world.east.admin_email)
    with tenant(world.east.org_id):
        team = Team(name="East victims")
        db.session.add(team)
        db.session.commit()
        approval = approvals.request_right(
            east_manager, db.session.get(Partnership, world.bank_east), "pii.unmask", "need it"
        )
        out["east"].update(
            {"team_id": [team.id], "partnership_id": [world.bank_east], "approval_id": [approval.id]}
        )
    out["bank"].update({"partnership_id": [world.bank_east], "approval_id": [approval.id]})
    from arrears.cases.imports.batches import upsert_records

    bank_admin = auth.get_user_by_email(world.bank.admin_email)
    with tenant(world.bank.org_id):
        upsert_records(
            bank_admin,
            [
                {
                    "loan_no": "VICTIM-1",
                    "name": "受害人",
                    "id_number": "110101199003076536",
                    "due_date": "2026-01-01",
                    "principal": "100",
                }
            ],
        )
        from sqlalchemy import select

        from arrears.models import Case, ImportBatch

        victim = db.session.scalar(select(Case).where(Case.loan_no == "VICTIM-1"))
        out["bank"]["case_id"] = [victim.id]
        out["bank"]["debtor_id"] = [victim.debtor_id]
        from arrears.cases.cases import set_face_image

        set_face_image(bank_admin, victim.debtor, b"\x89PNG\r\n\x1a\n" + b"\x00" * 16)
        # a finished export job whose file is in storage (the download route needs one)
        import uuid

        from arrears.integrations.storage import get_storage, tenant_key
        from arrears.models import JobRecord, JobStatus

        export_id = str(uuid.uuid4())
        key = tenant_key(world.bank.org_id, "exports", f"{export_id}.csv")
        get_storage().put(key, "受害人\n".encode())
        db.session.add(
            JobRecord(
                id=export_id,
                org_id=world.bank.org_id,
                name="export",
                queue="default",
                func="exports.to-storage",
                status=JobStatus.FINISHED,
                result={"storage_key": key, "format": "csv", "count": 1},
            )
        )
        db.session.commit()
        out["bank"]["export_job_id"] = [export_id]
        from arrears.cases.imports.batches import new_batch

        csv = (
            "借据号,客户姓名,身份证号,到期日,本金余额\nVICTIM-2,受害人,110101199003076536,2026-01-01,5\n"
        ).encode()
        batch = new_batch(bank_admin.org, csv, "victim.csv", actor=bank_admin, dry_run=True, store=True)
        out["bank"]["batch_id"] = [batch.id]
        assert isinstance(batch, ImportBatch)
    out["bank"].update(placement_objects(world, victim.id))
    out["east"].update(dispatch_objects(world, victim.id))
    work = _work_objects(world, victim.id)
    out["bank"].update(work)
    out["east"].update(work)
    victim_id = victim.id
    paid = _repayment_objects(world, victim_id)
    out["bank"].update(paid)
    out["east"].update(paid)
    out["bank"]["reconcile_job_id"] = [_reconciliation(world, victim_id)]
    out["bank"].update(_writeoff_objects(world))
    _commission_objects(world, out)
    return out


def _writeoff_objects(world: World) -> dict[str, list[Any]]:
    """Bank's write-off rule, and a case of its own written off (approved by the checker, registered),
    with a recovery: a line of its ledger."""
    import datetime as dt

    from arrears.cases.imports.batches import upsert_records
    from arrears.extensions import db
    from arrears.models import Case, Organisation, RepaymentSource, User
    from arrears.orgs import approvals
    from arrears.payments import repayments
    from arrears.tenancy import tenant
    from arrears.writeoffs import ledger as writeoff_ledger
    from arrears.writeoffs import proposals, writeoffs

    with tenant(world.bank.org_id):
        admin = db.session.get(User, world.bank.admin_id)
        upsert_records(
            admin,
            [
                {
                    "loan_no": "VICTIM-WO",
                    "name": "受害人",
                    "id_number": "110101199003076536",
                    "due_date": "2025-01-01",
                    "principal": "100",
                }
            ],
        )
        case_id = db.session.scalar(select(Case.id).where(Case.loan_no == "VICTIM-WO"))
        rule = writeoffs.create_rule(admin, {"name": "victim rule", "dpd_min": 180})
        batch = proposals.propose(admin, [case_id], "victim write-off")
        checker = db.session.scalar(select(User).where(User.email == "checker@bank.test.example"))
        approvals.decide(checker, batch.approval, approve=True)
        writeoffs.register_approved(batch.approval.id)
        org = db.session.get(Organisation, world.bank.org_id)
        event = {
            "transaction_id": "VICTIM-WO-TXN",
            "loan_no": "VICTIM-WO",
            "amount": "5.00",
            "paid_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        repayments.record(org, [event], source=RepaymentSource.API, enqueue_apply=False)
        db.session.commit()
        repayments.apply_all(org)
        line = writeoff_ledger.ledger_page(admin).rows[0].write_off
        assert line.recovered == 5
        return {"rule_id": [rule.id], "write_off_id": [line.id]}


def _commission_objects(world: World, out: dict[str, dict[str, list[Any]]]) -> None:
    """Bank's commission contract with east and this month's statement (the victim's payment priced
    on it): bank pays it, east reads it. East's own incentive contract and, its collector holding the
    victim case, the collector's incentive statement."""
    import datetime as dt

    from arrears.commission import commission
    from arrears.extensions import db
    from arrears.models import CommissionStatement, Organisation, User
    from arrears.tenancy import tenant

    rates = {"M0": "0.05", "M1": "0.08", "M2": "0.12", "M3": "0.18", "M4+": "0.25"}
    period = commission.period_of(dt.datetime.now(dt.UTC))
    with tenant(world.bank.org_id):
        admin = db.session.get(User, world.bank.admin_id)
        contract = commission.create_contract(
            admin,
            kind="agency",
            name="victim contract",
            agency_org_id=world.east.org_id,
            version=commission.version_input({"effective_from": "2020-01-01", "rates": rates}),
        )
        commission.settle(db.session.get(Organisation, world.bank.org_id), period)
        statement_id = db.session.scalar(
            select(CommissionStatement.id).where(CommissionStatement.contract_id == contract.id)
        )
        assert statement_id
        bank_ids = {"commission_contract_id": [contract.id], "commission_statement_id": [statement_id]}
    with tenant(world.east.org_id):
        manager = db.session.get(User, world.east.admin_id)
        incentive = commission.create_contract(
            manager,
            kind="incentive",
            name="victim incentive",
            version=commission.version_input({"effective_from": "2020-01-01", "rates": rates}),
        )
        commission.settle(db.session.get(Organisation, world.east.org_id), period)
        own = list(
            db.session.scalars(
                select(CommissionStatement.id).where(CommissionStatement.contract_id == incentive.id)
            )
        )
    out["bank"].update(bank_ids)
    out["east"].update(
        {
            "commission_contract_id": [contract.id, incentive.id],
            "commission_statement_id": [statement_id, *own],
        }
    )


def _reconciliation(world: World, case_id: int) -> str:
    """Bank reconciles a statement listing the victim's payment (matched), as the console does: the
    job run here, finished, with its result and workbook in storage."""
    import datetime as dt

    from arrears.extensions import db
    from arrears.kernel.jobs.runner import run
    from arrears.models import Case, JobRecord, JobStatus, User
    from arrears.payments import reconcile_runs
    from arrears.tenancy import tenant

    with tenant(world.bank.org_id):
        admin = db.session.get(User, world.bank.admin_id)
        loan = db.session.scalar(select(Case.loan_no).where(Case.id == case_id))
        moment = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8)))
        statement = (
            "交易流水号,借据号,还款时间,还款金额,还款渠道\n"
            f"VICTIM-TXN-1,{loan},{moment:%Y-%m-%d %H:%M:%S},5.00,支付宝\n"
        ).encode()
        job = reconcile_runs.start_upload(admin, statement, "victim-statement.csv")
        db.session.commit()
        job_id = job.id
    run(job_id, world.bank.org_id)
    with tenant(world.bank.org_id):
        assert db.session.get(JobRecord, job_id, populate_existing=True).status == JobStatus.FINISHED
    return job_id


def _repayment_objects(world: World, case_id: int) -> dict[str, list[Any]]:
    """The core system reports a payment on the victim case, applied: bank's repayment, credited to
    east (the case is placed with it) and to east's collector (who holds it)."""
    import datetime as dt

    from arrears.extensions import db
    from arrears.models import Case, Organisation, Repayment, RepaymentSource
    from arrears.payments import repayments
    from arrears.tenancy import tenant

    with tenant(world.bank.org_id):
        org = db.session.get(Organisation, world.bank.org_id)
        loan = db.session.scalar(select(Case.loan_no).where(Case.id == case_id))
        event = {
            "transaction_id": "VICTIM-TXN-1",
            "loan_no": loan,
            "amount": "5.00",
            "paid_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        done = repayments.record(org, [event], source=RepaymentSource.API, enqueue_apply=False)
        db.session.commit()
        assert repayments.apply_received(org)["applied"] == 1
        row = db.session.get(Repayment, done.new_ids[0], populate_existing=True)
        assert (row.agency_org_id, row.collector_user_id) == (
            world.east.org_id,
            world.east.users["collector"],
        )
        return {"repayment_id": [row.id]}


def _work_objects(world: World, case_id: int) -> dict[str, list[Any]]:
    """East's collector works the victim case: a note with a promise and a follow-up reminder, a file,
    a call, a reduction application waiting for the team lead, and bulk letters from bank's template
    (bank grants east applications, letters and unmasking; the collector may see the face image)."""
    import datetime as dt

    from arrears.auth import sessions as auth
    from arrears.extensions import db
    from arrears.models import Application, Attachment, Call, Partnership, Promise, Reminder
    from arrears.orgs import roles, users
    from arrears.tenancy import tenant
    from arrears.work import applications, attachments, calls, letters, notes

    with tenant(world.bank.org_id):
        partnership = db.session.get(Partnership, world.bank_east)
        partnership.grants = sorted(
            {*partnership.grants, "reductions.request", "repayments.report", "letters.send", "pii.unmask"}
        )
        db.session.commit()
        bank_admin = auth.get_user_by_email(world.bank.admin_email)
        template_id = letters.create_template(
            bank_admin, name="bank letter", subject="", body="{{ loan_no }}"
        ).id
    db.session.expire_all()  # the case was moved by set-based statements
    with tenant(world.east.org_id):
        manager = auth.get_user_by_email(world.east.admin_email)
        unmasker = roles.save_role(
            manager, role=None, name="east unmaskers", description="", permissions=["pii.unmask"]
        )
        collector = auth.get_user_by_email(world.east.emails["collector"])
        users.update_user(
            manager,
            collector,
            name=collector.name,
            role_ids=[*(r.id for r in collector.roles), unmasker.id],
            team_id=collector.team_id,
        )
        db.session.commit()
        collector = auth.get_user_by_email(world.east.emails["collector"])
        day = dt.date.today() + dt.timedelta(days=3)
        notes.add_note(
            collector,
            case_id,
            action="call",
            party="debtor",
            result_code="promise_to_pay",
            text="受害人 promised",
            follow_up_on=day,
            promise_amount="50",
            promise_due_on=day,
        )
        attachments.upload(collector, case_id, "receipt.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 32)
        calls.log_call(
            collector,
            case_id,
            dt.datetime(2026, 1, 5, 10, 0, tzinfo=dt.UTC),
            30,
            "answered",
            "受害人 answered",
            result_code="callback",
        )
        applications.request_repayment(collector, case_id, amount="10", paid_on=dt.date(2026, 1, 2))
        job = letters.start_bulk(collector, [case_id], template_id)
        ids = {
            "promise_id": list(db.session.scalars(select(Promise.id).where(Promise.case_id == case_id))),
            "reminder_id": list(db.session.scalars(select(Reminder.id).where(Reminder.case_id == case_id))),
            "attachment_id": list(
                db.session.scalars(select(Attachment.id).where(Attachment.case_id == case_id))
            ),
            "call_id": list(db.session.scalars(select(Call.id).where(Call.case_id == case_id))),
            "application_id": list(
                db.session.scalars(select(Application.id).where(Application.case_id == case_id))
            ),
        }
    return {
        **ids,
        "template_id": [template_id],
        "letter_template_id": [template_id],
        "letters_job_id": [job.id],
    }


# Which side owns the objects a console's routes take, and who on that side opens them.
SIDES = {
    "/asset/": ("bank", "bank_admin"),
    "/agency/": ("east", "east_manager"),
    "/admin/": ("platform", "platform_operator"),
    "/api/v1/letters/jobs/": ("east", "east_collector"),  # only who started a bulk job sees it
    "/api/": ("bank", "bank_admin"),
    "/workbench/": ("east", "east_collector"),
    "/": ("bank", "bank_admin"),
}


def _side(url_rule: str) -> tuple[str, str]:
    for prefix, side in SIDES.items():
        if url_rule.startswith(prefix):
            return side
    raise AssertionError(url_rule)


def _param_names(rule: Any) -> list[str]:
    return sorted(rule.arguments)


def _fill(rule: Any, values: dict[str, Any]) -> str:
    return re.sub(r"<(?:[a-z]+:)?(\w+)>", lambda m: str(values[m.group(1)]), rule.rule)


ATTACKERS = ("lender_admin", "west_manager", "platform_operator")


@pytest.fixture
def matrix(app: Flask, world: World) -> dict[str, Any]:
    objects = _objects(world)
    emails = {
        "lender_admin": world.lender.admin_email,
        "west_manager": world.west.admin_email,
        "platform_operator": world.platform.admin_email,
        "bank_admin": world.bank.admin_email,
        "east_manager": world.east.admin_email,
        "east_collector": world.east.emails["collector"],
        "east_other_collector": other_collector(world),
    }
    clients = {name: signed_in(app, email) for name, email in emails.items()}
    tokens = {
        name: api_token(emails[name])
        for name in ("lender_admin", "west_manager", "bank_admin", "east_collector", "east_other_collector")
    }
    field = (
        app.test_client()
        .post(
            "/field/v1/login",
            json={"email": world.west.emails["field_visitor"], "password": PASSWORD, "device_name": "m"},
        )
        .get_json()["token"]
    )
    csrf = {name: csrf_token(c, "/profile") for name, c in clients.items()}
    return {"objects": objects, "clients": clients, "tokens": tokens, "field": field, "csrf": csrf}


def _request(client: FlaskClient, method: str, url: str, headers: dict[str, str], csrf: str | None) -> Any:
    if method == "GET":
        return client.get(url, headers=headers)
    if url.startswith(("/api/", "/field/")):
        return client.open(url, method=method, headers=headers, json={})
    data = {
        "csrf_token": csrf or "",
        "approve": "1",
        "note": "x",
        "name": "x",
        "new_password": "Hacked-Pass-123",
        "submit": "1",
        "reason": "x",
        "right": "pii.unmask",
    }
    return client.open(url, method=method, data=data, headers=headers)


def test_every_route_with_an_id_is_404_for_other_tenants(
    app: Flask, world: World, matrix: dict[str, Any], database: Database
) -> None:
    objects = matrix["objects"]
    known = set(objects["bank"]) | set(objects["east"]) | set(NOT_OBJECT_PARAMS)
    rules = [r for r in app.url_map.iter_rules() if r.arguments]
    unknown = {(r.rule, p) for r in rules for p in r.arguments if p not in known}
    assert not unknown, f"routes with parameters the matrix does not cover: {sorted(unknown)}"

    before = _fingerprint(database)
    checked = 0
    for rule in rules:
        if any(p in NOT_OBJECT_PARAMS for p in rule.arguments):
            continue
        methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        side, owner = _side(rule.rule)
        for param in rule.arguments:
            key = PARAM_OBJECTS.get((rule.rule, param), param)
            own_values = objects[side].get(key)
            assert own_values, f"{rule.rule}: no {param} on the {side} side"
            # positive control: the owning side opens its own object
            if "GET" in methods:
                url = _fill(rule, {param: own_values[0]})
                status = _get(app, matrix, owner, url)
                assert status == 200, f"{owner} cannot open {url} ({status}): the matrix is wrong"
            # attack: the victims' objects (for admin pages, every tenant's objects are foreign)
            victims = ["bank", "east"] if side == "platform" else [side]
            for victim in victims:
                for value in objects[victim].get(key, []):
                    url = _fill(rule, {param: value})
                    attackers = list(ATTACKERS)
                    if param in CASE_WORK_PARAMS and rule.rule.startswith(("/workbench/", "/api/")):
                        attackers.append("east_other_collector")
                    for attacker in attackers:
                        if param == "org_id" and attacker == "platform_operator":
                            continue  # the operator manages tenants: that is the page's purpose
                        for method in methods:
                            response = _attack(app, matrix, attacker, method, url)
                            if response is None:
                                continue
                            assert response.status_code == 404, (attacker, method, url, response.status_code)
                            checked += 1
    assert checked > 80, checked
    assert _fingerprint(database) == before, "an attacker's request changed data"


def _get(app: Flask, matrix: dict[str, Any], who: str, url: str) -> int:
    if url.startswith("/api/"):
        return (
            app.test_client()
            .get(url, headers={"Authorization": f"Bearer {matrix['tokens'][who]}"})
            .status_code
        )
    return matrix["clients"][who].get(url).status_code


def _attack(app: Flask, matrix: dict[str, Any], attacker: str, method: str, url: str) -> Any:
    if url.startswith("/api/"):
        token = matrix["tokens"].get(attacker)
        if token is None:
            return None
        return _request(app.test_client(), method, url, {"Authorization": f"Bearer {token}"}, None)
    if url.startswith("/field/"):
        return _request(app.test_client(), method, url, {"Authorization": f"Bearer {matrix['field']}"}, None)
    return _request(matrix["clients"][attacker], method, url, {}, matrix["csrf"][attacker])


def test_pages_without_ids_show_nothing_of_other_tenants(
    app: Flask, world: World, matrix: dict[str, Any]
) -> None:
    markers = [
        "受害人",
        "VICTIM-1",
        world.bank.admin_email,
        world.east.admin_email,
        world.bank.emails["owner_staff"],
        world.east.emails["collector"],
        "bank custom role",
        "east custom role",
        "East victims",
        "need it",
        "bank strategy",
        "east strategy",
        "checker@bank.test.example",
        "bank letter",
        "receipt.png",
        "east unmaskers",
        "VICTIM-TXN-1",
        "VICTIM-WO",
        "victim rule",
        "victim write-off",
        "victim contract",
        "victim incentive",
    ]
    operator_pages = {"/admin/", "/admin/organisations", "/admin/audit/all"}
    checked = 0
    for rule in app.url_map.iter_rules():
        if rule.arguments or "GET" not in (rule.methods or set()) or rule.rule in ("/logout",):
            continue
        for attacker in ATTACKERS:
            if attacker == "platform_operator" and rule.rule in operator_pages:
                continue
            if rule.rule.startswith("/api/"):
                token = matrix["tokens"].get(attacker)
                if token is None:
                    continue
                body = app.test_client().get(rule.rule, headers={"Authorization": f"Bearer {token}"})
            elif rule.rule.startswith("/field/"):
                body = app.test_client().get(
                    rule.rule, headers={"Authorization": f"Bearer {matrix['field']}"}
                )
            else:
                body = matrix["clients"][attacker].get(rule.rule)
            text_ = body.get_data().decode("utf-8", errors="replace")
            for marker in markers:
                assert marker not in text_, (attacker, rule.rule, marker)
            checked += 1
    assert checked > 30
