"""Through the consoles' pages: a form posted with its CSRF token, a case file uploaded and its
column mapping confirmed, and a placement run of bank's cases previewed, sent, approved by the
checker and applied in the asset console."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from tests.builders.placements import CHECKER, END, bank_with_cases
from tests.builders.tenants import World
from tests.conftest import Database, csrf_token, signed_in

# The first day of the placements preview_placement asks for (they end on placements.END).
START = dt.date(2026, 12, 1)


def post_form(c: FlaskClient, url: str, data: dict[str, Any], page: str | None = None) -> Any:
    """Post ``data`` to ``url`` with the CSRF token of ``page`` (by default the form's own page)."""
    return c.post(url, data={"csrf_token": csrf_token(c, page or url), **data})


def preview_placement(c: FlaskClient, world: World, **extra: Any) -> Any:
    """Bank's admin previews a round-robin placement with east and west from :data:`START` to
    ``placements.END`` (``extra`` overrides or adds form fields); the response."""
    url = "/asset/allocation/runs/new?level=placement"
    data = {
        "strategy_id": "0",
        "method": "round_robin",
        "previous_holder": "any",
        "starts_on": START.isoformat(),
        "ends_on": END.isoformat(),
        "target": [str(world.east.org_id), str(world.west.org_id)],
        **extra,
    }
    return post_form(c, url, data)


def approve(app: Flask, approval_id: int) -> Any:
    """The bank's checker (``placements.CHECKER``) approves the request on its approval page."""
    checker = signed_in(app, CHECKER)
    url = f"/asset/approvals/{approval_id}"
    return post_form(checker, url, {"approve": "1", "note": "looks right"})


def placed_run(app: Flask, world: World, database: Database, **extra: Any) -> tuple[FlaskClient, int]:
    """Preview a placement of bank's cases to east and west, send it, approve it, apply it
    (``placements.bank_with_cases`` first); bank's admin's client and the run's id."""
    bank_with_cases(world)
    c = signed_in(app, world.bank.admin_email)
    response = preview_placement(c, world, **extra)
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    run_id = int(response.headers["Location"].rsplit("/", 1)[1])
    assert (
        post_form(
            c, f"/asset/allocation/runs/{run_id}/submit", {"reason": "Q1"}, f"/asset/allocation/runs/{run_id}"
        ).status_code
        == 302
    )
    approval_id = database.scalar("SELECT approval_id FROM allocation_runs WHERE id = :r", r=run_id)
    assert approve(app, approval_id).status_code == 302
    applied = post_form(c, f"/asset/allocation/runs/{run_id}/apply", {}, f"/asset/allocation/runs/{run_id}")
    assert applied.status_code == 302
    assert database.scalar("SELECT status FROM allocation_runs WHERE id = :r", r=run_id) == "applied"
    return c, run_id


def upload_cases(c: FlaskClient, data: bytes, filename: str, mapping: str = "auto") -> Any:
    """Upload a case file in the asset console (the answer redirects to its mapping page)."""
    token = csrf_token(c, "/asset/imports")
    return c.post(
        "/asset/imports",
        data={"csrf_token": token, "mapping": mapping, "file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def submit_mapping(c: FlaskClient, mapping_url: str, action: str, save_as: str = "") -> Any:
    """Confirm the mapping page's proposed columns with ``action`` (``check`` or ``import``)."""
    page = c.get(mapping_url).get_data(as_text=True)
    selects = {}
    for block in page.split("<select")[1:]:
        name = re.search(r'name="(col_[a-z_]+)"', block)
        chosen = re.search(r'<option value="([^"]*)" selected', block.split("</select>")[0])
        if name and chosen:
            selects[name.group(1)] = chosen.group(1)
    data = {"csrf_token": csrf_token(c, mapping_url), "action": action, "mapping_name": save_as, **selects}
    return c.post(mapping_url, data=data)
