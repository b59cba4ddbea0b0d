"""Reading lender files: .xlsx (python-calamine, openpyxl as fallback) and .csv in the encodings
Chinese Excel writes (UTF-8, UTF-8 with BOM, GBK/GB18030). Hostile files are refused before they
are parsed: size limit, zip-bomb check on the declared sizes and ratios, no DTDs in the XML."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openpyxl
from python_calamine import CalamineWorkbook

from arrears.cases.imports.fields import header_score

XLSX_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls (Excel 97-2003) and other OLE files
HEADER_SCAN_ROWS = 30
NO_HEADER = (
    "no header row found in the first rows: the file needs a row of column names such as "
    "借据号 / Loan No, 客户姓名 / Borrower Name, 身份证号 / ID Number"
)


@dataclass(frozen=True)
class HeaderRule:
    """How a header row is recognised: ``score`` counts the known column names of a row; the first
    row among the first ones scoring ``minimum`` is the header (else ``FileRefused(missing)``).
    Case files by default; other kinds of file (statements) bring their own."""

    score: Callable[[Sequence[Any]], int] = header_score
    minimum: int = 3
    missing: str = NO_HEADER


CASE_HEADER = HeaderRule()


class FileRefused(ValueError):
    """The file cannot be read at all; ``reason`` says what to do instead."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Limits:
    max_bytes: int = 100 * 1024 * 1024
    max_rows: int = 1_000_000
    max_uncompressed: int = 1024 * 1024 * 1024
    max_ratio: int = 200


@dataclass
class Table:
    """Rows of one sheet with the spreadsheet's own row numbers (1-based)."""

    format: str
    sheet: str
    encoding: str | None
    header_row: int  # spreadsheet row number of the header
    headers: list[Any]
    _rows: Iterator[tuple[int, list[Any]]] = field(repr=False)

    def rows(self) -> Iterator[tuple[int, list[Any]]]:
        """Data rows after the header, as (row number, cells)."""
        return self._rows


def open_table(
    data: bytes | Path | str,
    filename: str = "",
    limits: Limits | None = None,
    header: HeaderRule = CASE_HEADER,
) -> Table:
    """The rows of a lender file given as bytes or as a path. A path is the lighter source: a
    workbook is then read from disk by calamine, never held in memory as a whole."""
    limits = limits or Limits()
    source: bytes | Path = data if isinstance(data, bytes) else Path(data)
    if isinstance(source, bytes):
        size, head = len(source), source[:4096]
    else:
        filename = filename or source.name
        size = source.stat().st_size
        with source.open("rb") as handle:
            head = handle.read(4096)
    if size > limits.max_bytes:
        raise FileRefused(f"the file is larger than {limits.max_bytes // (1024 * 1024)} MB")
    if size <= len(head) and not head.strip():
        raise FileRefused("the file is empty")
    if head.startswith(OLE_MAGIC):
        raise FileRefused(
            "this is an Excel 97-2003 (.xls) file, which is not supported: open it in Excel or WPS and "
            "save it as .xlsx (Excel Workbook) or CSV, then import that file"
        )
    if head.startswith(XLSX_MAGIC):
        return _xlsx(source, limits, header)
    if filename.lower().endswith((".xlsx", ".xlsm", ".xls", ".ods")):
        raise FileRefused("the file is not a valid .xlsx workbook (it may be damaged or renamed)")
    return _csv(source if isinstance(source, bytes) else source.read_bytes(), limits, header)


# --- xlsx -----------------------------------------------------------------------------------------


def _check_zip(source: bytes | Path, limits: Limits) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except zipfile.BadZipFile:
        raise FileRefused("the file is not a valid .xlsx workbook (it may be damaged or renamed)")
    with archive:
        members = archive.infolist()
        if len(members) > 10_000:
            raise FileRefused("the workbook holds too many parts")
        total = 0
        for info in members:
            total += info.file_size
            if (
                info.compress_size
                and info.file_size / info.compress_size > limits.max_ratio
                and info.file_size > 1e6
            ):
                raise FileRefused("the workbook is compressed suspiciously well (zip bomb): refused")
            if info.filename.endswith(".xml") or info.filename.endswith(".rels"):
                with archive.open(info) as member:
                    head = member.read(4096)
                if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
                    raise FileRefused(
                        "the workbook declares XML entities, which a spreadsheet never needs: refused"
                    )
        if total > limits.max_uncompressed:
            raise FileRefused("the workbook would unpack to more than the allowed size: refused")
        if "xl/workbook.xml" not in {m.filename for m in members}:
            raise FileRefused("the file is a zip archive but not an Excel workbook")


def _best_sheet(sheets: list[tuple[str, list[list[Any]]]], header: HeaderRule = CASE_HEADER) -> int:
    scores = [max((header.score(r) for r in head), default=0) for _, head in sheets]
    best = max(range(len(sheets)), key=lambda i: (scores[i], -i))
    return best


def _xlsx(source: bytes | Path, limits: Limits, header: HeaderRule = CASE_HEADER) -> Table:
    _check_zip(source, limits)
    try:
        return _xlsx_calamine(source, limits, header)
    except ImportError:  # pragma: no cover - calamine ships wheels for our platforms
        return _xlsx_openpyxl(source, limits, header)


def _xlsx_calamine(source: bytes | Path, limits: Limits, header: HeaderRule = CASE_HEADER) -> Table:

    try:
        if isinstance(source, bytes):
            workbook = CalamineWorkbook.from_filelike(io.BytesIO(source))
        else:
            workbook = CalamineWorkbook.from_path(str(source))
    except Exception as exc:
        raise FileRefused(f"the workbook cannot be read: {exc}")
    heads = []
    sheets = {}
    for name in workbook.sheet_names:
        sheet = workbook.get_sheet_by_name(name)  # parses the sheet: keep it, do not parse it twice
        sheets[name] = sheet
        head = [r for _, r in zip(range(HEADER_SCAN_ROWS), sheet.iter_rows(), strict=False)]
        heads.append((name, head))
    if not heads:
        raise FileRefused("the workbook has no sheet")
    name = heads[_best_sheet(heads, header)][0]
    sheet = sheets.pop(name)
    sheets.clear()  # the other sheets' memory goes now
    if sheet.height > limits.max_rows:
        raise FileRefused(f"the sheet has more than {limits.max_rows} rows: split the file")
    first_row = (sheet.start or (0, 0))[0] + 1

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        for offset, row in enumerate(sheet.iter_rows()):
            yield first_row + offset, [None if cell == "" else cell for cell in row]

    return _with_header("xlsx", name, None, numbered(), header)


def _xlsx_openpyxl(  # pragma: no cover - fallback
    source: bytes | Path, limits: Limits, header: HeaderRule = CASE_HEADER
) -> Table:

    workbook = openpyxl.load_workbook(
        io.BytesIO(source) if isinstance(source, bytes) else source, read_only=True, data_only=True
    )
    heads = []
    for ws in workbook.worksheets:
        head = [
            list(r) for _, r in zip(range(HEADER_SCAN_ROWS), ws.iter_rows(values_only=True), strict=False)
        ]
        heads.append((ws.title, head))
    index = _best_sheet(heads, header)
    ws = workbook.worksheets[index]

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        for number, row in enumerate(ws.iter_rows(values_only=True), 1):
            yield number, list(row)

    return _with_header("xlsx", ws.title, None, numbered(), header)


# --- csv ------------------------------------------------------------------------------------------


def _decode(raw: bytes) -> tuple[str, str]:
    if raw.startswith(codecs.BOM_UTF8):
        return raw[len(codecs.BOM_UTF8) :].decode("utf-8"), "utf-8-sig"
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16"), "utf-16"
    if b"\x00" in raw[:4096]:
        raise FileRefused("the file is neither a spreadsheet (.xlsx) nor a text file (.csv)")
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = raw.decode("gb18030")  # a superset of GBK and GB2312
    except UnicodeDecodeError:
        raise FileRefused("the text encoding is not UTF-8 or GBK/GB18030: save the file as CSV UTF-8")
    return text, "gbk" if _is_gbk(raw) else "gb18030"


def _is_gbk(raw: bytes) -> bool:
    try:
        raw.decode("gbk")
    except UnicodeDecodeError:
        return False
    return True


def _csv(raw: bytes, limits: Limits, header: HeaderRule = CASE_HEADER) -> Table:
    text, encoding = _decode(raw)
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)

    def numbered() -> Iterator[tuple[int, list[Any]]]:
        for number, row in enumerate(reader, 1):
            if number > limits.max_rows:
                raise FileRefused(f"the file has more than {limits.max_rows} rows: split it")
            yield number, [cell if cell != "" else None for cell in row]

    return _with_header("csv", "", encoding, numbered(), header)


# --- header ---------------------------------------------------------------------------------------


def _with_header(
    fmt: str,
    sheet: str,
    encoding: str | None,
    rows: Iterator[tuple[int, list[Any]]],
    header: HeaderRule = CASE_HEADER,
) -> Table:
    """Find the header: the first row among the first ones that names enough known fields (three
    of a case file's)."""
    buffered: list[tuple[int, list[Any]]] = []
    for number, row in rows:
        buffered.append((number, row))
        if header.score(row) >= header.minimum:
            headers = row

            def rest() -> Iterator[tuple[int, list[Any]]]:
                yield from rows

            return Table(fmt, sheet, encoding, number, headers, rest())
        if len(buffered) >= HEADER_SCAN_ROWS:
            break
    raise FileRefused(header.missing)
