"""Properties of ``ledger.allocate`` (pure arithmetic on Decimals), with Hypothesis: for any balances
and any sequence of payments, in the default or any owner's order, a payment's parts sum to the
payment, no component is taken below zero (or taken from at all when it owes nothing), a component
is touched only once every component before it in the order is paid off, and only what is left
after all of them is credit."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.cases import ledger
from arrears.errors import ValidationFailed

ZERO = Decimal("0.00")
CENT = Decimal("0.01")

money = st.integers(min_value=0, max_value=10**9).map(lambda cents: Decimal(cents).scaleb(-2))
payment = st.integers(min_value=1, max_value=10**8).map(lambda cents: Decimal(cents).scaleb(-2))
balances_st = st.fixed_dictionaries({c: money for c in ledger.COMPONENTS})
orders = st.permutations(ledger.COMPONENTS).map(tuple)


def check_split(before: dict[str, Decimal], amount: Decimal, order: tuple[str, ...]) -> dict[str, Decimal]:
    split = ledger.allocate(before, amount, order)
    assert set(split.taken) == set(order)
    assert sum(split.taken.values(), ZERO) + split.credit == amount == split.total
    after = {c: before[c] - split.taken.get(c, ZERO) for c in before}
    for i, component in enumerate(order):
        take = split.taken[component]
        assert ZERO <= take <= max(before[component], ZERO)
        assert take.as_tuple().exponent >= -2
        if take > 0:  # touched only once every earlier component is paid off
            assert all(after[earlier] <= 0 for earlier in order[:i]), (order, before, split)
        if take < max(before[component], ZERO):  # not paid off: nothing later was touched
            assert all(split.taken[later] == 0 for later in order[i + 1 :])
            assert split.credit == 0
    if split.credit > 0:
        assert all(after[c] <= 0 for c in order)
    assert split.credit >= 0
    return after


@given(balances_st, st.lists(payment, min_size=1, max_size=20), orders)
def test_a_sequence_of_payments_pays_the_components_down_in_order(
    opening: dict[str, Decimal], payments: list[Decimal], order: tuple[str, ...]
) -> None:
    state = dict(opening)
    credit = ZERO
    for amount in payments:
        split = ledger.allocate(state, amount, order)
        state = check_split(state, amount, order)
        credit += split.credit
        assert all(state[c] >= 0 for c in ledger.COMPONENTS)
    # what left the balances plus the credit is exactly what was paid
    owed_before = sum(opening.values(), ZERO)
    owed_after = sum(state.values(), ZERO)
    assert owed_before - owed_after + credit == sum(payments, ZERO)
    assert credit == max(sum(payments, ZERO) - owed_before, ZERO)


@given(balances_st, payment)
def test_the_default_order_is_penalty_fee_interest_principal(
    opening: dict[str, Decimal], amount: Decimal
) -> None:
    assert ledger.DEFAULT_ORDER == ("penalty", "fee", "interest", "principal")
    assert ledger.allocate(opening, amount) == ledger.allocate(opening, amount, ledger.DEFAULT_ORDER)
    check_split(opening, amount, ledger.DEFAULT_ORDER)


@given(
    st.fixed_dictionaries(
        {c: st.integers(-(10**6), 10**6).map(lambda v: Decimal(v).scaleb(-2)) for c in ledger.COMPONENTS}
    ),
    payment,
    orders,
)
def test_a_component_that_owes_nothing_or_less_is_never_taken_from(
    opening: dict[str, Decimal], amount: Decimal, order: tuple[str, ...]
) -> None:
    split = ledger.allocate(opening, amount, order)
    for component in order:
        if opening[component] <= 0:
            assert split.taken[component] == 0
    assert split.total == amount
    assert split.credit == max(amount - sum((max(v, ZERO) for v in opening.values()), ZERO), ZERO)


@given(orders, balances_st, payment)
def test_the_owners_custom_order_is_honoured(
    order: tuple[str, ...], opening: dict[str, Decimal], amount: Decimal
) -> None:
    owner = SimpleNamespace(settings={"repayment_order": list(order)})
    assert ledger.order_of(owner) == order  # type: ignore[arg-type]
    split = ledger.allocate(opening, amount, ledger.order_of(owner))  # type: ignore[arg-type]
    # the owner's first component takes all it can before any other
    first = order[0]
    assert split.taken[first] == min(opening[first], amount)
    check_split(opening, amount, order)


@pytest.mark.parametrize(
    "stored",
    [None, [], ["penalty", "fee", "interest"], ["penalty", "penalty", "fee", "interest"], "penalty", 5],
)
def test_an_owner_without_a_valid_order_gets_the_default(stored: object) -> None:
    owner = SimpleNamespace(settings={} if stored is None else {"repayment_order": stored})
    assert ledger.order_of(owner) == ledger.DEFAULT_ORDER  # type: ignore[arg-type]


@given(st.lists(st.sampled_from([*ledger.COMPONENTS, "credit", "tax", ""]), max_size=6))
def test_only_an_order_of_the_four_components_each_once_is_accepted(raw: list[str]) -> None:
    if sorted(c for c in raw if c) == sorted(ledger.COMPONENTS):
        assert ledger.check_order(raw) == [c for c in raw if c]
    else:
        with pytest.raises(ValidationFailed):
            ledger.check_order(raw)


def test_a_payment_of_one_cent_and_an_exact_payoff() -> None:
    opening = {
        "penalty": Decimal("0.01"),
        "fee": ZERO,
        "interest": Decimal("5.00"),
        "principal": Decimal("10"),
    }
    split = ledger.allocate(opening, CENT)
    assert split.taken == {"penalty": CENT, "fee": ZERO, "interest": ZERO, "principal": ZERO}
    payoff = ledger.allocate(opening, Decimal("15.01"))
    assert payoff.credit == 0 and payoff.taken["principal"] == Decimal("10")
