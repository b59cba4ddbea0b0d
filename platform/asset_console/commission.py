"""Asset console: commission (佣金). The owner pays its partner agencies under their contracts and its
own collectors under its incentive contract: statements (settle a period, adjust, approve, pay, the
.xlsx and .pdf documents), the records (佣金记录查询) and the contracts with their versions.

The pages are shared with the agency console (``arrears.web.commission``); the rules are
``services.commission``."""

from __future__ import annotations

from arrears.commission import pages as commission
from asset_console.views import bp

commission.register(bp)
