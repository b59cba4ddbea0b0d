"""The organisation's users on ``/api/v1``: the token's own user (``/me``), and the users of the
caller's organisation (list, one, create)."""

from __future__ import annotations

from typing import Any

from flask import g, request

from arrears.orgs import users as user_service
from arrears.orgs.loaders import get_user_for
from arrears.orgs.schemas import MeSchema, UserCreateSchema, UserSchema
from arrears.web.api import api


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
    return get_user_for(g.api_user, user_id)
