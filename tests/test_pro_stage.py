"""Pro jobs end to end: submitted over HTTP, run as the worker runs them, read back over HTTP.

Paid providers are the local `ProviderServer`; everything else (DataCore, Redis, the wallet) is real.
"""

from decimal import Decimal

import pytest

from enrichment.models import JobRow
from enrichment.pipeline.pro import ProEnrichmentStage
from enrichment.pipeline.rows import WorkRow
from enrichment.pipeline.spec import EnrichmentSpec
from enrichment.tasks import run_enrichment_job
from sources.contacts import RowKeys
from sources.models import Person, Suppression
from tests.factories import make_company, make_person
from tests.provider_server import Fault, ProviderServer, profile_page
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

SUBMIT = "/api/v1/enrichment/submit/"
FIELDS = ["contact_email", "contact_linkedin_url", "job_title"]
PRO_EMAIL_PRICE = Decimal("4")


@pytest.fixture
def no_providers(settings):
    for name in ("SERPER_API_KEY", "ANYMAILFINDER_API_KEY", "ZEROBOUNCE_API_KEY", "NETNUT_USERNAME",
                 "NETNUT_PASSWORD"):
        setattr(settings, name, "")


@pytest.fixture
def server(settings):
    with ProviderServer() as running:
        running.configure(settings)
        yield running


def submit_pro(client, data) -> str:
    response = client.post(SUBMIT, {"type": "contact", "level": "pro", "fields_to_enrich": FIELDS, "data": data},
                           format="json")
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def finished(client, job_id) -> tuple[dict, list[dict]]:
    status = client.get(f"/api/v1/enrichment/status/{job_id}/").json()
    rows = client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]
    return status, rows


def stage(status: dict, name: str) -> dict:
    return next(entry for entry in status["stages"] if entry["name"] == name)


def refund_reasons(job_id) -> dict[int, str]:
    return dict(JobRow.objects.filter(job_id=job_id, refund_due__gt=0).values_list("position", "refund_reason"))


def test_every_pro_provider_contributes_to_a_pro_job(api_client, alice, server):
    acme = make_company("Acme Corp", "acme.com")
    make_person(acme, "Robert", "Smith", contact_email="rsmith@acme.com", job_title="CTO")
    server.serper_results['"Jane Roe" Initech site:linkedin.com/in'] = {"organic": [
        {"title": "Jane Roe - Director of Finance - Initech | LinkedIn",
         "link": "https://www.linkedin.com/in/jane-roe-42", "snippet": "Initech, Austin", "position": 1}]}
    server.serper_results["Initech official website"] = {"organic": [
        {"title": "Initech", "link": "https://www.initech.com/", "snippet": "TPS reports", "position": 1}]}
    server.profiles["jane-roe-42"] = profile_page(name="Jane Roe", job_title="Director of Finance", company="Initech")
    server.profiles["sam-lee-7"] = profile_page(name="Samantha Green", job_title="CEO", company="Initrode")
    server.emails[("jane", "roe", "initech.com")] = ("jane.roe@initech.com", "valid")
    server.verdicts["rsmith@acme.com"] = ("invalid", "mailbox_not_found")

    job_id = submit_pro(api_client, [
        {"first_name": "Jane", "last_name": "Roe", "company_name": "Initech"},
        {"first_name": "Sam", "last_name": "Lee", "company_name": "Initech",
         "contact_linkedin_url": "https://www.linkedin.com/in/sam-lee-7"},
        {"first_name": "Robert", "last_name": "Smith", "company_website": "acme.com"},
    ])
    run_enrichment_job(job_id)

    status, (jane, sam, robert) = finished(api_client, job_id)
    assert status["status"] == "Enrichment Completed"
    assert jane["contact_email"] == "jane.roe@initech.com"
    assert jane["contact_linkedin_url"] == "https://www.linkedin.com/in/jane-roe-42"
    assert jane["job_title"] == "Director of Finance"
    assert {name: source["source"] for name, source in jane["field_sources"].items()} == {
        "contact_email": "anymailfinder", "contact_linkedin_url": "serper", "job_title": "netnut"}
    assert jane["enrichment_status"] == "enriched" and jane["match_confidence"] >= 70

    assert sam["job_title"] == "" and "is not the input's person" in sam["notes"]["netnut"]
    assert sam["notes"]["email_pattern"] == "no email pattern known at initech.com"

    assert robert["job_title"] == "CTO" and robert["contact_email"] == ""
    assert robert["notes"]["contact_email"] == "dropped: invalid (mailbox_not_found)"

    assert set(stage(status, "pro")["source"].split(",")) == {"serper", "netnut", "anymailfinder"}
    assert stage(status, "email_validation")["source"] == "zerobounce"
    # Profiles for Jane and Robert (DataCore has no URL for him), and Initech's website once.
    assert len(server.requests_to("serper")) == 3
    assert refund_reasons(job_id) == {1: "not_found", 2: "no_deliverable_email"}
    assert wallet_balance(user=alice) == Decimal("1000") - PRO_EMAIL_PRICE
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_no_provider_is_asked_about_a_suppressed_person(api_client, alice, server):
    acme = make_company("Acme Corp", "acme.com")
    make_person(acme, "Robert", "Smith", contact_email="rsmith@acme.com", job_title="CTO")
    for kind, value in (("email", "rsmith@acme.com"), ("linkedin", "linkedin.com/in/jane-roe-42"),
                        ("email", "sam.lee@initrode.com")):
        Suppression.objects.create(kind=kind, value=value, reason="erasure request")
    server.profiles["jane-roe-42"] = profile_page(name="Jane Roe", job_title="Director of Finance", company="Initech")
    server.emails[("jane", "roe", "initech.com")] = ("jane.roe@initech.com", "valid")
    server.emails[("sam", "lee", "initrode.com")] = ("sam.lee@initrode.com", "valid")

    job_id = submit_pro(api_client, [
        # Suppressed by the LinkedIn URL the client sent: no match in DataCore, so only that URL tells.
        {"first_name": "Jane", "last_name": "Roe", "company_name": "Initech", "company_website": "initech.com",
         "contact_linkedin_url": "https://www.linkedin.com/in/jane-roe-42"},
        # Suppressed by the email DataCore knows; its LinkedIn URL would be searched for.
        {"first_name": "Robert", "last_name": "Smith", "company_website": "acme.com"},
        # Suppressed by the email a provider finds: that email is not sent on to be validated.
        {"first_name": "Sam", "last_name": "Lee", "company_name": "Initrode", "company_website": "initrode.com",
         "contact_linkedin_url": "https://www.linkedin.com/in/sam-lee-7"},
    ])
    run_enrichment_job(job_id)

    status, rows = finished(api_client, job_id)
    assert status["status"] == "Enrichment Completed"
    assert [row.get("compliance_restricted") for row in rows] == [True, True, True]
    assert [(row["contact_email"], row["job_title"]) for row in rows] == [("", "")] * 3
    asked = [request.target + request.body.decode() for request in server.seen]
    # Only about Sam, before his email was known: his profile and his email.
    assert [request.provider for request in server.seen] == ["netnut", "anymailfinder"]
    assert all("sam-lee-7" in text or '"last_name":"Lee"' in text for text in asked)
    assert not any(needle in text for text in asked for needle in ("jane-roe-42", "Robert", "sam.lee@"))
    assert wallet_balance(user=alice) == Decimal("1000")
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_providers_down_or_slow_leave_notes_and_the_job_completes(api_client, alice, server, settings):
    settings.PRO_PROVIDER_TIMEOUT_SECONDS = settings.ANYMAILFINDER_TIMEOUT_SECONDS = 0.3
    server.fail_always("serper", Fault(status=503))
    server.fail_always("anymailfinder", Fault(delay=2.0))
    server.profiles["jane-roe-42"] = profile_page(name="Jane Roe", job_title="Director of Finance", company="Initech")

    job_id = submit_pro(api_client, [
        {"first_name": "Jane", "last_name": "Roe", "company_name": "Initech", "company_website": "initech.com",
         "contact_linkedin_url": "https://www.linkedin.com/in/jane-roe-42"},
        {"first_name": "Sam", "last_name": "Lee", "company_name": "Initrode"},
        {"first_name": "Ann", "last_name": "Park", "company_name": "Initrode"},
    ])
    run_enrichment_job(job_id)

    status, (jane, sam, ann) = finished(api_client, job_id)
    assert status["status"] == "Enrichment Completed"
    assert jane["job_title"] == "Director of Finance"
    assert jane["notes"]["anymailfinder"] == "unavailable: timed out after 3 tries"
    assert sam["notes"]["serper"] == ann["notes"]["serper"] == "unavailable: HTTP 503 after 3 tries"
    assert len(server.requests_to("serper")) == 3  # the breaker spares the other rows' calls
    assert refund_reasons(job_id) == {0: "no_deliverable_email", 1: "not_found", 2: "not_found"}
    assert wallet_balance(user=alice) == Decimal("1000")


def test_without_providers_email_patterns_deliver_only_well_evidenced_guesses(api_client, alice, no_providers):
    globex = make_company("Globex", "globex.com")
    for first, last in (("Hank", "Scorpio"), ("Frank", "Grimes"), ("Lisa", "Simpson")):
        make_person(globex, first, last, contact_email=f"{first}.{last}@globex.com".lower())
    make_person(globex, "Homer", "Simpson", job_title="Safety Inspector")
    hooli = make_company("Hooli", "hooli.com")
    make_person(hooli, "Gavin", "Belson", contact_email="gavin.belson@hooli.com")
    make_person(hooli, "Richard", "Hendricks", contact_email="rhendricks@hooli.com")
    make_person(make_company("Vandelay Industries", "vandelay.com"), "Art", "Vandelay",
                contact_email="art.vandelay@vandelay.com")
    for first, last in (("Ann", "Lee"), ("Bo", "Kim")):
        # People at a domain no DataCore company has.
        Person.objects.create(source_key=f"e:{first}@shell.io", first_name=first, last_name=last,
                              first_norm=first.lower(), last_norm=last.lower(),
                              contact_email=f"{first}.{last}@shell.io".lower(),
                              email_norm=f"{first}.{last}@shell.io".lower(), company_domain_norm="shell.io")

    job_id = submit_pro(api_client, [
        {"first_name": "Homer", "last_name": "Simpson", "company_name": "Globex"},
        {"first_name": "Jared", "last_name": "Dunn", "company_website": "hooli.com"},
        {"first_name": "Cosmo", "last_name": "Kramer", "company_website": "vandelay.com"},
        {"first_name": "Cy", "last_name": "Park", "company_website": "shell.io"},
    ])
    run_enrichment_job(job_id)

    status, (homer, jared, cosmo, cy) = finished(api_client, job_id)
    assert status["status"] == "Enrichment Completed"
    assert homer["contact_email"] == "homer.simpson@globex.com"
    assert homer["field_sources"]["contact_email"]["source"] == "email_pattern"
    assert homer["job_title"] == "Safety Inspector"
    assert jared["contact_email"] == "" and jared["notes"]["email_pattern"] == "no email pattern known at hooli.com"
    assert cosmo["contact_email"] == "" and "2 needed" in cosmo["notes"]["email_pattern"]
    assert cy["contact_email"] == ""
    assert cy["notes"]["email_pattern"] == "guessed cy.park@shell.io, not used: guessed at a domain DataCore does not know"
    assert stage(status, "pro")["source"] == "email_pattern"
    assert "not configured: serper, netnut, anymailfinder" in stage(status, "pro")["detail"]
    assert refund_reasons(job_id) == {1: "not_found", 2: "not_found", 3: "not_found"}
    assert wallet_balance(user=alice) == Decimal("1000") - PRO_EMAIL_PRICE
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_standard_jobs_and_account_jobs_skip_the_pro_stage(api_client, no_providers):
    job_id = api_client.post(SUBMIT, {"type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
                                      "data": [{"first_name": "A", "last_name": "B", "company_name": "C"}]},
                             format="json").json()["job_id"]
    run_enrichment_job(job_id)
    status, _ = finished(api_client, job_id)
    assert stage(status, "pro") == {"name": "pro", "stage": "Pro Enrichment", "state": "skipped",
                                    "reason": "Pro contact jobs only"}
    assert ProEnrichmentStage().skip_reason(EnrichmentSpec(type="account", level="pro", fields_to_enrich=())) == (
        "Pro contact jobs only")


def test_the_stage_makes_one_pattern_query_per_batch(no_providers, django_assert_max_num_queries):
    globex = make_company("Globex", "globex.com")
    for first, last in (("Hank", "Scorpio"), ("Frank", "Grimes")):
        make_person(globex, first, last, contact_email=f"{first}.{last}@globex.com".lower())
    spec = EnrichmentSpec(type="contact", level="pro", fields_to_enrich=("contact_email",))
    rows = []
    for position in range(20):
        record = {"first_name": f"Person{chr(97 + position)}", "last_name": "Jones", "company_website": "globex.com"}
        rows.append(WorkRow(position=position, row_uid=f"{position:032d}", record=record,
                            keys=RowKeys.from_record(record)))

    with django_assert_max_num_queries(2):  # the patterns, and the validator's known domains
        result = ProEnrichmentStage().run(spec, rows)

    assert result.rows_filled == 20 and result.source == "email_pattern"
    assert rows[0].fills["contact_email"].value == "persona.jones@globex.com"
