"""Lead files in: streaming CSV/XLSX/JSON readers.

Readers stream (bounded memory, never the whole file): CSV with sniffed encoding (UTF-8 with or
without BOM, else cp1252 as written by German Excel) and delimiter, XLSX through openpyxl's
read-only mode, JSON arrays through an incremental decoder and JSON lines line by line. Each row
comes out as ``(row_number, row)``: the values in header order, or a JSON object;
``leads.imports.columns.ColumnMap`` turns it into a ``lead_ingest`` payload.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

FORMATS = ("csv", "xlsx", "json")
EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".tsv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".json": "json",
    ".jsonl": "json",
    ".ndjson": "json",
}
#: A row as a reader yields it: the values in header order (CSV/XLSX) or a JSON object.
Row = list[Any] | dict[str, Any]
READ_CHUNK = 1 << 16
#: Keys a reader puts into a row it could not decode (never a real header: they contain NUL).
ROW_ERROR = "\x00error"
#: The original text of a row that is not a JSON object, for the error report.
ROW_TEXT = "\x00text"


class ImportFileError(Exception):
    """The file cannot be used at all (missing, unreadable, no usable columns): nothing was imported."""


def clean_header(header: Any) -> str:
    return " ".join(unicodedata.normalize("NFKC", str(header or "")).split())


def detect_format(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ImportFileError(_("Unknown format %(fmt)s (csv, xlsx or json).") % {"fmt": fmt})
        return fmt
    suffix = path.suffix.lower()
    if suffix == ".xls":
        raise ImportFileError(_("Old Excel files (.xls) cannot be read: save the file as .xlsx or CSV."))
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(b"PK\x03\x04"):
        return "xlsx"
    first = head.lstrip(b"\xef\xbb\xbf \r\n\t")[:1]
    return "json" if first in (b"[", b"{") else "csv"


def sniff_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM) when the whole file decodes as UTF-8, else cp1252 (German Excel)."""
    with path.open("rb") as handle:
        head = handle.read(3)
        if head == codecs.BOM_UTF8:
            return "utf-8-sig"
        handle.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


def sniff_delimiter(sample: str) -> str:
    """The delimiter of the header line: the most frequent of ; , tab | outside quotes."""
    line = sample.splitlines()[0] if sample else ""
    unquoted = re.sub(r'"[^"]*"', "", line)
    counts = {d: unquoted.count(d) for d in (";", ",", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best]:
        return best
    try:
        return csv.Sniffer().sniff(sample, delimiters=";,\t|").delimiter
    except csv.Error:
        return ","


class LeadFileReader:
    """One input file: its format, headers (None for JSON) and a stream of ``(row_number, row)``."""

    def __init__(
        self,
        path: str | Path,
        *,
        fmt: str | None = None,
        encoding: str | None = None,
        delimiter: str | None = None,
        sheet: str | None = None,
    ):
        self.path = Path(path)
        if not self.path.is_file():
            raise ImportFileError(_("File not found: %(path)s") % {"path": self.path})
        if self.path.stat().st_size == 0:
            raise ImportFileError(_("The file is empty: %(path)s") % {"path": self.path})
        self.format = detect_format(self.path, fmt)
        self.encoding = encoding
        self.delimiter = delimiter
        self.sheet = sheet
        self.headers: list[str] | None = None
        self.total_rows: int | None = None
        self._rows: Iterator[tuple[int, Row]] | None = None
        self._open()

    def _open(self) -> None:
        opener = {"csv": self._open_csv, "xlsx": self._open_xlsx, "json": self._open_json}[self.format]
        self._rows = opener()

    def rows(self) -> Iterator[tuple[int, Row]]:
        assert self._rows is not None
        return self._rows

    # CSV ----------------------------------------------------------------------------------------

    def _open_csv(self) -> Iterator[tuple[int, Row]]:
        if self.encoding is None:
            self.encoding = sniff_encoding(self.path)
        try:
            handle = self.path.open(encoding=self.encoding, newline="")
            sample = handle.read(READ_CHUNK)
        except (LookupError, UnicodeDecodeError) as exc:
            raise ImportFileError(_("Cannot decode the file: %(error)s") % {"error": exc}) from exc
        if "\x00" in sample:
            handle.close()
            raise ImportFileError(_("This is not a text file (CSV); use --format to say what it is."))
        handle.seek(0)
        if self.encoding == "utf-8" and sample.startswith("\ufeff"):
            handle.read(1)
        self.delimiter = self.delimiter or sniff_delimiter(sample.lstrip("\ufeff"))
        reader = csv.reader(handle, delimiter=self.delimiter)
        try:
            header = next(reader, None)
        except csv.Error as exc:
            raise ImportFileError(_("Not a readable CSV file: %(error)s") % {"error": exc}) from exc
        if not header or not any(h.strip() for h in header):
            raise ImportFileError(_("The file has no header row."))
        self.headers = [clean_header(h) for h in header]
        return self._csv_rows(handle, reader)

    def _csv_rows(self, handle, reader) -> Iterator[tuple[int, Row]]:
        with handle:
            row_number = 1
            while True:
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    raise ImportFileError(
                        _("CSV error after row %(row)s: %(error)s") % {"row": row_number, "error": exc}
                    ) from exc
                row_number += 1
                if not values or not any(values):
                    continue
                yield row_number, values

    # XLSX ---------------------------------------------------------------------------------------

    def _open_xlsx(self) -> Iterator[tuple[int, Row]]:
        from openpyxl import load_workbook

        try:
            workbook = load_workbook(self.path, read_only=True, data_only=True)
        except Exception as exc:  # zipfile.BadZipFile, KeyError, InvalidFileException …
            raise ImportFileError(_("Not a readable XLSX file: %(error)s") % {"error": exc}) from exc
        try:
            sheet = workbook[self.sheet] if self.sheet else workbook.worksheets[0]
        except (KeyError, IndexError) as exc:
            workbook.close()
            raise ImportFileError(_("Worksheet not found: %(sheet)s") % {"sheet": self.sheet}) from exc
        rows = sheet.iter_rows(values_only=True)
        row_number = 0
        for values in rows:
            row_number += 1
            if values and any(v not in (None, "") for v in values):
                break
        else:
            workbook.close()
            raise ImportFileError(_("The worksheet is empty."))
        headers = [clean_header(v) for v in values]
        while headers and not headers[-1]:
            headers.pop()
        self.headers = headers
        if sheet.max_row:
            self.total_rows = max(0, sheet.max_row - row_number)
        return self._xlsx_rows(workbook, rows, row_number)

    def _xlsx_rows(self, workbook, rows, row_number: int) -> Iterator[tuple[int, Row]]:
        try:
            for values in rows:
                row_number += 1
                if not values or all(v in (None, "") for v in values):
                    continue
                yield row_number, list(values)
        finally:
            workbook.close()

    # JSON ---------------------------------------------------------------------------------------

    def _open_json(self) -> Iterator[tuple[int, Row]]:
        handle = self.path.open(encoding=self.encoding or "utf-8-sig")
        try:
            head = handle.read(READ_CHUNK)
        except UnicodeDecodeError as exc:
            handle.close()
            raise ImportFileError(_("JSON files must be UTF-8: %(error)s") % {"error": exc}) from exc
        stripped = head.lstrip()
        if stripped.startswith("["):
            return self._json_array(handle, head)
        if stripped.startswith("{"):
            handle.seek(0)
            return self._json_lines(handle)
        handle.close()
        raise ImportFileError(_("A JSON import must be an array of objects or one object per line (JSON lines)."))

    def _json_array(self, handle, buffer: str) -> Iterator[tuple[int, Row]]:
        """Decode ``[{…}, {…}]`` element by element with ``raw_decode`` over a sliding buffer."""
        decoder = json.JSONDecoder()
        position = buffer.index("[") + 1
        element = 0
        eof = False
        with handle:
            while True:
                # Skip whitespace and commas between elements.
                while True:
                    while position < len(buffer) and buffer[position] in " \t\r\n,":
                        position += 1
                    if position < len(buffer) or eof:
                        break
                    chunk = handle.read(READ_CHUNK)
                    eof = not chunk
                    buffer, position = buffer[position:] + chunk, 0
                if position >= len(buffer):
                    raise ImportFileError(_("The JSON array is not closed (file cut off?)."))
                if buffer[position] == "]":
                    return
                while True:
                    try:
                        value, end = decoder.raw_decode(buffer, position)
                        break
                    except json.JSONDecodeError as exc:
                        chunk = "" if eof else handle.read(READ_CHUNK)
                        if not chunk:
                            raise ImportFileError(
                                _("Invalid JSON in element %(n)s: %(error)s") % {"n": element + 1, "error": exc.msg}
                            ) from exc
                        buffer, position = buffer[position:] + chunk, 0
                element += 1
                position = end
                if len(buffer) > 4 * READ_CHUNK:
                    buffer, position = buffer[position:], 0
                yield element, value if isinstance(value, dict) else _not_an_object(value)

    def _json_lines(self, handle) -> Iterator[tuple[int, Row]]:
        with handle:
            for number, line in enumerate(handle, start=1):
                text = line.strip().lstrip("\ufeff")
                if not text:
                    continue
                try:
                    value = json.loads(text)
                except ValueError:
                    yield number, {ROW_ERROR: _("not valid JSON"), ROW_TEXT: text[:1000]}
                    continue
                yield number, value if isinstance(value, dict) else _not_an_object(value)


def _not_an_object(value: Any) -> dict[str, Any]:
    return {ROW_ERROR: _("not a JSON object"), ROW_TEXT: json.dumps(value, ensure_ascii=False, default=str)[:1000]}
