"""The BigQuery contact dataset and phone table, against the real emulator (skipped when it is not running).

Each test works in a dataset of its own, so parallel runs sharing one emulator never collide.
"""

import csv
import io
from datetime import UTC, datetime

import phonenumbers
import pytest
from django.core.management import CommandError, call_command

from enrichment.pipeline.rows import WorkRow
from enrichment.pipeline.spec import EnrichmentSpec
from enrichment.pipeline.stages import ContactSourceStage
from enrichment.tasks import run_enrichment_job
from sources import bigquery
from sources.contacts import BatchKeys, RowKeys
from sources.normalize import normalize_company_name
from tests.factories import make_company, make_person
from tests.test_pipeline import status_of, submit

pytestmark = pytest.mark.django_db


PEOPLE = [
    {"first_name": "Ada", "last_name": "Lovelace", "job_title": "Chief Analyst", "contact_office_city": "London",
     "contact_email": "Ada.Lovelace@AnalyticalEngines.com",
     "contact_linkedin_url": "https://www.linkedin.com/in/adalovelace/", "company_name": "Analytical Engines Ltd",
     "company_website": "https://www.analyticalengines.com", "last_seen_at": "2024-05-01T10:00:00Z"},
    {"first_name": "Grace", "last_name": "Hopper", "job_title": "Rear Admiral", "contact_office_city": "Arlington",
     "contact_linkedin_url": "linkedin.com/in/gracehopper", "company_name": "Cobol Systems Inc",
     "company_website": "cobolsystems.com", "last_seen_at": "2024-06-01T00:00:00Z"},
    {"first_name": "Alan", "last_name": "Turing", "job_title": "Codebreaker", "contact_office_city": "Bletchley",
     "company_name": "Bletchley Park", "last_seen_at": ""},
    {"first_name": "Nobody"},
]


def write_csv(path, rows):
    columns = list(dict.fromkeys(name for row in rows for name in row))
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def run_command(**options) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_bigquery", stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def bq_queries(bq, monkeypatch):
    """The SQL of every query the (real) client is asked to run."""
    sent, real_query = [], bq.query

    def counted_query(sql, *args, **kwargs):
        sent.append(sql)
        return real_query(sql, *args, **kwargs)

    monkeypatch.setattr(bq, "query", counted_query)
    return sent


@pytest.fixture
def people_file(tmp_path):
    return write_csv(tmp_path / "people.csv", PEOPLE)


def table_rows(client, table: str) -> list[dict]:
    return [dict(row) for row in client.query(f"SELECT * FROM `{bigquery.table_id(table)}` ORDER BY person_key")]


def results_of(client, job_id) -> list[dict]:
    return client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]


def stages_of(client, job_id) -> dict[str, dict]:
    return {entry["name"]: entry for entry in status_of(client, job_id)["stages"]}


def test_emulator_host_is_accepted_as_host_port_or_url():
    assert bigquery.emulator_endpoint("127.0.0.1:9050") == "http://127.0.0.1:9050"
    assert bigquery.emulator_endpoint("http://127.0.0.1:9050/") == "http://127.0.0.1:9050"
    assert bigquery.emulator_endpoint("https://bq.internal:443") == "https://bq.internal:443"


def test_bigquery_is_off_unless_an_emulator_or_real_bigquery_is_configured(settings):
    assert bigquery.unconfigured_reason() == "BigQuery is not configured"
    settings.BIGQUERY_ENABLED = True
    assert bigquery.unconfigured_reason() == ""
    settings.BIGQUERY_ENABLED, settings.BIGQUERY_EMULATOR_HOST = False, "127.0.0.1:9050"
    assert bigquery.unconfigured_reason() == ""


def test_import_refuses_to_run_when_bigquery_is_not_configured(people_file):
    with pytest.raises(CommandError, match="BigQuery is not configured"):
        run_command(people=str(people_file))


@pytest.mark.emulator
def test_imported_people_are_found_by_each_kind_of_key_with_one_query_per_lookup(bq, bq_queries, people_file):
    out, err = run_command(people=str(people_file))
    assert "contacts: 3 loaded (3 inserted or updated), 1 skipped" in out
    assert "contacts: line 5: no LinkedIn URL, no email" in err
    bq_queries.clear()

    def found(*rows: RowKeys) -> list[str]:
        return sorted(person["last_name"] for person, _ in bigquery.BigQueryContacts().contacts_for(BatchKeys(rows)))

    assert found(RowKeys(email="ada.lovelace@analyticalengines.com")) == ["Lovelace"]
    assert found(RowKeys(linkedin="linkedin.com/in/gracehopper")) == ["Hopper"]
    assert found(RowKeys(last="lovelace", domain="analyticalengines.com")) == ["Lovelace"]
    assert found(RowKeys(last="turing", company=normalize_company_name("Bletchley Park"))) == ["Turing"]
    assert found(RowKeys(email="nobody@nowhere.com"), RowKeys(linkedin="linkedin.com/in/nobody")) == []
    assert len(bq_queries) == 5

    (ada, company), = bigquery.BigQueryContacts().contacts_for(
        BatchKeys((RowKeys(email="ada.lovelace@analyticalengines.com"),)))
    assert ada["job_title"] == "Chief Analyst" and ada["person_key"] == "li:linkedin.com/in/adalovelace"
    assert ada["last_seen_at"] == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert company["company_name"] == "Analytical Engines Ltd" and company["domain_norm"] == "analyticalengines.com"
    assert found(RowKeys(first="ada")) == [] and len(bq_queries) == 6  # no key it can use, no query


@pytest.mark.emulator
def test_reimporting_updates_people_in_place_and_the_last_line_for_a_person_wins(bq, tmp_path, people_file):
    run_command(people=str(people_file))
    changed = [{**PEOPLE[0], "job_title": "Countess"}, {**PEOPLE[1], "job_title": "Commodore"},
               {**PEOPLE[1], "job_title": "Rear Admiral (lower half)"}]
    out, _ = run_command(people=str(write_csv(tmp_path / "changed.csv", changed)))
    assert "contacts: 3 loaded (2 inserted or updated), 0 skipped" in out

    titles = {row["last_name"]: row["job_title"] for row in table_rows(bq, "contacts")}
    assert titles == {"Lovelace": "Countess", "Hopper": "Rear Admiral (lower half)", "Turing": "Codebreaker"}


@pytest.mark.emulator
def test_phone_lookup_takes_each_persons_newest_row_with_a_phone(bq, bq_queries, settings, tmp_path):
    out, _ = run_command(phones=str(write_csv(tmp_path / "phones.csv", [
        {"first_name": "Ada", "last_name": "Lovelace", "contact_email": "ada.lovelace@analyticalengines.com",
         "contact_mobile_phone": "+447700900123", "last_seen_at": "2024-01-01T00:00:00Z"},
        {"first_name": "Alan", "last_name": "Turing", "company_name": "Bletchley Park",
         "contact_direct_phone": "+441908640404", "last_seen_at": "2024-02-01T00:00:00Z"},
    ])))
    assert "phones: 2 loaded (2 inserted or updated), 0 skipped" in out
    # Other feeds append history: a newer number for Ada, and a still newer row without any phone.
    bq.insert_rows_json(bigquery.table_id(settings.BIGQUERY_PHONES_TABLE), [
        {"person_key": "e:ada.lovelace@analyticalengines.com", "email_norm": "ada.lovelace@analyticalengines.com",
         "contact_mobile_phone": "+447700900456", "last_seen_at": "2025-01-01T00:00:00Z"},
        {"person_key": "e:ada.lovelace@analyticalengines.com", "email_norm": "ada.lovelace@analyticalengines.com",
         "contact_mobile_phone": "", "last_seen_at": "2025-06-01T00:00:00Z"},
    ])
    bq_queries.clear()

    turing_key = f"n:alan|turing|n:{normalize_company_name('Bletchley Park')}"
    phones = bigquery.phones_for_keys(emails={"ada.lovelace@analyticalengines.com"}, person_keys={turing_key})
    assert len(bq_queries) == 1
    by_person = {phone["person_key"]: phone for phone in phones}
    assert by_person.keys() == {"e:ada.lovelace@analyticalengines.com", turing_key}
    ada = by_person["e:ada.lovelace@analyticalengines.com"]
    assert ada["contact_mobile_phone"] == "+447700900456"
    assert ada["last_seen_at"] == datetime(2025, 1, 1, tzinfo=UTC)
    assert by_person[turing_key]["contact_direct_phone"] == "+441908640404"


@pytest.mark.emulator
def test_the_contact_stage_asks_once_per_batch_whatever_its_keys(bq, bq_queries, people_file):
    run_command(people=str(people_file))
    bq_queries.clear()
    spec = EnrichmentSpec(type="contact", level="standard", fields_to_enrich=("job_title", "contact_office_city"))
    records = [{"contact_email": "ada.lovelace@analyticalengines.com", "first_name": "Ada", "last_name": "Lovelace"},
               {"contact_linkedin_url": "https://linkedin.com/in/gracehopper", "first_name": "Grace",
                "last_name": "Hopper"},
               {"first_name": "Alan", "last_name": "Turing", "company_name": "Bletchley Park"},
               {"first_name": "Nobody", "last_name": "Known", "company_name": "Ghost LLC"}]
    rows = [WorkRow(position=i, row_uid=f"{i:032x}", record=r, keys=RowKeys.from_record(r))
            for i, r in enumerate(records)]

    result = ContactSourceStage(bigquery.BigQueryContacts(), "BigQuery Lookup").run(spec, rows)

    assert len(bq_queries) == 1
    assert result.rows_filled == 3 and result.source == "bigquery"
    assert [row.fills.get("job_title") and row.fills["job_title"].value for row in rows] == [
        "Chief Analyst", "Rear Admiral", "Codebreaker", None]
    assert rows[0].fills["job_title"].source == "bigquery"
    assert rows[0].fills["job_title"].seen_at == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert rows[2].fills["job_title"].seen_at is None


@pytest.mark.emulator
def test_a_contact_job_gets_from_bigquery_what_datacore_lacks(api_client, bq, bq_queries, people_file, settings):
    settings.ENRICHMENT_BATCH_SIZE = 2
    acme = make_company("Acme Corp", "https://www.acme.com")
    make_person(acme, "Jane", "Doe", contact_email="jane.doe@acme.com", job_title="VP Sales", contact_office_city="")
    run_command(people=str(people_file))
    bq_queries.clear()

    job_id = submit(api_client, type="contact", level="standard",
                    fields_to_enrich=["job_title", "contact_office_city", "company_website"],
                    data=[{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
                          {"first_name": "Ada", "last_name": "Lovelace",
                           "contact_linkedin_url": "https://www.linkedin.com/in/adalovelace"},
                          {"first_name": "Grace", "last_name": "Hopper", "company_website": "cobolsystems.com"}])
    run_enrichment_job(job_id)

    jane, ada, grace = results_of(api_client, job_id)
    assert jane["job_title"] == "VP Sales" and jane["field_sources"]["job_title"]["source"] == "datacore"
    assert jane["contact_office_city"] == ""  # DataCore has none and BigQuery does not know Jane
    assert ada["job_title"] == "Chief Analyst" and ada["company_website"] == "https://www.analyticalengines.com"
    assert ada["field_sources"]["job_title"] | {"age_days": None} == {
        "source": "bigquery", "last_seen": "2024-05-01T10:00:00+00:00", "age_days": None}
    assert ada["field_sources"]["job_title"]["age_days"] >= 365
    assert ada["enrichment_source"] == "bigquery" and ada["match_confidence"] >= 90
    assert grace["contact_office_city"] == "Arlington"
    stages = stages_of(api_client, job_id)
    assert stages["bigquery_contacts"]["state"] == "done" and stages["bigquery_contacts"]["rows_filled"] == 2
    assert stages["bigquery_contacts"]["stage"] == "BigQuery Lookup"
    assert stages["bigquery_phones"] == {"name": "bigquery_phones", "stage": "BigQuery Phone Lookup",
                                         "state": "skipped", "reason": "no phone field requested"}
    assert len(bq_queries) == 2  # two batches, one query each


@pytest.mark.emulator
def test_a_phone_job_gets_the_phones_datacore_lacks_from_bigquery(api_client, alice, bq, bq_queries, tmp_path):
    acme = make_company("Acme Corp", "https://www.acme.com")
    make_person(acme, "Jane", "Doe", contact_email="jane.doe@acme.com", job_title="VP Sales")
    run_command(phones=str(write_csv(tmp_path / "phones.csv", [
        {"first_name": "Jane", "last_name": "Doe", "contact_email": "jane.doe@acme.com",
         "contact_mobile_phone": "+15125550142", "last_seen_at": "2025-03-01T12:00:00Z"},
        {"first_name": "Liam", "last_name": "Walsh", "contact_email": "liam.walsh@globex.com",
         "contact_direct_phone": "+15125550177", "last_seen_at": "2025-04-01T00:00:00Z"},
        {"first_name": "Omar", "last_name": "Haddad", "contact_email": "omar@initech.com",
         "contact_mobile_phone": "+15125550188", "last_seen_at": "2025-04-01T00:00:00Z"},
    ])))
    bq_queries.clear()

    job_id = submit(api_client, type="contact", level="standard",
                    fields_to_enrich=["job_title", "contact_mobile_phone", "contact_direct_phone"],
                    data=[{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
                          {"first_name": "Liam", "last_name": "Walsh", "contact_email": "liam.walsh@globex.com"},
                          # Omar's old address, now someone else's: his phone is not hers.
                          {"first_name": "Maria", "last_name": "Gonzalez", "contact_email": "omar@initech.com"}])
    run_enrichment_job(job_id)

    jane, liam, maria = results_of(api_client, job_id)
    assert jane["job_title"] == "VP Sales" and jane["field_sources"]["job_title"]["source"] == "datacore"
    assert jane["contact_mobile_phone"] == "+15125550142"
    assert jane["field_sources"]["contact_mobile_phone"] | {"age_days": None} == {
        "source": "bigquery", "last_seen": "2025-03-01T12:00:00+00:00", "age_days": None}
    assert jane["enrichment_source"] == "datacore,bigquery"
    assert liam["contact_direct_phone"] == "+15125550177" and liam["contact_mobile_phone"] == ""
    assert liam["match_confidence"] >= 90
    assert maria["contact_mobile_phone"] == "" and maria["enrichment_status"] == "not_enriched"
    stages = stages_of(api_client, job_id)
    assert stages["bigquery_phones"]["state"] == "done" and stages["bigquery_phones"]["rows_filled"] == 2
    assert stages["bigquery_phones"]["stage"] == "BigQuery Phone Lookup"
    phone_queries = [sql for sql in bq_queries if "phones" in sql]
    assert len(phone_queries) == 1
    assert status_of(api_client, job_id)["credits"]["refunded"] != "0"  # Maria's row got no phone


def test_the_bigquery_stages_are_skipped_with_a_reason_when_bigquery_is_not_configured(api_client):
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["contact_mobile_phone"],
                    data=[{"first_name": "Jane", "last_name": "Doe", "contact_email": "jane.doe@acme.com"}])
    run_enrichment_job(job_id)

    assert status_of(api_client, job_id)["status"] == "Enrichment Completed"
    stages = stages_of(api_client, job_id)
    for name in ("bigquery_contacts", "bigquery_phones"):
        assert stages[name]["state"] == "skipped"
        assert stages[name]["reason"] == "BigQuery is not configured"


@pytest.mark.emulator
def test_a_dataset_not_yet_loaded_is_reported_and_the_job_still_completes(api_client, bq):
    job_id = submit(api_client, type="contact", level="standard", fields_to_enrich=["job_title", "contact_mobile_phone"],
                    data=[{"first_name": "Jane", "last_name": "Doe", "contact_email": "jane.doe@acme.com"}])
    run_enrichment_job(job_id)

    assert status_of(api_client, job_id)["status"] == "Enrichment Completed"
    stages = stages_of(api_client, job_id)
    assert stages["bigquery_contacts"]["state"] == "failed" and "Not found" in stages["bigquery_contacts"]["detail"]
    assert stages["bigquery_phones"]["state"] == "failed" and "Not found" in stages["bigquery_phones"]["detail"]


@pytest.mark.emulator
def test_from_datacore_exports_people_with_fictional_phones_where_datacore_has_none(bq, settings):
    acme = make_company("Acme Corp", "https://www.acme.com")
    jane = make_person(acme, "Jane", "Doe", contact_email="jane.doe@acme.com", contact_mobile_phone="+15125550111")
    robert = make_person(acme, "Robert", "Smith", contact_email="rsmith@acme.com", contact_office_country_code="GB")
    make_person(acme, "Left", "Out", contact_email="left.out@acme.com")

    out, _ = run_command(from_datacore=2)
    assert "contacts: 2 loaded (2 inserted or updated)" in out and "phones: 2 loaded" in out

    contacts = {row["person_key"]: row for row in table_rows(bq, settings.BIGQUERY_CONTACTS_TABLE)}
    assert contacts.keys() == {jane.source_key, robert.source_key}
    assert contacts[jane.source_key]["company_website"] == "https://www.acme.com"
    assert contacts[jane.source_key]["email_norm"] == "jane.doe@acme.com"
    phones = {row["person_key"]: row for row in table_rows(bq, settings.BIGQUERY_PHONES_TABLE)}
    assert phones[jane.source_key]["contact_mobile_phone"] == ""  # DataCore has Jane's mobile
    for key, region in ((jane.source_key, "US"), (robert.source_key, "GB")):
        for name in ("contact_direct_phone",) + (("contact_mobile_phone",) if key == robert.source_key else ()):
            number = phonenumbers.parse(phones[key][name])
            assert phonenumbers.is_valid_number(number)
            assert phonenumbers.region_code_for_number(number) == region

    run_command(from_datacore=2)  # idempotent
    assert len(table_rows(bq, settings.BIGQUERY_PHONES_TABLE)) == 2
