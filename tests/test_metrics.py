"""GET /metrics: Prometheus counters that move with jobs, refunds, rate limits, providers and webhooks.

The test process has no PROMETHEUS_MULTIPROC_DIR, so it counts in memory and /metrics serves that; the same
counters across gunicorn and Celery processes sharing a directory are in test_observability_e2e.py.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from enrichment.models import Job, WebhookDelivery
from enrichment.tasks import run_enrichment_job
from enrichment.webhook_tasks import deliver_webhook
from sources.providers.http import ProviderUnavailable
from tests.conftest import TEST_QUEUE
from tests.factories import make_company, make_person
from tests.live_service import free_port
from tests.provider_server import Fault, ProviderServer
from tests.test_providers import serper_client
from tokens.models import ApiToken

pytestmark = pytest.mark.django_db

SUBMIT = "/api/v1/enrichment/submit/"
PHONE = "/api/v1/external/phone/enrichment/"


class Scrape:
    """One reading of /metrics: sample values by name and labels (absent samples read as 0)."""

    def __init__(self, text: str):
        self.samples = {(sample.name, frozenset(sample.labels.items())): sample.value
                        for family in text_string_to_metric_families(text) for sample in family.samples}

    def value(self, name: str, **labels) -> float:
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def moved_since(self, before: "Scrape", name: str, **labels) -> float:
        return self.value(name, **labels) - before.value(name, **labels)

    def label_values(self, name: str, label: str) -> set[str]:
        return {dict(labels)[label] for sample_name, labels in self.samples if sample_name == name}


def scrape(client) -> Scrape:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    return Scrape(response.content.decode())


@pytest.fixture
def acme(db):
    company = make_company("Acme Corp", "https://www.acme.com")
    make_person(company, "Jane", "Doe", contact_email="jane.doe@acme.com", job_title="VP Sales",
                contact_mobile_phone="+15125550111")


@pytest.fixture
def empty_test_queue(redis_client):
    redis_client.delete(TEST_QUEUE)
    yield redis_client
    redis_client.delete(TEST_QUEUE)


def submit(client, **extra) -> str:
    response = client.post(SUBMIT, {
        "type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
        "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
                 {"first_name": "Nobody", "last_name": "Known", "company_name": "Ghost LLC"}], **extra,
    }, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def test_metrics_need_the_token_or_an_allowed_network(client, settings):
    settings.METRICS_TOKEN = "scrape-secret"
    assert client.get("/metrics").status_code == 200  # the test client calls from 127.0.0.1
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7",
                      HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.7",
                      HTTP_AUTHORIZATION="Bearer scrape-secret").status_code == 200
    # Through a reverse proxy on the same host every caller is 127.0.0.1: only the token lets it in.
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.7").status_code == 403


def test_a_network_outside_the_allowed_ones_needs_the_token(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 403


def test_a_job_moves_the_submit_finish_row_stage_source_and_credit_counters(client, api_client, acme):
    before = scrape(client)
    job_id = submit(api_client)
    run_enrichment_job(job_id)
    after = scrape(client)

    job = Job.objects.get(job_id=job_id)
    assert job.status == "Enrichment Completed"

    def moved(name, **labels):
        return after.moved_since(before, name, **labels)

    assert moved("ecore_jobs_submitted_total", type="contact", level="standard") == 1
    assert moved("ecore_jobs_finished_total", status="Enrichment Completed") == 1
    assert moved("ecore_job_rows_total", enrichment_status="enriched") == 1
    assert moved("ecore_job_rows_total", enrichment_status="not_enriched") == 1
    assert moved("ecore_stage_seconds_count", stage="datacore") == 1
    assert moved("ecore_source_rows_filled_total", source="datacore") == 1
    # The wallet and the counters agree to the credit: charged at submit, the unmatched row refunded.
    assert Decimal(str(moved("ecore_credits_charged_total"))) == job.estimated_credits
    assert Decimal(str(moved("ecore_credits_refunded_total", reason="not_found"))) == job.row_charge
    assert moved("ecore_http_requests_total", view="enrichment-submit", method="POST", status="200") == 1


def test_a_paused_job_refunds_its_unprocessed_rows_on_the_counter(client, api_client, acme):
    before = scrape(client)
    job_id = submit(api_client)
    assert api_client.post("/api/v1/enrichment-control/", {"job_id": job_id, "action": "pause"},
                           format="json").status_code == 200
    row_charge = Job.objects.get(job_id=job_id).row_charge
    assert scrape(client).moved_since(before, "ecore_credits_refunded_total", reason="unprocessed") == \
        float(2 * row_charge)


def test_a_rate_limited_lookup_is_counted_and_requests_are_labelled_by_view_not_path(
        client, make_user, make_client, acme):
    lookups = make_client(make_user("limited", credits=100), scheme="Token")
    ApiToken.objects.filter(pk=lookups.token.token.pk).update(rate_limit_per_second=1)
    body = {"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}
    before = scrape(client)
    assert lookups.post(PHONE, body, format="json").status_code == 200
    assert lookups.post(PHONE, body, format="json").status_code == 429
    status_path = f"/api/v1/enrichment/status/{'0' * 8}-0000-0000-0000-{'0' * 12}/"
    assert lookups.get(status_path).status_code == 404
    after = scrape(client)

    assert after.moved_since(before, "ecore_rate_limited_total") == 1
    assert after.moved_since(before, "ecore_http_requests_total",
                       view="external-phone-enrichment", method="POST", status="429") == 1
    assert after.moved_since(before, "ecore_http_request_duration_seconds_count",
                       view="external-phone-enrichment", status="200") == 1
    assert after.moved_since(before, "ecore_http_requests_total",
                       view="enrichment-status", method="GET", status="404") == 1
    assert not any("/" in view for view in after.label_values("ecore_http_requests_total", "view"))


def test_failed_webhook_attempts_are_counted_as_retrying_then_failed(
        client, api_client, acme, empty_test_queue, django_capture_on_commit_callbacks):
    job_id = submit(api_client, webhook_url=f"http://127.0.0.1:{free_port()}/hooks")
    with django_capture_on_commit_callbacks(execute=True):
        run_enrichment_job(job_id)
    delivery = WebhookDelivery.objects.get(job_id=job_id)
    before = scrape(client)

    deliver_webhook(delivery.pk)  # nothing listens: the delivery will be retried
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        next_attempt_at=timezone.now(), created_at=timezone.now() - timedelta(hours=23, minutes=59))
    deliver_webhook(delivery.pk)  # the last retry the day allows fails for good
    after = scrape(client)

    assert after.moved_since(before, "ecore_webhook_deliveries_total", outcome="retrying") == 1
    assert after.moved_since(before, "ecore_webhook_deliveries_total", outcome="failed") == 1
    assert after.moved_since(before, "ecore_webhook_deliveries_total", outcome="delivered") == 0


def test_provider_attempts_are_counted_by_outcome(client, settings, fresh_cache):
    with ProviderServer() as server:
        server.configure(settings)
        server.serper_results["q"] = {"organic": []}
        before = scrape(client)
        server.fail_next("serper", Fault(status=429, headers={"Retry-After": "0"}))
        serper_client().search("q")
        server.fail_always("serper", Fault(status=500))
        failing = serper_client(backoff_seconds=0)
        with pytest.raises(ProviderUnavailable):
            failing.search("q")
        with pytest.raises(ProviderUnavailable):
            failing.search("again")  # the breaker is open: nothing is sent
        after = scrape(client)

    def moved(outcome):
        return after.moved_since(before, "ecore_provider_requests_total", provider="serper", outcome=outcome)

    assert (moved("throttled"), moved("answered"), moved("server_error"), moved("skipped")) == (1, 1, 3, 1)


def test_the_queue_length_is_read_from_the_broker_at_each_scrape(client, empty_test_queue):
    assert scrape(client).value("ecore_celery_queue_length", queue=TEST_QUEUE) == 0
    empty_test_queue.rpush(TEST_QUEUE, b"{}", b"{}", b"{}")
    assert scrape(client).value("ecore_celery_queue_length", queue=TEST_QUEUE) == 3


def test_metrics_still_answer_while_the_broker_is_down(client, settings):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    metrics = scrape(client)
    assert "ecore_celery_queue_length" not in {name for name, _ in metrics.samples}
    assert metrics.label_values("ecore_http_requests_total", "view")
