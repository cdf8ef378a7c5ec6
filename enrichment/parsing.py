"""Turns an uploaded CSV or Excel file into Submit records (seed 000, "File Upload Format & Parsing Rules").

The file comes from an untrusted client, so every failure a client can provoke ends as a
`ValidationFailed` with a human sentence, and memory and time stay bounded: at most
`ENRICHMENT_HARD_LIMIT` records are kept; rows past it are only counted, and an XLSX sheet's rows
are counted in its XML, never built.
"""

import codecs
import contextlib
import csv
import datetime
import io
import math
import os
import re
import zipfile
from collections import Counter
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass

import openpyxl
import xlrd
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from openpyxl.reader.excel import ExcelReader
from openpyxl.xml.constants import SHARED_STRINGS

from ecore.exceptions import ValidationFailed

MB = 1024 * 1024
MAX_UNCOMPRESSED_BYTES = 50 * MB
MAX_COMPRESSION_RATIO = 100
# Small members (e.g. printer settings full of zeros) compress absurdly well yet cost nothing to inflate.
RATIO_CHECK_MIN_BYTES = MB
MAX_ARCHIVE_MEMBERS = 1000
# openpyxl pads every row to the header's width: a header cell far right would make each row thousands of cells.
MAX_COLUMNS = 1000
CSV_FALLBACK_ENCODINGS = ("utf-8-sig", "cp1252")
# openpyxl reads every shared string when it opens a workbook, about 12 µs each: 1.6 million fit the caps.
MAX_SHARED_STRINGS = 100_000
XLSX_SCAN_CHUNK_BYTES = MB

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

UNSUPPORTED_FORMAT = "Unsupported format. Use CSV or Excel."
EMPTY_FILE = "The file is empty."
NO_DATA_ROWS = "The file has no data rows."
BINARY_CSV = "The CSV file contains binary data. Save it as CSV (UTF-8) and upload it again."
UNREADABLE_CSV = "The CSV file could not be read. Check that it is a valid CSV file."
INVALID_EXCEL = "The file is not a valid Excel workbook."
DECOMPRESSION_BOMB = "The spreadsheet is too large when decompressed."
TOO_MANY_COLUMNS = f"The file has more than {MAX_COLUMNS} columns."
TOO_MANY_CELLS = "The sheet has too many cells. Delete the columns right of the data."
TOO_MANY_SHARED_STRINGS = (f"The workbook holds more than {MAX_SHARED_STRINGS} distinct texts. "
                           "Save the sheet to enrich as a workbook of its own.")

# A worksheet's XML, as the scan reads it (any namespace prefix, as SpreadsheetML allows).
_WORKSHEET_START = re.compile(rb"<(?:(\w+):)?worksheet\b[^>]*>")
_SHEET_DATA_START = re.compile(rb"<(?:\w+:)?sheetData\b[^>]*?(/?)>")
# A cell value (<v>) or a text run (<t>) with something in it: a row without one is blank.
_CELL_VALUE = re.compile(rb"<(?:\w+:)?[vt](?:\s[^>]*)?>(?!\s*</)")
_ROW_NUMBER = re.compile(rb"""\sr\s*=\s*(?:"[^"]*"|'[^']*')""")
_SHARED_STRING = re.compile(rb"<(?:\w+:)?si\b")
EMPTY_WORKSHEET = b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData/></worksheet>'

# openpyxl parses workbook XML through defusedxml only when it is importable and not disabled
# by OPENPYXL_DEFUSEDXML; without it, entity-expansion attacks reach the stdlib parser.
if not openpyxl.DEFUSEDXML:
    raise ImproperlyConfigured(
        "openpyxl must use defusedxml: install it and leave OPENPYXL_DEFUSEDXML unset."
    )


def too_large_message() -> str:
    return f"The file is too large. The maximum upload size is {settings.ENRICHMENT_MAX_UPLOAD_BYTES / MB:g} MB."


def parse_upload(uploaded_file) -> list[dict[str, str]]:
    """The file's records, one dict per non-empty data row, keyed by normalized header."""
    extension = os.path.splitext(uploaded_file.name or "")[1].lower()
    if extension not in (".csv", ".xlsx", ".xls"):
        raise ValidationFailed({"error": UNSUPPORTED_FORMAT})
    if uploaded_file.size > settings.ENRICHMENT_MAX_UPLOAD_BYTES:
        raise ValidationFailed({"error": too_large_message()}, status_code=413)
    if uploaded_file.size == 0:
        raise ValidationFailed({"error": EMPTY_FILE})
    is_csv = extension == ".csv"
    rows = _read_csv(uploaded_file) if is_csv else _read_excel(uploaded_file)
    # Closing at once, not at garbage collection, releases the workbook while the upload is still open.
    with contextlib.closing(rows):
        return _build_records(rows, cells_past_header_allowed=not is_csv)


def _build_records(rows: Iterable[Sequence], *, cells_past_header_allowed: bool) -> list[dict[str, str]]:
    """Records keyed by the first non-empty row; rows past the hard limit are counted, never kept.

    In a spreadsheet a cell right of the header row is just an unlabelled column, dropped like one
    with a blank header. In a CSV it usually means an unquoted delimiter shifted the row, so its
    values would land under the wrong headers: that row is refused.
    """
    non_empty = ((number, row) for number, row in enumerate(rows, start=1) if not _is_blank(row))
    first = next(non_empty, None)
    if first is None:
        raise ValidationFailed({"error": EMPTY_FILE})
    header = _row_texts(first[1])
    columns = _columns(header)
    limit = settings.ENRICHMENT_HARD_LIMIT
    records = []
    count = 0
    for number, row in non_empty:
        count += 1
        if count > limit:
            continue
        texts = _row_texts(row)
        if not cells_past_header_allowed and any(texts[len(header) :]):
            raise ValidationFailed({"error": f"Row {number} has more cells than the header row."})
        records.append({name: texts[position] if position < len(texts) else "" for position, name in columns})
    if count > limit:
        raise _too_many_records(count)
    if not records:
        raise ValidationFailed({"error": NO_DATA_ROWS})
    return records


def _too_many_records(count: int) -> ValidationFailed:
    return ValidationFailed({"error": f"Maximum {settings.ENRICHMENT_HARD_LIMIT} records. File has {count}."})


def _columns(header_cells: list[str]) -> list[tuple[int, str]]:
    """(position, name) of every non-blank header; blank header columns are dropped."""
    columns = [(position, _normalize_header(cell)) for position, cell in enumerate(header_cells) if cell]
    if columns[-1][0] >= MAX_COLUMNS:
        raise ValidationFailed({"error": TOO_MANY_COLUMNS})
    duplicates = sorted(name for name, seen in Counter(name for _, name in columns).items() if seen > 1)
    if duplicates:
        raise ValidationFailed({"error": f"Duplicate column headers: {', '.join(duplicates)}."})
    return columns


def _normalize_header(text: str) -> str:
    return "_".join(text.lower().split())


def _is_blank(row: Sequence) -> bool:
    # Deduplicating first keeps the check at C speed on wide rows that are mostly empty cells.
    return all(_cell_text(value) == "" for value in set(row))


def _row_texts(row: Sequence) -> list[str]:
    return [_cell_text(value) for value in row]


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value).strip()


def _float_text(value: float) -> str:
    if math.isnan(value):
        return ""
    if value.is_integer():
        return str(int(value))
    # Excel keeps 15 significant digits; more would print binary noise such as 0.30000000000000004.
    return format(value, ".15g")


def _read_csv(uploaded_file) -> Generator[list[str], None, None]:
    _reject_binary(uploaded_file)
    encoding = _csv_encoding(uploaded_file)
    delimiter = _csv_delimiter(uploaded_file, encoding)
    uploaded_file.seek(0)
    text = io.TextIOWrapper(uploaded_file, encoding=encoding, newline="")
    try:
        yield from _guarded(csv.reader(text, delimiter=delimiter), UNREADABLE_CSV)
    finally:
        # Detaching keeps the wrapper from closing the caller's upload when it is collected.
        text.detach()


def _reject_binary(uploaded_file) -> None:
    for chunk in uploaded_file.chunks():
        if b"\x00" in chunk:
            raise ValidationFailed({"error": BINARY_CSV})


def _csv_encoding(uploaded_file) -> str:
    """UTF-8 when the whole file decodes as such, else Excel's Windows-1252, else Latin-1 (never fails)."""
    for encoding in CSV_FALLBACK_ENCODINGS:
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            for chunk in uploaded_file.chunks():
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    return "latin-1"


def _csv_delimiter(uploaded_file, encoding: str) -> str:
    """Comma, unless the header line has none but has semicolons (European Excel) or tabs."""
    uploaded_file.seek(0)
    header_line = uploaded_file.readline(64 * 1024).decode(encoding, errors="replace")
    if "," in header_line:
        return ","
    for candidate in (";", "\t"):
        if candidate in header_line:
            return candidate
    return ","


def _read_excel(uploaded_file) -> Generator[Sequence, None, None]:
    """Dispatches on content, not extension: an .xls that is really an .xlsx is common."""
    uploaded_file.seek(0)
    magic = uploaded_file.read(len(OLE_MAGIC))
    if magic.startswith(ZIP_MAGIC):
        return _read_xlsx(uploaded_file)
    if magic == OLE_MAGIC:
        return _read_xls(uploaded_file)
    raise ValidationFailed({"error": INVALID_EXCEL})


def _read_xlsx(uploaded_file) -> Generator[tuple, None, None]:
    workbook = _open_xlsx(uploaded_file)
    if workbook is None:
        return
    try:
        sheet = workbook.worksheets[0]
        # The stored dimension is client-written; trusting it would pad or truncate every row.
        sheet.reset_dimensions()
        width = _xlsx_header_width(sheet)
        if width:
            yield from _guarded(sheet.iter_rows(values_only=True, max_col=width), INVALID_EXCEL)
    finally:
        workbook.close()


def _open_xlsx(uploaded_file):
    """The workbook as openpyxl reads it, its first worksheet reduced to the rows that have a value, or
    None when it has no worksheet.

    openpyxl builds every row it reads, about 8 µs each even when blank, so a sheet of 1.5 million
    rows held a web worker past gunicorn's timeout. A sheet far over the record limit is refused on
    the scan's count alone; near it, openpyxl reads every row the scan kept, and the count is exact
    (a row's value may still be blank text, or lie right of the header).
    """
    _check_archive(uploaded_file)
    uploaded_file.seek(0)
    try:
        reader = ExcelReader(uploaded_file, read_only=True, data_only=True)
        with reader.archive:
            reader.read_manifest()
            reader.read_workbook()
            # openpyxl's own choice of worksheets, in its order.
            worksheets = [rel.target for _, rel in reader.parser.find_sheets()
                          if rel.target in reader.valid_files and "chartsheet" not in rel.Type]
            if not worksheets:
                return None
            scan = _scan_worksheet(reader.archive, worksheets[0], keep=2 * settings.ENRICHMENT_HARD_LIMIT + 1)
            if len(scan.rows) < scan.count:
                raise _too_many_records(scan.count - 1)
            # openpyxl parses every cell of a row, past the header too (~10 µs each): no more than a valid file's.
            if scan.cells > (settings.ENRICHMENT_HARD_LIMIT + 1) * MAX_COLUMNS:
                raise ValidationFailed({"error": TOO_MANY_CELLS})
            _check_shared_strings(reader)
            slim = _slim_workbook(reader.archive, worksheets, scan.worksheet())
        return openpyxl.load_workbook(slim, read_only=True, data_only=True)
    except ValidationFailed:
        raise
    except Exception as exc:  # openpyxl has no single error type for malformed archives and XML
        raise ValidationFailed({"error": INVALID_EXCEL}) from exc


@dataclass(frozen=True)
class _WorksheetScan:
    start: bytes  # the XML up to and including the <sheetData> start tag
    end: bytes  # the closing tags for it
    rows: list[bytes]  # the first rows that have a value, numbered by their order (no `r`)
    count: int  # how many rows have a value
    cell_start: bytes = b"<c"

    @property
    def cells(self) -> int:
        """Cells in the rows kept."""
        return sum(row.count(self.cell_start) for row in self.rows)

    def worksheet(self) -> bytes:
        return b"".join([self.start, *self.rows, self.end])


def _scan_worksheet(archive: zipfile.ZipFile, path: str, *, keep: int) -> _WorksheetScan:
    """Counts the worksheet's rows that have a value, streaming its XML, and keeps the first `keep`.

    A row's end tag splits the XML; a piece with a cell value or a text run in it is a row with a
    value (a blank row's cells, if any, are empty). Row numbers are dropped: openpyxl yields an
    empty row for every number skipped, and a client may write r="1000000000".
    """
    with archive.open(path) as member:
        head, searched = bytearray(), 0
        while (sheet_data := _SHEET_DATA_START.search(head, max(searched - 256, 0))) is None:
            searched = len(head)
            chunk = member.read(XLSX_SCAN_CHUNK_BYTES)
            if not chunk:
                raise ValidationFailed({"error": INVALID_EXCEL})
            head += chunk
        root = _WORKSHEET_START.search(head, 0, sheet_data.start())
        if root is None or b"<!DOCTYPE" in head[:root.start()]:
            raise ValidationFailed({"error": INVALID_EXCEL})
        prefix = (root.group(1) + b":") if root.group(1) else b""
        start = bytes(head[:sheet_data.end()])
        if sheet_data.group(1):  # <sheetData/>: no rows at all
            return _WorksheetScan(start=start, end=b"</" + prefix + b"worksheet>", rows=[], count=0)
        row_start, row_end = b"<" + prefix + b"row", b"</" + prefix + b"row>"
        rows, count, pending = [], 0, head[sheet_data.end():]
        while True:
            last_end = pending.rfind(row_end)
            if last_end >= 0:
                valued = list(filter(_CELL_VALUE.search, bytes(pending[:last_end]).split(row_end)))
                count += len(valued)
                rows.extend(_numberless_row(piece, row_start, row_end) for piece in valued[:keep - len(rows)])
                del pending[:last_end + len(row_end)]
            else:
                # No row ends here: what precedes the last row start can only be blank, self-closed rows.
                del pending[:max(pending.rfind(row_start), 0)]
            chunk = member.read(XLSX_SCAN_CHUNK_BYTES)
            if not chunk:
                break
            pending += chunk
    return _WorksheetScan(start=start, end=b"</" + prefix + b"sheetData></" + prefix + b"worksheet>", rows=rows,
                          count=count, cell_start=b"<" + prefix + b"c")


def _numberless_row(piece: bytes, row_start: bytes, row_end: bytes) -> bytes:
    """The row element a piece ends with (blank self-closed rows may precede it), without its `r`."""
    position = piece.rfind(row_start)
    if position < 0:
        raise ValidationFailed({"error": INVALID_EXCEL})
    tag_end = piece.find(b">", position)
    return _ROW_NUMBER.sub(b"", piece[position:tag_end], count=1) + piece[tag_end:] + row_end


def _check_shared_strings(reader: ExcelReader) -> None:
    part = reader.package.find(SHARED_STRINGS)
    if part is None:
        return
    count = 0
    with reader.archive.open(part.PartName[1:]) as member:
        while chunk := member.read(XLSX_SCAN_CHUNK_BYTES):
            count += len(_SHARED_STRING.findall(chunk))
    if count > MAX_SHARED_STRINGS:
        raise ValidationFailed({"error": TOO_MANY_SHARED_STRINGS})


def _slim_workbook(archive: zipfile.ZipFile, worksheets: list[str], first_sheet: bytes) -> io.BytesIO:
    """The workbook with `first_sheet` as its first worksheet and its other worksheets empty (openpyxl
    opens each, and reads only the first). Stored, not compressed: it is read once, at once."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as slim:
        for member in archive.infolist():
            if member.is_dir():
                continue
            if member.filename == worksheets[0]:
                content = first_sheet
            elif member.filename in worksheets:
                content = EMPTY_WORKSHEET
            else:
                content = archive.read(member)
            slim.writestr(member.filename, content)
    buffer.seek(0)
    return buffer


def _xlsx_header_width(sheet) -> int:
    """Columns up to the header row's last value (0 when the sheet has none); openpyxl pads rows to it."""
    for row in _guarded(sheet.iter_rows(values_only=True), INVALID_EXCEL):
        texts = _row_texts(row)
        if any(texts):
            return max(position for position, text in enumerate(texts) if text) + 1
    return 0


def _check_archive(uploaded_file) -> None:
    """Refuses zip bombs from the central directory's sizes, before anything is inflated."""
    uploaded_file.seek(0)
    try:
        with zipfile.ZipFile(uploaded_file) as archive:
            members = archive.infolist()
    except Exception as exc:  # a malformed directory also raises NotImplementedError, struct.error, ...
        raise ValidationFailed({"error": INVALID_EXCEL}) from exc
    if len(members) > MAX_ARCHIVE_MEMBERS:
        raise ValidationFailed({"error": DECOMPRESSION_BOMB})
    if sum(member.file_size for member in members) > MAX_UNCOMPRESSED_BYTES:
        raise ValidationFailed({"error": DECOMPRESSION_BOMB})
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > RATIO_CHECK_MIN_BYTES and ratio > MAX_COMPRESSION_RATIO:
            raise ValidationFailed({"error": DECOMPRESSION_BOMB})


def _read_xls(uploaded_file) -> Generator[list, None, None]:
    """xlrd loads the whole sheet anyway, so rows are built up front; the upload cap bounds them."""
    uploaded_file.seek(0)
    try:
        # xlrd prints warnings about odd files to its log; they are not the client's business.
        book = xlrd.open_workbook(file_contents=uploaded_file.read(), on_demand=True, logfile=io.StringIO())
        sheets = [book.sheet_by_index(0)] if book.nsheets else []
        rows = [
            [_xls_value(cell, book.datemode) for cell in sheet.row(index)]
            for sheet in sheets
            for index in range(sheet.nrows)
        ]
    # xlrd raises assorted errors (XLRDError, struct.error, IndexError, ...) on corrupt files.
    except Exception as exc:
        raise ValidationFailed({"error": INVALID_EXCEL}) from exc
    yield from rows


def _xls_value(cell, datemode: int):
    if cell.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
        return None
    if cell.ctype == xlrd.XL_CELL_BOOLEAN:
        return bool(cell.value)
    if cell.ctype == xlrd.XL_CELL_ERROR:
        return xlrd.error_text_from_code.get(cell.value, "#ERROR")
    if cell.ctype == xlrd.XL_CELL_DATE:
        return _xls_date(cell.value, datemode)
    return cell.value


def _xls_date(serial: float, datemode: int):
    try:
        moment = xlrd.xldate_as_datetime(serial, datemode)
    except (xlrd.xldate.XLDateError, OverflowError, ValueError):
        return serial
    # Serials below one day are times of day; openpyxl reads those as `time`, so match it.
    return moment.time() if 0 <= serial < 1 else moment


def _guarded(rows: Iterator, message: str) -> Iterator:
    """Yields `rows`, turning any error the parser raises while reading into a 400 with `message`."""
    while True:
        try:
            row = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # parsing is lazy, so malformed content surfaces mid-iteration
            raise ValidationFailed({"error": message}) from exc
        yield row
