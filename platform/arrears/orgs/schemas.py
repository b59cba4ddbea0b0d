from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate


class OrganisationRefSchema(Schema):
    id = fields.Integer()
    slug = fields.String()
    name = fields.String()
    kind = fields.Function(lambda o: o.kind.value)


class RoleRefSchema(Schema):
    id = fields.Integer()
    name = fields.String(attribute="display_name")
    key = fields.String(attribute="template_key", allow_none=True)


class UserSchema(Schema):
    id = fields.Integer()
    email = fields.Email()
    name = fields.String()
    status = fields.Function(lambda u: u.status.value)
    org = fields.Nested(OrganisationRefSchema)
    roles = fields.List(fields.Nested(RoleRefSchema))
    team_id = fields.Integer(allow_none=True)
    locale = fields.String(allow_none=True)
    created_at = fields.DateTime()
    last_login_at = fields.DateTime(allow_none=True)


class MeSchema(UserSchema):
    permissions = fields.Function(lambda u: sorted(u.permissions))


class UserCreateSchema(Schema):
    email = fields.Email(required=True)
    name = fields.String(required=True, validate=lambda s: 0 < len(s.strip()) <= 120)
    password = fields.String(required=True, load_only=True)
    role_ids = fields.List(fields.Integer(), load_default=list)
    team_id = fields.Integer(load_default=None, allow_none=True)
    locale = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(["zh_CN", "en"]))


class LoginRequestSchema(Schema):
    email = fields.Email(required=True)
    password = fields.String(required=True)
    device_name = fields.String(required=True, validate=lambda s: 0 < len(s.strip()) <= 120)
    device = fields.String(
        load_default=None,
        allow_none=True,
        validate=validate.Length(max=500),
        metadata={"description": "The device token of the last sign-in on this device, if any."},
    )


class TokenResponseSchema(Schema):
    token = fields.String()
    token_type = fields.Constant("Bearer")
    expires_at = fields.DateTime()
    user = fields.Nested(MeSchema)
    device = fields.String(
        metadata={
            "description": "Keep it and send it with the next sign-in: failures from elsewhere never "
            "slow this device's sign-in."
        }
    )


def dump(schema: Schema, obj: Any) -> Any:
    return schema.dump(obj)
