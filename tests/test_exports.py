"""CSV and XLSX downloads: what a spreadsheet would run as a formula is neutralized, everything else
round-trips exactly. Read back with the csv module and openpyxl, as a customer's tools would."""

import csv
import io

import pytest
from openpyxl import load_workbook

from enrichment.exports import rows_as_csv, rows_as_xlsx, runs_as_formula

DANGEROUS = [
    "=1+2", "+1+2", "-1+2", "@SUM(A1)", "=HYPERLINK(\"http://evil\",\"x\")", "+cmd|' /C calc'!A0",
    "\t=1+2", "\r=1+2", "\n=1+2", "\tplain", "\rplain", "\nplain",
    " =1+2", "   @SUM(A1)", "\u00a0=1+2", "\u3000+1+2",
    "\uff1d1+2", "\uff0b1+2", "\uff0d1+2", "\uff20SUM(A1)", " \uff1dcmd",
    "+44 7463 585880 =1", "+1 555 0100 abc", "-", "+", "-2+3+cmd|' /C calc'!A0",
]
HARMLESS = [
    "+44 7463 585880", "+1 (512) 555-0100", "+15125550100", " +44 20 7946 0958", "Jane Doe", "a=b",
    "jane+tag@acme.com", "1 Main St\nSuite 2", "", "O'Brien", "100%",
]


@pytest.mark.parametrize("text", DANGEROUS)
def test_owasp_formula_starts_and_their_full_width_look_alikes_would_run(text):
    assert runs_as_formula(text)


@pytest.mark.parametrize("text", HARMLESS)
def test_phone_numbers_and_ordinary_text_would_not(text):
    assert not runs_as_formula(text)


def csv_rows(columns, rows) -> list[dict]:
    return list(csv.DictReader(io.StringIO(rows_as_csv(columns, rows).decode("utf-8-sig"))))


def xlsx_cells(columns, rows) -> list[list]:
    sheet = load_workbook(io.BytesIO(rows_as_xlsx(columns, rows))).active
    return [list(row) for row in sheet.iter_rows()]


@pytest.mark.parametrize("text", DANGEROUS)
def test_csv_prefixes_a_dangerous_value_with_an_apostrophe(text):
    assert csv_rows(["value"], [{"value": text}]) == [{"value": "'" + text}]


@pytest.mark.parametrize("text", HARMLESS)
def test_csv_keeps_phone_numbers_and_ordinary_text_intact(text):
    assert csv_rows(["value"], [{"value": text}]) == [{"value": text}]


@pytest.mark.parametrize("text", [text for text in DANGEROUS + HARMLESS if text])
def test_xlsx_stores_text_as_a_string_cell_with_its_exact_value(text):
    _, (cell,) = xlsx_cells(["value"], [{"value": text}])
    assert cell.data_type == "s"
    # XML reads a bare CR as a line feed (every XML parser, Excel's too): still text, never a formula.
    assert cell.value == text.replace("\r", "\n")


def test_xlsx_cells_are_typed_numbers_as_numbers_and_text_as_text():
    row = {"employees": 250, "score": 3.5, "negative": -5, "active": True, "missing": None, "postal_code": "02134",
           "long_id": 12345678901234567890, "sources": {"job_title": "datacore"}}
    columns = list(row)
    header, values = xlsx_cells(columns, [row])
    assert [cell.value for cell in header] == columns
    assert [cell.value for cell in values] == [250, 3.5, -5, True, None, "02134", "12345678901234567890",
                                               '{"job_title": "datacore"}']
    assert [cell.data_type for cell in values] == ["n", "n", "n", "b", "n", "s", "s", "s"]


def test_an_empty_text_is_an_empty_xlsx_cell():
    _, (name, empty) = xlsx_cells(["name", "value"], [{"name": "Jane", "value": ""}])
    assert (name.value, empty.value) == ("Jane", None)


def test_csv_leaves_numbers_alone_and_writes_nested_values_as_json():
    row = {"negative": -5, "score": 3.5, "sources": {"job_title": "datacore"}, "missing": None}
    assert csv_rows(list(row), [row]) == [{"negative": "-5", "score": "3.5", "sources": '{"job_title": "datacore"}',
                                           "missing": ""}]


def test_xlsx_replaces_control_characters_a_worksheet_cannot_hold():
    _, (cell,) = xlsx_cells(["value"], [{"value": "bell\x07 and tab\tkept"}])
    assert cell.value == "bell\ufffd and tab\tkept"
