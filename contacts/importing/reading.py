"""Reads an uploaded table (CSV in any common encoding and delimiter, or XLSX) into a header and rows."""

import codecs
import csv
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

_SNIFF_BYTES = 64 * 1024
_DELIMITERS = (",", ";", "\t")
# Bytes that never appear in a text table: NUL and the C0 controls other than tab, newlines, form feed.
_BINARY_BYTES = bytes(range(0, 9)) + bytes(range(14, 32))
# The largest field we accept: a quoted field with an unbalanced quote would otherwise swallow the file.
csv.field_size_limit(1024 * 1024)


class UnreadableTable(ValueError):
    """The file is not a CSV or XLSX table we can read (binary, empty, or malformed)."""


@dataclass
class Table:
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]  # (line number in the file, cells), blank rows skipped
    encoding: str
    delimiter: str


def _detect_encoding(sample: bytes) -> str:
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as err:
        # A multi-byte character cut by the end of the sample is still UTF-8.
        if err.start < len(sample) - 3:
            return "cp1252"
    return "utf-8"


def _detect_delimiter(first_line: str) -> str:
    counts = {delimiter: first_line.count(delimiter) for delimiter in _DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _clean(cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        cell = int(cell)
    return str(cell).strip()


def _csv_rows(text_stream, delimiter: str, *, lines_before: int) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(text_stream, delimiter=delimiter, skipinitialspace=True)
    start = lines_before + 1
    try:
        for cells in reader:
            cleaned = [cell.strip() for cell in cells]  # csv cells are always str: no need for _clean
            if any(cleaned):
                yield start, cleaned
            start = lines_before + reader.line_num + 1
    except (csv.Error, UnicodeDecodeError) as err:
        raise UnreadableTable(f"line {start}: {err}") from err


def _latin1_fallback(err: UnicodeDecodeError):
    return err.object[err.start : err.end].decode("latin-1"), err.end


codecs.register_error("latin1_fallback", _latin1_fallback)


def _open_text(stream: BinaryIO, encoding: str):
    errors = "latin1_fallback" if encoding == "cp1252" else "strict"
    return io.TextIOWrapper(stream, encoding=encoding, errors=errors, newline="")


def _read_csv(stream: BinaryIO, sample: bytes) -> Table:
    if any(byte in _BINARY_BYTES for byte in sample[:8192]):
        raise UnreadableTable("this is not a text table (it contains binary data): upload a CSV or XLSX file")
    encoding = _detect_encoding(sample)
    text = _open_text(stream, encoding)
    lines_read = 0
    first_line = ""
    try:
        for line in text:
            lines_read += 1
            if line.strip():
                first_line = line
                break
    except UnicodeDecodeError as err:
        raise UnreadableTable(f"the file is not in a text encoding we can read ({err})") from err
    if not first_line:
        raise UnreadableTable("the file is empty")
    delimiter = _detect_delimiter(first_line)
    header = [_clean(cell) for cell in next(csv.reader([first_line], delimiter=delimiter, skipinitialspace=True), [])]
    return Table(
        header=header,
        rows=_csv_rows(text, delimiter, lines_before=lines_read),
        encoding=encoding,
        delimiter=delimiter,
    )


def _read_xlsx(stream: BinaryIO) -> Table:
    from openpyxl import load_workbook  # openpyxl is slow to import and only XLSX needs it

    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as err:
        raise UnreadableTable(f"this is not a readable XLSX workbook ({err})") from err
    sheet = workbook.worksheets[0] if workbook.worksheets else None
    if sheet is None:
        raise UnreadableTable("the workbook has no sheet")
    values = sheet.iter_rows(values_only=True)

    def numbered():
        for number, cells in enumerate(values, start=1):
            cleaned = [_clean(cell) for cell in cells]
            if any(cleaned):
                yield number, cleaned

    rows = numbered()
    first = next(rows, None)
    if first is None:
        raise UnreadableTable("the first sheet is empty")
    header = first[1]
    while header and not header[-1]:
        header.pop()
    return Table(header=header, rows=rows, encoding="xlsx", delimiter="")


def table_read(stream: BinaryIO) -> Table:
    """Opens a seekable binary stream as a table; rows are read lazily (a million rows stay out of memory)."""
    sample = stream.read(_SNIFF_BYTES)
    stream.seek(0)
    if not sample.strip():
        raise UnreadableTable("the file is empty")
    if sample.startswith(b"PK\x03\x04"):
        return _read_xlsx(stream)
    return _read_csv(stream, sample)
