"""The pipeline on real Celery worker processes: a job submitted over HTTP completes; a worker
killed with SIGKILL mid-job is replaced and the job completes with every row delivered and
charged exactly once."""

from decimal import Decimal

import pytest

from enrichment.models import Job, JobRow
from tests.worker import assert_every_row_once_and_charged_once, phone_job, wait_for
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

SUBMIT = "/api/v1/enrichment/submit/"


def job_status(job_id) -> str:
    return Job.objects.get(job_id=job_id).status


def rows_saved(job_id) -> int:
    return JobRow.objects.filter(job_id=job_id).count()


def submit(client, body) -> str:
    response = client.post(SUBMIT, body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()["job_id"]


def test_a_submitted_job_is_completed_by_a_real_worker(api_client, alice, datacore_people, workers):
    workers("w1")
    job_id = submit(api_client, {
        "type": "contact", "level": "standard", "fields_to_enrich": ["contact_email", "job_title"],
        "data": [{"first_name": "Beatrice", "last_name": "Tester", "company_name": "Acme Corp"},
                 {"first_name": "Nobody", "last_name": "Here", "company_name": "Acme Corp"}]})

    wait_for(lambda: job_status(job_id) == "Enrichment Completed", timeout=60, message="job completion")
    rows = api_client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]
    assert [row["contact_email"] for row in rows] == ["beatrice.tester@acme.com", ""]
    assert wallet_balance(user=alice) == Decimal("998")
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_a_job_survives_its_worker_being_killed(api_client, alice, alice_funded_for_500_rows, datacore_people,
                                                workers):
    # Small batches so there is a "middle of the job" to kill in; short timeouts so the
    # redelivery and the lease expiry happen within seconds.
    fast_recovery = {"ENRICHMENT_BATCH_SIZE": 2, "JOB_LEASE_SECONDS": 3, "CELERY_VISIBILITY_TIMEOUT": 4,
                     "CELERY_UNACKED_RESTORE_INTERVAL": 1, "CELERY_UNACKED_RESTORE_THROTTLE": 1}
    first = workers("w1", **fast_recovery)
    job_id = submit(api_client, phone_job())
    assert wallet_balance(user=alice) == Decimal("500")

    wait_for(lambda: 0 < rows_saved(job_id) < 300, timeout=60, interval=0.01, message="the job to be part-way")
    first.kill()
    assert rows_saved(job_id) < 500
    assert job_status(job_id) != "Enrichment Completed"

    workers("w2", **fast_recovery)
    wait_for(lambda: job_status(job_id) == "Enrichment Completed", timeout=120, interval=0.2,
             message="the second worker to finish the job")
    assert Job.objects.get(job_id=job_id).attempts == 2
    assert_every_row_once_and_charged_once(job_id, user=alice, balance_before=alice_funded_for_500_rows)
