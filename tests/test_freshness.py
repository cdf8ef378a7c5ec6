"""Freshness: `max_age_days` withholds, and does not charge, a value its source last saw too long ago; at
Pro level a stale email is delivered only once a paid validator confirms its mailbox today. Every
delivered field says how many days ago its source saw it."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from enrichment.models import Job, JobRow
from enrichment.pipeline.rows import STALE, WorkRow
from enrichment.tasks import run_enrichment_job
from sources.contacts import RowKeys
from sources.models import LinkedInSnapshot
from sources.normalize import normalize_linkedin_url, normalize_person_name
from tests.factories import make_company, make_person
from tests.provider_server import API_KEY, ProviderServer
from tests.worker import Worker, wait_for
from wallet.models import LedgerEntry
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]

SUBMIT = "/api/v1/enrichment/submit/"
ESTIMATE = "/api/v1/enrichment/estimate/"
PHONE = "/api/v1/external/phone/enrichment/"
EMAIL = "/api/v1/external/email/enrichment/"
SINGLE = "/api/v1/enrichment/single/"


@pytest.fixture(autouse=True)
def _dns_that_cannot_tell(settings):
    """A nameserver that refuses at once: no lookups leave the machine and verdicts do not depend on them."""
    settings.EMAIL_DNS_NAMESERVERS = ["127.0.0.1:9"]


def days_ago(days: int):
    return timezone.now() - timedelta(days=days)


@pytest.fixture
def acme(db):
    """Two people DataCore last saw 400 days and 10 days ago."""
    company = make_company("Acme Corp", "acme.com", last_seen_at=days_ago(10))
    make_person(company, "Olive", "Oldham", contact_email="olive@acme.com", contact_mobile_phone="+15125550101",
                job_title="Controller", contact_linkedin_url="https://www.linkedin.com/in/olive-oldham",
                last_seen_at=days_ago(400))
    make_person(company, "Nina", "Newman", contact_email="nina@acme.com", contact_mobile_phone="+15125550102",
                job_title="CFO", last_seen_at=days_ago(10))
    return company


OLIVE = {"first_name": "Olive", "last_name": "Oldham", "company_name": "Acme Corp"}
NINA = {"first_name": "Nina", "last_name": "Newman", "company_name": "Acme Corp"}


def submit(client, **body) -> str:
    response = client.post(SUBMIT, {"type": "contact", "level": "standard", **body}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def results_of(client, job_id) -> list[dict]:
    return client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]


def refund_reasons(job_id) -> dict[int, str]:
    return dict(JobRow.objects.filter(job_id=job_id, refund_due__gt=0).values_list("position", "refund_reason"))


# --- jobs --------------------------------------------------------------------------------------------

def test_a_phone_older_than_max_age_days_is_withheld_shown_stale_and_refunded(api_client, alice, acme):
    job_id = submit(api_client, fields_to_enrich=["contact_mobile_phone"], data=[OLIVE, NINA], max_age_days=90)
    assert wallet_balance(user=alice) == Decimal("990")
    run_enrichment_job(job_id)

    olive, nina = results_of(api_client, job_id)
    assert olive["contact_mobile_phone"] == "" and olive["contact_mobile_phone_e164"] == ""
    assert olive["enrichment_status"] == "not_enriched"
    stale = olive["stale_fields"]["contact_mobile_phone"]
    assert stale["source"] == "datacore" and stale["age_days"] == 400 and stale["last_seen"]
    assert nina["contact_mobile_phone"] == "+15125550102" and "stale_fields" not in nina
    assert nina["field_sources"]["contact_mobile_phone"]["age_days"] == 10

    assert refund_reasons(job_id) == {0: STALE}
    assert wallet_balance(user=alice) == Decimal("995")
    assert ledger_sum(user=alice) == wallet_balance(user=alice)
    status = api_client.get(f"/api/v1/enrichment/status/{job_id}/").json()
    assert status["max_age_days"] == 90
    assert status["credits"] == {"estimated": "10", "charged": "10", "refunded": "5", "net": "5",
                                 "refunds_by_reason": {"stale": {"rows": 1, "credits": "5"}}}


def test_without_max_age_days_an_old_value_is_delivered_with_its_age(api_client, alice, acme):
    job_id = submit(api_client, fields_to_enrich=["contact_mobile_phone", "job_title"], data=[OLIVE])
    run_enrichment_job(job_id)

    olive, = results_of(api_client, job_id)
    assert olive["contact_mobile_phone"] == "+15125550101" and olive["job_title"] == "Controller"
    assert {name: source["age_days"] for name, source in olive["field_sources"].items()} == {
        "contact_mobile_phone": 400, "job_title": 400}
    assert wallet_balance(user=alice) == Decimal("995")


def test_a_stale_email_is_refunded_and_the_fresh_fields_of_the_row_are_delivered(api_client, alice, acme):
    job_id = submit(api_client, fields_to_enrich=["contact_email", "industry"], data=[OLIVE], max_age_days=30)
    run_enrichment_job(job_id)

    olive, = results_of(api_client, job_id)
    assert olive["contact_email"] == "" and olive["contact_email_status"] == ""
    assert list(olive["stale_fields"]) == ["contact_email"]
    assert olive["industry"] == "Software"  # the company was seen 10 days ago
    assert olive["enrichment_status"] == "partially_enriched"
    assert refund_reasons(job_id) == {0: STALE}  # an email-priced row pays for its email
    assert wallet_balance(user=alice) == Decimal("1000")


def test_a_stale_value_leaves_its_field_to_a_fresher_source(api_client, alice, acme):
    url = "https://www.linkedin.com/in/olive-oldham"
    LinkedInSnapshot.objects.create(
        linkedin_norm=normalize_linkedin_url(url), contact_linkedin_url=url, first_name="Olive", last_name="Oldham",
        first_norm=normalize_person_name("Olive"), last_norm=normalize_person_name("Oldham"),
        job_title="VP Finance", company_name="Acme Corp", scraped_at=days_ago(3))
    job_id = submit(api_client, fields_to_enrich=["job_title"], data=[OLIVE], max_age_days=90)
    run_enrichment_job(job_id)

    olive, = results_of(api_client, job_id)
    assert olive["job_title"] == "VP Finance"
    assert olive["field_sources"]["job_title"]["source"] == "scraped_linkedin"
    assert olive["field_sources"]["job_title"]["age_days"] == 3
    assert "stale_fields" not in olive


def test_an_undated_value_is_stale_under_max_age_days(api_client, alice, acme):
    make_person(acme, "Una", "Dated", contact_mobile_phone="+15125550103", last_seen_at=None)
    job_id = submit(api_client, fields_to_enrich=["contact_mobile_phone"], max_age_days=365,
                    data=[{"first_name": "Una", "last_name": "Dated", "company_name": "Acme Corp"}])
    run_enrichment_job(job_id)

    una, = results_of(api_client, job_id)
    assert una["contact_mobile_phone"] == ""
    assert una["stale_fields"]["contact_mobile_phone"] == {"source": "datacore", "last_seen": None, "age_days": None}
    assert refund_reasons(job_id) == {0: STALE}


def test_a_withheld_row_does_not_report_the_stale_values_of_someone_else():
    row = WorkRow(position=0, row_uid="0" * 32, record={}, keys=RowKeys.from_record({}), fresh_since=days_ago(30))
    assert not row.fill("job_title", "Controller", source="datacore", seen_at=days_ago(400))
    assert row.fill("job_title", "CFO", source="bigquery", seen_at=days_ago(1)) and row.stale == {}
    assert not row.fill("contact_email", "olive@acme.com", source="datacore", seen_at=days_ago(31))
    row.withhold("name_mismatch")
    assert row.stale == {} and row.fills == {}


def test_max_age_days_is_an_integer_of_at_least_one(api_client, acme):
    body = {"type": "contact", "level": "standard", "fields_to_enrich": ["contact_email"], "data": [OLIVE]}
    for bad in (0, -3, "soon", 1.5):
        response = api_client.post(SUBMIT, {**body, "max_age_days": bad}, format="json")
        assert response.status_code == 400 and set(response.json()) == {"max_age_days"}
    assert api_client.post(ESTIMATE, {**body, "max_age_days": 1}, format="json").status_code == 200
    assert Job.objects.get(job_id=submit(api_client, **body, max_age_days=None)).max_age_days is None


# --- Pro: a stale email re-verified ----------------------------------------------------------------

@pytest.fixture
def server(settings):
    with ProviderServer() as running:
        running.configure(settings, providers=("zerobounce",))
        yield running


def test_at_pro_a_stale_email_zerobounce_confirms_today_is_delivered_and_charged(api_client, alice, acme, server):
    make_person(acme, "Carl", "Catchall", contact_email="carl@acme.com", last_seen_at=days_ago(400))
    server.verdicts["carl@acme.com"] = ("catch-all", "")
    job_id = submit(api_client, level="pro", fields_to_enrich=["contact_email"], max_age_days=90,
                    data=[OLIVE, {"first_name": "Carl", "last_name": "Catchall", "company_name": "Acme Corp"}])
    run_enrichment_job(job_id)

    olive, carl = results_of(api_client, job_id)
    assert olive["contact_email"] == "olive@acme.com"
    assert olive["contact_email_status"] == "deliverable"
    assert olive["field_sources"]["contact_email"] | {"last_seen": None} == {
        "source": "zerobounce", "last_seen": None, "age_days": 0}
    assert olive["notes"]["contact_email"].startswith("re-verified: datacore last saw it ")
    assert "stale_fields" not in olive
    # A catch-all domain accepts any address: its answer confirms no mailbox, so the email stays stale.
    assert carl["contact_email"] == "" and list(carl["stale_fields"]) == ["contact_email"]
    assert refund_reasons(job_id) == {1: STALE}
    assert wallet_balance(user=alice) == Decimal("996")


def test_at_pro_without_a_paid_validator_a_stale_email_is_only_what_the_domains_pattern_guesses_today(
        api_client, alice, acme, settings):
    settings.ZEROBOUNCE_API_KEY = ""
    job_id = submit(api_client, level="pro", fields_to_enrich=["contact_email"], max_age_days=90, data=[OLIVE])
    run_enrichment_job(job_id)

    olive, = results_of(api_client, job_id)
    # olive@ and nina@ make the pattern {first}@acme.com: a guess, labelled as one.
    assert (olive["contact_email"], olive["contact_email_status"], olive["contact_email_status_reason"]) == (
        "olive@acme.com", "risky", "pattern_guess")
    assert olive["field_sources"]["contact_email"]["source"] == "email_pattern"
    assert olive["field_sources"]["contact_email"]["age_days"] == 0


def test_at_standard_level_no_provider_is_asked_about_a_stale_email(api_client, alice, acme, server):
    job_id = submit(api_client, fields_to_enrich=["contact_email"], max_age_days=90, data=[OLIVE])
    run_enrichment_job(job_id)

    assert results_of(api_client, job_id)[0]["contact_email"] == ""
    assert server.requests_to("zerobounce") == []
    assert wallet_balance(user=alice) == Decimal("1000")


# --- single lookups ---------------------------------------------------------------------------------

@pytest.fixture
def caller(make_user, make_client):
    user = make_user("caller", credits=100)
    client = make_client(user, scheme="Token")
    client.user = user
    return client


def test_the_phone_endpoint_withholds_a_stale_phone_free_and_says_it_was_stale(caller, acme):
    stale = caller.post(PHONE, {**OLIVE, "max_age_days": 90}, format="json").json()
    fresh = caller.post(PHONE, {**NINA, "max_age_days": 90}, format="json").json()

    assert {name: stale[name] for name in ("success", "status", "message", "remaining_credits")} == {
        "success": True, "status": "not_found", "message": "Phone not found", "remaining_credits": 100}
    assert stale["stale_fields"]["contact_mobile_phone"]["age_days"] == 400
    assert fresh["status"] == "success" and fresh["results"]["phone"] == "+15125550102"
    assert fresh["remaining_credits"] == 95
    assert wallet_balance(user=caller.user) == Decimal("95")


def test_the_lookup_endpoints_refuse_a_bad_max_age_days_after_the_seeds_input_check(caller, acme):
    for endpoint in (PHONE, EMAIL):
        response = caller.post(endpoint, {**OLIVE, "max_age_days": 0}, format="json")
        assert response.status_code == 400
        assert response.json() == {"error": "max_age_days must be an integer from 1 to 36500."}
        seed = caller.post(endpoint, {"first_name": "Olive", "max_age_days": 0}, format="json").json()
        assert seed == {"error": "Provide linkedin_url, email, or first_name + last_name + (company_name OR "
                                 "company_website)."}
    response = caller.post(SINGLE, {"person": {"email": "olive@acme.com"}, "max_age_days": 0}, format="json")
    assert response.status_code == 400 and set(response.json()) == {"max_age_days"}
    assert not LedgerEntry.objects.filter(wallet__user=caller.user, kind=LedgerEntry.Kind.DEDUCTION).exists()


def test_the_email_endpoint_delivers_a_stale_email_a_paid_validator_confirms_today(caller, acme, server):
    body = caller.post(EMAIL, {**OLIVE, "max_age_days": 90}, format="json").json()

    assert body["status"] == "success" and body["results"]["email"] == "olive@acme.com"
    assert body["results"]["contact_email_status"] == "deliverable"
    assert body["remaining_credits"] == 98


def test_the_person_and_company_endpoint_shows_what_it_withheld_as_stale(caller, acme):
    body = caller.post(SINGLE, {"person": {"first_name": "Olive", "last_name": "Oldham"},
                                "company": {"name": "Acme Corp"}, "max_age_days": 90,
                                "fields_to_enrich": ["job_title", "industry"]}, format="json").json()

    assert body["data"]["person"]["job_title"] == "" and body["data"]["company"]["industry"] == "Software"
    assert list(body["data"]["stale_fields"]) == ["job_title"]


# --- through a real worker ----------------------------------------------------------------------------

@pytest.fixture
def worker(tmp_path):
    started = []

    def start(**env):
        started.append(Worker("freshness", tmp_path, **env))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_worker_withholds_and_refunds_stale_values_and_applies_accept_catch_all(api_client, alice, acme, worker):
    with ProviderServer() as server:
        server.verdicts.update({"nina@acme.com": ("valid", ""), "olive@acme.com": ("valid", "")})
        server.catch_all_domains.add("acme.com")
        make_person(acme, "Cathy", "Catchall", contact_email="cathy@acme.com", last_seen_at=days_ago(5))
        worker(ZEROBOUNCE_API_KEY=API_KEY, ZEROBOUNCE_BASE_URL=f"{server.url}/v2",
               ZEROBOUNCE_BULK_BASE_URL=f"{server.url}/v2", PRO_PROVIDER_TIMEOUT_SECONDS=2,
               PRO_PROVIDER_BACKOFF_SECONDS=0.01, EMAIL_DNS_NAMESERVERS="127.0.0.1:9")
        cathy = {"first_name": "Cathy", "last_name": "Catchall", "company_name": "Acme Corp"}
        standard = submit(api_client, fields_to_enrich=["contact_mobile_phone"], data=[OLIVE, NINA], max_age_days=90)
        pro = submit(api_client, level="pro", fields_to_enrich=["contact_email"], data=[NINA, cathy],
                     accept_catch_all=False)

        for job_id in (standard, pro):
            wait_for(lambda job_id=job_id: Job.objects.get(job_id=job_id).status == "Enrichment Completed",
                     timeout=60, message="job completion")

    olive, nina = results_of(api_client, standard)
    assert olive["contact_mobile_phone"] == "" and olive["stale_fields"]["contact_mobile_phone"]["age_days"] == 400
    assert nina["contact_mobile_phone_type"] == "fixed_line_or_mobile"
    nina_email, cathy_email = results_of(api_client, pro)
    assert (nina_email["contact_email"], nina_email["contact_email_status"]) == ("nina@acme.com", "deliverable")
    assert (cathy_email["contact_email"], cathy_email["contact_email_status"]) == ("", "catch_all")
    assert refund_reasons(standard) == {0: STALE} and refund_reasons(pro) == {1: "catch_all_refused"}
    # Olive's phone (5) and Cathy's email (4) came back.
    assert wallet_balance(user=alice) == Decimal("1000") - 5 - 4
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_a_max_age_days_past_a_century_is_a_400_not_a_date_overflow(caller, acme):
    for endpoint in (PHONE, EMAIL):
        response = caller.post(endpoint, {**OLIVE, "max_age_days": 1_000_000}, format="json")
        assert (response.status_code, response.json()) == (
            400, {"error": "max_age_days must be an integer from 1 to 36500."})
    submit = caller.post("/api/v1/enrichment/submit/", {
        "type": "contact", "level": "standard", "fields_to_enrich": ["contact_email"], "max_age_days": 1_000_000,
        "data": [{"first_name": "Olive", "last_name": "Oldham", "company_name": "Acme Corp"}]}, format="json")
    assert submit.status_code == 400 and "max_age_days" in submit.json()
    assert wallet_balance(user=caller.user) == Decimal("100")
