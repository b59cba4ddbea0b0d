"""The reports' routes of ``/api/v1``: the caller's desk."""

from __future__ import annotations

from typing import Any

from flask import g

from arrears.reports import desk as workbench
from arrears.web.api import api
from arrears.work.api import TAGS
from arrears.work.schemas import DeskSchema


@api.route(
    "/workbench/desk",
    summary="The caller's desk: today's figures, the rank this month and the honour roll",
    response_schema=DeskSchema(),
    tags=TAGS,
    permission="workbench.use",
)
def desk() -> Any:
    return workbench.home_figures(g.api_user)
