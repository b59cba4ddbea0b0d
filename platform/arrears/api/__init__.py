"""``/api/v1``: the integration API for asset owners and agencies (bearer tokens, audience ``api``).

Later issues add cases, placements, repayments... to this same object, so they appear in the same
OpenAPI document (``/api/v1/openapi.json``)."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, request

from arrears.models import ApiTokenAudience
from arrears.schemas.users import MeSchema, UserCreateSchema, UserSchema
from arrears.services import users as user_service
from arrears.tenancy import loaders
from arrears.web.jsonapi import JsonApi

api = JsonApi(
    name="api_v1",
    url_prefix="/api/v1",
    title="Arrears platform API",
    audience=ApiTokenAudience.API,
    description="Integration API. Authenticate with 'Authorization: Bearer <token>'. "
    "Objects of other tenants answer 404, exactly like missing ones.",
)


@api.route("/me", summary="The token's user, organisation and permissions", response_schema=MeSchema())
def me() -> Any:
    return g.api_user


@api.route(
    "/users",
    summary="Users of the caller's organisation",
    response_schema=UserSchema(),
    many=True,
    permission="org.users.view",
)
def list_users() -> Any:
    return user_service.list_users(request.args.get("q"))


@api.route(
    "/users",
    methods=("POST",),
    summary="Create a user in the caller's organisation",
    request_schema=UserCreateSchema(),
    response_schema=UserSchema(),
    status=201,
    permission="org.users.manage",
)
def create_user(body: dict[str, Any]) -> Any:
    actor = g.api_user
    return user_service.create_user(
        actor,
        org=actor.org,
        email=body["email"],
        name=body["name"],
        password=body["password"],
        role_ids=body["role_ids"],
        team_id=body["team_id"],
        locale=body["locale"],
    )


@api.route(
    "/users/<int:user_id>",
    summary="One user of the caller's organisation",
    response_schema=UserSchema(),
    permission="org.users.view",
)
def get_user(user_id: int) -> Any:
    return loaders.get_user_for(g.api_user, user_id)


def init_app(app: Flask) -> None:
    api.register(app)
