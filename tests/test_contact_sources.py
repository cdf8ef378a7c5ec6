"""Every contact source through the one `ContactSourceStage`, and what a source that cannot answer costs a job.

DataCore is PostgreSQL, BigQuery the real emulator (skipped when it is not running), Snowflake the
connector on fakesnow. An unreachable source is a closed local port: the client's own connection fails.
"""

import socket
from contextlib import closing
from datetime import UTC, datetime

import pytest

from enrichment.pipeline.rows import WorkRow
from enrichment.pipeline.spec import EnrichmentSpec
from enrichment.pipeline.stages import ROW_STAGES, ContactSourceStage
from enrichment.tasks import run_enrichment_job
from sources.bigquery import CONTACT_COLUMNS, BigQueryContacts
from sources.contacts import RowKeys
from sources.datacore import DataCoreContacts
from sources.loading.bigquery import contact_record, load_records
from sources.snowflake import SnowflakeContacts
from tests.factories import make_company, make_person
from tests.fake_snowflake import snowflake_configure, snowflake_holding

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
ADA = {"first_name": "Ada", "last_name": "Lovelace", "job_title": "Chief Analyst", "contact_office_city": "London",
       "contact_email": "ada.lovelace@analyticalengines.com", "company_name": "Analytical Engines Ltd",
       "company_website": "analyticalengines.com", "last_seen_at": "2024-05-01T10:00:00Z"}
GRACE = {"first_name": "Grace", "last_name": "Hopper", "job_title": "Rear Admiral", "contact_office_city": "Arlington",
         "contact_linkedin_url": "https://www.linkedin.com/in/gracehopper", "company_name": "Cobol Systems Inc",
         "company_website": "cobolsystems.com", "last_seen_at": "2024-06-01T00:00:00Z"}
ALAN = {"first_name": "Alan", "last_name": "Turing", "job_title": "Codebreaker", "contact_office_city": "Bletchley",
        "company_name": "Bletchley Park", "company_website": "bletchleypark.org.uk",
        "last_seen_at": "2024-07-01T00:00:00Z"}
QUERIES = [  # one row per kind of key: email, LinkedIn URL, name at a domain; and someone no source knows
    {"first_name": "Ada", "last_name": "Lovelace", "contact_email": "ada.lovelace@analyticalengines.com"},
    {"first_name": "Grace", "last_name": "Hopper", "contact_linkedin_url": "linkedin.com/in/gracehopper"},
    {"first_name": "Alan", "last_name": "Turing", "company_website": "https://bletchleypark.org.uk"},
    {"first_name": "Nobody", "last_name": "Known", "company_name": "Ghost LLC"},
]


@pytest.fixture
def datacore_knowing_them(db):
    for person in (ADA, GRACE, ALAN):
        company = make_company(person["company_name"], person["company_website"])
        fields = {name: person[name] for name in ("job_title", "contact_office_city", "contact_email",
                                                  "contact_linkedin_url") if name in person}
        make_person(company, person["first_name"], person["last_name"],
                    last_seen_at=datetime.fromisoformat(person["last_seen_at"]), **fields)
    return DataCoreContacts()


@pytest.fixture
def bigquery_knowing_them(bq):
    load_records([{**contact_record(person), "line": line} for line, person in enumerate((ADA, GRACE, ALAN), 1)],
                 columns=CONTACT_COLUMNS, table="contacts")
    return BigQueryContacts()


@pytest.fixture
def snowflake_knowing_them(settings):
    pytest.importorskip("fakesnow")
    with snowflake_holding(settings, [ADA, GRACE, ALAN]):
        yield SnowflakeContacts()


@pytest.mark.parametrize("source_fixture", [
    "datacore_knowing_them",
    pytest.param("bigquery_knowing_them", marks=pytest.mark.emulator),
    "snowflake_knowing_them",
], ids=["datacore", "bigquery", "snowflake"])
def test_every_contact_source_fills_a_batch_through_the_one_stage(request, source_fixture):
    source = request.getfixturevalue(source_fixture)
    spec = EnrichmentSpec(type="contact", level="standard", fields_to_enrich=("job_title", "contact_office_city"))
    rows = [WorkRow(position=n, row_uid=f"{n:032x}", record=record, keys=RowKeys.from_record(record))
            for n, record in enumerate(QUERIES)]

    result = ContactSourceStage(source, "DataCore Lookup").run(spec, rows)

    assert (result.rows_filled, result.source) == (3, source.name)
    assert [(row.fills["job_title"].value, row.fills["contact_office_city"].value) for row in rows[:3]] == [
        ("Chief Analyst", "London"), ("Rear Admiral", "Arlington"), ("Codebreaker", "Bletchley")]
    assert {row.fills["job_title"].source for row in rows[:3]} == {source.name}
    assert rows[0].fills["job_title"].seen_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert rows[3].fills == {} and rows[3].person is None


def test_a_contact_source_stage_states_once_when_it_runs():
    stage = ContactSourceStage(SnowflakeContacts(), "DataCore Lookup")
    contact = EnrichmentSpec(type="contact", level="standard", fields_to_enrich=("job_title",))
    account = EnrichmentSpec(type="account", level="standard", fields_to_enrich=("industry",))
    assert stage.skip_reason(contact) == "Snowflake is not configured"
    assert stage.skip_reason(account) == "contact jobs only"
    assert ContactSourceStage(DataCoreContacts(), "DataCore Lookup").skip_reason(contact) is None
    assert [stage.name for stage in ROW_STAGES if isinstance(stage, ContactSourceStage)] == [
        "datacore", "snowflake", "bigquery_contacts"]


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: connecting to it is refused at once."""
    with closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_the_job_completes_without(api_client, *, stage: str, source: str, why: str) -> None:
    """A contact job completes with DataCore's answers, and its stage log says why `source` gave none."""
    acme = make_company("Acme Corp", "acme.com")
    make_person(acme, "Jane", "Doe", contact_email="jane.doe@acme.com", job_title="VP Sales")
    response = api_client.post(SUBMIT, {"type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
                                        "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
                                                 {"first_name": "Ada", "last_name": "Lovelace",
                                                  "contact_email": "ada.lovelace@analyticalengines.com"}]},
                               format="json")
    job_id = response.json()["job_id"]
    run_enrichment_job(job_id)

    status = api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()
    jane, ada = api_client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]
    assert status["status"] == "Enrichment Completed"
    entry = next(entry for entry in status["stages"] if entry["name"] == stage)
    assert (entry["state"], entry["source"]) == ("failed", source)
    assert entry["detail"].startswith(why), entry["detail"]
    assert jane["job_title"] == "VP Sales" and ada["enrichment_status"] == "not_enriched"


def test_a_job_completes_when_snowflake_is_configured_and_unreachable(api_client, settings, closed_port):
    snowflake_configure(settings)
    settings.SNOWFLAKE_HOST, settings.SNOWFLAKE_PORT, settings.SNOWFLAKE_PROTOCOL = "127.0.0.1", closed_port, "http"
    settings.SNOWFLAKE_LOGIN_TIMEOUT_SECONDS = 2

    assert_the_job_completes_without(api_client, stage="snowflake", source="snowflake",
                                     why="unavailable: OperationalError: 250001: Could not connect to Snowflake")


def test_a_job_completes_when_bigquery_is_configured_and_unreachable(api_client, settings, closed_port):
    settings.BIGQUERY_EMULATOR_HOST, settings.BIGQUERY_TIMEOUT_SECONDS = f"127.0.0.1:{closed_port}", 2

    assert_the_job_completes_without(api_client, stage="bigquery_contacts", source="bigquery",
                                     why="unavailable: RetryError: Timeout of 2.0s exceeded")
