"""The Snowflake contact table through the real connector code path, on fakesnow's DuckDB-backed fake."""

from datetime import UTC, datetime

import pytest

from enrichment.tasks import run_enrichment_job
from sources.contacts import BatchKeys, RowKeys
from sources.normalize import normalize_company_name
from sources.snowflake import SnowflakeContacts
from tests.factories import make_company, make_person
from tests.fake_snowflake import snowflake_holding

fakesnow = pytest.importorskip("fakesnow")
pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
PEOPLE = [
    {"first_name": "Ada", "last_name": "Lovelace", "job_title": "Chief Analyst", "contact_office_city": "London",
     "contact_email": "ada.lovelace@analyticalengines.com", "company_name": "Analytical Engines Ltd",
     "company_website": "analyticalengines.com", "last_seen_at": "2024-05-01T10:00:00Z"},
    {"first_name": "Grace", "last_name": "Hopper", "job_title": "Rear Admiral",
     "contact_linkedin_url": "https://www.linkedin.com/in/gracehopper", "company_name": "Cobol Systems Inc",
     "company_website": "cobolsystems.com"},
    {"first_name": "Alan", "last_name": "Turing", "job_title": "Codebreaker", "company_name": "Bletchley Park"},
]


@pytest.fixture
def snowflake_contacts(settings):
    with snowflake_holding(settings, PEOPLE):
        yield


@pytest.fixture
def snowflake_selects(monkeypatch):
    """The SELECTs sent through the connector's cursor."""
    from fakesnow.cursor import FakeSnowflakeCursor

    sent, real_execute = [], FakeSnowflakeCursor.execute

    def counted_execute(self, command, *args, **kwargs):
        if command.lstrip().upper().startswith("SELECT"):
            sent.append(command)
        return real_execute(self, command, *args, **kwargs)

    monkeypatch.setattr(FakeSnowflakeCursor, "execute", counted_execute)
    return sent


def test_contacts_are_found_by_each_kind_of_key_in_one_query(snowflake_contacts, snowflake_selects):
    found = SnowflakeContacts().contacts_for(BatchKeys((
        RowKeys(email="ada.lovelace@analyticalengines.com"), RowKeys(linkedin="linkedin.com/in/gracehopper"),
        RowKeys(last="lovelace", domain="analyticalengines.com"),
        RowKeys(last="turing", company=normalize_company_name("Bletchley Park")),
        RowKeys(last="nobody", company="ghost"))))

    assert len(snowflake_selects) == 1
    by_last_name = {person["last_name"]: (person, company) for person, company in found}
    assert by_last_name.keys() == {"Lovelace", "Hopper", "Turing"}
    ada, company = by_last_name["Lovelace"]
    assert ada["job_title"] == "Chief Analyst" and ada["id"] == "e:ada.lovelace@analyticalengines.com"
    assert ada["last_seen_at"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert company["domain_norm"] == "analyticalengines.com"
    assert by_last_name["Turing"][1]["company_name"] == "Bletchley Park"
    assert SnowflakeContacts().contacts_for(BatchKeys((RowKeys(first="ada"),))) == []
    assert len(snowflake_selects) == 1  # no key it can use, no query


def test_snowflake_fills_what_datacore_lacks_in_a_contact_job(api_client, snowflake_contacts, snowflake_selects):
    acme = make_company("Acme Corp", "https://www.acme.com")
    make_person(acme, "Jane", "Doe", contact_email="jane.doe@acme.com", job_title="VP Sales")
    response = api_client.post(SUBMIT, {
        "type": "contact", "level": "standard", "fields_to_enrich": ["job_title", "contact_office_city"],
        "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
                 {"first_name": "Ada", "last_name": "Lovelace", "contact_email": "ada.lovelace@analyticalengines.com"},
                 {"first_name": "Grace", "last_name": "Hopper", "company_website": "cobolsystems.com"}]},
        format="json")
    job_id = response.json()["job_id"]
    run_enrichment_job(job_id)

    jane, ada, grace = api_client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]
    assert jane["job_title"] == "VP Sales" and jane["field_sources"]["job_title"]["source"] == "datacore"
    assert ada["job_title"] == "Chief Analyst" and ada["contact_office_city"] == "London"
    assert ada["field_sources"]["job_title"] | {"age_days": None} == {
        "source": "snowflake", "last_seen": "2024-05-01T10:00:00+00:00", "age_days": None}
    assert grace["job_title"] == "Rear Admiral" and grace["field_sources"]["job_title"]["last_seen"] is None
    stages = {entry["name"]: entry for entry in
              api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()["stages"]}
    assert stages["snowflake"]["state"] == "done" and stages["snowflake"]["rows_filled"] == 2
    assert stages["snowflake"]["source"] == "snowflake"
    assert len(snowflake_selects) == 1


def test_the_snowflake_stage_is_skipped_unless_configured(api_client):
    response = api_client.post(SUBMIT, {"type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
                                        "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme"}]},
                               format="json")
    job_id = response.json()["job_id"]
    run_enrichment_job(job_id)
    stages = {entry["name"]: entry for entry in
              api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()["stages"]}
    assert stages["snowflake"] == {"name": "snowflake", "stage": "DataCore Lookup", "state": "skipped",
                                   "reason": "Snowflake is not configured"}


def test_table_settings_must_be_plain_identifiers(settings):
    from django.core.exceptions import ImproperlyConfigured

    settings.SNOWFLAKE_ACCOUNT, settings.SNOWFLAKE_TABLE = "ecore-test", "CONTACTS; DROP TABLE X"
    with pytest.raises(ImproperlyConfigured):
        SnowflakeContacts().contacts_for(BatchKeys((RowKeys(email="a@b.com"),)))
