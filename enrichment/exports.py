"""Results as CSV and XLSX downloads, safe to open in a spreadsheet program.

A text cell that a spreadsheet would run as a formula (CSV injection, OWASP's list: = + - @, tab,
CR, LF, after any leading whitespace, and the full-width ＝ ＋ － ＠ that some programs convert) is
neutralized. In CSV every cell is text, so such a value gets a leading apostrophe. In XLSX cells are
typed: numbers are numbers, and text is stored as a string cell, which no program evaluates, so it
keeps its exact value.
"""

import csv
import io
import json
import re

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

FORMULA_STARTS = frozenset("=+-@\uff1d\uff0b\uff0d\uff20")
FORMULA_CONTROL_STARTS = ("\t", "\r", "\n")
# A phone number may start with "+": digits and separators only, so nothing a spreadsheet could call.
PHONE_NUMBER = re.compile(r"\+[0-9][0-9 ().\-]*[0-9]")
PHONE_DIGITS = range(7, 16)
# Excel keeps 15 significant digits: a longer integer (an id, a phone) would be silently rounded.
EXACT_NUMBER_DIGITS = 15


def _is_phone_number(text: str) -> bool:
    return PHONE_NUMBER.fullmatch(text) is not None and sum(char.isdigit() for char in text) in PHONE_DIGITS


def runs_as_formula(text: str) -> bool:
    """Whether a spreadsheet could evaluate `text` as a formula if it were typed into a cell."""
    if text.startswith(FORMULA_CONTROL_STARTS):
        return True
    stripped = text.lstrip()
    return bool(stripped) and stripped[0] in FORMULA_STARTS and not _is_phone_number(stripped)


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _csv_cell(value) -> str:
    text = _text(value)
    return "'" + text if isinstance(value, str) and runs_as_formula(text) else text


def rows_as_csv(columns: list[str], rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_csv_cell(column) for column in columns])
    for row in rows:
        writer.writerow([_csv_cell(row.get(column)) for column in columns])
    return buffer.getvalue().encode("utf-8-sig")


def _xlsx_cell(sheet, value):
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float) and len(str(abs(int(value)))) <= EXACT_NUMBER_DIGITS:
        return value
    # Control characters other than tab, CR and LF cannot be written into a worksheet's XML.
    text = ILLEGAL_CHARACTERS_RE.sub("\ufffd", _text(value))
    if not text:
        return None
    cell = WriteOnlyCell(sheet, value=text)
    # openpyxl makes any text starting with "=" a formula; a string cell is never evaluated.
    cell.data_type = "s"
    return cell


def rows_as_xlsx(columns: list[str], rows: list[dict]) -> bytes:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("results")
    sheet.append([_xlsx_cell(sheet, column) for column in columns])
    for row in rows:
        sheet.append([_xlsx_cell(sheet, row.get(column)) for column in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
