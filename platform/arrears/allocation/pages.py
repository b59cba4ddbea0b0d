"""Allocation pages shared by the asset console and the agency console: strategies (分案策略, with
versions and the change log 策略调整日志), runs (预分案 preview, 预分案结果审核 review, apply) and their
result logs (分案结果日志), and one case's allocation history.

``register(bp)`` adds the views and their navigation entries to a console blueprint; the views take
the console's URL prefix and endpoints from the blueprint they are registered on. An owner places
with agencies (``placements.manage``) and dispatches in-house; an agency dispatches to its collectors
(``cases.dispatch``). Every object is loaded through ``tenancy.loaders``: missing and foreign ids 404.

The rules editor is a structured form, one card per rule (fields ``r-<index>-<field>``); add, remove
and move are submit buttons (they work without script) that ``static/js/rules.js`` performs in the
page instead. Problems found by the rule parser come back with their place (``rules[1].filter.dpd_max``)
and are shown next to the field.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from decimal import Decimal
from functools import wraps
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.datastructures import MultiDict
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from arrears.allocation import engine
from arrears.allocation import log as allocation_log
from arrears.allocation import runs as allocation_service
from arrears.allocation import strategies as strategy_service
from arrears.allocation.loaders import get_run_for, get_strategy_for
from arrears.allocation.models import (
    AllocationLevel,
    AllocationRun,
    AllocationStrategy,
    ResultStatus,
    RunStatus,
)
from arrears.allocation.rules import BUCKETS, METHODS, NEVER_HELD, PREVIOUS
from arrears.auth.models import User
from arrears.cases.cases import HOLDINGS, CaseFilter
from arrears.cases.cases import loan_numbers as case_service_loan_numbers
from arrears.cases.loaders import get_case_for
from arrears.errors import DomainError, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.kernel.clock import business_date
from arrears.kernel.jobs.queue import is_eager
from arrears.kernel.money import as_decimal
from arrears.orgs.loaders import get_job_for
from arrears.web.console import NavItem, add_nav, ep, has_view, nest
from arrears.web.current import current_actor
from arrears.web.forms import ConfirmForm, show_error

# --- labels (the stored values are stable codes; the pages translate them) -------------------------------

METHOD_LABELS: dict[str, Any] = {
    "round_robin": _l("Equal count (in turn)"),
    "balanced_amount": _l("Balanced amount"),
    "fixed_shares": _l("Fixed shares (per cent)"),
    "region": _l("By region"),
    "performance": _l("By performance"),
}
PREVIOUS_LABELS: dict[str, Any] = {
    "any": _l("Previous holder does not matter"),
    "keep": _l("Keep with the previous holder"),
    "exclude": _l("Never back to the previous holder"),
}
LEVEL_LABELS: dict[str, Any] = {
    "placement": _l("Placement with agencies"),
    "dispatch": _l("Dispatch to collectors"),
}
RUN_STATUS_LABELS: dict[str, Any] = {
    "previewed": _l("previewed"),
    "pending_approval": _l("waiting for approval"),
    "approved": _l("approved"),
    "applying": _l("applying"),
    "applied": _l("applied"),
    "rejected": _l("rejected"),
    "discarded": _l("discarded"),
    "failed": _l("failed"),
}
RUN_STATUS_COLOURS = {
    "previewed": "info",
    "pending_approval": "warning",
    "approved": "primary",
    "applying": "info",
    "applied": "success",
    "rejected": "danger",
    "discarded": "secondary",
    "failed": "danger",
}
RESULT_STATUS_LABELS: dict[str, Any] = {
    "planned": _l("planned"),
    "unallocated": _l("unallocated"),
    "applied": _l("applied"),
    "skipped": _l("skipped"),
}
# why a case stayed unallocated (the engine's codes) or was skipped at apply (the service's)
REASON_LABELS: dict[str, Any] = {
    engine.NO_RULE: _l("no rule matches"),
    engine.FULL: _l("every eligible target is full"),
    engine.NO_TARGET: _l("no eligible target"),
    engine.NO_REGION: _l("no target covers the region"),
    "closed since the preview": _l("closed since the preview"),
    "written off since the preview": _l("written off since the preview"),
    "status changed since the preview": _l("status changed since the preview"),
    "recalled since the preview": _l("recalled since the preview"),
    "changed since the preview": _l("changed since the preview"),
    "placed with an agency since the preview": _l("placed with an agency since the preview"),
    "placed or assigned since the preview": _l("placed or assigned since the preview"),
    "the agency's partnership is no longer in force": _l("the agency's partnership is no longer in force"),
    # why a placement ended (``allocation.placements``)
    "the placement reached its end date": _l("the placement reached its end date"),
    "early recall": _l("early recall"),
}
# what the rule parser says about a field
PROBLEM_LABELS: dict[str, Any] = {
    "at least one rule": _l("add at least one rule"),
    "an object": _l("must be an object"),
    "a whole number": _l("must be a whole number"),
    "not negative": _l("must not be negative"),
    "an amount": _l("must be an amount"),
    "a non-negative amount": _l("must be an amount of zero or more"),
    "a list": _l("must be a list"),
    "not below the minimum": _l("must not be below the minimum"),
    "a share for each target": _l("give each target its share"),
    "shares adding up to 100": _l("the shares must add up to 100"),
}
HOLDING_LABELS: dict[str, Any] = {
    "unplaced": _l("Not placed, nobody works it"),
    "inhouse": _l("Worked by our own collectors"),
    "placed": _l("Placed with an agency"),
    "unassigned": _l("Nobody works it"),
    "assigned": _l("A collector works it"),
}

PAGE = 100


def problem_text(reason: str) -> str:
    if reason.startswith("one of "):
        return _("must be one of: %(values)s", values=reason[len("one of ") :])
    prefix = "not a target of this run: "
    if reason.startswith(prefix):
        return _("not a target of this run: %(targets)s", targets=reason[len(prefix) :])
    label = PROBLEM_LABELS.get(reason)
    return str(label) if label is not None else reason


def reason_text(reason: str) -> str:
    label = REASON_LABELS.get(reason)
    return str(label) if label is not None else reason


# --- who may do what -----------------------------------------------------------------------------------


def allowed_levels(actor: User) -> list[AllocationLevel]:
    """The levels this person works at: placement needs ``placements.manage`` (owners only), dispatch
    ``cases.dispatch``."""
    out = []
    for level in strategy_service.levels_for(actor):
        needed = "placements.manage" if level == AllocationLevel.PLACEMENT else "cases.dispatch"
        if actor.can(needed):
            out.append(level)
    return out


def _allocator_required(view: Callable[..., Any]) -> Callable[..., Any]:
    """The pages need the right to work at one level at least (a right of one's own organisation:
    foreign objects are then refused by the loaders, with 404)."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if not allowed_levels(current_actor()):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _check_level(level: AllocationLevel) -> None:
    if level not in allowed_levels(current_actor()):
        abort(403)


def _level_arg(raw: str | None) -> AllocationLevel:
    levels = allowed_levels(current_actor())
    for level in levels:
        if level.value == raw:
            return level
    return levels[0]


# --- the rules editor: form fields <-> rules -------------------------------------------------------------

_RULE_FIELD = re.compile(r"^r-(\d+)-")
_FILTER_NUMBERS = ("dpd_min", "dpd_max", "amount_min", "amount_max")
_FILTER_TEXTS = ("products", "provinces", "cities", "tags")


def _split(raw: str) -> list[str]:
    return [v.strip() for v in raw.replace("，", ",").split(",") if v.strip()]


def rules_from_form(form: MultiDict[str, str]) -> list[dict[str, Any]]:  # noqa: C901
    """The rules as submitted (``r-<index>-<field>``), in index order, in the stored JSON shape (values
    still as typed: the parser checks them and names each problem's place)."""
    indexes = sorted({int(m.group(1)) for key in form for m in [_RULE_FIELD.match(key)] if m})
    out: list[dict[str, Any]] = []
    for i in indexes:
        prefix = f"r-{i}-"

        def text(name: str, prefix: str = prefix) -> str:
            return (form.get(prefix + name) or "").strip()

        flt: dict[str, Any] = {}
        for key in _FILTER_NUMBERS:
            if text(key):
                flt[key] = text(key)
        for key in _FILTER_TEXTS:
            values = _split(text(key))
            if values:
                flt[key] = values
        for key in ("buckets", "previous"):
            values = [v for v in form.getlist(prefix + key) if v]
            if values:
                flt[key] = values
        method = text("method") or "round_robin"
        rule: dict[str, Any] = {"name": text("name"), "filter": flt, "method": method}
        targets = [v for v in form.getlist(prefix + "targets") if v]
        if targets:
            rule["targets"] = targets
        if method == "fixed_shares":
            share_prefix = prefix + "share-"
            shares = {
                key[len(share_prefix) :]: (form.get(key) or "").strip()
                for key in form
                if key.startswith(share_prefix) and (form.get(key) or "").strip()
            }
            if shares:
                rule["shares"] = shares
        holder = text("previous_holder") or "any"
        if holder != "any":
            rule["previous_holder"] = holder
        out.append(rule)
    return out


def editable(rule: Any) -> dict[str, Any]:
    """One rule (stored or as submitted) as the editor's fields show it."""
    rule = rule if isinstance(rule, dict) else {}
    f = rule.get("filter") if isinstance(rule.get("filter"), dict) else {}

    def listed(value: Any) -> list[str]:
        if isinstance(value, str):
            return _split(value)
        return [str(v) for v in value] if isinstance(value, list | tuple) else []

    shares = rule.get("shares") if isinstance(rule.get("shares"), dict) else {}
    return {
        "name": str(rule.get("name") or ""),
        "method": str(rule.get("method") or "round_robin"),
        "previous_holder": str(rule.get("previous_holder") or "any"),
        **{key: "" if f.get(key) is None else str(f.get(key)) for key in _FILTER_NUMBERS},
        **{key: ", ".join(listed(f.get(key))) for key in _FILTER_TEXTS},
        "buckets": listed(f.get("buckets")),
        "previous": listed(f.get("previous")),
        "targets": listed(rule.get("targets")),
        "shares": {str(k): str(v) for k, v in shares.items()},
    }


def _rule_problems(exc: DomainError) -> dict[str, str]:
    """The parser's problems by place (``rules[1].filter.dpd_max``), in the reader's language."""
    problems = (exc.details or {}).get("problems") if isinstance(exc.details, dict) else None
    if not problems:
        return {"rules": str(exc.message)}
    out: dict[str, str] = {}
    for p in problems:
        where, why = str(p.get("field")), problem_text(str(p.get("reason")))
        out[where] = f"{out[where]}; {why}" if where in out else why
    return out


def describe_rule(rule: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:  # noqa: C901
    """One stored rule in words: which cases, how they are spread, to whom."""
    f = rule.get("filter") or {}

    def who(keys: list[str]) -> str:
        return ", ".join(names.get(k, k) for k in keys)

    when: list[str] = []
    lo, hi = f.get("dpd_min"), f.get("dpd_max")
    if lo is not None and hi is not None:
        when.append(_("%(lo)s to %(hi)s days past due", lo=lo, hi=hi))
    elif lo is not None:
        when.append(_("at least %(n)s days past due", n=lo))
    elif hi is not None:
        when.append(_("at most %(n)s days past due", n=hi))
    if f.get("buckets"):
        when.append(_("bucket %(values)s", values=", ".join(f["buckets"])))
    lo, hi = f.get("amount_min"), f.get("amount_max")
    if lo is not None and hi is not None:
        when.append(_("outstanding %(lo)s to %(hi)s", lo=lo, hi=hi))
    elif lo is not None:
        when.append(_("outstanding at least %(n)s", n=lo))
    elif hi is not None:
        when.append(_("outstanding at most %(n)s", n=hi))
    if f.get("products"):
        when.append(_("product %(values)s", values=", ".join(f["products"])))
    if f.get("provinces"):
        when.append(_("province %(values)s", values=", ".join(f["provinces"])))
    if f.get("cities"):
        when.append(_("city %(values)s", values=", ".join(f["cities"])))
    if f.get("tags"):
        when.append(_("tagged %(values)s", values=", ".join(f["tags"])))
    if f.get("previous"):
        before = [k for k in f["previous"] if k != NEVER_HELD]
        held = [_("held before by %(names)s", names=who(before))] if before else []
        if NEVER_HELD in f["previous"]:
            held.append(_("never held before"))
        when.append(_("%(one)s or %(other)s", one=held[0], other=held[1]) if len(held) > 1 else held[0])
    targets = rule.get("targets") or []
    shares = rule.get("shares") or {}
    return {
        "name": rule.get("name", ""),
        "when": when or [_("every case")],
        "method": str(METHOD_LABELS.get(rule.get("method", ""), rule.get("method", ""))),
        "targets": who(targets) if targets else _("every target of the run"),
        "shares": [f"{names.get(k, k)} {v}%" for k, v in shares.items()],
        "previous_holder": ""
        if rule.get("previous_holder", "any") == "any"
        else str(PREVIOUS_LABELS.get(rule["previous_holder"], rule["previous_holder"])),
    }


# --- forms ---------------------------------------------------------------------------------------------


class StrategyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    note = StringField(_l("What changed and why"), validators=[Optional(), Length(max=500)])
    rules_json = TextAreaField(
        _l("Rules as JSON (optional; when given it replaces the rules above)"),
        validators=[Optional(), Length(max=200_000)],
    )


class RunForm(FlaskForm):
    strategy_id = SelectField(_l("Strategy"), coerce=int, default=0)
    method = SelectField(_l("One-off rule: how to spread"), default="round_robin")
    previous_holder = SelectField(_l("Previous holder"), default="any")
    dpd_min = IntegerField(_l("Days past due from"), validators=[Optional(), NumberRange(min=0)])
    dpd_max = IntegerField(_l("to"), validators=[Optional(), NumberRange(min=0)])
    amount_min = StringField(_l("Amount from"), validators=[Optional(), Length(max=20)])
    amount_max = StringField(_l("to"), validators=[Optional(), Length(max=20)])
    product = StringField(_l("Product"), validators=[Optional(), Length(max=64)])
    province = StringField(_l("Province"), validators=[Optional(), Length(max=32)])
    city = StringField(_l("City"), validators=[Optional(), Length(max=32)])
    holding = SelectField(_l("Held"), default="")
    case_ids = HiddenField()
    starts_on = DateField(_l("Placement starts"), validators=[Optional()])
    ends_on = DateField(_l("Placement ends"), validators=[Optional()])


class SubmitRunForm(FlaskForm):
    reason = TextAreaField(_l("Note for the reviewer"), validators=[Optional(), Length(max=1000)])


def _amount_field(field: Any) -> Decimal | None:
    raw = (field.data or "").strip()
    if not raw:
        return None
    value = as_decimal(raw)
    if value is None or value < 0:
        field.errors = [*list(field.errors), _("Enter an amount.")]
        return None
    return value


def _ids(raw: str | list[str]) -> list[int]:
    values = raw if isinstance(raw, list) else raw.replace(",", " ").split()
    out = []
    for v in values:
        for part in str(v).replace(",", " ").split():
            if part.isdigit():
                out.append(int(part))
    return sorted(set(out))


def _all(stmt: Any) -> list[Any]:
    return list(db.session.scalars(stmt))


def _case_endpoint() -> str:
    """Where a case link goes: the console's case page, or this module's allocation history."""
    return ep("case_detail") if has_view("case_detail") else ep("case_allocations")


# --- the pages -----------------------------------------------------------------------------------------


pages = Blueprint("allocation", __name__, template_folder="templates")


def install(console: Blueprint) -> None:
    """Nest the allocation pages in ``console``, their navigation entries before the approvals."""
    nest(console, pages)
    add_nav(
        console,
        pages,
        [
            NavItem("strategies", _l("Strategies"), "cases.dispatch"),
            NavItem("runs", _l("Allocation runs"), "cases.dispatch"),
        ],
        before="approvals.approvals",
    )


def render(template: str, **context: Any) -> str:
    return render_template(
        template,
        level_labels=LEVEL_LABELS,
        method_labels=METHOD_LABELS,
        previous_labels=PREVIOUS_LABELS,
        run_status_labels=RUN_STATUS_LABELS,
        run_status_colours=RUN_STATUS_COLOURS,
        result_status_labels=RESULT_STATUS_LABELS,
        reason_text=reason_text,
        shown_status=allocation_log.shown_status,
        case_endpoint=_case_endpoint(),
        levels=allowed_levels(current_actor()),
        **context,
    )


# --- strategies -------------------------------------------------------------------------------------


@pages.route("/allocation/strategies")
@_allocator_required
def strategies():
    me = current_actor()
    archived = request.args.get("archived") == "1"
    levels = allowed_levels(me)
    found = [s for s in _all(strategy_service.listing(me, archived=archived)) if s.level in levels]
    return render("allocation/strategies.html", strategies=found, archived=archived)


@pages.route("/allocation/strategy-log")
@_allocator_required
def strategy_log():
    me = current_actor()
    levels = allowed_levels(me)
    entries = [v for v in strategy_service.change_log(me) if v.strategy.level in levels]
    return render("allocation/strategy_log.html", entries=entries)


def _names(level: AllocationLevel) -> dict[str, str]:
    return {t.key: t.name for t in allocation_log.targets_for(current_actor(), level)}


def _editor(
    form: StrategyForm,
    level: AllocationLevel,
    rules: list[dict[str, Any]],
    problems: dict[str, str],
    strategy: AllocationStrategy | None,
) -> str:
    choices = allocation_log.targets_for(current_actor(), level)
    names = {t.key: t.name for t in choices}
    used = {k for r in rules for k in [*r["targets"], *r["previous"], *r["shares"]] if k != NEVER_HELD}
    extra = sorted(k for k in used if k not in names)  # named by the rules, not a target now
    targets = [(t.key, t.name) for t in choices] + [
        (k, _("%(key)s (not available now)", key=k)) for k in extra
    ]
    return render(
        "allocation/strategy_form.html",
        form=form,
        level=level,
        strategy=strategy,
        rules=rules,
        problems=problems,
        targets=targets,
        buckets=BUCKETS,
        methods=METHODS,
        previous_options=PREVIOUS,
        never_held=NEVER_HELD,
        blank=editable({}),
        readable=[describe_rule(r, names) for r in (strategy.rules if strategy else [])],
        confirm=ConfirmForm(),
    )


def _strategy_post(  # noqa: C901
    form: StrategyForm, level: AllocationLevel, strategy: AllocationStrategy | None
) -> tuple[Any, list[dict[str, Any]], dict[str, str]]:
    """Handle a POST of the strategy form: editing moves (add, remove, up, down) re-show the form;
    save checks and saves. Returns (response or None, rules to show, problems)."""
    raw = rules_from_form(request.form)
    action = request.form.get("action", "save")
    op, _sep, at = action.partition(":")
    index = int(at) if at.isdigit() else -1
    if op == "add":
        raw.append({"name": "", "filter": {}, "method": "round_robin"})
        return None, [editable(r) for r in raw], {}
    if op in ("remove", "up", "down") and 0 <= index < len(raw):
        if op == "remove":
            raw.pop(index)
        elif op == "up" and index > 0:
            raw[index - 1], raw[index] = raw[index], raw[index - 1]
        elif op == "down" and index < len(raw) - 1:
            raw[index + 1], raw[index] = raw[index], raw[index + 1]
        return None, [editable(r) for r in raw], {}
    problems: dict[str, str] = {}
    submitted: Any = raw
    if (form.rules_json.data or "").strip():
        try:
            submitted = json.loads(form.rules_json.data or "")
        except ValueError:
            form.rules_json.errors = [*list(form.rules_json.errors), _("This is not valid JSON.")]
            return None, [editable(r) for r in raw], {}
    shown = [editable(r) for r in submitted] if isinstance(submitted, list) else [editable(r) for r in raw]
    try:
        strategy_service.checked_rules(submitted)
    except ValidationFailed as exc:
        problems = _rule_problems(exc)
    if not form.validate_on_submit() or problems:
        if problems:
            flash(_("The rules are not valid: see the marked fields."), "danger")
        return None, shown, problems
    version_before = strategy.version if strategy is not None else None
    try:
        saved = strategy_service.save(
            current_actor(),
            strategy=strategy,
            name=form.name.data or "",
            level=level,
            rules=submitted,
            note=form.note.data or "",
        )
    except ValidationFailed as exc:
        if exc.field == "rules":
            flash(_("The rules are not valid: see the marked fields."), "danger")
            return None, shown, _rule_problems(exc)
        show_error(form, exc)
        return None, shown, {}
    except DomainError as exc:
        show_error(form, exc)
        return None, shown, {}
    if saved.version == version_before:
        flash(_("Nothing changed: no new version."), "info")
    else:
        flash(_("The strategy was saved (version %(n)d).", n=saved.version), "success")
    return redirect(url_for(ep("strategy_edit"), strategy_id=saved.id)), shown, {}


@pages.route("/allocation/strategies/new", methods=["GET", "POST"])
@_allocator_required
def strategy_new():
    level = _level_arg(request.args.get("level"))
    form = StrategyForm()
    rules = [editable({"name": _("Everything"), "method": "round_robin"})]
    problems: dict[str, str] = {}
    if request.method == "POST":
        response, rules, problems = _strategy_post(form, level, None)
        if response is not None:
            return response
    return _editor(form, level, rules, problems, None)


@pages.route("/allocation/strategies/<int:strategy_id>", methods=["GET", "POST"])
@_allocator_required
def strategy_edit(strategy_id: int):
    strategy = get_strategy_for(current_actor(), strategy_id)
    _check_level(strategy.level)
    form = StrategyForm()
    rules = [editable(r) for r in strategy.rules]
    problems: dict[str, str] = {}
    if request.method == "GET":
        form.name.data = strategy.name
    else:
        response, rules, problems = _strategy_post(form, strategy.level, strategy)
        if response is not None:
            return response
    return _editor(form, strategy.level, rules, problems, strategy)


@pages.route("/allocation/strategies/<int:strategy_id>/versions")
@_allocator_required
def strategy_versions(strategy_id: int):
    strategy = get_strategy_for(current_actor(), strategy_id)
    _check_level(strategy.level)
    names = _names(strategy.level)
    versions = strategy_service.versions(strategy)
    return render(
        "allocation/strategy_versions.html",
        strategy=strategy,
        versions=[(v, [describe_rule(r, names) for r in v.rules]) for v in versions],
    )


@pages.route("/allocation/strategies/<int:strategy_id>/archive", methods=["POST"])
@_allocator_required
def strategy_archive(strategy_id: int):
    me = current_actor()
    strategy = get_strategy_for(me, strategy_id)
    _check_level(strategy.level)
    if ConfirmForm().validate_on_submit():
        try:
            strategy_service.archive(me, strategy, archived=not strategy.archived)
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(
                _("The strategy was archived.") if strategy.archived else _("The strategy was restored."),
                "success",
            )
    return redirect(url_for(ep("strategy_edit"), strategy_id=strategy.id))


# --- runs -------------------------------------------------------------------------------------------


@pages.route("/allocation/runs")
@_allocator_required
def runs():
    me = current_actor()
    status_arg = request.args.get("status", "")
    status = RunStatus(status_arg) if status_arg in {s.value for s in RunStatus} else None
    page = db.paginate(
        allocation_log.runs(me, levels=allowed_levels(me), status=status),
        page=max(1, request.args.get("page", 1, type=int) or 1),
        per_page=30,
        error_out=False,
    )
    return render("allocation/runs.html", page=page, status=status_arg)


def _run_form(form: RunForm, level: AllocationLevel) -> None:
    me = current_actor()
    chosen = [
        (s.id, f"{s.name} (v{s.version})") for s in _all(strategy_service.listing(me)) if s.level == level
    ]
    form.strategy_id.choices = [(0, _("— a one-off rule (below) —")), *chosen]
    form.method.choices = [(m, str(METHOD_LABELS[m])) for m in METHODS if m != "fixed_shares"]
    form.previous_holder.choices = [(p, str(PREVIOUS_LABELS[p])) for p in PREVIOUS]
    holdings = ("unplaced", "inhouse") if level == AllocationLevel.PLACEMENT else ()
    form.holding.choices = [("", _("any"))] + [(h, str(HOLDING_LABELS[h])) for h in holdings]


@pages.route("/allocation/runs/new", methods=["GET", "POST"])
@_allocator_required
def run_new():  # noqa: C901
    me = current_actor()
    level = _level_arg(request.values.get("level"))
    today = business_date(me.org)
    if request.method == "GET":
        form = RunForm(formdata=request.args)
        form.case_ids.data = ",".join(str(i) for i in _ids(request.args.getlist("case_ids")))
        if level == AllocationLevel.PLACEMENT:
            form.starts_on.data = form.starts_on.data or today
            form.ends_on.data = form.ends_on.data or today + dt.timedelta(days=90)
    else:
        form = RunForm()
    _run_form(form, level)
    if request.method == "GET" and form.strategy_id.data not in dict(form.strategy_id.choices):
        form.strategy_id.data = 0
    on = form.starts_on.data if level == AllocationLevel.PLACEMENT and form.starts_on.data else today
    choices = allocation_log.targets_for(me, level, on)
    chosen_targets = (
        {t.id for t in choices} if request.method == "GET" else set(_ids(request.form.getlist("target")))
    )
    target_errors: list[str] = []
    if request.method == "POST" and form.validate_on_submit():
        scope = CaseFilter(
            dpd_min=form.dpd_min.data,
            dpd_max=form.dpd_max.data,
            amount_min=_amount_field(form.amount_min),
            amount_max=_amount_field(form.amount_max),
            product=form.product.data or None,
            province=form.province.data or None,
            city=form.city.data or None,
            holding=form.holding.data if form.holding.data in HOLDINGS else None,
        )
        targets = [
            {
                "id": t.id,
                "cap": (request.form.get(f"cap-{t.id}") or "").strip() or None,
                "regions": _split(request.form.get(f"regions-{t.id}") or ""),
            }
            for t in choices
            if t.id in chosen_targets
        ]
        if not targets:
            target_errors.append(_("Choose at least one target."))
        if level == AllocationLevel.PLACEMENT and form.ends_on.data is None:
            form.ends_on.errors = [*list(form.ends_on.errors), _("Give the end date of the placement.")]
        has_errors = bool(target_errors) or any(f.errors for f in form)
        if not has_errors:
            strategy = None
            if form.strategy_id.data:
                strategy = get_strategy_for(me, form.strategy_id.data)
            case_ids = _ids(form.case_ids.data or "")
            try:
                run = allocation_service.preview(
                    me,
                    level=level,
                    strategy=strategy,
                    rules=None
                    if strategy
                    else [
                        {
                            "name": _("One-off rule"),
                            "method": form.method.data or "round_robin",
                            "previous_holder": form.previous_holder.data or "any",
                        }
                    ],
                    scope=scope,
                    case_ids=case_ids or None,
                    targets=targets,
                    starts_on=form.starts_on.data if level == AllocationLevel.PLACEMENT else None,
                    ends_on=form.ends_on.data if level == AllocationLevel.PLACEMENT else None,
                )
            except DomainError as exc:
                if exc.field == "targets":
                    target_errors.append(str(exc.message))
                    flash(str(exc.message), "danger")
                elif exc.field in ("rules", "strategy"):
                    form.strategy_id.errors = [*list(form.strategy_id.errors), str(exc.message)]
                    flash(str(exc.message), "danger")
                else:
                    show_error(form, exc)
            else:
                flash(_("The preview is ready: nothing has changed yet."), "success")
                return redirect(url_for(ep("run_detail"), run_id=run.id))
    return render(
        "allocation/run_form.html",
        form=form,
        level=level,
        choices=choices,
        chosen_targets=chosen_targets,
        target_errors=target_errors,
        selected=_ids(form.case_ids.data or ""),
        caps={t.id: request.form.get(f"cap-{t.id}", "") for t in choices},
        regions={t.id: request.form.get(f"regions-{t.id}", "") for t in choices},
    )


def _run(run_id: int) -> AllocationRun:
    run = get_run_for(current_actor(), run_id)
    _check_level(run.level)
    return run


@pages.route("/allocation/runs/<int:run_id>")
@_allocator_required
def run_detail(run_id: int):
    me = current_actor()
    run = _run(run_id)
    job = None
    if run.job_id:
        try:
            job = get_job_for(me, run.job_id)
        except NotFound:
            job = None
    names = {
        f"{'agency' if run.level == AllocationLevel.PLACEMENT else 'user'}:{k}": v
        for k, v in allocation_log.target_names(run).items()
    }
    summary = dict(run.summary or {})
    summary["amount"] = Decimal(str(summary.get("amount", "0")))
    summary["targets"] = [
        {**t, "amount": Decimal(str(t.get("amount", "0")))} for t in summary.get("targets", [])
    ]
    samples = [i for t in summary.get("targets", []) for i in t.get("sample", [])]
    needs = allocation_service.needs_approval(run)
    return render(
        "allocation/run_detail.html",
        run=run,
        job=job,
        eager=is_eager(),
        summary=summary,
        counts=allocation_log.status_counts(run),
        loan_numbers=case_service_loan_numbers(samples),
        rules=[describe_rule(r, names) for r in run.rules or []],
        needs_approval=needs,
        can_submit=run.status == RunStatus.PREVIEWED and needs,
        can_apply=run.status == RunStatus.APPROVED or (run.status == RunStatus.PREVIEWED and not needs),
        can_discard=run.status in (RunStatus.PREVIEWED, RunStatus.APPROVED),
        placements=allocation_log.placements_of(run),
        placement_endpoint=ep("placement_detail")
        if ep("placement_detail") in current_app.view_functions
        else None,
        submit_form=SubmitRunForm(),
        confirm=ConfirmForm(),
    )


@pages.route("/allocation/runs/<int:run_id>/submit", methods=["POST"])
@_allocator_required
def run_submit(run_id: int):
    me = current_actor()
    run = _run(run_id)
    form = SubmitRunForm()
    if form.validate_on_submit():
        try:
            approval = allocation_service.submit(me, run, form.reason.data or "")
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("The preview was sent for approval (request %(id)d).", id=approval.id), "success")
    else:
        flash(_("The data is not valid."), "danger")
    return redirect(url_for(ep("run_detail"), run_id=run.id))


@pages.route("/allocation/runs/<int:run_id>/apply", methods=["POST"])
@_allocator_required
def run_apply(run_id: int):
    me = current_actor()
    run = _run(run_id)
    if ConfirmForm().validate_on_submit():
        try:
            allocation_service.start_apply(me, run)
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("The run is being applied."), "success")
    return redirect(url_for(ep("run_detail"), run_id=run.id))


@pages.route("/allocation/runs/<int:run_id>/discard", methods=["POST"])
@_allocator_required
def run_discard(run_id: int):
    me = current_actor()
    run = _run(run_id)
    if ConfirmForm().validate_on_submit():
        try:
            allocation_service.discard(me, run)
        except DomainError as exc:
            flash(str(exc.message), "danger")
        else:
            flash(_("The run was discarded."), "success")
    return redirect(url_for(ep("run_detail"), run_id=run.id))


@pages.route("/allocation/runs/<int:run_id>/results")
@_allocator_required
def run_results(run_id: int):
    run = _run(run_id)
    status_arg = request.args.get("status", "")
    status = ResultStatus(status_arg) if status_arg in {s.value for s in ResultStatus} else None
    names = allocation_log.target_names(run)
    target_arg = request.args.get("target", type=int)
    target_id = target_arg if target_arg in names else None
    after = request.args.get("after", type=int)
    rows, next_after = allocation_log.results(run, status=status, target_id=target_id, after=after)
    args = {k: v for k, v in request.args.items() if k != "after" and v}
    return render(
        "allocation/run_results.html",
        run=run,
        rows=rows,
        names=names,
        rule_names=allocation_log.rule_names(run),
        status=status_arg,
        target_id=target_id,
        counts=allocation_log.status_counts(run),
        next_url=url_for(ep("run_results"), run_id=run.id, after=next_after, **args)  # type: ignore[arg-type]
        if next_after
        else None,
        first_url=url_for(ep("run_results"), run_id=run.id, **args) if after else None,  # type: ignore[arg-type]
    )


@pages.route("/allocation/cases/<int:case_id>")
@_allocator_required
def case_allocations(case_id: int):
    me = current_actor()
    case = get_case_for(me, case_id)
    rows = allocation_log.case_results(me, case)
    return render(
        "allocation/case_allocations.html",
        case=case,
        rows=[(r, run, allocation_log.target_names(run), allocation_log.rule_names(run)) for r, run in rows],
    )
