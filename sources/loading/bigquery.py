"""Loading the BigQuery contact dataset and phone table, and a demo dataset from DataCore.

A file is written as NDJSON to a per-run staging table with a resumable `load_table_from_file` (it works
on the emulator, which refuses multipart uploads, and on BigQuery), then MERGEd into the table on
person_key: re-importing a file updates rows in place, and within one file the last line for a person
wins. Files are CSV or Parquet with the seed's column names.
"""

import json
import random
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import phonenumbers
import pyarrow.parquet as pq
from django.conf import settings
from django.utils import timezone
from google.cloud import bigquery

from sources.bigquery import (
    CONTACT_COLUMNS,
    NORM_COLUMNS,
    PHONE_COLUMNS,
    bigquery_client,
    cell_text,
    person_key,
    table_id,
)
from sources.fields import CONTACT_FIELDS, PHONE_FIELDS
from sources.loading.datacore import TRUE_VALUES
from sources.models import Person
from sources.normalize import (
    normalize_company_name,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_person_name,
)

COLUMN_TYPES = {"opted_out": "BOOL", "last_seen_at": "TIMESTAMP", "line": "INT64"}
CHUNK_ROWS = 50_000


@dataclass
class LoadReport:
    table: str
    rows: int = 0
    skipped: list[str] = field(default_factory=list)  # "line N: reason"
    merged: int = 0  # rows the MERGE inserted or updated

    def summary(self) -> str:
        loaded = self.rows - len(self.skipped)
        return f"{self.table}: {loaded} loaded ({self.merged} inserted or updated), {len(self.skipped)} skipped"


def _schema(columns: Iterable[str]):
    return [bigquery.SchemaField(name, COLUMN_TYPES.get(name, "STRING"),
                                 mode="REQUIRED" if name in ("person_key", "line") else "NULLABLE")
            for name in columns]


def ensure_tables() -> None:
    """Creates the dataset and both tables when missing."""
    client = bigquery_client()
    client.create_dataset(f"{settings.BIGQUERY_PROJECT}.{settings.BIGQUERY_DATASET}", exists_ok=True)
    for table, columns in ((settings.BIGQUERY_CONTACTS_TABLE, CONTACT_COLUMNS),
                           (settings.BIGQUERY_PHONES_TABLE, PHONE_COLUMNS)):
        client.create_table(bigquery.Table(table_id(table), schema=_schema(columns)), exists_ok=True)


def _timestamp(value) -> str | None:
    """A timestamp as BigQuery's JSON loader reads it, in UTC; None when empty; ValueError when not a date."""
    if cell_text(value) == "":
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%d %H:%M:%S.%f+00:00")


def _keys_of(row: dict) -> dict:
    """The normalized keys of an input row, computed as DataCore's import computes them."""
    return {
        "email_norm": normalize_email(row.get("contact_email")),
        "linkedin_norm": normalize_linkedin_url(row.get("contact_linkedin_url")),
        "first_norm": normalize_person_name(row.get("first_name")),
        "last_norm": normalize_person_name(row.get("last_name")),
        "company_name_norm": normalize_company_name(row.get("company_name")),
        "company_domain_norm": normalize_domain(row.get("company_website")),
    }


def contact_record(row: dict) -> dict:
    """A contacts-table record from a people-file row (seed field names)."""
    record = {name: cell_text(row.get(name)) for name in (*CONTACT_FIELDS, "company_name", "company_website")}
    record.update(_keys_of(record))
    record["opted_out"] = cell_text(row.get("opted_out")).lower() in TRUE_VALUES
    record["last_seen_at"] = _timestamp(row.get("last_seen_at"))
    record["person_key"] = person_key(record)
    return record


def phone_record(row: dict) -> dict:
    """A phones-table record from a phones-file row (the person's identifiers, phones, last_seen_at)."""
    record = {name: cell_text(row.get(name)) for name in ("first_name", "last_name", *PHONE_FIELDS)}
    record.update(_keys_of(row))
    record["last_seen_at"] = _timestamp(row.get("last_seen_at"))
    record["person_key"] = person_key(record)
    return record


def _file_rows(path: Path) -> Iterator[tuple[int, dict]]:
    """(line, row) of a CSV (physical line, header = 1) or Parquet file (1-based row), chunk by chunk."""
    if path.suffix.lower() in (".parquet", ".pq"):
        frames = (batch.to_pandas() for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS))
        first_line = 1
    else:
        frames = pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=CHUNK_ROWS)
        first_line = 2
    line = first_line
    for frame in frames:
        for row in frame.to_dict("records"):
            yield line, row
            line += 1


def _load_file(path, *, make_record, columns: tuple[str, ...], table: str) -> LoadReport:
    report = LoadReport(table=table)

    def records() -> Iterator[dict]:
        for line, row in _file_rows(Path(path)):
            report.rows += 1
            try:
                record = make_record(row)
            except ValueError as error:
                report.skipped.append(f"line {line}: last_seen_at is not a date ({error})")
                continue
            if not record["person_key"]:
                report.skipped.append(f"line {line}: no LinkedIn URL, no email, and no first and last name "
                                      "at a company to identify the person")
                continue
            yield {**record, "line": line}

    report.merged = load_records(records(), columns=columns, table=table)
    return report


def import_contacts(path) -> LoadReport:
    """Upserts a people file (DataCore's people columns) into the contacts table."""
    return _load_file(path, make_record=contact_record, columns=CONTACT_COLUMNS,
                      table=settings.BIGQUERY_CONTACTS_TABLE)


def import_phones(path) -> LoadReport:
    """Upserts a phones file (identifiers, contact_mobile_phone, contact_direct_phone, last_seen_at)."""
    return _load_file(path, make_record=phone_record, columns=PHONE_COLUMNS, table=settings.BIGQUERY_PHONES_TABLE)


def load_records(records: Iterable[dict], *, columns: tuple[str, ...], table: str) -> int:
    """Stages the records (each with a `line`) and MERGEs them into `table` on person_key; rows changed."""
    ensure_tables()
    client = bigquery_client()
    staging = table_id(f"_staging_{table}_{uuid.uuid4().hex[:8]}")
    with tempfile.TemporaryFile() as ndjson:
        for record in records:
            ndjson.write(json.dumps({name: record[name] for name in (*columns, "line")}, default=str).encode())
            ndjson.write(b"\n")
        if not ndjson.tell():
            return 0
        ndjson.seek(0)
        try:
            # No `size`: a resumable upload, the kind the emulator accepts too.
            client.load_table_from_file(ndjson, staging, job_config=bigquery.LoadJobConfig(
                schema=_schema((*columns, "line")), source_format=bigquery.SourceFormat.NEWLINE_DELIMITED_JSON,
                write_disposition=bigquery.WriteDisposition.WRITE_TRUNCATE)).result()
            merge = client.query(_merge_sql(table_id(table), staging, columns))
            merge.result()
            return merge.num_dml_affected_rows or 0
        finally:
            client.delete_table(staging, not_found_ok=True)


def _merge_sql(target: str, staging: str, columns: tuple[str, ...]) -> str:
    updated = [name for name in columns if name != "person_key"]
    return f"""
        MERGE `{target}` T
        USING (SELECT * FROM `{staging}` WHERE TRUE
               QUALIFY ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY line DESC) = 1) S
        ON T.person_key = S.person_key
        WHEN MATCHED THEN UPDATE SET {", ".join(f"{name} = S.{name}" for name in updated)}
        WHEN NOT MATCHED THEN INSERT ({", ".join(columns)}) VALUES ({", ".join(f"S.{name}" for name in columns)})
    """


# --- a demo dataset from DataCore ---------------------------------------------------------------

def export_datacore_slice(count: int) -> tuple[LoadReport, LoadReport]:
    """The first `count` DataCore people (by id) as the contact dataset, and a phones table that gives each
    of them the mobile or direct phone DataCore lacks: fictional numbers (the 555-01xx kind where the
    region has one), stable per person, so the demo shows BigQuery complementing DataCore."""

    contacts, phones = (LoadReport(table=settings.BIGQUERY_CONTACTS_TABLE),
                        LoadReport(table=settings.BIGQUERY_PHONES_TABLE))
    people = Person.objects.select_related("company").order_by("id")[:count]
    contact_records, phone_records = [], []
    seen_at = timezone.now()
    for line, person in enumerate(people, start=1):
        company = person.company
        record = {name: getattr(person, name) for name in (*CONTACT_FIELDS, *NORM_COLUMNS)}
        record.update(person_key=person.source_key, line=line, opted_out=person.opted_out,
                      last_seen_at=_timestamp(person.last_seen_at),
                      company_name=company.company_name if company else "",
                      company_website=company.company_website if company else "")
        contact_records.append(record)
        region = person.contact_office_country_code or (company.company_hq_country_code if company else "") or "US"
        phone = {name: record[name] for name in ("person_key", "line", "first_name", "last_name", *NORM_COLUMNS)}
        phone["contact_mobile_phone"] = "" if person.contact_mobile_phone else fictional_phone(
            person.source_key, region, phonenumbers.PhoneNumberType.MOBILE)
        phone["contact_direct_phone"] = "" if person.contact_direct_phone else fictional_phone(
            person.source_key, region, phonenumbers.PhoneNumberType.FIXED_LINE)
        phone["last_seen_at"] = _timestamp(seen_at)
        if phone["contact_mobile_phone"] or phone["contact_direct_phone"]:
            phone_records.append(phone)
    contacts.rows, phones.rows = len(contact_records), len(phone_records)
    contacts.merged = load_records(contact_records, columns=CONTACT_COLUMNS, table=contacts.table)
    phones.merged = load_records(phone_records, columns=PHONE_COLUMNS, table=phones.table)
    return contacts, phones


def fictional_phone(key: str, region: str, number_type: int) -> str:
    """A valid E.164 number near the region's example number (US: 201-555-01xx), the same for the same key."""
    example = (phonenumbers.example_number_for_type(region.upper(), number_type)
               or phonenumbers.example_number_for_type("US", number_type))
    national = phonenumbers.national_significant_number(example)
    rng = random.Random(f"{key}|{number_type}")
    for _ in range(20):
        number = phonenumbers.parse(f"+{example.country_code}{national[:-2]}{rng.randrange(100):02d}")
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
