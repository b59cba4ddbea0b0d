"""Asset owner console (资产方): users, roles, partnerships with agencies, settings; later cases,
placements, write-off, commission, repayments and reports."""

from asset_console.views import bp

__all__ = ["bp"]
