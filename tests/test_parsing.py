"""Upload parsing (seed 000, "File Upload Format & Parsing Rules"): pure unit tests, no database.

Fixture files are built in memory with csv, openpyxl and xlwt so no binary file is committed.
"""

import csv
import datetime
import io
import random
import re
import zipfile

import openpyxl
import pytest
import xlwt
from django.core.files.uploadedfile import SimpleUploadedFile, TemporaryUploadedFile
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecore.exceptions import ValidationFailed
from enrichment.parsing import (
    BINARY_CSV,
    DECOMPRESSION_BOMB,
    EMPTY_FILE,
    INVALID_EXCEL,
    MAX_ARCHIVE_MEMBERS,
    MAX_COLUMNS,
    MAX_SHARED_STRINGS,
    NO_DATA_ROWS,
    TOO_MANY_CELLS,
    TOO_MANY_COLUMNS,
    TOO_MANY_SHARED_STRINGS,
    UNSUPPORTED_FORMAT,
    parse_upload,
    too_large_message,
)

MB = 1024 * 1024

TYPED_HEADER = [
    " First Name ",
    "LAST  NAME",
    "Email",
    "Postal Code",
    "Employees",
    "Score",
    "Active",
    "Founded",
    "Seen At",
]
TYPED_ROWS = [
    [
        "Jane",
        "Doe",
        "jane@acme.com",
        94107.0,
        250,
        3.5,
        True,
        datetime.date(2020, 1, 15),
        datetime.datetime(2024, 3, 1, 10, 30),
    ],
    [" Zoë ", None, "", 2020.0, 14155551234.0, 0.1 + 0.2, False, None, None],
]
TEXT_ROWS = [
    ["Jane", "Doe", "jane@acme.com", "94107", "250", "3.5", "TRUE", "2020-01-15", "2024-03-01T10:30:00"],
    [" Zoë ", "", "", "2020", "14155551234", "0.3", "FALSE", "", ""],
]
EXPECTED = [
    {
        "first_name": "Jane",
        "last_name": "Doe",
        "email": "jane@acme.com",
        "postal_code": "94107",
        "employees": "250",
        "score": "3.5",
        "active": "TRUE",
        "founded": "2020-01-15",
        "seen_at": "2024-03-01T10:30:00",
    },
    {
        "first_name": "Zoë",
        "last_name": "",
        "email": "",
        "postal_code": "2020",
        "employees": "14155551234",
        "score": "0.3",
        "active": "FALSE",
        "founded": "",
        "seen_at": "",
    },
]


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def csv_bytes(rows, *, encoding="utf-8", delimiter=",") -> bytes:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter).writerows(rows)
    return text.getvalue().encode(encoding)


def xlsx_bytes(rows, *, extra_sheets=()) -> bytes:
    workbook = openpyxl.Workbook()
    workbook.active.title = "Contacts"
    for row in rows:
        workbook.active.append(row)
    for title, sheet_rows in extra_sheets:
        sheet = workbook.create_sheet(title)
        for row in sheet_rows:
            sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def xls_bytes(rows) -> bytes:
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Contacts")
    date_style = xlwt.easyxf(num_format_str="YYYY-MM-DD")
    datetime_style = xlwt.easyxf(num_format_str="YYYY-MM-DD HH:MM:SS")
    for row_index, row in enumerate(rows):
        for column, value in enumerate(row):
            if value is None:
                continue
            if isinstance(value, datetime.datetime):
                sheet.write(row_index, column, value, datetime_style)
            elif isinstance(value, datetime.date):
                sheet.write(row_index, column, value, date_style)
            else:
                sheet.write(row_index, column, value)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def rewrite_member(archive_bytes: bytes, name: str, content: bytes) -> bytes:
    """A copy of a zip archive with one member's content replaced."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(archive_bytes)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        assert name in source.namelist()
        for member in source.infolist():
            target.writestr(member.filename, content if member.filename == name else source.read(member))
    return buffer.getvalue()


def contact_rows(count: int) -> list[list[str]]:
    return [["First Name", "Email"]] + [[f"Person {i}", f"p{i}@example.com"] for i in range(count)]


FILE_BUILDERS = {"csv": csv_bytes, "xlsx": xlsx_bytes, "xls": xls_bytes}


def build(extension: str, rows) -> SimpleUploadedFile:
    return upload(f"contacts.{extension}", FILE_BUILDERS[extension](rows))


def rejection(uploaded_file) -> tuple[int, dict]:
    with pytest.raises(ValidationFailed) as caught:
        parse_upload(uploaded_file)
    return caught.value.status_code, caught.value.body


# --- format and extension -----------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["contacts.txt", "contacts.json", "contacts", "contacts.csv.exe", "contacts.xlsm", ".csv.zip"]
)
def test_unsupported_extension_is_rejected_with_the_seed_body(name):
    assert rejection(upload(name, b"first_name\nJane\n")) == (400, {"error": UNSUPPORTED_FORMAT})
    assert UNSUPPORTED_FORMAT == "Unsupported format. Use CSV or Excel."


@pytest.mark.parametrize("extension", ["csv", "xlsx", "xls"])
def test_extension_matching_is_case_insensitive(extension):
    content = FILE_BUILDERS[extension]([["Email"], ["jane@acme.com"]])
    assert parse_upload(upload(f"CONTACTS.{extension.upper()}", content)) == [{"email": "jane@acme.com"}]


@pytest.mark.parametrize("extension", ["csv", "xlsx", "xls"])
def test_the_same_data_parses_to_the_same_records_in_every_format(extension):
    rows = [TYPED_HEADER, *(TEXT_ROWS if extension == "csv" else TYPED_ROWS)]
    assert parse_upload(build(extension, rows)) == EXPECTED


@pytest.mark.parametrize("extension", ["csv", "xlsx", "xls"])
def test_a_disk_backed_upload_is_parsed_and_left_open_for_the_caller(extension):
    content = FILE_BUILDERS[extension]([["Email"], ["jane@acme.com"]])
    uploaded = TemporaryUploadedFile(f"c.{extension}", "application/octet-stream", len(content), None)
    uploaded.write(content)
    assert parse_upload(uploaded) == [{"email": "jane@acme.com"}]
    uploaded.seek(0)
    assert uploaded.read() == content
    uploaded.close()


def test_an_xls_named_file_holding_an_xlsx_workbook_is_read_by_content():
    content = xlsx_bytes([["Email"], ["jane@acme.com"]])
    assert parse_upload(upload("contacts.xls", content)) == [{"email": "jane@acme.com"}]


def test_only_the_first_worksheet_is_read():
    content = xlsx_bytes(
        [["Email"], ["first@acme.com"]], extra_sheets=[("Other", [["Email"], ["second@acme.com"]])]
    )
    assert parse_upload(upload("contacts.xlsx", content)) == [{"email": "first@acme.com"}]


# --- headers -----------------------------------------------------------------------------


def test_headers_are_stripped_lowercased_and_whitespace_runs_become_underscores():
    content = csv_bytes(
        [
            [" First Name ", "LAST\tNAME", "  E-Mail  ", "Company   Name"],
            ["Jane", "Doe", "j@acme.com", "Acme"],
        ]
    )
    assert parse_upload(upload("c.csv", content)) == [
        {"first_name": "Jane", "last_name": "Doe", "e-mail": "j@acme.com", "company_name": "Acme"}
    ]


def test_blank_header_columns_are_dropped():
    content = csv_bytes([["", "First Name", "  ", "Email"], ["0", "Jane", "ignored", "j@acme.com"]])
    assert parse_upload(upload("c.csv", content)) == [{"first_name": "Jane", "email": "j@acme.com"}]


def test_duplicate_headers_after_normalization_are_named():
    content = csv_bytes([["Email", "email", "First Name", "first_name", "Phone"], ["a", "b", "c", "d", "e"]])
    assert rejection(upload("c.csv", content)) == (
        400,
        {"error": "Duplicate column headers: email, first_name."},
    )


def test_leading_empty_rows_before_the_header_are_skipped():
    content = xlsx_bytes([[], [None, None], ["Email"], ["jane@acme.com"]])
    assert parse_upload(upload("c.xlsx", content)) == [{"email": "jane@acme.com"}]


# --- cells -------------------------------------------------------------------------------


def test_values_are_stripped_and_short_rows_are_padded_with_empty_strings():
    content = b"first_name,last_name,email\n  Jane  Ann ,Doe\n"
    assert parse_upload(upload("c.csv", content)) == [
        {"first_name": "Jane  Ann", "last_name": "Doe", "email": ""}
    ]


def test_a_row_with_a_value_beyond_the_header_row_is_rejected_with_its_row_number():
    content = b"first_name,email\nJane,j@acme.com\nJohn,Doe,john@acme.com\n"
    assert rejection(upload("c.csv", content)) == (
        400,
        {"error": "Row 3 has more cells than the header row."},
    )


@pytest.mark.parametrize("extension", ["xlsx", "xls"])
def test_spreadsheet_cells_right_of_the_header_row_are_an_unlabelled_column_and_dropped(extension):
    rows = [["First Name", "Email"], ["Jane", "j@acme.com", "stray note"], [None, "x@acme.com", None, "far"]]
    assert parse_upload(build(extension, rows)) == [
        {"first_name": "Jane", "email": "j@acme.com"},
        {"first_name": "", "email": "x@acme.com"},
    ]


@pytest.mark.parametrize("extension", ["csv", "xlsx"])
def test_a_header_row_wider_than_the_column_cap_is_rejected(extension):
    header = ["Email", *[None if extension == "xlsx" else "" for _ in range(MAX_COLUMNS - 1)], "Extra"]
    assert rejection(build(extension, [header, ["j@acme.com"]])) == (400, {"error": TOO_MANY_COLUMNS})
    assert TOO_MANY_COLUMNS == "The file has more than 1000 columns."


def test_a_header_at_the_last_excel_column_is_rejected_without_padding_every_row():
    workbook = openpyxl.Workbook()
    workbook.active["A1"] = "Email"
    workbook.active["XFD1"] = "Stray"
    # 1,000 rows: openpyxl reads them all (further over the limit, the row count is refused first, as the seed
    # orders the checks: row count, then column normalization).
    for row in range(2, 1002):
        workbook.active.cell(row=row, column=16384, value=1)
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert rejection(upload("c.xlsx", buffer.getvalue())) == (400, {"error": TOO_MANY_COLUMNS})


def test_trailing_empty_cells_beyond_the_header_row_are_ignored():
    content = b"first_name,email\nJane,j@acme.com,,\n"
    assert parse_upload(upload("c.csv", content)) == [{"first_name": "Jane", "email": "j@acme.com"}]


def test_fully_empty_rows_are_skipped_and_not_counted():
    rows = contact_rows(500)
    padded = rows[:2] + [[], ["", "  "]] * 30 + rows[2:]
    assert len(parse_upload(build("csv", padded))) == 500
    assert len(parse_upload(build("xlsx", [*rows[:3], [], [None, None], *rows[3:]]))) == 500


def test_quoted_cells_keep_their_delimiters_and_line_breaks():
    content = b'name,notes\n"Doe, Jane","line one\nline two"\n'
    assert parse_upload(upload("c.csv", content)) == [{"name": "Doe, Jane", "notes": "line one\nline two"}]


@pytest.mark.parametrize("extension", ["xlsx", "xls"])
def test_whole_excel_numbers_lose_their_decimal_point(extension):
    rows = [["Year", "Zip", "Ratio", "Big", "Negative"], [2020.0, 94107, 1.25, 1e15, -3.0]]
    assert parse_upload(build(extension, rows)) == [
        {"year": "2020", "zip": "94107", "ratio": "1.25", "big": "1000000000000000", "negative": "-3"}
    ]


def test_excel_time_cells_become_iso_times():
    assert parse_upload(build("xlsx", [["At"], [datetime.time(9, 5)]])) == [{"at": "09:05:00"}]


def test_nan_from_an_xls_number_cell_is_an_empty_string():
    assert parse_upload(build("xls", [["Score", "Name"], [float("nan"), "Jane"]])) == [
        {"score": "", "name": "Jane"}
    ]


# --- CSV text ----------------------------------------------------------------------------


def test_utf8_byte_order_mark_is_not_part_of_the_first_header():
    content = "\ufeffFirst Name,Email\nJane,j@acme.com\n".encode()
    assert parse_upload(upload("c.csv", content)) == [{"first_name": "Jane", "email": "j@acme.com"}]


def test_windows_1252_csv_from_excel_is_decoded():
    content = "first_name,last_name\nZoë,O’Brien\n".encode("cp1252")
    assert parse_upload(upload("c.csv", content)) == [{"first_name": "Zoë", "last_name": "O’Brien"}]


def test_bytes_undefined_in_windows_1252_fall_back_to_latin_1():
    content = b"first_name\nJos\xe9\x81\n"
    assert parse_upload(upload("c.csv", content)) == [{"first_name": "José\x81"}]


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_semicolon_and_tab_separated_exports_are_read(delimiter):
    content = csv_bytes([["First Name", "Email"], ["Jane", "j@acme.com"]], delimiter=delimiter)
    assert parse_upload(upload("c.csv", content)) == [{"first_name": "Jane", "email": "j@acme.com"}]


def test_csv_with_nul_bytes_is_rejected_as_binary():
    assert rejection(upload("c.csv", b"first_name\nJa\x00ne\n")) == (400, {"error": BINARY_CSV})
    assert rejection(upload("c.csv", "first_name\nJane\n".encode("utf-16"))) == (400, {"error": BINARY_CSV})


def test_csv_with_an_oversized_field_is_rejected():
    content = b"notes\n" + b"x" * (200 * 1024) + b"\n"
    assert rejection(upload("c.csv", content)) == (
        400,
        {"error": "The CSV file could not be read. Check that it is a valid CSV file."},
    )


# --- empty and header-only files --------------------------------------------------------


@pytest.mark.parametrize("name", ["c.csv", "c.xlsx", "c.xls"])
def test_an_empty_file_is_rejected(name):
    assert rejection(upload(name, b"")) == (400, {"error": EMPTY_FILE})


@pytest.mark.parametrize("content", [b"\n\n", b" , \r\n,,\r\n"])
def test_a_csv_of_blank_lines_is_rejected_as_empty(content):
    assert rejection(upload("c.csv", content)) == (400, {"error": EMPTY_FILE})


def test_an_xlsx_with_no_cells_is_rejected_as_empty():
    assert rejection(upload("c.xlsx", xlsx_bytes([]))) == (400, {"error": EMPTY_FILE})


@pytest.mark.parametrize("extension", ["csv", "xlsx", "xls"])
def test_a_header_only_file_is_rejected(extension):
    assert rejection(build(extension, [["First Name", "Email"], [], ["", None]])) == (
        400,
        {"error": NO_DATA_ROWS},
    )
    assert NO_DATA_ROWS == "The file has no data rows."


# --- the 500-record ceiling ---------------------------------------------------------------


@pytest.mark.parametrize("extension", ["csv", "xlsx", "xls"])
def test_500_records_are_accepted(extension):
    records = parse_upload(build(extension, contact_rows(500)))
    assert len(records) == 500
    assert records[-1] == {"first_name": "Person 499", "email": "p499@example.com"}


@pytest.mark.parametrize("extension", ["csv", "xlsx", "xls"])
@pytest.mark.parametrize("count", [501, 712])
def test_more_than_500_records_are_rejected_with_the_files_count(extension, count):
    assert rejection(build(extension, contact_rows(count))) == (
        400,
        {"error": f"Maximum 500 records. File has {count}."},
    )


def test_a_large_csv_is_counted_to_the_end():
    assert rejection(build("csv", contact_rows(20_000))) == (
        400,
        {"error": "Maximum 500 records. File has 20000."},
    )


SPREADSHEET_NS = b"http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def xlsx_with_sheet(rows_xml: bytes, *, prefix: bytes = b"") -> bytes:
    """A workbook whose first sheet's <sheetData> holds `rows_xml` (SpreadsheetML written by hand)."""
    declaration = b"xmlns:x" if prefix else b"xmlns"
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?><' + prefix + b"worksheet " + declaration + b'="'
             + SPREADSHEET_NS + b'"><' + prefix + b"sheetData>" + rows_xml + b"</" + prefix + b"sheetData></"
             + prefix + b"worksheet>")
    return rewrite_member(xlsx_bytes([["Email"], ["x"]]), "xl/worksheets/sheet1.xml", sheet)


def number_rows(count: int, *, start: int = 2) -> bytes:
    return b"".join(b'<row r="%d"><c r="A%d"><v>%d</v></c></row>' % (row, row, row) for row in range(start, start + count))


HEADER_ROW = b'<row r="1"><c r="A1" t="inlineStr"><is><t>Email</t></is></c></row>'
BLANK_ROWS = (b'<row r="5"/><row r="6" ht="20" customHeight="1"></row><row r="7"><c r="A7" s="1"/><c r="B7" t="s"/>'
              b'</row><row r="8"><c r="A8" t="inlineStr"><is><t xml:space="preserve">   </t></is></c></row>'
              b'<row r="9"><c r="A9"><f>SUM(B1:B2)</f></c><c r="B9"><v></v></c></row>')


def test_a_sheet_far_over_the_limit_is_refused_with_the_count_of_its_rows_that_hold_a_value():
    content = xlsx_with_sheet(HEADER_ROW + BLANK_ROWS + number_rows(200_000, start=10) + BLANK_ROWS)
    assert rejection(upload("c.xlsx", content)) == (400, {"error": "Maximum 500 records. File has 200000."})


def test_rows_right_of_the_header_or_of_blank_text_are_no_records_near_the_limit():
    values_right_of_the_header = b"".join(
        b'<row r="%d"><c r="C%d" t="inlineStr"><is><t>note</t></is></c></row>' % (row, row) for row in range(2, 402))
    content = xlsx_with_sheet(HEADER_ROW + values_right_of_the_header + number_rows(450, start=402))
    assert len(parse_upload(upload("c.xlsx", content))) == 450


def test_a_row_numbered_past_the_last_excel_row_is_read_without_padding_the_gap():
    content = xlsx_with_sheet(HEADER_ROW + b'<row r="9000000000"><c r="A9000000000"><v>42</v></c></row>')
    assert parse_upload(upload("c.xlsx", content)) == [{"email": "42"}]


def test_a_worksheet_with_a_namespace_prefix_is_read():
    rows = (b'<x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>Email</x:t></x:is></x:c></x:row>'
            b'<x:row r="2"><x:c r="A2" t="inlineStr"><x:is><x:t>j@acme.com</x:t></x:is></x:c></x:row>')
    assert parse_upload(upload("c.xlsx", xlsx_with_sheet(rows, prefix=b"x:"))) == [{"email": "j@acme.com"}]
    far_over = b"".join(b'<x:row><x:c><x:v>%d</x:v></x:c></x:row>' % row for row in range(1, 1502))
    assert rejection(upload("c.xlsx", xlsx_with_sheet(far_over, prefix=b"x:"))) == (
        400, {"error": "Maximum 500 records. File has 1500."})


def test_rows_holding_more_cells_than_a_valid_file_can_are_refused_before_openpyxl_reads_them():
    generator = random.Random(5)

    def wide_rows(count: int) -> bytes:  # varied, or the sheet would fail the compression-ratio check
        return b"".join(b"<row>" + b"".join(b"<c><v>%d</v></c>" % generator.randrange(1000) for _ in range(1100))
                        + b"</row>" for _ in range(count))

    assert rejection(upload("c.xlsx", xlsx_with_sheet(HEADER_ROW + wide_rows(460)))) == (400, {"error": TOO_MANY_CELLS})
    assert TOO_MANY_CELLS == "The sheet has too many cells. Delete the columns right of the data."
    assert len(parse_upload(upload("c.xlsx", xlsx_with_sheet(HEADER_ROW + wide_rows(3))))) == 3


def with_shared_strings(archive_bytes: bytes, strings: list[str]) -> bytes:
    """A copy of an openpyxl workbook (inline strings only) given a shared-string table."""
    table = (b'<sst xmlns="' + SPREADSHEET_NS + b'">'
             + b"".join(b"<si><t>%s</t></si>" % text.encode() for text in strings) + b"</sst>")
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as source:
        types = source.read("[Content_Types].xml").replace(b"</Types>", (
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument'
            b'.spreadsheetml.sharedStrings+xml"/></Types>'))
        rels = source.read("xl/_rels/workbook.xml.rels").replace(b"</Relationships>", (
            b'<Relationship Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"'
            b' Target="sharedStrings.xml" Id="rIdStrings"/></Relationships>'))
    content = rewrite_member(rewrite_member(archive_bytes, "[Content_Types].xml", types),
                             "xl/_rels/workbook.xml.rels", rels)
    buffer = io.BytesIO(content)
    with zipfile.ZipFile(buffer, "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/sharedStrings.xml", table)
    return buffer.getvalue()


def test_shared_strings_are_read_for_the_rows_kept():
    rows = (b'<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
            b'<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c></row>')
    content = with_shared_strings(xlsx_with_sheet(rows), ["First Name", "Email", "Jane", "j@acme.com"])
    assert parse_upload(upload("c.xlsx", content)) == [{"first_name": "Jane", "email": "j@acme.com"}]


def test_a_shared_string_table_too_large_to_read_quickly_is_refused_for_a_sheet_within_the_limit():
    strings = ["Email", *(f"p{index}@example.com" for index in range(MAX_SHARED_STRINGS))]
    rows = b'<row r="1"><c r="A1" t="s"><v>0</v></c></row><row r="2"><c r="A2" t="s"><v>1</v></c></row>'
    assert rejection(upload("c.xlsx", with_shared_strings(xlsx_with_sheet(rows), strings))) == (
        400, {"error": TOO_MANY_SHARED_STRINGS})
    assert TOO_MANY_SHARED_STRINGS == ("The workbook holds more than 100000 distinct texts. Save the sheet to enrich "
                                       "as a workbook of its own.")
    # Far over the limit the count is all that is needed: the table is not read.
    far_over = b"".join(b'<row><c t="s"><v>%d</v></c></row>' % index for index in range(1502))
    assert rejection(upload("c.xlsx", with_shared_strings(xlsx_with_sheet(far_over), strings))) == (
        400, {"error": "Maximum 500 records. File has 1501."})


def test_a_file_over_the_upload_cap_is_refused_with_413():
    content = b"email\n" + b"a@b.co\n" * (10 * MB // 7 + 1)
    assert rejection(upload("c.csv", content)) == (413, {
        "error": "The file is too large. The maximum upload size is 10 MB."})


@override_settings(ENRICHMENT_MAX_UPLOAD_BYTES=MB // 2)
def test_the_upload_cap_is_read_from_settings_when_a_file_arrives():
    content = b"email\n" + b"a@b.co\n" * (MB // 14 + 1)
    assert too_large_message() == "The file is too large. The maximum upload size is 0.5 MB."
    assert rejection(upload("c.csv", content)) == (413, {"error": too_large_message()})


# --- corrupt and hostile files -----------------------------------------------------------


@pytest.fixture(scope="module")
def random_10mb() -> bytes:
    return random.Random(0).randbytes(10 * MB)


@pytest.mark.parametrize(
    ("name", "error"), [("c.csv", BINARY_CSV), ("c.xlsx", INVALID_EXCEL), ("c.xls", INVALID_EXCEL)]
)
def test_ten_megabytes_of_random_bytes_are_rejected(random_10mb, name, error):
    assert rejection(upload(name, random_10mb)) == (400, {"error": error})


def test_random_bytes_without_nul_in_a_csv_give_a_400_not_a_crash():
    content = bytes(random.Random(1).choices(range(1, 256), k=MB // 2))
    status, body = rejection(upload("c.csv", content))
    assert status == 400 and isinstance(body["error"], str)


@pytest.mark.parametrize(
    "content",
    [
        b"PK\x03\x04" + random.Random(2).randbytes(4096),
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + random.Random(3).randbytes(4096),
        b"first_name,email\nJane,j@acme.com\n",
        b"<html><table><tr><td>Email</td></tr></table></html>",
    ],
    ids=["zip-magic-garbage", "ole-magic-garbage", "csv-renamed", "html-renamed"],
)
@pytest.mark.parametrize("name", ["c.xlsx", "c.xls"])
def test_files_that_are_not_workbooks_are_rejected(name, content):
    assert rejection(upload(name, content)) == (400, {"error": INVALID_EXCEL})


@pytest.mark.parametrize("extension", ["xlsx", "xls"])
def test_a_truncated_workbook_is_rejected(extension):
    content = FILE_BUILDERS[extension](contact_rows(50))
    assert rejection(upload(f"c.{extension}", content[: len(content) // 2])) == (
        400,
        {"error": INVALID_EXCEL},
    )


def test_a_zip_that_is_not_a_workbook_is_rejected():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme.txt", "hello")
    assert rejection(upload("c.xlsx", buffer.getvalue())) == (400, {"error": INVALID_EXCEL})


def test_xml_entities_in_a_worksheet_are_refused_not_expanded():
    sheet = (
        b'<?xml version="1.0"?><!DOCTYPE bomb [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>Email</t></is></c></row>'
        b'<row r="2"><c r="A2" t="inlineStr"><is><t>&b;</t></is></c></row>'
        b"</sheetData></worksheet>"
    )
    content = rewrite_member(xlsx_bytes([["Email"], ["x"]]), "xl/worksheets/sheet1.xml", sheet)
    assert rejection(upload("c.xlsx", content)) == (400, {"error": INVALID_EXCEL})


def test_a_lying_dimension_record_does_not_truncate_rows():
    original = xlsx_bytes([["First Name", "Email"], ["Jane", "j@acme.com"]])
    with zipfile.ZipFile(io.BytesIO(original)) as archive:
        sheet = archive.read("xl/worksheets/sheet1.xml")
    lying = re.sub(rb'<dimension ref="A1:B2"\s*/>', b'<dimension ref="A1:A1"/>', sheet)
    assert lying != sheet
    content = rewrite_member(original, "xl/worksheets/sheet1.xml", lying)
    assert parse_upload(upload("c.xlsx", content)) == [{"first_name": "Jane", "email": "j@acme.com"}]


def test_a_zip_bomb_over_the_decompressed_cap_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        with archive.open("xl/worksheets/sheet1.xml", "w") as member:
            zeros = bytes(MB)
            for _ in range(64):
                member.write(zeros)
    assert len(buffer.getvalue()) < MB
    assert rejection(upload("bomb.xlsx", buffer.getvalue())) == (400, {"error": DECOMPRESSION_BOMB})
    assert DECOMPRESSION_BOMB == "The spreadsheet is too large when decompressed."


def test_a_member_with_an_absurd_compression_ratio_is_refused():
    content = rewrite_member(xlsx_bytes(contact_rows(2)), "xl/worksheets/sheet1.xml", bytes(5 * MB))
    assert rejection(upload("c.xlsx", content)) == (400, {"error": DECOMPRESSION_BOMB})


def test_a_zip_with_too_many_members_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(MAX_ARCHIVE_MEMBERS + 1):
            archive.writestr(f"xl/parts/{index}.xml", b"")
    assert rejection(upload("c.xlsx", buffer.getvalue())) == (400, {"error": DECOMPRESSION_BOMB})


@pytest.mark.parametrize("extension", ["xlsx", "xls"])
def test_corrupted_workbooks_never_raise_anything_but_validation_failed(extension):
    original = FILE_BUILDERS[extension]([TYPED_HEADER, *TYPED_ROWS])
    generator = random.Random(4)
    for _ in range(60):
        damaged = bytearray(original)
        for _ in range(generator.randint(1, 8)):
            damaged[generator.randrange(len(damaged))] = generator.randrange(256)
        try:
            parse_upload(upload(f"c.{extension}", bytes(damaged)))
        except ValidationFailed as failure:
            assert failure.status_code == 400 and isinstance(failure.body["error"], str)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(content=st.binary(max_size=2048), extension=st.sampled_from(["csv", "xlsx", "xls"]))
def test_arbitrary_bytes_never_raise_anything_but_validation_failed(content, extension):
    try:
        records = parse_upload(upload(f"c.{extension}", content))
    except ValidationFailed as failure:
        assert failure.status_code == 400 and isinstance(failure.body["error"], str)
    else:
        assert all(isinstance(value, str) for record in records for value in record.values())
