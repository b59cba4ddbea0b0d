"""Asset console: repayments (还款).

* The records (还款记录查询): filters (status, source, loan number, transaction id, agency, paid
  dates), keyset pages, what each payment took off each component, the export (.xlsx, audited; a
  large one as a job).
* One repayment: its postings, its application and evidence, the record it was matched to; the
  reversal of an applied payment (a reason is required).
* The audit of the collectors' reports (还款审核): confirm (applied as its own payment), match to the
  core system's record carrying it, reject (a note is required).
* The reductions (减免审核): the reduction applications with the waiver postings they left.
* A payment entered by hand on the case page, and the allocation order in the settings.

The rules are ``payments.repayments``; what the pages read is ``payments.queries``.
"""

from __future__ import annotations

import tempfile
from typing import Any

from flask import current_app, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from arrears.auth.principal import permission_required
from arrears.cases.exports import INLINE_MAX
from arrears.cases.loaders import get_case_for
from arrears.errors import DomainError, NotFound
from arrears.payments import collector_reports, pages
from arrears.payments import queries as repayment_pages
from arrears.payments import repayments as repayment_service
from arrears.payments.loaders import get_repayment_for
from arrears.payments.models import Repayment
from arrears.web.console import NavItem, nest
from arrears.web.current import current_actor
from arrears.web.forms import show_error
from arrears.work import applications as application_service
from arrears.work.models import ApplicationStatus
from asset_console.cases import _case_page
from asset_console.views import bp

nest(bp, pages.pages)  # the repayment templates (arrears/payments/templates)

_nav: list[NavItem] = bp.console_nav  # type: ignore[attr-defined]
_at = next((i + 1 for i, item in enumerate(_nav) if item.endpoint == "asset_console.placements"), len(_nav))
_nav[_at:_at] = [
    NavItem("asset_console.repayments", _l("Repayments"), "repayments.view"),
    NavItem(
        "asset_console.repayment_audit",
        _l("Repayment audit"),
        "repayments.audit",
        badge=repayment_pages.waiting_count,
    ),
    NavItem("asset_console.reductions", _l("Reductions"), "work.view"),
]
_nav.append(NavItem("asset_console.repayment_order", _l("Allocation order"), "org.settings.manage"))

REDUCTION_STATUSES = {
    "": _l("All"),
    ApplicationStatus.PENDING.value: _l("Pending"),
    ApplicationStatus.APPROVED.value: _l("Approved"),
    ApplicationStatus.REJECTED.value: _l("Rejected"),
}


# --- the records ----------------------------------------------------------------------------------


@bp.route("/repayments")
@permission_required("repayments.view")
def repayments():
    me = current_actor()
    return pages.records(
        "asset_console.repayments",
        me=me,
        agencies=True,
        title=_("Repayment records"),
        case_endpoint="asset_console.case_detail",
        detail_endpoint="asset_console.repayment_detail",
        export_endpoint="asset_console.repayments_export" if me.can("cases.export") else None,
    )


@bp.route("/repayments/export")
@permission_required("repayments.view", "cases.export")
def repayments_export():
    me = current_actor()
    f = pages.filters(pages.filter_form(me, agencies=True))
    if repayment_pages.count(me, f) > current_app.config.get("EXPORT_INLINE_MAX", INLINE_MAX):
        job_id = repayment_pages.start_export_job(me, f)
        flash(_("The export runs in the background; download it here when it is ready."), "info")
        return redirect(url_for("asset_console.orgs.job_detail", job_id=job_id))
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (send_file closes it)
    repayment_pages.export_xlsx(me, f, spool)
    spool.seek(0)
    return send_file(
        spool,
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        as_attachment=True,
        download_name="repayments.xlsx",
    )


# --- one repayment: reversal, audit ---------------------------------------------------------------


def _detail_page(
    repayment: Repayment,
    *,
    audit: pages.AuditForm | None = None,
    reversal: pages.ReversalForm | None = None,
    status: int = 200,
) -> Any:
    me = current_actor()
    return (
        render_template(
            "asset_console/repayment.html",
            d=repayment_pages.detail(me, repayment),
            r=repayment,
            audit=audit or pages.AuditForm(formdata=None),
            reversal=reversal or pages.ReversalForm(formdata=None),
            components=repayment_pages.COMPONENTS,
            component_labels=repayment_pages.COMPONENT_LABELS,
            posting_labels={k.value: v for k, v in repayment_pages.POSTING_LABELS.items()},
            status_labels={k.value: v for k, v in repayment_pages.STATUS_LABELS.items()},
        ),
        status,
    )


@bp.route("/repayments/<int:repayment_id>")
@permission_required("repayments.view")
def repayment_detail(repayment_id: int):
    return _detail_page(get_repayment_for(current_actor(), repayment_id))


@bp.route("/repayments/<int:repayment_id>/reversal", methods=["POST"])
@permission_required("repayments.view")
def repayment_reverse(repayment_id: int):
    me = current_actor()
    repayment = get_repayment_for(me, repayment_id)  # 404 before the form is read
    form = pages.ReversalForm()
    if not form.validate_on_submit():
        flash(pages.not_valid(), "danger")
        return _detail_page(repayment, reversal=form, status=400)
    try:
        repayment_service.reverse(me, repayment, form.reason.data or "")
    except NotFound:
        raise
    except DomainError as exc:
        if not pages.field_error(form, exc):
            flash(pages.error_text(exc), "danger")
        return _detail_page(repayment, reversal=form, status=exc.status)
    flash(_("The payment was reversed: the balances it took off are back on the loan."), "success")
    return redirect(url_for("asset_console.repayment_detail", repayment_id=repayment.id))


@bp.route("/repayments/audit")
@permission_required("repayments.audit")
def repayment_audit():
    me = current_actor()
    after = request.args.get("after")
    page = repayment_pages.audit_page(me, after=after, limit=pages.page_size())
    return render_template(
        "asset_console/repayment_audit.html",
        page=page,
        form=pages.AuditForm(formdata=None),
        waiting=repayment_pages.waiting_count(me),
        next_url=url_for("asset_console.repayment_audit", after=page.after) if page.after else None,
        first_url=url_for("asset_console.repayment_audit") if after else None,
    )


@bp.route("/repayments/<int:repayment_id>/audit", methods=["POST"])
@permission_required("repayments.audit")
def repayment_decide(repayment_id: int):
    me = current_actor()
    repayment = get_repayment_for(me, repayment_id)  # 404 before the form is read
    form = pages.AuditForm()
    if not form.validate_on_submit():
        flash(pages.not_valid(), "danger")
        return _detail_page(repayment, audit=form, status=400)
    note = form.note.data or ""
    try:
        if form.confirm.data:
            collector_reports.confirm_report(me, repayment, note)
            message = _("The report was confirmed and applied to the loan.")
        elif form.match.data:
            collector_reports.match_report(me, repayment, form.core_id.data or "", note)
            message = _("The report was matched to the core system's record.")
        elif form.reject.data:
            collector_reports.reject_report(me, repayment, note)
            message = _("The report was rejected.")
        else:
            flash(pages.not_valid(), "danger")
            return _detail_page(repayment, audit=form, status=400)
    except NotFound:
        raise
    except DomainError as exc:
        pages.field_error(form, exc)
        flash(pages.error_text(exc), "danger")
        return _detail_page(repayment, audit=form, status=exc.status)
    flash(message, "success")
    if request.form.get("back") == "queue":
        return redirect(url_for("asset_console.repayment_audit"))
    return redirect(url_for("asset_console.repayment_detail", repayment_id=repayment.id))


# --- reductions (减免审核) ----------------------------------------------------------------------------


@bp.route("/reductions")
@permission_required("work.view")
def reductions():
    me = current_actor()
    status = request.args.get("status", "")
    if status not in REDUCTION_STATUSES:
        status = ""
    after = request.args.get("after")
    page = repayment_pages.reductions_page(me, status=status or None, after=after, limit=pages.page_size())
    args: dict[str, Any] = {"status": status} if status else {}
    return render_template(
        "asset_console/reductions.html",
        page=page,
        status=status,
        statuses=REDUCTION_STATUSES,
        waiver_components=application_service.COMPONENTS,
        component_labels=repayment_pages.COMPONENT_LABELS,
        next_url=url_for("asset_console.reductions", after=page.after, **args) if page.after else None,
        first_url=url_for("asset_console.reductions", **args) if after else None,
    )


# --- a payment entered by hand on the case page ---------------------------------------------------


@bp.route("/cases/<int:case_id>/repayments", methods=["POST"])
@permission_required("repayments.post")
def case_repayment_enter(case_id: int):
    me = current_actor()
    case = get_case_for(me, case_id)  # 404 before the form is read
    form = pages.ManualRepaymentForm()
    if form.validate_on_submit():
        try:
            row = collector_reports.record_manual(
                me,
                case,
                amount=(form.amount.data or "").strip(),
                paid_at=(form.paid_at.data or "").strip(),
                channel=form.channel.data or "",
                reference=form.reference.data or "",
                note=form.note.data or "",
            )
        except NotFound:
            raise
        except DomainError as exc:
            if not pages.field_error(form, exc):
                flash(pages.error_text(exc), "danger")
            return _case_page(case.id, unmasked=False, manual=form, tab="repayments"), exc.status
        flash(
            _("The payment of %(amount)s was entered and applied.", amount=f"{row.amount:,.2f}"),
            "success",
        )
        return redirect(url_for("asset_console.case_detail", case_id=case.id, tab="repayments"))
    flash(pages.not_valid(), "danger")
    return _case_page(case.id, unmasked=False, manual=form, tab="repayments"), 400


# --- the allocation order (the owner's settings) --------------------------------------------------


@bp.route("/settings/repayment-order", methods=["GET", "POST"])
@permission_required("org.settings.manage")
def repayment_order():
    me = current_actor()
    order = repayment_service.allocation_order(me)
    form = pages.order_form(order, formdata=request.method == "POST")
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                saved = repayment_service.set_allocation_order(
                    me, [getattr(form, name).data or "" for name in pages.ORDER_FIELDS]
                )
            except DomainError as exc:
                show_error(form, exc)
            else:
                flash(
                    _(
                        "Payments now take the balances in this order: %(order)s.",
                        order=pages.order_text(saved),
                    ),
                    "success",
                )
                return redirect(url_for("asset_console.repayment_order"))
        else:
            flash(pages.not_valid(), "danger")
    return render_template(
        "asset_console/repayment_order.html",
        form=form,
        order=order,
        order_text=pages.order_text(order),
        fields=pages.ORDER_FIELDS,
    ), (422 if request.method == "POST" else 200)
