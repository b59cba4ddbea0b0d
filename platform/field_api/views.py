from __future__ import annotations

from typing import Any

from flask import g, request

from arrears.auth import sessions as auth_service
from arrears.auth.models import ApiTokenAudience
from arrears.orgs.schemas import LoginRequestSchema, MeSchema, TokenResponseSchema
from arrears.web.jsonapi import JsonApi

field = JsonApi(
    name="field_v1",
    url_prefix="/field/v1",
    title="Arrears field app API",
    audience=ApiTokenAudience.FIELD,
    description="For the field visitors' mobile app. POST /login with e-mail, password and device name "
    "returns a bearer token; send it as 'Authorization: Bearer <token>'.",
)


@field.route(
    "/login",
    methods=("POST",),
    summary="Sign in from a device; returns a bearer token",
    request_schema=LoginRequestSchema(),
    response_schema=TokenResponseSchema(),
    auth=False,
    status=201,
)
def login(body: dict[str, Any]) -> Any:
    token, raw, user, device = auth_service.field_login(
        body["email"], body["password"], body["device_name"], request.remote_addr or "", body.get("device")
    )
    return {"token": raw, "expires_at": token.expires_at, "user": user, "device": device}


@field.route("/logout", methods=("POST",), summary="Revoke the token of this device", status=204)
def logout() -> Any:
    raw = request.headers.get("Authorization", "").partition(" ")[2].strip()
    auth_service.revoke_current_token(g.api_user, raw)
    return "", 204


@field.route("/me", summary="The signed-in field visitor", response_schema=MeSchema())
def me() -> Any:
    return g.api_user
