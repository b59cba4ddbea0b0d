"""Agency console (催收公司): users, teams, roles, the asset owners it serves, the cases placed with it,
dispatch to collectors, transfers, caps, the placements and the requests to the owner, the
repayments credited to the agency."""

from agency_console.views import bp
from arrears.allocation import pages as allocation

# The page modules register their views on ``bp`` when imported.
from . import cases, repayments  # noqa: F401

allocation.install(bp)

__all__ = ["bp"]
