"""Input no view should ever see: what every request is checked for before its view runs.

An attack run found 500s where a value the database cannot hold reached it: integers beyond 64
bits in paths, query strings and bodies, NUL characters (PostgreSQL refuses them in text), numbers
JSON writes as ``1e999999`` (Python reads infinity), JSON nested a thousand deep (Python's parser
recurses). Each is refused here, in one place, naming the parameter or the JSON path and the
reason, before any view, loader or use case runs:

* ``<int:...>`` in every URL rule only matches 0 .. 2^63-1 (a bigger id names no object: 404);
* ``request.args.get(name, type=int)`` refuses a number beyond 64 bits (422 naming the parameter)
  instead of handing it on;
* a query parameter or form field holding NUL is refused (400 naming it);
* a JSON body is parsed once here when it claims to be JSON (``g.json_body``, which
  ``jsonapi.load_json`` then loads): deeper than ``MAX_JSON_DEPTH``,
  holding NUL in a key or a string, an integer beyond 64 bits, or a number that is not finite,
  it is refused (400 or 422 naming the JSON path).
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Flask, Request, current_app, g, request
from flask_babel import gettext as _
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter

from arrears.errors import ValidationFailed

MAX_ID = 2**63 - 1
MIN_INT = -(2**63)
MAX_JSON_DEPTH = 32


class BoundedIntConverter(IntegerConverter):
    """``<int:...>``: 0 .. 2^63-1 unless the rule says otherwise (``<int(max=...):...>``). At most 19
    digits match at all, so a longer number is no route whatever the method (404, not 405)."""

    regex = r"\d{1,19}"

    def __init__(self, map: Any, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("max") is None:
            kwargs["max"] = MAX_ID
        super().__init__(map, *args, **kwargs)


class _Args(ImmutableMultiDict[str, str]):
    """Query parameters whose ``get(name, type=int)`` refuses what no BIGINT column holds."""

    def get(self, key: Any, default: Any = None, type: Any = None) -> Any:  # type: ignore[override]
        value = super().get(key, default, type)
        if type is int and isinstance(value, int) and not MIN_INT <= value <= MAX_ID:
            raise ValidationFailed(_("The number is out of range."), field=str(key))
        return value


class GuardedRequest(Request):
    parameter_storage_class = _Args


def _refuse(status: int, code: str, message: str, field: str) -> ValidationFailed:
    error = ValidationFailed(message, field=field)
    error.status, error.code = status, code
    return error


def _scalar_problem(value: Any, numbers: bool) -> str | None:
    """Why a JSON scalar cannot be taken (``None``: it can); ``numbers``: judge numbers too."""
    if isinstance(value, str) and "\x00" in value:
        return _("The text holds a NUL character.")
    if not numbers:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and not MIN_INT <= value <= MAX_ID:
        return _("The number is out of range.")
    if isinstance(value, float) and not math.isfinite(value):
        return _("The number is out of range.")
    return None


def _check_value(value: Any, path: str, depth: int = 0, numbers: bool = True) -> None:
    if depth > MAX_JSON_DEPTH:
        raise _too_deep()
    if isinstance(value, dict):
        items: Any = value.items()
        for key, item in items:
            if "\x00" in key:
                raise ValidationFailed(_("The text holds a NUL character."), field=path or "body")
            _check_value(item, f"{path}.{key}" if path else key, depth + 1, numbers)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_value(item, f"{path}[{index}]", depth + 1, numbers)
    elif (problem := _scalar_problem(value, numbers)) is not None:
        raise ValidationFailed(problem, field=path or "body")


def check_request() -> None:
    """``before_request``: refuse what no view may see (the module's docstring)."""
    for source in (request.args, request.form):
        for key, values in source.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                raise _refuse(
                    400, "bad_request", _("The parameter holds a NUL character."), key.replace("\x00", "")
                )
    if request.mimetype != "application/json":
        return
    raw = request.get_data(cache=True, as_text=True)
    if not raw.strip():
        return
    try:
        data = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except json.JSONDecodeError:
        return  # the view's loader names the syntax error
    view = current_app.view_functions.get(request.endpoint or "")
    # a batch that judges each item itself (repayments) rejects a bad number item by item
    _check_value(data, "", numbers=not getattr(view, "reads_own_numbers", False))
    g.json_body = data  # parsed once: ``jsonapi.load_json`` takes it from here


def _too_deep() -> ValidationFailed:
    return _refuse(
        400,
        "malformed_json",
        _("The JSON is nested too deeply (at most %(n)d levels).", n=MAX_JSON_DEPTH),
        "body",
    )


def install(app: Flask) -> None:
    """Before any blueprint registers a rule: the bounded ``int`` converter, the guarded request."""
    app.url_map.converters["int"] = BoundedIntConverter
    app.request_class = GuardedRequest
    app.before_request(check_request)
