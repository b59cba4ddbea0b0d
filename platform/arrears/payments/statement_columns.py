"""A statement's columns and cells: which column is which (by its header, in Chinese or English), and
each cell read as an amount, a time, an identifier or a channel, naming the row and the column when
it cannot be."""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from arrears.cases.imports import normalize as n
from arrears.cases.imports.fields import FIELD_BY_KEY, header_key
from arrears.cases.imports.reader import HeaderRule
from arrears.kernel.money import LIMIT

# --- the statement's columns ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    label: Any  # lazy: translated where shown
    synonyms: tuple[str, ...]
    required: bool = True


COLUMNS: tuple[Column, ...] = (
    Column(
        "transaction_id",
        _l("Transaction id"),
        (
            "交易流水号",
            "流水号",
            "交易流水",
            "流水编号",
            "交易流水编号",
            "交易编号",
            "交易号",
            "还款流水号",
            "支付流水号",
            "业务流水号",
            "核心流水号",
            "transaction id",
            "transaction no",
            "transaction number",
            "transaction ref",
            "transaction reference",
            "txn id",
            "txn no",
            "trans id",
            "payment id",
            "payment reference",
            "reference no",
            "serial no",
        ),
    ),
    Column("loan_no", _l("Loan number"), (*FIELD_BY_KEY["loan_no"].synonyms, "loan", "借据")),
    Column(
        "paid_at",
        _l("Paid at"),
        (
            "还款时间",
            "还款日期",
            "实还时间",
            "实还日期",
            "实际还款时间",
            "实际还款日期",
            "交易时间",
            "交易日期",
            "入账时间",
            "入账日期",
            "到账时间",
            "支付时间",
            "扣款时间",
            "paid at",
            "paid on",
            "paid time",
            "payment time",
            "payment date",
            "repayment time",
            "repayment date",
            "transaction time",
            "transaction date",
            "value date",
            "posting date",
        ),
    ),
    Column(
        "amount",
        _l("Amount"),
        (
            "还款金额",
            "实还金额",
            "实际还款金额",
            "交易金额",
            "入账金额",
            "到账金额",
            "支付金额",
            "扣款金额",
            "实收金额",
            "金额",
            "amount",
            "paid amount",
            "amount paid",
            "payment amount",
            "repayment amount",
            "transaction amount",
        ),
    ),
    Column(
        "channel",
        _l("Channel"),
        (
            "还款渠道",
            "渠道",
            "支付渠道",
            "交易渠道",
            "还款方式",
            "支付方式",
            "channel",
            "payment channel",
            "payment method",
            "method",
        ),
        required=False,
    ),
)
COLUMN_BY_KEY = {c.key: c for c in COLUMNS}
_HEADERS: dict[str, str] = {}
for _column in COLUMNS:
    for _name in (_column.key, *_column.synonyms):
        _HEADERS.setdefault(header_key(_name), _column.key)


def column_for(header: Any) -> str | None:
    return _HEADERS.get(header_key(header))


def header_score(row: Sequence[Any]) -> int:
    """How many of the statement's columns a row names (each counted once)."""
    return len({key for key in (column_for(cell) for cell in row) if key is not None})


STATEMENT_HEADER = HeaderRule(
    score=header_score,
    minimum=3,
    missing=(
        "no header row found in the first rows: a statement needs a row of column names such as "
        "交易流水号 / Transaction ID, 借据号 / Loan No, 还款时间 / Paid At, 还款金额 / Amount"
    ),
)


# --- one cell at a time ---------------------------------------------------------------------------------


def identifier(value: Any, missing: Any, too_long: Any) -> str:
    """A transaction id or loan number: text; a whole number cell is read as its digits, but one of
    more than 15 digits has lost its last ones in Excel and is refused."""
    if isinstance(value, bool | dt.date | dt.time):
        raise n.CellError(_("Not an identifier: %(value)s", value=str(value)[:40]))
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            raise n.CellError(_("Not an identifier: %(value)s", value=repr(value)[:40]))
        if abs(value) >= 1e15:
            raise n.CellError(
                _("Stored as a number, the identifier lost its last digits: format the column as text.")
            )
        value = int(value)
    text = unicodedata.normalize("NFKC", n.text(value))
    if not text:
        raise n.CellError(str(missing))
    if len(text) > 64:
        raise n.CellError(str(too_long))
    return text


_MONEY_NOISE = re.compile(r"[,，¥￥元\s]|RMB|CNY|人民币", re.IGNORECASE)
CENT = Decimal("0.01")


def _places(number: Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def parse_amount(value: Any) -> Decimal:  # noqa: C901
    """Money to the cent as Decimal, never through a float's arithmetic: a number cell (a float)
    through its shortest text (``repr``), or Excel's 15 significant digits when that drops binary
    noise; text with separators, ¥, 元, full-width digits. More than two decimals is refused."""
    if n.is_blank(value):
        raise n.CellError(_("The amount is missing."))
    if isinstance(value, bool | dt.date | dt.time):
        raise n.CellError(_("Not an amount: %(value)s", value=str(value)[:40]))
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise n.CellError(_("Not an amount: %(value)s", value=repr(value)))
        number = Decimal(repr(value))
        if _places(number) > 2:
            near = Decimal(format(value, ".15g"))  # what Excel shows: its precision is 15 digits
            if _places(near) <= 2:
                number = near
    else:
        raw = _MONEY_NOISE.sub("", unicodedata.normalize("NFKC", n.text(value)))
        negative = raw.startswith("(") and raw.endswith(")")
        try:
            number = Decimal(raw.strip("()"))
        except InvalidOperation:
            raise n.CellError(_("Not an amount: %(value)s", value=n.text(value)[:40]))
        if negative:
            number = -number
    if not number.is_finite():
        raise n.CellError(_("Not an amount: %(value)s", value=str(value)[:40]))
    if number <= 0:
        raise n.CellError(_("The amount must be more than zero."))
    if _places(number) > 2:
        raise n.CellError(_("An amount has at most two decimals."))
    if number >= LIMIT:
        raise n.CellError(_("The amount is too large."))
    return number.quantize(CENT)


_EXCEL_EPOCH = dt.datetime(1899, 12, 30)  # noqa: DTZ001 (a serial day number has no zone)
_YMD = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:(?:\s*T\s*|\s+|(?<=日))(\d{1,2})\s*[:：时]\s*(\d{1,2})"
    r"(?:\s*[:：分]\s*(\d{1,2})(?:\.(\d{1,6}))?\s*秒?)?\s*分?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?"
)
_DMY = re.compile(
    r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?()"
)
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:\s*T?\s*(\d{2})(\d{2})(\d{2})?)?()()")


def _from_parts(groups: Sequence[str | None], order: str) -> dt.datetime:
    a, b, c = (int(g or 0) for g in groups[:3])
    year, month, day = (a, b, c) if order == "ymd" else (c, b, a)
    hour, minute, second = (int(g or 0) for g in groups[3:6])
    micro = int((groups[6] or "0").ljust(6, "0")[:6])
    offset = groups[7] if len(groups) > 7 else None
    zone: dt.tzinfo | None = None
    if offset:
        if offset == "Z":
            zone = dt.UTC
        else:
            sign = -1 if offset[0] == "-" else 1
            digits = offset[1:].replace(":", "")
            zone = dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    return dt.datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)


def parse_paid_at(value: Any, zone: dt.tzinfo) -> dt.datetime:  # noqa: C901
    """The payment time (aware, UTC): an Excel date or serial day number, or text such as
    ``2026-10-29 10:10:00``, ``2026/10/29 10:10``, ``2026年10月29日 10时10分``, ``20261029101000``,
    ISO 8601 with a zone. A date alone is midnight; no zone: the owner's."""
    if n.is_blank(value):
        raise n.CellError(_("The payment time is missing."))
    shown = str(value)[:40]
    moment: dt.datetime | None = None
    try:
        if isinstance(value, bool | dt.time | dt.timedelta):
            raise ValueError(shown)
        if isinstance(value, dt.datetime):
            moment = value
        elif isinstance(value, dt.date):
            moment = dt.datetime.combine(value, dt.time(0))
        elif isinstance(value, int | float | Decimal):
            # a time, not money, but read as a Decimal all the same (a float cell through its repr)
            number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
            if not number.is_finite():
                raise ValueError(shown)
            whole = number == number.to_integral_value()
            compact = _COMPACT.fullmatch(str(int(number))) if whole else None
            if compact and (19000101 <= number <= 21001231 or 10**13 <= number < 10**14):
                moment = _from_parts(compact.groups(), "ymd")  # 20261029 or 20261029101000 as a number
            elif 1 <= number <= 2958465:  # an Excel serial day number, the fraction the time of day
                moment = _EXCEL_EPOCH + dt.timedelta(seconds=round(number * 86400))
            else:
                raise ValueError(shown)
        else:
            raw = unicodedata.normalize("NFKC", n.text(value)).strip()
            for pattern, order in ((_YMD, "ymd"), (_COMPACT, "ymd"), (_DMY, "dmy")):
                match = pattern.fullmatch(raw)
                if match:
                    moment = _from_parts(match.groups(), order)
                    break
            else:
                moment = dt.datetime.fromisoformat(raw)
    except (ValueError, OverflowError, AttributeError):
        raise n.CellError(_("Not a date and time: %(value)s", value=shown))
    try:
        if moment.microsecond:  # Excel's float days: 10:09:59.999 is 10:10:00
            moment = (moment + dt.timedelta(microseconds=500_000)).replace(microsecond=0)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return moment.astimezone(dt.UTC)
    except OverflowError:  # 0001-01-01 00:00 east of UTC, 9999-12-31 23:59:59.9: no such moment
        raise n.CellError(_("Not a date and time: %(value)s", value=shown))


def channel(value: Any) -> str:
    text = n.text(value)
    if len(text) > 64:
        raise n.CellError(_("The channel is text of at most 64 characters."))
    return text


def jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return str(value)
