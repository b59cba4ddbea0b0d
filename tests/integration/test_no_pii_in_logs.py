"""No personal data in any log (security.logs): a run that searches by ID number, mobile and
e-mail over a live server, imports a lender's file with the CLI and logs a failure carrying a
debtor's data leaves none of those values in the access log, the application log or the CLI's
output."""

from __future__ import annotations

import csv
import io
import logging
import pathlib
import subprocess
import sys
import urllib.parse
import urllib.request

from flask import Flask

from arrears.security.logs import redact
from tests.builders.servers import serve
from tests.builders.tenants import World
from tests.conftest import SHARED, Database, api_token, cli_env

ROOT = pathlib.Path(__file__).resolve().parents[2]
FILE = SHARED / "data" / "imports" / "cases_utf8_bom.csv"


def _personal_values() -> set[str]:
    rows = list(csv.DictReader(io.StringIO(FILE.read_text(encoding="utf-8-sig"))))
    values = set()
    for row in rows:
        for column in ("身份证号", "手机号码", "电子邮箱", "联系人电话"):
            if row.get(column):
                values.add(row[column].strip())
    return values


def test_redaction_of_the_kinds_of_personal_data() -> None:
    line = (
        'GET /asset/debtors?q=110101199305056362&page=2 HTTP/1.1" 200 - id 11010119930505636X '
        "mobile 190 6248 6453, +86 13800138000, card 6222 0212 3456 7890 123, mail a.b@example.cn"
    )
    redacted = redact(line)
    for value in ("110101199305056362", "11010119930505636X", "190 6248 6453", "13800138000", "6222", "a.b@"):
        assert value not in redacted, value
    assert "/asset/debtors?q=…&page=…" in redacted and "HTTP/1.1" in redacted


def test_a_search_and_an_import_leave_no_personal_data_in_any_log(
    app: Flask, world: World, database: Database, tmp_path: pathlib.Path
) -> None:
    secrets = _personal_values()
    some = sorted(secrets)[:3]
    log_file = tmp_path / "run.log"
    handler = logging.FileHandler(log_file, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    levels = (root.level, logging.getLogger("werkzeug").level)
    access = logging.getLogger("werkzeug")
    disabled = access.disabled  # Alembic's fileConfig (the migrations) disables existing loggers
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    access.setLevel(logging.INFO)
    access.disabled = False
    access.addHandler(handler)  # whether or not an earlier test stopped it propagating
    try:
        env = cli_env(app, database)
        slug = database.scalar("SELECT slug FROM organisations WHERE id = :i", i=world.bank.org_id)
        cli = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "wsgi", "cases", "import", "--org", slug, str(FILE)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert cli.returncode == 0, cli.stderr[-2000:]
        token = api_token(world.bank.admin_email)
        server = serve(app)
        base = next(server)
        for term in some:
            request = urllib.request.Request(
                f"{base}/api/v1/cases?q={urllib.parse.quote(term)}",
                headers={"Authorization": f"Bearer {token}"},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.status == 200
        next(server, None)
        logging.getLogger("arrears.test").error("could not reach debtor %s at %s", some[0], some[1])
        try:
            raise ValueError(f"bad cell {some[2]}")
        except ValueError:
            logging.getLogger("arrears.test").exception("import row failed")
    finally:
        root.removeHandler(handler)
        access.removeHandler(handler)
        handler.close()
        root.setLevel(levels[0])
        access.setLevel(levels[1])
        access.disabled = disabled
    written = log_file.read_text(encoding="utf-8") + cli.stdout + cli.stderr
    assert "GET /api/v1/cases?q=…" in written  # the access log was there, without the search
    assert "could not reach debtor [" in written and "ValueError: bad cell [" in written
    leaked = sorted(value for value in secrets if value in written)
    assert leaked == []
