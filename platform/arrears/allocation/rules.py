"""The rules of an allocation strategy (分案策略), as stored (JSON) and as the engine uses them.

A strategy is an ordered list of rules. Each rule has a filter (which cases it takes) and a method (how
it spreads them over its targets)::

    {"name": "M1 small", "filter": {"dpd_min": 1, "dpd_max": 30, "amount_max": "5000"},
     "method": "round_robin", "targets": [], "previous_holder": "exclude"}

``parse_rules`` checks a whole list and reports every problem with its place (``rules[2].filter.dpd_min``)
so the console and the API can show them next to the field; ``describe_changes`` says in words what
changed between two versions (the strategy change log).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from arrears.kernel.money import as_decimal

METHODS = ("round_robin", "balanced_amount", "fixed_shares", "region", "performance")
PREVIOUS = ("any", "keep", "exclude")
BUCKETS = ("M0", "M1", "M2", "M3", "M4+")
NEVER_HELD = "none"  # in ``filter.previous``: cases nobody held before


class RulesInvalid(ValueError):
    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{where}: {why}" for where, why in problems))
        self.problems = problems


@dataclass(frozen=True)
class Filter:
    dpd_min: int | None = None
    dpd_max: int | None = None
    buckets: frozenset[str] = frozenset()
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    products: frozenset[str] = frozenset()
    provinces: frozenset[str] = frozenset()
    cities: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()  # any of them
    previous: frozenset[str] = frozenset()  # previous holders (target keys, or "none")

    def matches(self, item: Any) -> bool:
        if self.dpd_min is not None and item.dpd < self.dpd_min:
            return False
        if self.dpd_max is not None and item.dpd > self.dpd_max:
            return False
        if self.buckets and item.bucket not in self.buckets:
            return False
        if self.amount_min is not None and item.amount < self.amount_min:
            return False
        if self.amount_max is not None and item.amount > self.amount_max:
            return False
        if self.products and item.product not in self.products:
            return False
        if self.provinces and item.province not in self.provinces:
            return False
        if self.cities and item.city not in self.cities:
            return False
        if self.tags and not self.tags.intersection(item.tags):
            return False
        return not self.previous or (item.previous or NEVER_HELD) in self.previous


@dataclass(frozen=True)
class Rule:
    name: str
    filter: Filter = field(default_factory=Filter)
    method: str = "round_robin"
    targets: tuple[str, ...] = ()  # empty: every target of the run
    shares: dict[str, Decimal] = field(default_factory=dict)  # fixed_shares: target -> percent
    previous_holder: str = "any"  # keep with the previous holder, exclude it, or either


def _int(value: Any, where: str, problems: list[tuple[str, str]]) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError:
        problems.append((where, "a whole number"))
        return None
    if number < 0:
        problems.append((where, "not negative"))
        return None
    return number


def _amount(value: Any, where: str, problems: list[tuple[str, str]]) -> Decimal | None:
    if value is None or value == "":
        return None
    number = as_decimal(value)
    if number is None:
        problems.append((where, "an amount"))
        return None
    if number < 0:
        problems.append((where, "a non-negative amount"))
        return None
    return number


def _strings(value: Any, where: str, problems: list[tuple[str, str]]) -> frozenset[str]:
    if value is None or value == "":
        return frozenset()
    if isinstance(value, str):
        value = [v for v in value.replace("，", ",").split(",")]
    if not isinstance(value, list | tuple):
        problems.append((where, "a list"))
        return frozenset()
    return frozenset(str(v).strip() for v in value if str(v).strip())


def parse_rules(raw: Any, target_keys: set[str] | None = None) -> list[Rule]:  # noqa: C901, PLR0915
    """The rules of a stored or submitted strategy; ``RulesInvalid`` lists every problem. With
    ``target_keys``, rules may name only those targets (a run checks its strategy against its targets)."""
    problems: list[tuple[str, str]] = []
    if not isinstance(raw, list) or not raw:
        raise RulesInvalid([("rules", "at least one rule")])
    rules: list[Rule] = []
    for i, entry in enumerate(raw):
        at = f"rules[{i}]"
        if not isinstance(entry, dict):
            problems.append((at, "an object"))
            continue
        f = entry.get("filter") or {}
        if not isinstance(f, dict):
            problems.append((f"{at}.filter", "an object"))
            f = {}
        flt = Filter(
            dpd_min=_int(f.get("dpd_min"), f"{at}.filter.dpd_min", problems),
            dpd_max=_int(f.get("dpd_max"), f"{at}.filter.dpd_max", problems),
            buckets=_strings(f.get("buckets"), f"{at}.filter.buckets", problems),
            amount_min=_amount(f.get("amount_min"), f"{at}.filter.amount_min", problems),
            amount_max=_amount(f.get("amount_max"), f"{at}.filter.amount_max", problems),
            products=_strings(f.get("products"), f"{at}.filter.products", problems),
            provinces=_strings(f.get("provinces"), f"{at}.filter.provinces", problems),
            cities=_strings(f.get("cities"), f"{at}.filter.cities", problems),
            tags=_strings(f.get("tags"), f"{at}.filter.tags", problems),
            previous=_strings(f.get("previous"), f"{at}.filter.previous", problems),
        )
        if flt.dpd_min is not None and flt.dpd_max is not None and flt.dpd_min > flt.dpd_max:
            problems.append((f"{at}.filter.dpd_max", "not below the minimum"))
        if flt.amount_min is not None and flt.amount_max is not None and flt.amount_min > flt.amount_max:
            problems.append((f"{at}.filter.amount_max", "not below the minimum"))
        unknown = sorted(flt.buckets - set(BUCKETS))
        if unknown:
            problems.append((f"{at}.filter.buckets", "one of " + ", ".join(BUCKETS)))
        method = str(entry.get("method") or "round_robin")
        if method not in METHODS:
            problems.append((f"{at}.method", "one of " + ", ".join(METHODS)))
        previous = str(entry.get("previous_holder") or "any")
        if previous not in PREVIOUS:
            problems.append((f"{at}.previous_holder", "one of " + ", ".join(PREVIOUS)))
        targets = tuple(sorted(_strings(entry.get("targets"), f"{at}.targets", problems)))
        if target_keys is not None:
            strangers = [t for t in targets if t not in target_keys]
            if strangers:
                problems.append((f"{at}.targets", "not a target of this run: " + ", ".join(strangers)))
        shares: dict[str, Decimal] = {}
        if method == "fixed_shares":
            raw_shares = entry.get("shares") or {}
            if not isinstance(raw_shares, dict) or not raw_shares:
                problems.append((f"{at}.shares", "a share for each target"))
            else:
                for key, value in raw_shares.items():
                    share = _amount(value, f"{at}.shares.{key}", problems)
                    if share is not None and share > 0:
                        shares[str(key)] = share
                if shares and sum(shares.values()) != Decimal(100):
                    problems.append((f"{at}.shares", "shares adding up to 100"))
                if target_keys is not None:
                    strangers = [t for t in shares if t not in target_keys]
                    if strangers:
                        problems.append((f"{at}.shares", "not a target of this run: " + ", ".join(strangers)))
        name = str(entry.get("name") or f"Rule {i + 1}").strip()[:120]
        rules.append(Rule(name, flt, method, targets, shares, previous))
    if problems:
        raise RulesInvalid(problems)
    return rules


def dump_rules(rules: list[Rule]) -> list[dict[str, Any]]:  # noqa: C901
    """The stored (JSON) form: canonical, so that equal strategies compare equal."""
    out = []
    for rule in rules:
        f = rule.filter
        flt: dict[str, Any] = {}
        for key in ("dpd_min", "dpd_max"):
            if getattr(f, key) is not None:
                flt[key] = getattr(f, key)
        for key in ("amount_min", "amount_max"):
            if getattr(f, key) is not None:
                flt[key] = str(getattr(f, key))
        for key in ("buckets", "products", "provinces", "cities", "tags", "previous"):
            if getattr(f, key):
                flt[key] = sorted(getattr(f, key))
        entry: dict[str, Any] = {"name": rule.name, "filter": flt, "method": rule.method}
        if rule.targets:
            entry["targets"] = list(rule.targets)
        if rule.shares:
            entry["shares"] = {k: str(v) for k, v in sorted(rule.shares.items())}
        if rule.previous_holder != "any":
            entry["previous_holder"] = rule.previous_holder
        out.append(entry)
    return out


def describe_changes(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[str]:  # noqa: C901
    """What changed from one version to the next, one readable line per change (English, stable:
    the console shows them as recorded)."""
    lines: list[str] = []
    old_names = [r.get("name") for r in old]
    new_names = [r.get("name") for r in new]
    for name in new_names:
        if name not in old_names:
            lines.append(f"added rule “{name}”")
    for name in old_names:
        if name not in new_names:
            lines.append(f"removed rule “{name}”")
    kept = [n for n in new_names if n in old_names]
    if [n for n in old_names if n in kept] != kept:
        lines.append("reordered rules: " + " → ".join(f"“{n}”" for n in kept))
    by_old = {r.get("name"): r for r in old}
    for rule in new:
        before = by_old.get(rule.get("name"))
        if before is None:
            continue
        for key in sorted(set(before) | set(rule)):
            if key == "filter":
                fb, fa = before.get("filter", {}), rule.get("filter", {})
                for fk in sorted(set(fb) | set(fa)):
                    if fb.get(fk) != fa.get(fk):
                        lines.append(
                            f"“{rule['name']}”: filter {fk} {_show(fb.get(fk))} → {_show(fa.get(fk))}"
                        )
            elif before.get(key) != rule.get(key):
                lines.append(f"“{rule['name']}”: {key} {_show(before.get(key))} → {_show(rule.get(key))}")
    return lines


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in value.items()) + "}"
    return str(value)
