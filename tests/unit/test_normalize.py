"""Cell normalisation: the shapes real lender files use, with property tests for the parsers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arrears.cases.imports import normalize as n

FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _valid_id(body17: str) -> str:
    total = sum(int(d) * w for d, w in zip(body17, n._WEIGHTS, strict=True))
    return body17 + n._CHECK[total % 11]


bodies = st.builds(
    lambda area, born, seq: f"{area}{born:%Y%m%d}{seq:03d}",
    st.sampled_from(["110101", "310104", "440305", "510107"]),
    st.dates(min_value=dt.date(1930, 1, 1), max_value=dt.date(2008, 12, 31)),
    st.integers(0, 999),
)


@given(bodies)
def test_every_valid_id_passes_and_any_wrong_check_digit_fails(body: str) -> None:
    good = _valid_id(body)
    assert n.id_number(good) == good
    assert n.id_number(good.lower().translate(FULLWIDTH)) == good  # x and full-width digits
    for wrong in "0123456789X":
        if wrong != good[-1]:
            with pytest.raises(n.CellError, match="ID number checksum"):
                n.id_number(body + wrong)


@given(st.integers(10**17, 10**18 - 1))
def test_an_id_stored_as_a_number_is_refused(number: int) -> None:
    with pytest.raises(n.CellError, match="precision lost"):
        n.id_number(float(number))


@given(st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False))
def test_amounts_read_back_exactly_in_every_written_form(value: Decimal) -> None:
    text = f"{value:,.2f}"
    for form in (
        value,
        float(value),
        str(value),
        text,
        f"¥{text}",
        f"{text}元",
        text.translate(FULLWIDTH),
        f" {text}\u00a0",
    ):
        assert n.amount(form) == value, form


@given(st.decimals(min_value=Decimal("0.01"), max_value=10**9, places=2))
def test_negative_amounts_are_refused(value: Decimal) -> None:
    for form in (-value, f"-{value}", f"({value})"):
        with pytest.raises(n.CellError, match="negative amount"):
            n.amount(form)


@given(st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2099, 12, 31)))
def test_dates_in_every_shape(day: dt.date) -> None:
    serial = (day - dt.date(1899, 12, 30)).days
    shapes = [
        day,
        dt.datetime.combine(day, dt.time(9, 30)),
        serial,
        float(serial),
        f"{day:%Y-%m-%d}",
        f"{day.year}/{day.month}/{day.day}",
        f"{day:%Y%m%d}",
        int(f"{day:%Y%m%d}"),
        f"{day.year}年{day.month}月{day.day}日",
        f"{day:%Y-%m-%d} 00:00:00",
        f"{day:%d/%m/%Y}",
    ]
    for shape in shapes:
        assert n.date(shape) == day, shape


@pytest.mark.parametrize("value", ["2024-02-30", "31/02/2024", "2023年2月29日", "20241301"])
def test_impossible_dates(value: str) -> None:
    with pytest.raises(n.CellError, match="impossible date"):
        n.date(value)


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mobiles_in_every_shape(mobile: str) -> None:
    for shape in (
        mobile,
        int(mobile),
        float(mobile),
        f"+86 {mobile[:3]} {mobile[3:7]} {mobile[7:]}",
        f"0086-{mobile}",
        f"{mobile[:3]}-{mobile[3:7]}-{mobile[7:]}",
        mobile.translate(FULLWIDTH),
    ):
        assert n.mobile(shape) == mobile, shape


def test_short_and_long_mobiles() -> None:
    with pytest.raises(n.CellError, match="mobile number too short"):
        n.mobile("13800")
    with pytest.raises(n.CellError, match="mobile number too long"):
        n.mobile("138001380001")


def test_text_trims_every_kind_of_space() -> None:
    assert n.text("\u3000 李\u00a0四 \u200b") == "李 四"
