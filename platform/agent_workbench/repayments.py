"""Workbench: my repayments (我的还款): the payments credited to me, those made on a case while I held
it (the attribution of ``payments.repayments``), applied or waiting, with the filters of the
consoles' lists. A case's repayments are its page's repayments tab (``views``)."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from agent_workbench.views import bp
from arrears.payments import pages
from arrears.web.console import NavItem, nest

nest(bp, pages.pages)  # the repayment templates (arrears/payments/templates)

bp.console_nav.append(NavItem("agent_workbench.my_repayments", _l("My repayments")))  # type: ignore[attr-defined]


@bp.route("/repayments")
def my_repayments():
    return pages.records(
        "agent_workbench.my_repayments",
        me=current_user._get_current_object(),
        own=True,
        title=_("My repayments"),
        intro=_(
            "The payments credited to you: those made on a case while you held it. The applied ones "
            "count towards your figures and the honour roll; a reversed one does not."
        ),
        case_endpoint="agent_workbench.case_detail",
    )
