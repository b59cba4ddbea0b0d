from __future__ import annotations

from flask import render_template
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from arrears.models import OrgKind
from arrears.web.console import NavItem, console_blueprint

bp = console_blueprint(
    "agent_workbench",
    __name__,
    kinds=[OrgKind.AGENCY, OrgKind.ASSET_OWNER],
    permission="workbench.use",
    title=_l("Collector workbench"),
    nav=[NavItem("agent_workbench.home", _l("Home"))],
)


@bp.route("/")
def home():
    return render_template("agent_workbench/home.html", user=current_user)
