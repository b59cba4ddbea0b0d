"""Agency console: commission (佣金). What the asset owners pay the agency (its statements, records
and contracts, read-only) and the incentive the agency pays its own collectors (its contract and
versions, the settlement of a period, approval and payment of its statements).

The pages are shared with the asset console (``arrears.web.commission``); the rules are
``services.commission``."""

from __future__ import annotations

from agency_console.views import bp
from arrears.commission import pages as commission

commission.register(bp)
