"""``/field/v1``: the field visitors' mobile app API. JSON only, bearer tokens (audience
``field``) obtained by e-mail and password with a device name, its own OpenAPI document."""

from __future__ import annotations

from flask import Flask

from field_api.views import field


def init_app(app: Flask) -> None:
    field.register(app)


__all__ = ["field", "init_app"]
