"""The cells of a lender's statement (``payments.reconcile``): money as Decimal whatever the cell
holds (a float from the workbook, text with separators and currency), more than two decimals
refused; payment times in the shapes core systems write; the header's aliases."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from decimal import Decimal

import pytest
from flask import Flask
from flask_babel import Babel
from hypothesis import given
from hypothesis import strategies as st

from arrears.cases.imports.normalize import CellError
from arrears.payments import reconcile, statement_columns

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module", autouse=True)
def _context() -> Iterator[None]:
    app = Flask(__name__)
    app.config["BABEL_DEFAULT_TIMEZONE"] = "Asia/Shanghai"
    Babel(app)
    with app.app_context():
        yield


cents = st.integers(min_value=1, max_value=10**13).map(lambda c: Decimal(c) / 100)


@given(cents)
def test_an_amount_reads_back_exactly_as_text_as_a_float_and_with_separators(amount: Decimal) -> None:
    assert statement_columns.parse_amount(str(amount)) == amount
    assert statement_columns.parse_amount(float(amount)) == amount  # a number cell: through its shortest text
    assert statement_columns.parse_amount(f"¥{amount:,}") == amount
    assert statement_columns.parse_amount(f"{amount:,}元") == amount


@given(st.integers(min_value=1, max_value=10**9), st.integers(min_value=1, max_value=9))
def test_a_third_decimal_is_refused_as_text_and_as_a_number(whole: int, third: int) -> None:
    value = Decimal(whole) / 100 + Decimal(third) / 1000
    with pytest.raises(CellError, match="at most two decimals"):
        statement_columns.parse_amount(str(value))
    with pytest.raises(CellError, match="at most two decimals"):
        statement_columns.parse_amount(float(value))


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        (0.1 + 0.2, "0.30"),  # binary noise of a computed cell: Excel's 15 digits
        (50, "50.00"),
        ("１２３.４", "123.40"),
        ("1 234,50".replace(",", "."), "1234.50"),
        (Decimal("7.10"), "7.10"),
        ("RMB 8", "8.00"),
        ("1.000", "1.00"),
    ],
)
def test_amount_shapes(cell: object, expected: str) -> None:
    assert statement_columns.parse_amount(cell) == Decimal(expected)


@pytest.mark.parametrize(
    ("cell", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("abc", "Not an amount"),
        ("-5", "more than zero"),
        ("(5.00)", "more than zero"),
        (0, "more than zero"),
        (float("nan"), "Not an amount"),
        (True, "Not an amount"),
        (dt.date(2026, 1, 1), "Not an amount"),
        ("1e20", "too large"),
    ],
)
def test_amounts_refused(cell: object, reason: str) -> None:
    with pytest.raises(CellError, match=reason):
        statement_columns.parse_amount(cell)


moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)).map(
    lambda m: m.replace(microsecond=0)
)


@given(moments)
def test_a_payment_time_reads_back_in_every_shape(moment: dt.datetime) -> None:
    expected = moment.replace(tzinfo=SHANGHAI).astimezone(dt.UTC)
    shapes = [
        moment,  # an Excel date cell
        moment.strftime("%Y-%m-%d %H:%M:%S"),
        moment.strftime("%Y/%m/%d %H:%M:%S"),
        f"{moment.year}年{moment.month}月{moment.day}日 {moment.hour}时{moment.minute}分{moment.second}秒",
        moment.strftime("%Y%m%d%H%M%S"),
        int(moment.strftime("%Y%m%d%H%M%S")),
        moment.strftime("%d/%m/%Y %H:%M:%S"),
        moment.isoformat(),
        moment.replace(tzinfo=SHANGHAI).astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
    ]
    for shape in shapes:
        assert statement_columns.parse_paid_at(shape, SHANGHAI) == expected, shape
    serial = (moment - dt.datetime(1899, 12, 30)).total_seconds() / 86400
    assert statement_columns.parse_paid_at(serial, SHANGHAI) == expected


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2026-10-29", dt.datetime(2026, 10, 29, 0, 0)),
        (dt.date(2026, 10, 29), dt.datetime(2026, 10, 29, 0, 0)),
        (20261029, dt.datetime(2026, 10, 29, 0, 0)),
        ("2026.10.29 9:05", dt.datetime(2026, 10, 29, 9, 5)),
        ("2026年10月29日", dt.datetime(2026, 10, 29, 0, 0)),
        ("2026-10-29T10:10:00+00:00", dt.datetime(2026, 10, 29, 18, 10)),
        (dt.datetime(2026, 10, 29, 10, 9, 59, 999000), dt.datetime(2026, 10, 29, 10, 10)),
    ],
)
def test_payment_time_shapes(cell: object, expected: dt.datetime) -> None:
    paid_at = statement_columns.parse_paid_at(cell, SHANGHAI)
    assert paid_at == expected.replace(tzinfo=SHANGHAI).astimezone(dt.UTC)


@pytest.mark.parametrize(
    "cell",
    [
        None,
        "",
        "yesterday",
        "2026-02-30",
        "2026-13-01",
        True,
        dt.time(10, 0),
        -3,
        1e300,
        "0001-01-01 00:00:00",
        "9999-12-31T23:59:59-10:00",
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    ],
)
def test_payment_times_refused(cell: object) -> None:
    with pytest.raises(CellError):
        statement_columns.parse_paid_at(cell, SHANGHAI)


def test_header_aliases_in_chinese_and_english() -> None:
    for header, key in [
        ("交易流水号", "transaction_id"),
        ("Transaction ID", "transaction_id"),
        ("txn_no", "transaction_id"),
        ("借据号", "loan_no"),
        ("Loan No.", "loan_no"),
        ("还款时间", "paid_at"),
        ("Payment Date", "paid_at"),
        ("还款金额（元）", "amount"),
        ("Amount (CNY)", "amount"),
        ("还款渠道", "channel"),
        ("Payment Method", "channel"),
        ("备注", None),
    ]:
        assert statement_columns.column_for(header) == key, header
    assert statement_columns.header_score(["交易流水号", "借据号", "还款时间", "还款金额"]) == 4
    assert statement_columns.header_score(["借据号", "客户姓名", "身份证号"]) == 1  # a case file's header


def test_identifiers_kept_as_text_and_refused_when_excel_rounded_them() -> None:
    line = reconcile._check(
        2,
        {"transaction_id": 20261031000003.0, "loan_no": " LN０１ ", "paid_at": "2026-10-29", "amount": "1"},
        SHANGHAI,
        dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    assert (line.transaction_id, line.loan_no, line.errors) == ("20261031000003", "LN01", [])
    rounded = reconcile._check(
        3,
        {"transaction_id": 2.0261101e16, "loan_no": "L", "paid_at": "2026-10-29", "amount": "1"},
        SHANGHAI,
        dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
    )
    assert [e["field"] for e in rounded.errors] == ["transaction_id"]
