"""Asset owner console (资产方): users, roles, partnerships with agencies, settings, cases and
imports, placements with agencies and allocation, repayments (records, audit, reductions, manual
entries, the allocation order); later write-off, commission and reports."""

from arrears.allocation import pages as allocation
from asset_console.views import bp

# The page modules register their views on ``bp`` when imported.
from . import (  # noqa: F401
    cases,
    imports,
    placements,
    reconcile,
    repayments,
    work_settings,
    writeoffs,
)

allocation.install(bp)

__all__ = ["bp"]
