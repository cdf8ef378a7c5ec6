"""The files the `ecore` command reads and writes (ecore_client.records): headers as the service reads them,
and CSV cells a spreadsheet would run neutralized, as the service's own exports do."""

import csv
import io

import pytest
from ecore_client.records import read_records, rows_as_csv


@pytest.mark.parametrize("value", ["=1+1", " =HYPERLINK(\"x\")", "-2+3", "@SUM(A1)", "＝1", "＋1", "\tx", "\rx",
                                   "\nx", "+x"])
def test_a_value_that_would_run_as_a_formula_is_written_as_text(value):
    written = list(csv.reader(io.StringIO(rows_as_csv([{"note": value}]).decode("utf-8-sig"), newline="")))
    assert written[1] == ["'" + value]


@pytest.mark.parametrize("value", ["+44 7463 585880", "+1 (512) 555-0100", "hello", "", "42"])
def test_phone_numbers_and_plain_text_are_written_as_they_are(value):
    written = list(csv.reader(io.StringIO(rows_as_csv([{"phone": value}]).decode("utf-8-sig"), newline="")))
    assert written[1] == [value]


def test_headers_are_normalized_and_blank_rows_dropped(tmp_path):
    source = tmp_path / "people.csv"
    source.write_text(" First Name ,Company Name\nJane,Acme Corp\n,\n")
    assert read_records(source) == [{"first_name": "Jane", "company_name": "Acme Corp"}]
