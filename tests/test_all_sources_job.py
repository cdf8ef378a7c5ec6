"""One Pro contact job in which every contact source stage contributes: each row is designed for one source.

DataCore, Snowflake (fakesnow), scraped snapshots, BigQuery contacts and phones (the emulator), the Pro
providers and ZeroBounce (the local provider server), and the still-in-company check, all in one run,
submitted over HTTP and read back over HTTP. Skipped when the BigQuery emulator is not running.
"""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from enrichment.models import Job, JobRow
from enrichment.tasks import run_enrichment_job
from tests.factories import make_company, make_person
from tests.fake_snowflake import snowflake_holding
from tests.provider_server import ProviderServer, profile_page
from tests.test_bigquery import run_command, write_csv
from tests.test_snapshots import make_snapshot
from wallet.selectors import ledger_sum, wallet_balance

fakesnow = pytest.importorskip("fakesnow")
pytestmark = [pytest.mark.django_db, pytest.mark.emulator, pytest.mark.usefixtures("fresh_cache")]

SUBMIT = "/api/v1/enrichment/submit/"
FIELDS = ["job_title", "contact_email", "contact_linkedin_url", "contact_mobile_phone", "industry"]
ROBERT_URL = "https://www.linkedin.com/in/robert-smith-acme"
JANE_DOE_URL = "https://www.linkedin.com/in/janedoe"
MAYA_URL = "https://www.linkedin.com/in/maya-lindqvist"


@pytest.fixture
def snowflake_contacts(settings):
    """A configured Snowflake (fakesnow) whose contact table knows only Grace Hopper."""
    with snowflake_holding(settings, [{"first_name": "Grace", "last_name": "Hopper", "job_title": "Rear Admiral",
                                       "contact_linkedin_url": "https://www.linkedin.com/in/gracehopper",
                                       "company_name": "Cobol Systems Inc", "company_website": "cobolsystems.com"}]):
        yield


@pytest.fixture
def server(settings):
    with ProviderServer() as running:
        running.configure(settings)
        yield running


def test_every_source_stage_contributes_to_one_pro_contact_job(api_client, alice, bq, snowflake_contacts, server,
                                                               tmp_path):
    acme = make_company("Acme Corp", "acme.com", industry="Software")
    make_person(acme, "Robert", "Smith", contact_email="rsmith@acme.com", contact_linkedin_url=ROBERT_URL,
                job_title="CTO")
    make_person(acme, "Dana", "White", contact_email="dana.white@acme.com", job_title="Controller")
    make_person(acme, "Jane", "Doe", contact_email="jane.doe@acme.com", contact_linkedin_url=JANE_DOE_URL,
                job_title="VP Sales", last_seen_at=datetime(2024, 1, 1, tzinfo=UTC))
    make_snapshot(MAYA_URL, "Maya", "Lindqvist", job_title="Head of Data", company_name="Northwind",
                  scraped_at="2024-05-02")
    make_snapshot(JANE_DOE_URL, "Jane", "Doe", job_title="CRO", company_name="Globex Corporation",
                  company_website="globex.com", scraped_at="2024-06-01")
    run_command(people=str(write_csv(tmp_path / "people.csv", [
        {"first_name": "Ada", "last_name": "Lovelace", "job_title": "Chief Analyst",
         "contact_email": "ada.lovelace@analyticalengines.com",
         "contact_linkedin_url": "https://www.linkedin.com/in/adalovelace", "company_name": "Analytical Engines Ltd",
         "company_website": "analyticalengines.com", "last_seen_at": "2024-05-01T10:00:00Z"}])))
    run_command(phones=str(write_csv(tmp_path / "phones.csv", [
        {"first_name": "Robert", "last_name": "Smith", "contact_email": "rsmith@acme.com",
         "contact_mobile_phone": "+15125550142", "last_seen_at": "2025-03-01T12:00:00Z"}])))
    server.serper_results['"Jane Roe" Initech site:linkedin.com/in'] = {"organic": [
        {"title": "Jane Roe - Director of Finance - Initech | LinkedIn",
         "link": "https://www.linkedin.com/in/jane-roe-42", "snippet": "Initech, Austin", "position": 1}]}
    server.serper_results["Initech official website"] = {"organic": [
        {"title": "Initech", "link": "https://www.initech.com/", "snippet": "TPS reports", "position": 1}]}
    server.profiles["jane-roe-42"] = profile_page(name="Jane Roe", job_title="Director of Finance", company="Initech")
    server.emails[("jane", "roe", "initech.com")] = ("jane.roe@initech.com", "valid")
    server.verdicts["dana.white@acme.com"] = ("invalid", "mailbox_not_found")

    response = api_client.post(SUBMIT, {"type": "contact", "level": "pro", "fields_to_enrich": FIELDS, "data": [
        {"first_name": "Robert", "last_name": "Smith", "company_name": "Acme Corp"},
        {"first_name": "Dana", "last_name": "White", "company_website": "acme.com"},
        {"first_name": "Maya", "last_name": "Lindqvist", "contact_linkedin_url": MAYA_URL},
        {"first_name": "Ada", "last_name": "Lovelace", "contact_email": "ada.lovelace@analyticalengines.com"},
        {"first_name": "Grace", "last_name": "Hopper", "contact_linkedin_url": "linkedin.com/in/gracehopper"},
        {"first_name": "Jane", "last_name": "Roe", "company_name": "Initech"},
        {"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
    ]}, format="json")
    assert response.status_code == 200, response.json()
    job_id = response.json()["job_id"]
    run_enrichment_job(job_id)

    status = api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()
    robert, dana, maya, ada, grace, jane_roe, jane_doe = api_client.get(
        f"/api/v1/enrichment/results/{job_id}/").json()["results"]
    assert status["status"] == "Enrichment Completed"

    def source_of(row: dict, name: str) -> str:
        return row["field_sources"][name]["source"]

    assert (robert["job_title"], robert["industry"]) == ("CTO", "Software")
    assert source_of(robert, "job_title") == source_of(robert, "industry") == "datacore"
    assert robert["contact_mobile_phone"] == "+15125550142" and source_of(robert, "contact_mobile_phone") == "bigquery"
    assert robert["contact_email"] == "rsmith@acme.com"  # ZeroBounce: valid
    assert dana["job_title"] == "Controller" and dana["contact_email"] == ""
    assert dana["notes"]["contact_email"] == "dropped: invalid (mailbox_not_found)"
    assert maya["job_title"] == "Head of Data" and source_of(maya, "job_title") == "scraped_linkedin"
    assert ada["job_title"] == "Chief Analyst" and source_of(ada, "job_title") == "bigquery"
    assert grace["job_title"] == "Rear Admiral" and source_of(grace, "job_title") == "snowflake"
    assert jane_roe["contact_linkedin_url"] == "https://www.linkedin.com/in/jane-roe-42"
    assert {name: source_of(jane_roe, name) for name in ("contact_linkedin_url", "job_title", "contact_email")} == {
        "contact_linkedin_url": "serper", "job_title": "netnut", "contact_email": "anymailfinder"}
    assert jane_roe["contact_email"] == "jane.roe@initech.com"
    assert jane_doe["left_company"] is True and jane_doe["job_title"] == "" and jane_doe["contact_email"] == ""
    assert jane_doe["notes"]["left_company"] == "Globex Corporation since 2024-06-01"

    sources_named = {entry["source"] for row in (robert, dana, maya, ada, grace, jane_roe, jane_doe)
                     for entry in row["field_sources"].values()}
    assert {"datacore", "snowflake", "scraped_linkedin", "bigquery", "serper", "netnut",
            "anymailfinder"} <= sources_named

    stages = {entry["name"]: entry for entry in status["stages"]}
    for name in ("datacore", "snowflake", "scraped_snapshots", "bigquery_contacts", "pro", "email_validation",
                 "bigquery_phones"):
        assert stages[name]["state"] == "done", stages[name]
        assert stages[name]["rows_filled"] >= 1, stages[name]
    assert set(stages["pro"]["source"].split(",")) >= {"serper", "netnut", "anymailfinder"}
    assert stages["email_validation"]["source"] == "zerobounce"
    assert stages["email_validation"]["detail"] == "1 undeliverable dropped"
    assert stages["still_in_company"]["state"] == "done"
    assert stages["still_in_company"]["detail"] == "1 left their company"
    assert stages["company_search"]["state"] == stages["contacts_per_account"]["state"] == "skipped"

    # A phone was requested, so a row keeps its charge only when it delivers one: Robert's alone.
    row_charge = Job.objects.get(job_id=job_id).row_charge
    refunds = dict(JobRow.objects.filter(job_id=job_id, refund_due__gt=0).values_list("position", "refund_reason"))
    assert refunds == {1: "no_phone", 2: "no_phone", 3: "no_phone", 4: "no_phone", 5: "no_phone", 6: "left_company"}
    assert wallet_balance(user=alice) == Decimal("1000") - row_charge
    assert ledger_sum(user=alice) == wallet_balance(user=alice)
    credits = {name: Decimal(status["credits"][name]) for name in ("charged", "refunded", "net")}
    assert credits["charged"] == 7 * row_charge and credits["refunded"] == 6 * row_charge
    assert credits["net"] == row_charge
    assert {reason: (entry["rows"], Decimal(entry["credits"]))
            for reason, entry in status["credits"]["refunds_by_reason"].items()} == {
        "no_phone": (5, 5 * row_charge), "left_company": (1, row_charge)}
