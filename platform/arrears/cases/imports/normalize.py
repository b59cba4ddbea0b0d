"""Parsing and validating one cell at a time, the way real lender files write values.

Every parser returns the clean value or raises ``CellError`` with a short reason that the import
report shows next to the spreadsheet's own row number and column. Reasons are stable English
phrases (the console translates them); tests match them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any


class CellError(ValueError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_SPACES = re.compile(r"[\s\u00a0\u3000\u200b\u2002-\u200a\ufeff]+")


def text(value: Any) -> str:
    """Trim, including no-break, ideographic and zero-width spaces; collapse inner runs."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return _SPACES.sub(" ", str(value)).strip()


def _narrow(value: str) -> str:
    """Full-width digits, letters and signs to ASCII (NFKC), then trimmed of every space."""
    return _SPACES.sub("", unicodedata.normalize("NFKC", value))


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not text(value))


# --- national ID number (GB 11643-1999) -------------------------------------------------------------

_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def id_checksum_ok(number: str) -> bool:
    total = sum(int(d) * w for d, w in zip(number[:17], _WEIGHTS, strict=True))
    return _CHECK[total % 11] == number[17]


def id_number(value: Any) -> str:
    if isinstance(value, bool):
        raise CellError("ID number format")
    if isinstance(value, int | float):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise CellError("ID number format")
        digits = f"{int(value)}"
        if len(digits) > 15 or (isinstance(value, float) and not value.is_integer()):
            # Excel keeps 15 significant digits: an 18-digit number has lost its last ones.
            raise CellError("ID number stored as a number (precision lost)")
        value = digits
    raw = _narrow(text(value)).upper()
    if re.fullmatch(r"\d\.\d+E\+?\d+", raw):
        raise CellError("ID number stored as a number (precision lost)")
    if re.fullmatch(r"\d{17}[\dX]", raw):
        _birth(raw[6:14])
        if not id_checksum_ok(raw):
            raise CellError("ID number checksum")
        return raw
    if re.fullmatch(r"\d{15}", raw):  # first-generation ID (before 1999)
        _birth("19" + raw[6:12])
        return raw
    raise CellError("ID number format")


def _birth(yyyymmdd: str) -> dt.date:
    try:
        born = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        raise CellError("ID number birth date")
    if born.year < 1900 or born > dt.datetime.now(dt.UTC).date():
        raise CellError("ID number birth date")
    return born


# --- phones ---------------------------------------------------------------------------------------


def _phone_digits(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not value.is_integer():
            raise CellError("phone number format")
        value = f"{int(value)}"
    raw = _narrow(text(value))
    raw = re.sub(r"[-()（）.\s]", "", raw)
    if raw.startswith("+"):
        raw = raw[1:]
    if raw.startswith("0086"):
        raw = raw[4:]
    elif raw.startswith("86") and len(raw) == 13:
        raw = raw[2:]
    if not raw.isdigit():
        raise CellError("phone number format")
    return raw


def mobile(value: Any) -> str:
    """A mainland mobile number: 11 digits starting 13-19 (accepts +86, spaces, dashes, full width)."""
    digits = _phone_digits(value)
    if len(digits) < 11:
        raise CellError("mobile number too short")
    if len(digits) > 11:
        raise CellError("mobile number too long")
    if not re.fullmatch(r"1[3-9]\d{9}", digits):
        raise CellError("mobile number format")
    return digits


def phone(value: Any) -> str:
    """A contact's phone: a mobile or a landline with its area code (7 to 12 digits)."""
    digits = _phone_digits(value)
    if len(digits) < 7:
        raise CellError("phone number too short")
    if len(digits) > 12:
        raise CellError("phone number too long")
    return digits


# --- dates ----------------------------------------------------------------------------------------

_EXCEL_EPOCH = dt.date(1899, 12, 30)
_PATTERNS = [
    (re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"), "ymd"),
    (re.compile(r"(\d{4})年(\d{1,2})月(\d{1,2})日?"), "ymd"),
    (re.compile(r"(\d{4})(\d{2})(\d{2})"), "ymd"),
    (re.compile(r"(\d{1,2})[-/.](\d{1,2})[-/.](\d{4})"), "dmy"),
]


def date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
            raise CellError("date format")
        number = int(value)
        if 19000101 <= number <= 21001231:  # 20240305 typed as a number
            return date(str(number))
        if 1 <= number <= 2958465:  # an Excel serial day number
            return _EXCEL_EPOCH + dt.timedelta(days=number)
        raise CellError("date format")
    raw = unicodedata.normalize("NFKC", text(value))  # keeps the one space before a time of day
    for pattern, order in _PATTERNS:
        match = pattern.fullmatch(raw)
        if match:
            a, b, c = (int(g) for g in match.groups())
            year, month, day = (a, b, c) if order == "ymd" else (c, b, a)
            try:
                return dt.date(year, month, day)
            except ValueError:
                raise CellError("impossible date")
    raise CellError("date format")


# --- money and counts -----------------------------------------------------------------------------

_CENT = Decimal("0.01")
_MONEY_NOISE = re.compile(r"[,，¥￥元]|RMB|CNY|人民币", re.IGNORECASE)


def amount(value: Any) -> Decimal:  # noqa: C901
    """Money as Decimal to the cent: numbers, or text with separators, ¥ and 元, full-width digits."""
    if isinstance(value, bool):
        raise CellError("amount format")
    if isinstance(value, Decimal):
        number = value
    elif isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise CellError("amount format")
        number = Decimal(repr(value))  # the shortest text that reads back as this float
    else:
        raw = _MONEY_NOISE.sub("", _narrow(text(value)))
        negative = raw.startswith("(") and raw.endswith(")")
        raw = raw.strip("()")
        try:
            number = Decimal(raw)
        except InvalidOperation:
            raise CellError("amount format")
        if negative:
            number = -number
    if not number.is_finite():
        raise CellError("amount format")
    if number < 0:
        raise CellError("negative amount")
    if number >= Decimal("1e16"):
        raise CellError("amount too large")
    return number.quantize(_CENT, rounding=ROUND_HALF_UP)


def count(value: Any) -> int:
    """A non-negative whole number (days past due, term)."""
    if isinstance(value, bool):
        raise CellError("number format")
    if isinstance(value, int | float):
        if isinstance(value, float) and (math.isnan(value) or not value.is_integer()):
            raise CellError("number format")
        number = int(value)
    else:
        raw = re.sub(r"[天期月]$", "", _narrow(text(value)))
        if not re.fullmatch(r"-?\d+", raw):
            raise CellError("number format")
        number = int(raw)
    if number < 0:
        raise CellError("negative number")
    return number


def email(value: Any) -> str:
    raw = _narrow(text(value)).lower()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", raw) or len(raw) > 254:
        raise CellError("e-mail format")
    return raw
