"""The real processes: gunicorn (two workers) and a Celery worker (a prefork child), logging JSON and sharing one
metrics directory, as an operator sees them."""

import json

import httpx
import pytest

from enrichment.models import TERMINAL_STATUSES, Job
from tests.factories import make_company, make_person
from tests.live_service import LiveService, free_port
from tests.test_metrics import Scrape
from tests.worker import wait_for
from tokens.services import api_token_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

REQUEST_ID = "e2e-7c1d"


def json_lines(path) -> list[dict]:
    """The log's JSON lines (Celery prints its banner as plain text before logging starts)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.fixture
def service(tmp_path):
    worker_metrics_port = free_port()
    running = LiveService(tmp_path, LOG_FORMAT="json", PROMETHEUS_MULTIPROC_DIR=tmp_path / "metrics",
                          METRICS_PORT=worker_metrics_port, BIGQUERY_EMULATOR_HOST="", FIRESTORE_EMULATOR_HOST="")
    running.worker_metrics_url = f"http://127.0.0.1:{worker_metrics_port}/metrics"
    yield running
    running.stop()


def test_a_jobs_lines_carry_its_id_in_web_and_worker_and_one_scrape_counts_both(service, make_user):
    make_person(make_company("Acme Corp", "acme.com"), "Jane", "Doe", job_title="VP Sales")
    token = api_token_create(user=make_user("observer", credits=100)).plaintext
    response = httpx.post(f"{service.url}/api/v1/enrichment/submit/", timeout=30, json={
        "type": "contact", "level": "standard", "fields_to_enrich": ["job_title"],
        "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"}],
    }, headers={"Authorization": f"Bearer {token}", "X-Request-ID": REQUEST_ID})
    assert response.status_code == 200, response.text
    assert response.headers["X-Request-ID"] == REQUEST_ID
    job_id = response.json()["job_id"]
    wait_for(lambda: Job.objects.get(job_id=job_id).status in TERMINAL_STATUSES, timeout=60, message="the job")

    web = [line for line in json_lines(service.web.log_path) if line.get("job_id") == job_id]
    submitted = next(line for line in web if line["event"] == "request_finished")
    assert (submitted["request_id"], submitted["view"], submitted["status"]) == (REQUEST_ID, "enrichment-submit", 200)
    assert submitted["user_id"] and submitted["duration_ms"] > 0
    assert "job_submitted" in {line["event"] for line in web}

    # The worker's lines, Celery's own included, carry the job's id and the id of the request that submitted it.
    def worker_lines() -> list[dict]:
        return [line for line in json_lines(service.worker.log_path) if line.get("job_id") == job_id]

    wait_for(lambda: any("succeeded" in line["event"] for line in worker_lines()),
             timeout=10, message="Celery's line for the task's success")
    worker = worker_lines()
    assert {"job_started", "job_finished"} <= {line["event"] for line in worker}
    assert all(line["request_id"] == REQUEST_ID for line in worker)
    finished = next(line for line in worker if line["event"] == "job_finished")
    assert finished["status"] == "Enrichment Completed" and finished["duration_seconds"] >= 0

    # The web's /metrics adds up gunicorn's workers and the Celery child that ran the job; the worker's own
    # endpoint serves the same directory.
    for url in (f"{service.url}/metrics", service.worker_metrics_url):
        metrics = Scrape(httpx.get(url, timeout=10).text)
        assert metrics.value("ecore_jobs_submitted_total", type="contact", level="standard") == 1
        assert metrics.value("ecore_jobs_finished_total", status="Enrichment Completed") == 1
        assert metrics.value("ecore_job_rows_total", enrichment_status="enriched") == 1
