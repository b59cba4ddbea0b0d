"""The asset owner's settings for the collectors' work: letter templates (信函模板: list, new, edit with
a preview filled with sample values, archive, restore; a broken template refused with the reason next
to its field and nothing saved) and the application thresholds (申请审批阈值: saved, refused by field,
explained in words). Staff without the right are refused; another owner and agencies get 404."""

from __future__ import annotations

import html
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.builders.tenants import World
from tests.conftest import Database, csrf_token, signed_in

NEW = "/asset/letter-templates/new"
BODY = (
    "尊敬的{{ debtor_name }}：\n\n"
    "您在{{ owner_name }}的贷款{{ loan_no }}尚欠{{ outstanding }}元，已逾期{{ days_past_due }}天。"
)


def _post(c: FlaskClient, url: str, data: dict[str, Any], *, form_url: str | None = None) -> Any:
    return c.post(url, data={"csrf_token": csrf_token(c, form_url or url), **data})


def _text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


def _feedback(page: str, field: str) -> str:
    """The error shown under a field (Bootstrap's invalid-feedback after the input)."""
    match = re.search(
        rf'id="{field}"[^>]*>(?:[^<]*</textarea>)?\s*<div class="invalid-feedback[^"]*">(.*?)</div>',
        page,
        re.S,
    )
    if not match:
        at = page.find(f'id="{field}"')
        raise AssertionError(f"no error under {field}: {page[at : at + 400]}")
    return html.unescape(match.group(1)).strip()


def _templates(database: Database, org_id: int) -> list[Any]:
    return database.rows(
        "SELECT id, name, subject, body, active FROM letter_templates WHERE org_id = :o ORDER BY id", o=org_id
    )


def _make(c: FlaskClient, name: str = "首次催收函", body: str = BODY) -> Any:
    return _post(c, NEW, {"action": "save", "name": name, "subject": "催收通知 {{ loan_no }}", "body": body})


def test_owner_writes_previews_edits_and_archives_a_template(
    app: Flask, world: World, database: Database
) -> None:
    c = signed_in(app, world.bank.admin_email)
    # the nav leads there; the new form lists the placeholders with their meaning and samples
    home = c.get("/asset/").get_data(as_text=True)
    assert 'href="/asset/letter-templates"' in home and 'href="/asset/settings/application-limits"' in home
    empty = _text(c.get("/asset/letter-templates"))
    assert "Nothing here yet." in empty
    form = _text(c.get(NEW))
    assert "{{ debtor_name }}" in form and "Debtor's name" in form and "张三" in form
    assert "{{ outstanding }}" in form and "Total outstanding" in form

    # preview: filled with the sample values, nothing saved
    preview = _post(
        c, NEW, {"action": "preview", "name": "", "subject": "催收通知 {{ loan_no }}", "body": BODY}
    )
    assert preview.status_code == 200
    page = _text(preview)
    assert 'id="letter-preview"' in page and "nothing was saved" in page
    assert "尊敬的张三：" in page and "LN-2026-000123" in page and "10,500.50" in page and "示例银行" in page
    assert "催收通知 LN-2026-000123" in page
    assert _templates(database, world.bank.org_id) == []

    # save: created, back on its page
    created = _make(c)
    assert created.status_code == 302
    [(tid, name, subject, body, active)] = _templates(database, world.bank.org_id)
    assert (name, subject, body, active) == ("首次催收函", "催收通知 {{ loan_no }}", BODY, True)
    assert created.headers["Location"].endswith(f"/asset/letter-templates/{tid}")
    listing = _text(c.get("/asset/letter-templates"))
    assert "首次催收函" in listing and f"/asset/letter-templates/{tid}/archive" in listing
    edit_url = f"/asset/letter-templates/{tid}"
    edit = _text(c.get(edit_url))
    assert "首次催收函" in edit and "{{ days_past_due }}" in edit

    # the preview on the edit page shows the changed text and saves nothing
    changed = BODY + "\n\n请于三日内还款。"
    shown = _text(
        _post(c, edit_url, {"action": "preview", "name": "首次催收函", "subject": "", "body": changed})
    )
    assert "请于三日内还款。" in shown and 'id="letter-preview"' in shown
    assert _templates(database, world.bank.org_id)[0].body == BODY
    # a second template's name is refused next to the name
    _make(c, name="二次催收函")
    dup = _text(_post(c, edit_url, {"action": "save", "name": "二次催收函", "subject": "", "body": changed}))
    assert _feedback(dup, "name") == "A template with this name exists already."
    assert _templates(database, world.bank.org_id)[0].name == "首次催收函"
    # saved
    saved = _post(c, edit_url, {"action": "save", "name": "首次催收函(新)", "subject": "", "body": changed})
    assert saved.status_code == 302
    row = _templates(database, world.bank.org_id)[0]
    assert (row.name, row.subject, row.body) == ("首次催收函(新)", "", changed)
    assert (
        database.scalar(
            "SELECT count(*) FROM audit_events WHERE action LIKE 'letter_template.%' AND org_id = :o",
            o=world.bank.org_id,
        )
        == 3
    )

    # archive: off the active list, on the archived one; restore brings it back
    archived = _post(c, f"{edit_url}/archive", {}, form_url="/asset/letter-templates")
    assert archived.status_code == 302
    assert _templates(database, world.bank.org_id)[0].active is False
    assert "首次催收函(新)" not in _text(c.get("/asset/letter-templates"))
    archived_list = _text(c.get("/asset/letter-templates?archived=1"))
    assert "首次催收函(新)" in archived_list and f"{edit_url}/restore" in archived_list
    assert "This template is archived" in _text(c.get(edit_url))
    assert _post(c, f"{edit_url}/restore", {}, form_url=edit_url).status_code == 302
    assert _templates(database, world.bank.org_id)[0].active is True
    # a post without its CSRF token changes nothing
    assert c.post(f"{edit_url}/archive").status_code == 400
    assert _templates(database, world.bank.org_id)[0].active is True


def test_a_broken_template_is_refused_with_the_reason_and_nothing_saved(
    app: Flask, world: World, database: Database
) -> None:
    c = signed_in(app, world.bank.admin_email)
    cases = [
        ("body", "尊敬的{{ debtor_name ", "The template has an error on line 1"),
        (
            "body",
            "{{ password }} {{ debtor_name }}",
            "Unknown placeholders: password. Use only: debtor_name,",
        ),
        ("body", "{{ debtor_name.__class__.__mro__ }}", "The template cannot be filled in:"),
        ("body", "{% for x in %}", "The template has an error on line 1"),
        ("subject", "{{ loan_no", "The template has an error on line 1"),
        ("body", "   ", "Write the letter's text."),
        ("name", "", "Give the template a name."),
    ]
    for field, value, reason in cases:
        data = {"name": "函", "subject": "", "body": BODY, field: value}
        for action in ("save", "preview"):
            if action == "preview" and reason in ("Give the template a name.", "Write the letter's text."):
                continue  # the preview needs neither
            response = _post(c, NEW, {"action": action, **data})
            assert response.status_code == 200, (field, value, action)
            page = _text(response)
            assert _feedback(page, field).startswith(reason), (field, value, action, _feedback(page, field))
            assert 'id="letter-preview"' not in page
    assert _templates(database, world.bank.org_id) == []

    # the same on an existing template: refused, the stored text unchanged
    assert _make(c).status_code == 302
    [row] = _templates(database, world.bank.org_id)
    url = f"/asset/letter-templates/{row.id}"
    page = _text(
        _post(
            c, url, {"action": "save", "name": row.name, "subject": "", "body": "{{ debtor_name|attr('x') }"}
        )
    )
    assert _feedback(page, "body").startswith("The template has an error on line 1")
    assert _templates(database, world.bank.org_id) == [row]


def test_thresholds_are_shown_saved_and_refused_by_field(
    app: Flask, world: World, database: Database
) -> None:
    url = "/asset/settings/application-limits"
    c = signed_in(app, world.bank.admin_email)
    page = _text(c.get(url))
    # the defaults, in the fields and in words
    for field, value in (
        ("reduction_team", "500.00"),
        ("reduction_org", "5000.00"),
        ("repayment_team", "2000.00"),
        ("repayment_org", "20000.00"),
    ):
        assert re.search(rf'id="{field}"[^>]*value="{value}"', page) or re.search(
            rf'value="{value}"[^>]*id="{field}"', page
        ), field
    assert "up to 500.00: the team lead decides" in page
    assert "up to 5,000.00: the agency manager decides" in page
    assert "above 20,000.00: your organisation decides" in page

    ok = _post(
        c,
        url,
        {
            "reduction_team": "800",
            "reduction_org": "8000.50",
            "repayment_team": "0",
            "repayment_org": "30000",
        },
    )
    assert ok.status_code == 302
    stored = database.scalar(
        "SELECT settings -> 'application_limits' FROM organisations WHERE id = :o", o=world.bank.org_id
    )
    assert stored == {
        "reduction": {"team": "800.00", "org": "8000.50"},
        "repayment": {"team": "0.00", "org": "30000.00"},
    }
    page = _text(c.get(url))
    assert "up to 800.00: the team lead decides" in page and "above 8,000.50" in page
    assert "up to 0.00: the team lead decides" in page and "above 30,000.00" in page
    # another owner keeps its own defaults
    other = _text(signed_in(app, world.lender.admin_email).get(url))
    assert "up to 500.00: the team lead decides" in other

    refusals = [
        (
            {"reduction_team": "9000", "reduction_org": "8000"},
            "reduction_team",
            "The team lead's limit cannot be above the organisation's.",
        ),
        (
            {"repayment_team": "100", "repayment_org": "99"},
            "repayment_team",
            "The team lead's limit cannot be above the organisation's.",
        ),
        ({"repayment_org": "1000.005"}, "repayment_org", "An amount has at most two decimals."),
        ({"reduction_team": "1.999"}, "reduction_team", "An amount has at most two decimals."),
        ({"reduction_org": "-5"}, "reduction_org", "The amount must be more than zero."),
        ({"reduction_org": "lots"}, "reduction_org", "Enter an amount."),
        ({"repayment_team": ""}, "repayment_team", "Enter an amount."),
    ]
    current = {
        "reduction_team": "800.00",
        "reduction_org": "8000.50",
        "repayment_team": "0.00",
        "repayment_org": "30000.00",
    }
    for changes, field, message in refusals:
        response = _post(c, url, {**current, **changes})
        assert response.status_code == 200, changes
        page = _text(response)
        assert _feedback(page, field) == message, changes
        # the words still say what is saved, and nothing changed
        assert "up to 800.00: the team lead decides" in page
        assert (
            database.scalar(
                "SELECT settings -> 'application_limits' FROM organisations WHERE id = :o",
                o=world.bank.org_id,
            )
            == stored
        )
    assert (
        database.scalar(
            "SELECT count(*) FROM audit_events WHERE action = 'applications.limits_changed' AND org_id = :o",
            o=world.bank.org_id,
        )
        == 1
    )


def test_staff_without_the_right_are_refused(app: Flask, world: World, database: Database) -> None:
    admin = signed_in(app, world.bank.admin_email)
    assert _make(admin).status_code == 302
    [row] = _templates(database, world.bank.org_id)
    staff = signed_in(app, world.bank.emails["owner_staff"])
    home = staff.get("/asset/").get_data(as_text=True)
    assert "/asset/letter-templates" not in home and "/asset/settings/application-limits" not in home
    token = csrf_token(staff, "/asset/")
    for url in (
        "/asset/letter-templates",
        NEW,
        f"/asset/letter-templates/{row.id}",
        "/asset/settings/application-limits",
    ):
        assert staff.get(url).status_code == 403, url
    for url, data in (
        (NEW, {"action": "save", "name": "x", "body": "y"}),
        (NEW, {"action": "preview", "name": "x", "body": "y"}),
        (f"/asset/letter-templates/{row.id}", {"action": "save", "name": "x", "body": "y"}),
        (f"/asset/letter-templates/{row.id}/archive", {}),
        (f"/asset/letter-templates/{row.id}/restore", {}),
        ("/asset/settings/application-limits", {"reduction_team": "1", "reduction_org": "2"}),
    ):
        assert staff.post(url, data={"csrf_token": token, **data}).status_code == 403, url
    assert _templates(database, world.bank.org_id) == [row]
    assert (
        database.scalar(
            "SELECT settings -> 'application_limits' FROM organisations WHERE id = :o", o=world.bank.org_id
        )
        is None
    )


def test_another_owner_and_agencies_get_404_on_template_ids(
    app: Flask, world: World, database: Database
) -> None:
    admin = signed_in(app, world.bank.admin_email)
    assert _make(admin).status_code == 302
    [row] = _templates(database, world.bank.org_id)
    missing = row.id + 1000
    for email in (
        world.lender.admin_email,
        world.east.admin_email,
        world.west.admin_email,
        world.east.emails["collector"],
    ):
        c = signed_in(app, email)
        token = csrf_token(c, "/profile")
        for tid in (row.id, missing):
            base = f"/asset/letter-templates/{tid}"
            assert c.get(base).status_code == 404, (email, base)
            data = {"csrf_token": token, "action": "save", "name": "stolen", "subject": "", "body": "x"}
            assert c.post(base, data=data).status_code == 404, (email, base)
            assert c.post(base, data={**data, "action": "preview"}).status_code == 404, (email, base)
            assert c.post(f"{base}/archive", data={"csrf_token": token}).status_code == 404, (email, base)
            assert c.post(f"{base}/restore", data={"csrf_token": token}).status_code == 404, (email, base)
    # agencies have no such pages at all
    east = signed_in(app, world.east.admin_email)
    assert east.get("/asset/letter-templates").status_code == 404
    assert east.get("/asset/settings/application-limits").status_code == 404
    # the lender's own list does not show the bank's template
    assert "首次催收函" not in _text(signed_in(app, world.lender.admin_email).get("/asset/letter-templates"))
    assert _templates(database, world.bank.org_id) == [row]
