"""The BigQuery contact dataset and phone table: the client and batch lookups (one query per call).

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

Loading them is `sources.loading.bigquery`'s business.
"""

import concurrent.futures
from collections.abc import Iterable
from functools import lru_cache

import pandas as pd
from django.conf import settings

from sources.contacts import BatchKeys, Candidate, SourceUnavailable
from sources.fields import CONTACT_FIELDS, PHONE_FIELDS

SOURCE = "bigquery"
NOT_CONFIGURED = "BigQuery is not configured"

NORM_COLUMNS = ("email_norm", "linkedin_norm", "first_norm", "last_norm", "company_name_norm", "company_domain_norm")
CONTACT_COLUMNS = ("person_key", *CONTACT_FIELDS, "company_name", "company_website", *NORM_COLUMNS, "opted_out",
                   "last_seen_at")
PHONE_COLUMNS = ("person_key", "first_name", "last_name", *NORM_COLUMNS, *PHONE_FIELDS, "last_seen_at")


class BigQueryUnavailable(SourceUnavailable):
    """BigQuery did not answer in time, or refused: the stage records it and the job moves on."""

    def __init__(self, reason: str):
        super().__init__(SOURCE, reason)


class TableMissing(BigQueryUnavailable):
    """The configured dataset or table does not exist (nothing imported yet, or a wrong setting)."""


# --- client -------------------------------------------------------------------------------------

def unconfigured_reason() -> str:
    return "" if settings.BIGQUERY_EMULATOR_HOST or settings.BIGQUERY_ENABLED else NOT_CONFIGURED


def emulator_endpoint(host: str) -> str:
    """The emulator's base URL from "host:port" (what the emulator's own tooling exports) or a URL."""
    host = host.strip().rstrip("/")
    return host if "://" in host else f"http://{host}"


def bigquery_client():
    """The configured client: the emulator's, else real BigQuery's with Application Default Credentials."""
    if reason := unconfigured_reason():
        raise RuntimeError(reason)
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
    # Imported here, as in _client: google-cloud-bigquery takes seconds to import.
    import requests
    from google.api_core.exceptions import GoogleAPIError, NotFound
    from google.cloud import bigquery
    from google.cloud.bigquery.retry import DEFAULT_RETRY

    config = bigquery.QueryJobConfig(query_parameters=[
        bigquery.ArrayQueryParameter(name, "STRING", sorted(values)) for name, values in arrays.items()])
    # The client's default retry keeps trying a dead endpoint for ten minutes; a batch must not wait that long.
    # Its job retry wraps the insert in a retry of its own, with the same ten minutes whatever `retry` says:
    # with it, a refused connection held a batch for as long, so a failed query is not re-run.
    timeout = settings.BIGQUERY_TIMEOUT_SECONDS
    retry = DEFAULT_RETRY.with_deadline(timeout)
    try:
        job = bigquery_client().query(sql, job_config=config, retry=retry, timeout=timeout, job_retry=None)
        return [dict(row.items()) for row in job.result(retry=retry, timeout=timeout, job_retry=None)]
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


def cell_text(value) -> str:
    """A cell as text: "" for None and for pandas' missing values."""
    if value is None or (not isinstance(value, str) and pd.isna(value) is True):
        return ""
    return str(value).strip()


def candidate_from_row(row: dict) -> Candidate:
    """A contacts-table row (BigQuery or Snowflake) as the (person, company) candidate the matcher scores."""
    person = {name: row[name] if name in ("opted_out", "last_seen_at") else cell_text(row[name]) for name in row}
    person["id"], person["opted_out"] = person["person_key"], bool(person["opted_out"])
    if not (person["company_name"] or person["company_website"]):
        return person, None
    return person, {"company_name": person["company_name"], "company_website": person["company_website"],
                    "name_norm": person["company_name_norm"], "domain_norm": person["company_domain_norm"],
                    "last_seen_at": person["last_seen_at"]}


# --- lookups ------------------------------------------------------------------------------------

class BigQueryContacts:
    """The contact dataset, one query per batch."""

    name = SOURCE

    def unconfigured_reason(self) -> str:
        return unconfigured_reason()

    def contacts_for(self, keys: BatchKeys) -> list[Candidate]:
        """Every contact who could be one of the rows: by email, LinkedIn URL, or last name at a company."""
        arrays = {"emails": keys.emails, "linkedins": keys.linkedins, "name_domain_keys": keys.name_domain_keys,
                  "name_company_keys": keys.name_company_keys}
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
    return [{name: value if name == "last_seen_at" else cell_text(value) for name, value in row.items()} for row in rows]
