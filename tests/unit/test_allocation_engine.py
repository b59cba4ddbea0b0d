"""Properties of the allocation engine (hypothesis), and the rules' validation and change log."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arrears.allocation.engine import FULL, NO_REGION, NO_RULE, NO_TARGET, Item, Target, allocate
from arrears.allocation.rules import Filter, Rule, RulesInvalid, describe_changes, dump_rules, parse_rules

BUCKETS = ["M1", "M2", "M3", "M4+"]
PROVINCES = ["广东省", "浙江省", "四川省"]


@st.composite
def items(draw: st.DrawFn, max_size: int = 120) -> list[Item]:
    n = draw(st.integers(0, max_size))
    ids = draw(st.lists(st.integers(1, 10**6), min_size=n, max_size=n, unique=True))
    out = []
    for case_id in ids:
        dpd = draw(st.integers(0, 400))
        out.append(
            Item(
                id=case_id,
                dpd=dpd,
                bucket=BUCKETS[min(3, dpd // 31)],
                amount=Decimal(draw(st.integers(1, 5_000_000))) / 100,
                product=draw(st.sampled_from(["cash", "card", "car"])),
                province=draw(st.sampled_from(PROVINCES)),
                tags=tuple(
                    draw(st.lists(st.sampled_from(["vip", "dispute", "lost"]), max_size=2, unique=True))
                ),
                previous=draw(st.none() | st.sampled_from(["t0", "t1", "t2", "t3"])),
            )
        )
    return out


def targets(n: int, caps: list[int | None] | None = None) -> list[Target]:
    return [Target(f"t{i}", cap=(caps[i] if caps else None)) for i in range(n)]


@st.composite
def filters(draw: st.DrawFn) -> Filter:
    lo = draw(st.none() | st.integers(0, 200))
    hi = draw(st.none() | st.integers(200, 400))
    return Filter(
        dpd_min=lo,
        dpd_max=hi,
        amount_max=draw(st.none() | st.sampled_from([Decimal(1000), Decimal(20000)])),
        products=frozenset(draw(st.lists(st.sampled_from(["cash", "card", "car"]), max_size=2))),
        tags=frozenset(draw(st.lists(st.sampled_from(["vip", "dispute"]), max_size=1))),
    )


@st.composite
def strategies_(draw: st.DrawFn, n_targets: int) -> list[Rule]:
    rules = []
    for i in range(draw(st.integers(1, 3))):
        method = draw(st.sampled_from(["round_robin", "balanced_amount", "fixed_shares", "performance"]))
        subset = draw(
            st.lists(st.sampled_from([f"t{k}" for k in range(n_targets)]), max_size=n_targets, unique=True)
        )
        shares = {}
        if method == "fixed_shares":
            keys = subset or [f"t{k}" for k in range(n_targets)]
            cut = Decimal(100) / len(keys)
            shares = {k: cut for k in keys}
        rules.append(
            Rule(
                f"r{i}",
                draw(filters()),
                method,
                tuple(subset),
                shares,
                draw(st.sampled_from(["any", "keep", "exclude"])),
            )
        )
    return rules


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_case_once_caps_hold_filters_and_targets_respected(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 4))
    caps = data.draw(st.lists(st.none() | st.integers(0, 40), min_size=n, max_size=n))
    cases = data.draw(items())
    rules = data.draw(strategies_(n))
    plan = allocate(cases, rules, targets(n, caps))
    # each case exactly once: placed or unallocated with a reason
    assert set(plan.placed) | set(plan.unallocated) == {c.id for c in cases}
    assert not set(plan.placed) & set(plan.unallocated)
    counts = Counter(t for t, _ in plan.placed.values())
    for i, cap in enumerate(caps):
        if cap is not None:
            assert counts[f"t{i}"] <= cap
    by_id = {c.id: c for c in cases}
    for case_id, (target, index) in plan.placed.items():
        rule, case = rules[index], by_id[case_id]
        assert rule.filter.matches(case)  # never outside the rule's filter
        assert not any(r.filter.matches(case) and False for r in rules[:index])
        if rule.targets:
            assert target in rule.targets
        if rule.previous_holder == "exclude":
            assert target != case.previous
    for case_id, reason in plan.unallocated.items():
        assert reason in {NO_RULE, FULL, NO_TARGET, NO_REGION}
        if reason == NO_RULE:
            assert not any(r.filter.matches(by_id[case_id]) for r in rules)


@settings(max_examples=100, deadline=None)
@given(items(), st.integers(1, 6))
def test_equal_count_differs_by_at_most_one(cases: list[Item], n: int) -> None:
    plan = allocate(cases, [Rule("all")], targets(n))
    counts = [Counter(t for t, _ in plan.placed.values())[f"t{i}"] for i in range(n)]
    assert sum(counts) == len(cases)
    assert max(counts) - min(counts) <= 1


@settings(max_examples=100, deadline=None)
@given(items(), st.integers(1, 6))
def test_balanced_amount_within_the_largest_case(cases: list[Item], n: int) -> None:
    plan = allocate(cases, [Rule("all", method="balanced_amount")], targets(n))
    loads = dict.fromkeys((f"t{i}" for i in range(n)), Decimal(0))
    by_id = {c.id: c for c in cases}
    for case_id, (target, _) in plan.placed.items():
        loads[target] += by_id[case_id].amount
    if cases:
        assert max(loads.values()) - min(loads.values()) <= max(c.amount for c in cases)


@settings(max_examples=80, deadline=None)
@given(items(max_size=200))
def test_fixed_shares_follow_the_percentages(cases: list[Item]) -> None:
    shares = {"t0": Decimal(50), "t1": Decimal(30), "t2": Decimal(20)}
    plan = allocate(cases, [Rule("shares", method="fixed_shares", shares=shares)], targets(3))
    counts = Counter(t for t, _ in plan.placed.values())
    for key, share in shares.items():
        assert abs(counts[key] - len(cases) * share / 100) <= 1


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_same_input_gives_the_same_plan(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 4))
    cases = data.draw(items())
    rules = data.draw(strategies_(n))
    caps = data.draw(st.lists(st.none() | st.integers(0, 30), min_size=n, max_size=n))
    first = allocate(cases, rules, targets(n, caps))
    shuffled = list(cases)
    random.Random(7).shuffle(shuffled)
    second = allocate(shuffled, rules, targets(n, caps))
    assert first.placed == second.placed and first.unallocated == second.unallocated


def _case(case_id: int, **kw: object) -> Item:
    base: dict[str, object] = {"dpd": 45, "bucket": "M2", "amount": Decimal("1000")}
    base.update(kw)
    return Item(case_id, **base)  # type: ignore[arg-type]


def test_keep_with_the_previous_holder_and_recycle_away_from_it() -> None:
    cases = [_case(i, previous="t1") for i in range(1, 5)]
    kept = allocate(cases, [Rule("keep", previous_holder="keep")], targets(3))
    assert {t for t, _ in kept.placed.values()} == {"t1"}
    recycled = allocate(cases, [Rule("recycle", previous_holder="exclude")], targets(3))
    assert "t1" not in {t for t, _ in recycled.placed.values()}
    only_previous = allocate(cases, [Rule("x", targets=("t1",), previous_holder="exclude")], targets(3))
    assert set(only_previous.unallocated.values()) == {NO_TARGET}


def test_region_affinity_and_fall_through_to_a_catch_all_rule() -> None:
    cases = [
        _case(1, province="广东省", city="深圳市"),
        _case(2, province="四川省"),
        _case(3, province="浙江省"),
    ]
    ts = [
        Target("t0", regions=frozenset({"深圳市"})),
        Target("t1", regions=frozenset({"四川省"})),
        Target("t2"),
    ]
    regional = allocate(cases, [Rule("region", method="region")], ts)
    assert regional.placed == {1: ("t0", 0), 2: ("t1", 0)}
    assert regional.unallocated == {3: NO_REGION}
    with_rest = allocate(cases, [Rule("region", method="region"), Rule("rest", targets=("t2",))], ts)
    assert with_rest.placed[3] == ("t2", 1) and not with_rest.unallocated


def test_caps_make_cases_fall_through_and_report_why() -> None:
    cases = [_case(i) for i in range(1, 8)]
    plan = allocate(cases, [Rule("a")], [Target("t0", cap=2), Target("t1", cap=3)])
    assert Counter(t for t, _ in plan.placed.values()) == {"t0": 2, "t1": 3}
    assert set(plan.unallocated.values()) == {FULL} and len(plan.unallocated) == 2
    nothing = allocate(cases, [Rule("m4", Filter(buckets=frozenset({"M4+"})))], targets(2))
    assert set(nothing.unallocated.values()) == {NO_RULE}


def test_loads_already_held_are_balanced_too() -> None:
    cases = [_case(i) for i in range(1, 7)]
    plan = allocate(cases, [Rule("a")], [Target("t0", load_count=4), Target("t1")])
    assert Counter(t for t, _ in plan.placed.values()) == {"t1": 5, "t0": 1}


def test_performance_weights_by_recovery_rate() -> None:
    cases = [_case(i) for i in range(1, 101)]
    ts = [Target("t0", performance=Decimal("0.30")), Target("t1", performance=Decimal("0.10"))]
    counts = Counter(t for t, _ in allocate(cases, [Rule("p", method="performance")], ts).placed.values())
    assert counts == {"t0": 75, "t1": 25}
    equal = [Target("t0"), Target("t1")]
    counts = Counter(t for t, _ in allocate(cases, [Rule("p", method="performance")], equal).placed.values())
    assert counts == {"t0": 50, "t1": 50}


def test_rules_are_validated_with_the_place_of_each_problem() -> None:
    with pytest.raises(RulesInvalid) as info:
        parse_rules(
            [
                {"name": "a", "filter": {"dpd_min": "x", "dpd_max": 5, "buckets": ["M9"]}, "method": "dice"},
                {"name": "b", "method": "fixed_shares", "shares": {"agency:1": 60, "agency:2": 30}},
                {"name": "c", "targets": ["agency:9"], "filter": {"amount_min": "500", "amount_max": "100"}},
            ],
            target_keys={"agency:1", "agency:2"},
        )
    where = {w for w, _ in info.value.problems}
    assert where == {
        "rules[0].filter.dpd_min",
        "rules[0].filter.buckets",
        "rules[0].method",
        "rules[1].shares",
        "rules[2].targets",
        "rules[2].filter.amount_max",
    }
    with pytest.raises(RulesInvalid):
        parse_rules([])


def test_dump_is_canonical_and_the_change_log_reads_well() -> None:
    old = dump_rules(parse_rules([{"name": "M1", "filter": {"dpd_max": 30}}, {"name": "rest"}]))
    new = dump_rules(
        parse_rules(
            [
                {"name": "rest", "method": "balanced_amount"},
                {
                    "name": "M1",
                    "filter": {"dpd_max": "60", "tags": "vip,dispute"},
                    "previous_holder": "exclude",
                },
                {"name": "big", "filter": {"amount_min": "10000"}},
            ]
        )
    )
    assert dump_rules(parse_rules(new)) == new
    assert describe_changes(old, new) == [
        "added rule “big”",
        "reordered rules: “rest” → “M1”",
        "“rest”: method round_robin → balanced_amount",
        "“M1”: filter dpd_max 30 → 60",
        "“M1”: filter tags (none) → [dispute, vip]",
        "“M1”: previous_holder (none) → exclude",
    ]
