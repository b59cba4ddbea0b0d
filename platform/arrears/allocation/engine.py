"""The allocation engine: one for both levels (owner → agencies, agency → collectors).

Pure and deterministic: the same cases, rules and targets give the same plan, which is what lets a
preview be stored and applied later exactly as it was seen. Rules are tried in order: a rule takes the
cases its filter matches that no earlier rule placed, and spreads them by its method; a case it cannot
place (every eligible target full, only the excluded previous holder left, no target covering its
region) falls through to the later rules. What no rule takes stays unallocated, with the reason.

Methods (``Rule.method``):

* ``round_robin`` — equal count: each case to the eligible target holding the fewest cases (the run's
  and, when given, its current portfolio), ties in target order. Counts end at most one apart.
* ``balanced_amount`` — largest case first, each to the target with the least amount held. Loads end
  within the largest single case of each other.
* ``fixed_shares`` — counts in proportion to the rule's shares (percent), dealt smoothly (weighted fair
  queueing), so that a prefix of the cases is already in proportion.
* ``performance`` — like shares, weighted by each target's recovery rate (equal weights while nobody
  has a rate yet).
* ``region`` — each case to a target covering its city or province (fewest cases first).

``previous_holder``: ``keep`` gives a case back to the target that held it before when that target is
eligible and has room; ``exclude`` never gives it to that target (recycling to someone new).
Capacities (``Target.cap``) are for the whole run and hold under every method.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import attrgetter
from typing import NamedTuple

from arrears.allocation.rules import Filter, Rule

# Why a case stayed unallocated (stable codes; the consoles translate them).
NO_RULE = "no rule matches"
FULL = "every eligible target is full"
NO_TARGET = "no eligible target"
NO_REGION = "no target covers the region"


class Item(NamedTuple):
    """A case as the engine sees it (a named tuple: a preview builds one per case, 100,000 at a time,
    and a tuple is built several times faster than a frozen dataclass)."""

    id: int
    dpd: int
    bucket: str
    amount: Decimal
    product: str = ""
    province: str = ""
    city: str = ""
    tags: tuple[str, ...] = ()
    previous: str | None = None  # the key of the target that held it last, if any


@dataclass(frozen=True)
class Target:
    key: str  # "agency:12", "user:34"
    cap: int | None = None  # most cases this run may give it
    regions: frozenset[str] = frozenset()  # provinces and cities it covers (region method)
    performance: Decimal = Decimal(0)  # recovery rate over the window (performance method)
    load_count: int = 0  # cases it holds already (balancing counts them)
    load_amount: Decimal = Decimal(0)


@dataclass
class Plan:
    placed: dict[int, tuple[str, int]] = field(default_factory=dict)  # case id -> (target, rule index)
    unallocated: dict[int, str] = field(default_factory=dict)  # case id -> reason

    def by_target(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {}
        for case_id, (target, _rule) in self.placed.items():
            out.setdefault(target, []).append(case_id)
        return out


class _State:
    """Loads and remaining capacities of the targets, shared by every rule of the run."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self.order = {t.key: i for i, t in enumerate(targets)}
        self.by_key = {t.key: t for t in targets}
        self.room = {t.key: (t.cap if t.cap is not None else -1) for t in targets}  # -1: unlimited
        self.count = {t.key: t.load_count for t in targets}
        self.amount = {t.key: t.load_amount for t in targets}

    def has_room(self, key: str) -> bool:
        return self.room[key] != 0


def allocate(items: Iterable[Item], rules: Sequence[Rule], targets: Sequence[Target]) -> Plan:
    state = _State(targets)
    plan = Plan()
    pending = sorted(items, key=attrgetter("id"))
    reasons: dict[int, str] = {}
    for index, rule in enumerate(rules):
        if not pending:
            break
        # a rule without a filter takes everything left (no call per case)
        taken = pending if rule.filter == _EVERY_CASE else list(filter(rule.filter.matches, pending))
        if not taken:
            continue
        eligible = [t.key for t in targets if not rule.targets or t.key in rule.targets]
        if rule.method == "fixed_shares":
            eligible = [k for k in eligible if rule.shares.get(k, Decimal(0)) > 0]
        left = _apply_rule(rule, index, taken, eligible, state, plan)
        reasons.update(left)
        if len(left) < len(taken):  # some were placed: they leave the pending cases
            placed = plan.placed
            pending = [item for item in pending if item.id not in placed]
    for item in pending:
        plan.unallocated[item.id] = reasons.get(item.id, NO_RULE)
    return plan


_EVERY_CASE = Filter()


def _apply_rule(
    rule: Rule, index: int, items: list[Item], eligible: list[str], state: _State, plan: Plan
) -> dict[int, str]:
    """Place ``items`` by the rule's method; returns the ones it could not place, with the reason."""
    left: dict[int, str] = {}
    if not eligible:
        return {item.id: NO_TARGET for item in items}
    eligible_set = set(eligible)
    if rule.method == "balanced_amount":
        items = sorted(items, key=lambda i: (-i.amount, i.id))
    chooser = _chooser(rule, eligible, state)
    pick, took = chooser.pick, chooser.took
    keep, exclude = rule.previous_holder == "keep", rule.previous_holder == "exclude"
    room, count, amount, placed = state.room, state.count, state.amount, plan.placed
    for item in items:
        previous = item.previous
        if keep and previous in eligible_set and room[previous] != 0:
            key: str = previous  # in eligible_set: a key
        else:
            found, reason = pick(item, previous if exclude else None)
            if found is None:
                left[item.id] = reason
                continue
            key = found
        # the case is taken: one less room (when capped), one more case and its amount held
        if room[key] > 0:
            room[key] -= 1
        count[key] += 1
        amount[key] += item.amount
        took(key)
        placed[item.id] = (key, index)
    return left


class _Chooser:
    """Picks a target for one case; ``took`` is told what was picked (also by ``keep``)."""

    def pick(self, item: Item, avoid: str | None) -> tuple[str | None, str]:
        raise NotImplementedError

    def took(self, key: str) -> None:
        """``key`` received a case (from ``pick``, or kept with its previous holder)."""


class _HeapChooser(_Chooser):
    """The eligible target with the smallest priority: a heap of (priority, order, key). Priorities
    are read afresh (a popped entry whose priority moved is pushed back refreshed), so loads given
    through other rules or kept cases count. ``priority`` is the target's load (equal count, balanced
    amount) or its next virtual finish time ((given + 1) / weight: shares, performance)."""

    def __init__(self, eligible: list[str], state: _State, priority: Callable[[str], object]) -> None:
        self.state, self.priority = state, priority
        self.room, self.order = state.room, state.order
        self.heap = [(priority(k), state.order[k], k) for k in eligible]
        heapq.heapify(self.heap)

    def pick(self, item: Item, avoid: str | None) -> tuple[str | None, str]:
        heap, priority, room = self.heap, self.priority, self.room
        held: list[tuple[object, int, str]] = []
        found: str | None = None
        reason = FULL
        while heap:
            entry = heapq.heappop(heap)
            prio, order, key = entry
            now = priority(key)
            if prio != now:  # stale: its priority moved since it was pushed
                heapq.heappush(heap, (now, order, key))
                continue
            if room[key] == 0:
                continue  # full for the rest of the run: drop it
            if key == avoid:
                held.append(entry)
                reason = NO_TARGET
                continue
            found = key  # pushed back, refreshed, by ``took``
            break
        for entry in held:
            heapq.heappush(heap, entry)
        return found, (reason if found is None else "")

    def took(self, key: str) -> None:
        if self.room[key] != 0:
            heapq.heappush(self.heap, (self.priority(key), self.order[key], key))


def _weighted(weights: dict[str, Decimal], state: _State) -> _HeapChooser:
    """Weighted fair queueing over the rule's own counts."""
    given = dict.fromkeys(weights, 0)

    class _Counting(_HeapChooser):
        def took(self, key: str) -> None:
            given[key] += 1
            super().took(key)

    return _Counting(list(weights), state, lambda k: Decimal(given[k] + 1) / weights[k])


class _RegionChooser(_Chooser):
    def __init__(self, eligible: list[str], state: _State) -> None:
        self.state = state
        self.covering: dict[str, list[str]] = {}
        for key in eligible:
            for region in state.by_key[key].regions:
                self.covering.setdefault(region, []).append(key)

    def pick(self, item: Item, avoid: str | None) -> tuple[str | None, str]:
        candidates = self.covering.get(item.city, []) + self.covering.get(item.province, [])
        if not candidates:
            return None, NO_REGION
        usable = [k for k in candidates if k != avoid and self.state.has_room(k)]
        if not usable:
            return None, FULL if any(k != avoid for k in candidates) else NO_TARGET
        return min(usable, key=lambda k: (self.state.count[k], self.state.order[k])), ""


def _chooser(rule: Rule, eligible: list[str], state: _State) -> _Chooser:
    if rule.method == "balanced_amount":
        return _HeapChooser(eligible, state, state.amount.__getitem__)
    if rule.method == "fixed_shares":
        return _weighted({k: rule.shares[k] for k in eligible}, state)
    if rule.method == "performance":
        rates = {k: state.by_key[k].performance for k in eligible}
        if not any(r > 0 for r in rates.values()):
            rates = dict.fromkeys(eligible, Decimal(1))
        return _weighted({k: r for k, r in rates.items() if r > 0}, state)
    if rule.method == "region":
        return _RegionChooser(eligible, state)
    return _HeapChooser(eligible, state, state.count.__getitem__)
