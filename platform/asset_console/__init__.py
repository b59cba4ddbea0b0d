"""Asset owner console (资产方): users, roles, partnerships with agencies, settings, cases and
imports; later placements, write-off, commission, repayments and reports."""

from asset_console.views import bp

# The page modules register their views on ``bp`` when imported.
from . import cases, imports  # noqa: F401

__all__ = ["bp"]
