"""The BigQuery contact dataset and phone table: batch lookups (one query per call) and loading.

Configuration (`ecore.settings`): with `BIGQUERY_EMULATOR_HOST` ("host:port" or "http://host:port") the
client talks to the emulator anonymously; otherwise, only when `BIGQUERY_ENABLED`, to real BigQuery with
Application Default Credentials. With neither, BigQuery is off and its stages are skipped.

Tables, in `BIGQUERY_PROJECT`.`BIGQUERY_DATASET`:

`BIGQUERY_CONTACTS_TABLE` (default `contacts`), one row per person:
    person_key            STRING NOT NULL  DataCore's natural key of the person (see `person_key`)
    first_name … contact_office_state_code  STRING  every contact field, under the seed's names
    company_name, company_website           STRING  the person's employer as given
    email_norm, linkedin_norm, first_norm, last_norm, company_name_norm, company_domain_norm  STRING
                                            `sources.normalize` keys, computed exactly as DataCore's
    opted_out             BOOL             never return this person
    last_seen_at          TIMESTAMP        when the dataset last saw the record (field provenance)

`BIGQUERY_PHONES_TABLE` (default `phones`), mobile and direct phones; other feeds may append a person's
history, so a lookup takes each person's newest row that has a phone:
    person_key            STRING NOT NULL
    first_name, last_name STRING
    email_norm, linkedin_norm, first_norm, last_norm, company_name_norm, company_domain_norm  STRING
    contact_mobile_phone, contact_direct_phone  STRING
    last_seen_at          TIMESTAMP

Loading (`import_contacts`, `import_phones`, `export_datacore_slice`) writes NDJSON to a per-run staging
table with a resumable `load_table_from_file` (it works on the emulator, which refuses multipart uploads,
and on BigQuery), then MERGEs it into the table on person_key: re-importing a file updates rows in place,
and within one file the last line for a person wins. Files are CSV or Parquet with the seed's column names.
"""

import json
import logging
import random
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd
import phonenumbers
import pyarrow.parquet as pq
from django.conf import settings
from django.utils import timezone

from sources.fields import CONTACT_FIELDS, PHONE_FIELDS
from sources.normalize import (
    normalize_company_name,
    normalize_domain,
    normalize_email,
    normalize_linkedin_url,
    normalize_person_name,
)

logger = logging.getLogger(__name__)

SOURCE = "bigquery"
NOT_CONFIGURED = "BigQuery is not configured"

NORM_COLUMNS = ("email_norm", "linkedin_norm", "first_norm", "last_norm", "company_name_norm", "company_domain_norm")
CONTACT_COLUMNS = ("person_key", *CONTACT_FIELDS, "company_name", "company_website", *NORM_COLUMNS, "opted_out",
                   "last_seen_at")
PHONE_COLUMNS = ("person_key", "first_name", "last_name", *NORM_COLUMNS, *PHONE_FIELDS, "last_seen_at")
COLUMN_TYPES = {"opted_out": "BOOL", "last_seen_at": "TIMESTAMP", "line": "INT64"}

CHUNK_ROWS = 50_000
TRUE_VALUES = frozenset({"true", "t", "yes", "y", "1"})


class BigQueryUnavailable(Exception):
    """BigQuery did not answer in time, or refused: the stage records it and the job moves on."""


class TableMissing(BigQueryUnavailable):
    """The configured dataset or table does not exist (nothing imported yet, or a wrong setting)."""


# --- client -------------------------------------------------------------------------------------

def is_configured() -> bool:
    return bool(settings.BIGQUERY_EMULATOR_HOST) or settings.BIGQUERY_ENABLED


def emulator_endpoint(host: str) -> str:
    """The emulator's base URL from "host:port" (what the emulator's own tooling exports) or a URL."""
    host = host.strip().rstrip("/")
    return host if "://" in host else f"http://{host}"


def bigquery_client():
    """The configured client: the emulator's, else real BigQuery's with Application Default Credentials."""
    if not is_configured():
        raise RuntimeError(NOT_CONFIGURED)
    return _client(settings.BIGQUERY_PROJECT, settings.BIGQUERY_EMULATOR_HOST)


@lru_cache(maxsize=4)
def _client(project: str, emulator_host: str):
    # Imported here: the library takes seconds to import and most processes never query BigQuery.
    from google.cloud import bigquery

    if not emulator_host:
        return bigquery.Client(project=project)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(project=project, credentials=AnonymousCredentials(),
                           client_options=ClientOptions(api_endpoint=emulator_endpoint(emulator_host)))


def table_id(table: str) -> str:
    return f"{settings.BIGQUERY_PROJECT}.{settings.BIGQUERY_DATASET}.{table}"


def _run_query(sql: str, arrays: dict[str, Iterable[str]]) -> list[dict]:
    import concurrent.futures

    import requests
    from google.api_core.exceptions import GoogleAPIError, NotFound
    from google.cloud import bigquery
    from google.cloud.bigquery.retry import DEFAULT_RETRY

    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ArrayQueryParameter(name, "STRING", sorted(values)) for name, values in arrays.items()])
    # The client's default retry keeps trying a dead endpoint for ten minutes; a batch must not wait that long.
    timeout = settings.BIGQUERY_TIMEOUT_SECONDS
    retry = DEFAULT_RETRY.with_deadline(timeout)
    try:
        job = bigquery_client().query(sql, job_config=config, retry=retry, timeout=timeout)
        return [dict(row.items()) for row in job.result(retry=retry, timeout=timeout)]
    except NotFound as error:
        raise TableMissing(error.message) from error
    except (GoogleAPIError, requests.RequestException, concurrent.futures.TimeoutError) as error:
        raise BigQueryUnavailable(f"unavailable: {type(error).__name__}: {error}"[:300]) from error


# --- keys ---------------------------------------------------------------------------------------

def person_key(record: dict) -> str:
    """DataCore's natural key of a person (its `source_key`), from normalized keys: "li:<LinkedIn>", else
    "e:<email>", else "n:<first>|<last>|d:<domain>" (or "|n:<company>"); "" when nothing identifies them."""
    if record.get("person_key"):
        return record["person_key"]
    if record.get("linkedin_norm"):
        return f"li:{record['linkedin_norm']}"
    if record.get("email_norm"):
        return f"e:{record['email_norm']}"
    domain, company = record.get("company_domain_norm"), record.get("company_name_norm")
    employer = f"d:{domain}" if domain else (f"n:{company}" if company else "")
    if record.get("first_norm") and record.get("last_norm") and employer:
        return f"n:{record['first_norm']}|{record['last_norm']}|{employer}"
    return ""


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value) is True):
        return ""
    return str(value).strip()


def candidate_from_row(row: dict) -> tuple[dict, dict | None]:
    """A contacts-table row (BigQuery or Snowflake) as the (person, company) candidate the matcher scores."""
    person = {name: row[name] if name in ("opted_out", "last_seen_at") else _text(row[name]) for name in row}
    person["id"], person["opted_out"] = person["person_key"], bool(person["opted_out"])
    if not (person["company_name"] or person["company_website"]):
        return person, None
    return person, {"company_name": person["company_name"], "company_website": person["company_website"],
                    "name_norm": person["company_name_norm"], "domain_norm": person["company_domain_norm"],
                    "last_seen_at": person["last_seen_at"]}


# --- lookups ------------------------------------------------------------------------------------

def contacts_for_keys(*, emails=(), linkedins=(), name_domain_keys=(), name_company_keys=()) -> list[tuple[dict, dict | None]]:
    """Every contact who could be one of the rows, in one query: by email, LinkedIn URL, or last name at a
    company ("<last_norm>|<company_domain_norm>" and "<last_norm>|<company_name_norm>" keys)."""
    arrays = {"emails": set(emails), "linkedins": set(linkedins), "name_domain_keys": set(name_domain_keys),
              "name_company_keys": set(name_company_keys)}
    if not any(arrays.values()):
        return []
    rows = _run_query(f"""
        SELECT {", ".join(CONTACT_COLUMNS)}
        FROM `{table_id(settings.BIGQUERY_CONTACTS_TABLE)}`
        WHERE email_norm IN UNNEST(@emails)
           OR linkedin_norm IN UNNEST(@linkedins)
           OR CONCAT(last_norm, '|', company_domain_norm) IN UNNEST(@name_domain_keys)
           OR CONCAT(last_norm, '|', company_name_norm) IN UNNEST(@name_company_keys)
        QUALIFY ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY last_seen_at DESC NULLS LAST) = 1
    """, arrays)
    return [candidate_from_row(row) for row in rows]


def phones_for_keys(*, emails=(), linkedins=(), person_keys=()) -> list[dict]:
    """Each person's newest phone row among those keyed by the emails, LinkedIn URLs or person keys, in one query."""
    arrays = {"emails": set(emails), "linkedins": set(linkedins), "person_keys": set(person_keys)}
    if not any(arrays.values()):
        return []
    rows = _run_query(f"""
        SELECT {", ".join(PHONE_COLUMNS)}
        FROM `{table_id(settings.BIGQUERY_PHONES_TABLE)}`
        WHERE (email_norm IN UNNEST(@emails) OR linkedin_norm IN UNNEST(@linkedins)
               OR person_key IN UNNEST(@person_keys))
          AND (COALESCE(contact_mobile_phone, '') <> '' OR COALESCE(contact_direct_phone, '') <> '')
        QUALIFY ROW_NUMBER() OVER (PARTITION BY person_key ORDER BY last_seen_at DESC NULLS LAST) = 1
    """, arrays)
    return [{name: value if name == "last_seen_at" else _text(value) for name, value in row.items()} for row in rows]


# --- loading ------------------------------------------------------------------------------------

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
    from google.cloud import bigquery

    return [bigquery.SchemaField(name, COLUMN_TYPES.get(name, "STRING"),
                                 mode="REQUIRED" if name in ("person_key", "line") else "NULLABLE")
            for name in columns]


def ensure_tables() -> None:
    """Creates the dataset and both tables when missing."""
    from google.cloud import bigquery

    client = bigquery_client()
    client.create_dataset(f"{settings.BIGQUERY_PROJECT}.{settings.BIGQUERY_DATASET}", exists_ok=True)
    for table, columns in ((settings.BIGQUERY_CONTACTS_TABLE, CONTACT_COLUMNS),
                           (settings.BIGQUERY_PHONES_TABLE, PHONE_COLUMNS)):
        client.create_table(bigquery.Table(table_id(table), schema=_schema(columns)), exists_ok=True)


def _timestamp(value) -> str | None:
    """A timestamp as BigQuery's JSON loader reads it, in UTC; None when empty; ValueError when not a date."""
    if _text(value) == "":
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
    record = {name: _text(row.get(name)) for name in (*CONTACT_FIELDS, "company_name", "company_website")}
    record.update(_keys_of(record))
    record["opted_out"] = _text(row.get("opted_out")).lower() in TRUE_VALUES
    record["last_seen_at"] = _timestamp(row.get("last_seen_at"))
    record["person_key"] = person_key(record)
    return record


def phone_record(row: dict) -> dict:
    """A phones-table record from a phones-file row (the person's identifiers, phones, last_seen_at)."""
    record = {name: _text(row.get(name)) for name in ("first_name", "last_name", *PHONE_FIELDS)}
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
    from google.cloud import bigquery

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
    from sources.models import Person

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
