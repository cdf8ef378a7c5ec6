"""Input records from CSV, Excel or JSON Lines, and result rows out to the same formats.

Headers are normalized as the service normalizes an uploaded file's (whitespace stripped,
lowercased, inner spaces to underscores) and empty cells are empty strings, so a file sent as
records means what it would mean uploaded.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

INPUT_FORMATS = (".csv", ".xlsx", ".jsonl", ".ndjson", ".json")
OUTPUT_FORMATS = (".csv", ".xlsx", ".jsonl", ".ndjson")
# A cell starting with one of these runs as a formula in a spreadsheet program (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@")
FULL_WIDTH_PREFIXES = ("＝", "＋", "－", "＠")
PHONE_NUMBER = re.compile(r"\+[0-9][0-9 ().\-]*[0-9]")  # with 7 to 15 digits


class RecordsError(ValueError):
    """The input file cannot be read as records."""


def _column(header) -> str:
    return "_".join(str(header if header is not None else "").strip().lower().split())


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _from_table(header: list, rows) -> list[dict]:
    columns = [_column(name) for name in header]
    records = []
    for row in rows:
        values = [_text(value) for value in row]
        if not any(value.strip() for value in values):
            continue
        records.append({column: (values[index] if index < len(values) else "")
                        for index, column in enumerate(columns) if column})
    return records


def _xlsx_module():
    try:
        import openpyxl
    except ImportError:
        raise RecordsError("Reading or writing .xlsx needs openpyxl: pip install 'ecore-client[xlsx]'.") from None
    return openpyxl


def read_records(path: str | Path) -> list[dict]:
    """The file's rows as records."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in INPUT_FORMATS:
        raise RecordsError(f"{path.name}: use a .csv, .xlsx, .jsonl or .json file.")
    try:
        if suffix == ".csv":
            with path.open(newline="", encoding="utf-8-sig") as handle:
                reader = csv.reader(handle)
                header = next(reader, [])
                return _from_table(header, reader)
        if suffix == ".xlsx":
            workbook = _xlsx_module().load_workbook(path, read_only=True, data_only=True)
            try:
                rows = workbook.worksheets[0].iter_rows(values_only=True)
                return _from_table(list(next(rows, ())), rows)
            finally:
                workbook.close()
        if suffix == ".json":
            records = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(records, list):
                raise RecordsError(f"{path.name}: a .json file must hold a list of records.")
        else:
            records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise RecordsError(f"{path.name}: {exc}") from None
    except Exception as exc:  # openpyxl raises several unrelated types for a file that is not a workbook
        if suffix == ".xlsx":
            raise RecordsError(f"{path.name}: not a readable .xlsx workbook ({type(exc).__name__}).") from None
        raise
    if not all(isinstance(record, dict) for record in records):
        raise RecordsError(f"{path.name}: every record must be a JSON object.")
    return records


def columns_of(rows: list[dict]) -> list[str]:
    """Every key, in the order the rows first use them (the service's column order)."""
    return list(dict.fromkeys(name for row in rows for name in row))


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def _safe_cell(value) -> str:
    text = _cell(value)
    return "'" + text if _runs_as_formula(text) else text


def _runs_as_formula(text: str) -> bool:
    """The service's rule (enrichment/exports.py): a leading formula character, after any whitespace, or a
    full-width look-alike, or a control character; a phone number such as +44 7463 585880 stays as it is."""
    if text[:1] in ("\t", "\r", "\n"):
        return True
    stripped = text.lstrip()
    if not stripped or stripped[0] not in FORMULA_PREFIXES + FULL_WIDTH_PREFIXES:
        return False
    return not (PHONE_NUMBER.fullmatch(stripped) and 7 <= sum(char.isdigit() for char in stripped) <= 15)


def rows_as_jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def rows_as_csv(rows: list[dict]) -> bytes:
    columns = columns_of(rows)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_safe_cell(row.get(column)) for column in columns])
    return buffer.getvalue().encode("utf-8-sig")


def rows_as_xlsx(rows: list[dict]) -> bytes:
    workbook = _xlsx_module().Workbook(write_only=True)
    sheet = workbook.create_sheet("results")
    columns = columns_of(rows)
    sheet.append(columns)
    for row in rows:
        sheet.append([_safe_cell(row.get(column)) for column in columns])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def write_rows(path: str | Path, rows: list[dict]) -> None:
    """Writes the rows in the format the file's extension names."""
    path = Path(path)
    suffix = path.suffix.lower()
    writers = {".csv": rows_as_csv, ".xlsx": rows_as_xlsx, ".jsonl": rows_as_jsonl, ".ndjson": rows_as_jsonl}
    if suffix not in writers:
        raise RecordsError(f"{path.name}: write to a .csv, .xlsx or .jsonl file.")
    path.write_bytes(writers[suffix](rows))
