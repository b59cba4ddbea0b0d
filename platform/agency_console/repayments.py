"""Agency console: the repayment records credited to the agency (还款记录): the payments on the cases
placed with it, made while they were placed (the attribution of ``payments.repayments``), with the
same filters as the owner's list; the case page shows a case's in its repayments tab."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from agency_console.views import bp
from arrears.auth.principal import permission_required
from arrears.payments import pages
from arrears.web.console import NavItem, nest

nest(bp, pages.pages)  # the repayment templates (arrears/payments/templates)

_nav: list[NavItem] = bp.console_nav  # type: ignore[attr-defined]
_at = next((i + 1 for i, item in enumerate(_nav) if item.endpoint == "agency_console.pool"), len(_nav))
_nav.insert(_at, NavItem("agency_console.repayments", _l("Repayments"), "repayments.view"))


@bp.route("/repayments")
@permission_required("repayments.view")
def repayments():
    return pages.records(
        "agency_console.repayments",
        me=current_user._get_current_object(),
        title=_("Repayment records"),
        intro=_(
            "The payments credited to your agency: those made on the cases placed with you while they "
            "were placed. Commission is reckoned on these."
        ),
        case_endpoint="agency_console.case_detail",
    )
