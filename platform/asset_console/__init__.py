"""Asset owner console (资产方): users, roles, partnerships with agencies, settings, cases and
imports; later placements, write-off, commission, repayments and reports."""

from asset_console import cases as _cases  # noqa: F401  (registers the case pages)
from asset_console import imports as _imports  # noqa: F401  (registers the import pages)
from asset_console.views import bp

__all__ = ["bp"]
