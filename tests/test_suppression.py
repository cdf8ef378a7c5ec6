"""The suppression list: a suppressed email, LinkedIn URL or domain is never returned, nor charged."""

from decimal import Decimal

import pytest

from enrichment.pipeline.compliance import apply_compliance
from enrichment.pipeline.rows import WorkRow
from enrichment.tasks import run_enrichment_job
from sources.compliance import suppressed
from sources.contacts import RowKeys
from sources.models import Person, Suppression
from tests.factories import make_company, make_person
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"


@pytest.fixture
def acme(db):
    company = make_company("Acme Corp", "https://www.acme.com")
    make_person(company, "Jane", "Doe", contact_email="jane.doe@acme.com",
                contact_linkedin_url="https://www.linkedin.com/in/janedoe", job_title="VP Sales", job_level="VP")
    make_person(company, "Robert", "Smith", contact_email="rsmith@acme.com", job_title="CTO", job_level="VP")
    other = make_company("Globex", "globex.com")
    make_person(other, "Hank", "Scorpio", contact_email="hank@globex.com", job_title="CEO", job_level="VP")
    return company


def suppress(kind: str, value: str) -> None:
    Suppression.objects.create(kind=kind, value=value, reason="opt-out request")


def run_job(client, **body) -> tuple[str, list[dict]]:
    response = client.post(SUBMIT, body, format="json")
    assert response.status_code == 200, response.json()
    job_id = response.json()["job_id"]
    run_enrichment_job(job_id)
    return job_id, client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]


def contact_job(client, fields=("contact_email", "job_title")):
    return run_job(client, type="contact", level="standard", fields_to_enrich=list(fields), data=[
        {"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
        {"first_name": "Robert", "last_name": "Smith", "company_website": "acme.com"},
        {"first_name": "Hank", "last_name": "Scorpio", "company_name": "Globex"},
    ])


def assert_wallet_equals_ledger(user, expected: str) -> None:
    assert wallet_balance(user=user) == Decimal(expected)
    assert ledger_sum(user=user) == wallet_balance(user=user)


def test_a_suppressed_email_is_withheld_and_not_charged(api_client, alice, acme):
    suppress("email", "jane.doe@acme.com")
    job_id, (jane, robert, hank) = contact_job(api_client)
    assert jane["contact_email"] == "" and jane["job_title"] == "" and jane["compliance_restricted"] is True
    assert jane["enrichment_status"] == "not_enriched"
    assert robert["contact_email"] == "rsmith@acme.com" and "compliance_restricted" not in robert
    assert hank["job_title"] == "CEO"
    credits = api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()["credits"]
    assert Decimal(credits["refunded"]) == Decimal(credits["charged"]) / 3  # Jane's row is refunded
    assert_wallet_equals_ledger(alice, str(1000 - Decimal(credits["net"])))


def test_a_suppressed_linkedin_url_is_withheld_even_when_not_requested(api_client, alice, acme):
    suppress("linkedin", "linkedin.com/in/janedoe")
    _, (jane, robert, _) = contact_job(api_client, fields=("job_title",))
    assert jane["job_title"] == "" and jane["compliance_restricted"] is True
    assert robert["job_title"] == "CTO"


def test_a_suppressed_domain_withholds_everyone_there_and_the_account(api_client, alice, acme):
    suppress("domain", "acme.com")
    _, (jane, robert, hank) = contact_job(api_client, fields=("job_title",))
    assert jane["compliance_restricted"] is True and robert["compliance_restricted"] is True
    assert jane["job_title"] == robert["job_title"] == ""
    assert hank["job_title"] == "CEO"

    _, accounts = run_job(api_client, type="account", level="standard", fields_to_enrich=["industry"],
                          data=[{"company_website": "https://acme.com"}, {"company_name": "Globex"}])
    assert accounts[0]["industry"] == "" and accounts[0]["compliance_restricted"] is True
    assert accounts[1]["industry"] == "Software"
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_a_suppressed_contact_is_dropped_from_an_expanded_account_and_not_charged(api_client, alice, acme):
    suppress("email", "jane.doe@acme.com")
    job_id, rows = run_job(api_client, type="account", level="standard",
                           fields_to_enrich=["job_title", "company_name"],
                           criteria={"limit": 2, "job_level": "VP"}, data=[{"company_website": "acme.com"}])
    assert [(row["job_title"], row["company_name"]) for row in rows] == [("CTO", "Acme Corp")]
    credits = api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()["credits"]
    charged, refunded = Decimal(credits["charged"]), Decimal(credits["refunded"])
    assert refunded == charged / 2  # one of the two contacts paid for was not returned
    assert_wallet_equals_ledger(alice, str(Decimal(1000) - charged + refunded))


def test_suppressed_looks_up_raw_values_normalized_in_one_query(acme, django_assert_num_queries):
    suppress("email", "jane.doe@acme.com")
    suppress("linkedin", "linkedin.com/in/janedoe")
    suppress("domain", "globex.com")
    with django_assert_num_queries(1):
        found = suppressed(emails=["mailto:Jane.Doe@ACME.com", "rsmith@acme.com"],
                           linkedins=["https://www.linkedin.com/in/JaneDoe/?trk=x"],
                           domains=["https://shop.globex.com/x", "acme.com"])
    assert found == {("email", "jane.doe@acme.com"), ("linkedin", "linkedin.com/in/janedoe"),
                     ("domain", "globex.com")}
    with django_assert_num_queries(0):
        assert suppressed(emails=["not an email"]) == set()


def test_apply_compliance_withholds_filled_values_and_their_email_domain(db):
    suppress("domain", "initech.com")

    def row(record, **fills):
        work_row = WorkRow(position=0, row_uid="0" * 32, record=record, keys=RowKeys.from_record(record))
        for name, value in fills.items():
            work_row.fill(name, value, source="bigquery")
        return work_row

    leaked = row({"first_name": "Peter", "last_name": "Gibbons"}, contact_email="peter@mail.initech.com")
    clean = row({"first_name": "Bill", "last_name": "Lumbergh"}, contact_email="bill@example.org")
    assert apply_compliance([leaked, clean]) == [leaked]
    assert leaked.fills == {} and leaked.flags == ["compliance_restricted"]
    assert clean.fills["contact_email"].value == "bill@example.org" and clean.flags == []


def test_a_row_asked_about_a_suppressed_person_keeps_nothing_found_by_other_keys(db):
    suppress("linkedin", "linkedin.com/in/peter-gibbons")
    suppress("email", "milton@initech.com")

    def row(record):
        work_row = WorkRow(position=0, row_uid="0" * 32, record=record, keys=RowKeys.from_record(record))
        work_row.fill("contact_mobile_phone", "+15125550100", source="bigquery")
        return work_row

    by_linkedin = row({"first_name": "Peter", "contact_linkedin_url": "https://www.linkedin.com/in/Peter-Gibbons/"})
    by_email = row({"contact_email": "Milton@Initech.com"})
    other = row({"contact_email": "bill@initech.com"})
    assert apply_compliance([by_linkedin, by_email, other]) == [by_linkedin, by_email]
    assert by_linkedin.fills == by_email.fills == {}
    assert other.fills["contact_mobile_phone"].value == "+15125550100"


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("admin", "admin@example.com", None))
    return client


@pytest.mark.parametrize("path", ["sources/suppression/", "sources/suppression/add/", "sources/company/",
                                  "sources/person/", "sources/linkedinsnapshot/", "enrichment/webhookdelivery/"])
def test_admin_pages_render(admin_client, acme, path):
    assert admin_client.get(f"/admin/{path}").status_code == 200
    assert admin_client.get(f"/admin/{path}", {"q": "acme"}).status_code == 200


def test_admin_change_pages_render(admin_client, acme):
    from django.utils import timezone

    from sources.models import LinkedInSnapshot

    snapshot = LinkedInSnapshot.objects.create(linkedin_norm="linkedin.com/in/janedoe",
                                               contact_linkedin_url="https://linkedin.com/in/janedoe",
                                               scraped_at=timezone.now())
    person = Person.objects.get(email_norm="jane.doe@acme.com")
    assert admin_client.get(f"/admin/sources/person/{person.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/sources/company/{acme.pk}/change/").status_code == 200
    assert admin_client.get(f"/admin/sources/linkedinsnapshot/{snapshot.pk}/change/").status_code == 200
    assert admin_client.get("/admin/sources/linkedinsnapshot/add/").status_code == 403


def test_admin_stores_suppressions_normalized_and_refuses_unusable_values(admin_client):
    response = admin_client.post("/admin/sources/suppression/add/",
                                 {"kind": "email", "value": "Mailto:Jane.Doe@ACME.com", "reason": "GDPR erasure"})
    assert response.status_code == 302
    response = admin_client.post("/admin/sources/suppression/add/",
                                 {"kind": "linkedin", "value": "https://www.linkedin.com/in/JaneDoe/", "reason": "x"})
    assert response.status_code == 302
    assert set(Suppression.objects.values_list("kind", "value")) == {
        ("email", "jane.doe@acme.com"), ("linkedin", "linkedin.com/in/janedoe")}

    duplicate = admin_client.post("/admin/sources/suppression/add/",
                                  {"kind": "email", "value": "jane.doe@acme.com ", "reason": "again"})
    assert duplicate.status_code == 200 and Suppression.objects.count() == 2
    unusable = admin_client.post("/admin/sources/suppression/add/",
                                 {"kind": "domain", "value": "not a domain", "reason": "x"})
    assert unusable.status_code == 200 and b"Not a usable Domain" in unusable.content
    assert Suppression.objects.count() == 2


def test_admin_edits_opted_out_only(admin_client, acme):
    person = Person.objects.get(email_norm="jane.doe@acme.com")
    response = admin_client.post(f"/admin/sources/person/{person.pk}/change/",
                                 {"opted_out": "on", "contact_email": "changed@example.com"})
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.opted_out is True and person.contact_email == "jane.doe@acme.com"
