"""Agency console (催收公司): users, teams, roles, the asset owners it serves; later dispatch,
transfers, field tasks and reports."""

from agency_console.views import bp

__all__ = ["bp"]
