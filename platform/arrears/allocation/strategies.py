"""Allocation strategies (分案策略): named, ordered rule lists, versioned.

Every save that changes the rules is a new version, stored whole, with who, when, a note and the
readable difference from the version before (策略调整日志). A run records the strategy version it ran,
so a result log always says which rules produced it. Strategies are archived, never deleted: old runs
point at them.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import Select, func, select

from arrears.allocation.models import AllocationLevel, AllocationStrategy, AllocationStrategyVersion
from arrears.allocation.rules import RulesInvalid, describe_changes, dump_rules, parse_rules
from arrears.auth.models import User
from arrears.auth.principal import require
from arrears.columns import utcnow
from arrears.errors import Conflict, NotFound, ValidationFailed
from arrears.extensions import db
from arrears.kernel import audit
from arrears.kernel.transaction import transaction
from arrears.tenancy.models import OrgKind


def _require(actor: User, level: AllocationLevel) -> None:
    if level == AllocationLevel.PLACEMENT:
        if actor.org.kind != OrgKind.ASSET_OWNER:
            raise NotFound(_("Not found."))
        require(actor, "placements.manage")
    else:
        require(actor, "cases.dispatch")


def levels_for(actor: User) -> list[AllocationLevel]:
    """The levels an organisation's strategies work at: an owner places and dispatches in-house; an
    agency dispatches."""
    if actor.org.kind == OrgKind.ASSET_OWNER:
        return [AllocationLevel.PLACEMENT, AllocationLevel.DISPATCH]
    return [AllocationLevel.DISPATCH]


def listing(actor: User, *, archived: bool = False) -> Select[tuple[AllocationStrategy]]:
    return (
        select(AllocationStrategy)
        .where(AllocationStrategy.org_id == actor.org_id, AllocationStrategy.archived.is_(archived))
        .order_by(AllocationStrategy.level, AllocationStrategy.name)
    )


def versions(strategy: AllocationStrategy) -> list[AllocationStrategyVersion]:
    return list(
        db.session.scalars(
            select(AllocationStrategyVersion)
            .where(AllocationStrategyVersion.strategy_id == strategy.id)
            .order_by(AllocationStrategyVersion.version.desc())
        )
    )


def change_log(actor: User, limit: int = 200) -> list[AllocationStrategyVersion]:
    """Every version of every strategy of the organisation, newest first (策略调整日志)."""
    return list(
        db.session.scalars(
            select(AllocationStrategyVersion)
            .where(AllocationStrategyVersion.org_id == actor.org_id)
            .order_by(AllocationStrategyVersion.id.desc())
            .limit(limit)
        )
    )


def checked_rules(raw: Any) -> list[dict[str, Any]]:
    """The canonical form of submitted rules, or ``ValidationFailed`` naming every problem with its
    place (``rules[1].filter.dpd_max: not below the minimum``)."""
    try:
        parsed = parse_rules(raw)
    except RulesInvalid as exc:
        raise ValidationFailed(
            _("The rules are not valid: %(problems)s", problems=str(exc)),
            field="rules",
            details={"problems": [{"field": w, "reason": r} for w, r in exc.problems]},
        )
    names = [r.name.casefold() for r in parsed]
    twice = sorted({r.name for r in parsed if names.count(r.name.casefold()) > 1})
    if twice:
        raise ValidationFailed(
            _("Each rule needs its own name: %(names)s", names=", ".join(twice)), field="rules"
        )
    return dump_rules(parsed)


def save(
    actor: User,
    *,
    strategy: AllocationStrategy | None,
    name: str,
    level: AllocationLevel | None = None,
    rules: Any,
    note: str = "",
) -> AllocationStrategy:
    """Create a strategy (version 1) or change one (a new version when the rules or the name change)."""
    level = strategy.level if strategy is not None else level
    if level is None:
        raise ValidationFailed(_("Choose the level."), field="level")
    if level not in levels_for(actor):
        raise ValidationFailed(_("This organisation cannot run strategies at that level."), field="level")
    _require(actor, level)
    name = (name or "").strip()
    if not name:
        raise ValidationFailed(_("The name is required."), field="name")
    if len(name) > 120:
        raise ValidationFailed(_("The name is too long (at most 120 characters)."), field="name")
    canonical = checked_rules(rules)
    with transaction():
        clash = db.session.scalar(
            select(AllocationStrategy.id).where(
                AllocationStrategy.org_id == actor.org_id,
                func.lower(AllocationStrategy.name) == name.lower(),
                AllocationStrategy.id != (strategy.id if strategy else -1),
            )
        )
        if clash is not None:
            raise Conflict(_("A strategy named %(name)s exists already.", name=name), field="name")
        if strategy is None:
            strategy = AllocationStrategy(name=name, level=level, version=1, rules=canonical)
            db.session.add(strategy)
            db.session.flush()
            changes = [f"created with {len(canonical)} rules"]
        else:
            if strategy.archived:
                raise Conflict(_("This strategy is archived."))
            changes = describe_changes(strategy.rules, canonical)
            if strategy.name != name:
                changes.insert(0, f"renamed “{strategy.name}” → “{name}”")
            if not changes:
                return strategy  # nothing changed: no new version
            strategy.version += 1
            strategy.name, strategy.rules, strategy.updated_at = name, canonical, utcnow()
        db.session.add(
            AllocationStrategyVersion(
                strategy_id=strategy.id,
                version=strategy.version,
                rules=canonical,
                changes=changes,
                note=(note or "").strip()[:500],
                created_by_id=actor.id,
            )
        )
        db.session.flush()
        audit.record(
            "strategy.saved",
            actor=actor,
            target=strategy,
            details={"name": name, "version": strategy.version, "changes": changes[:50]},
        )
    return strategy


def archive(actor: User, strategy: AllocationStrategy, *, archived: bool = True) -> AllocationStrategy:
    _require(actor, strategy.level)
    with transaction():
        strategy.archived = archived
        strategy.updated_at = utcnow()
        audit.record("strategy.archived" if archived else "strategy.restored", actor=actor, target=strategy)
    return strategy
