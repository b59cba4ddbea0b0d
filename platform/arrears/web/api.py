"""``/api/v1``: the integration API for asset owners and agencies (bearer tokens, audience ``api``).

One ``JsonApi`` object: each domain's ``api`` module declares its routes on it (``arrears.orgs.api``,
``arrears.cases.api``, ``arrears.allocation.api``...), so they all appear in one OpenAPI document
(``/api/v1/openapi.json``); the application factory imports those modules, then registers it."""

from __future__ import annotations

from arrears.auth.models import ApiTokenAudience
from arrears.web.jsonapi import JsonApi

api = JsonApi(
    name="api_v1",
    url_prefix="/api/v1",
    title="Arrears platform API",
    audience=ApiTokenAudience.API,
    description="Integration API. Authenticate with 'Authorization: Bearer <token>'. "
    "Objects of other tenants answer 404, exactly like missing ones.",
)
