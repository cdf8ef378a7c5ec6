"""The pipeline on real Celery worker processes: a job submitted over HTTP completes; a worker killed with
SIGKILL mid-job is replaced, on the default lease, heartbeat and sweep within 90 seconds, and the job completes
with every row delivered and charged exactly once; a live worker keeps its lease through a batch longer than
the lease, and one that lost its lease stops without writing."""

import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models.functions import Now
from django.utils import timezone

from enrichment.models import Job, JobRow
from enrichment.services import stale_jobs_requeue
from sources.models import Person
from tests.worker import (
    a_backend_waits_on_a_lock,
    assert_every_row_once_and_charged_once,
    phone_job,
    table_locked,
    wait_for,
)
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


def test_a_sigkilled_workers_job_is_finished_by_another_within_90_seconds_on_the_default_settings(
        api_client, alice, alice_funded_for_500_rows, datacore_people, workers):
    # Only the batch size is not the default: a 500-row job needs batches of fewer than 250 rows to have a
    # boundary before and after the kill. The lease, its heartbeat, the sweep's schedule (the second
    # worker runs beat) and Celery's visibility timeout are the defaults.
    batches_of_ten = {"ENRICHMENT_BATCH_SIZE": 10}
    first = workers("w1", **batches_of_ten)
    job_id = submit(api_client, phone_job())
    wait_for(lambda: rows_saved(job_id) >= 100, timeout=60, interval=0.01, message="the job to be part-way")

    # The first worker waits mid-batch on a table (a slow source) while the second starts: it is killed
    # in the middle of a batch, with its lease freshly renewed by its heartbeat.
    with table_locked(Person):
        wait_for(a_backend_waits_on_a_lock, timeout=30, message="the first worker to be inside a batch")
        second = workers("w2", beat=True, **batches_of_ten)
        second.wait_until_ready()
        first.kill()
        killed_at = time.monotonic()
    rows_at_kill = rows_saved(job_id)
    assert 100 <= rows_at_kill < 500

    wait_for(lambda: job_status(job_id) == "Enrichment Completed", timeout=180, interval=0.2,
             message="the second worker to finish the job")
    recovered_in = time.monotonic() - killed_at
    print(f"job finished {recovered_in:.1f} s after its worker was SIGKILLed ({rows_at_kill} of 500 rows done)")
    assert recovered_in <= 90
    assert Job.objects.get(job_id=job_id).attempts == 2
    assert_every_row_once_and_charged_once(job_id, user=alice, balance_before=alice_funded_for_500_rows)


def test_a_batch_longer_than_the_lease_keeps_the_lease_and_runs_on_one_worker_only(
        api_client, alice, datacore_people, workers):
    # A 6-second lease (renewed every 2 s) so that a batch of 18 seconds is three leases long, and a worker
    # starved of CPU for a few seconds on a busy machine still renews in time.
    short_lease = {"ENRICHMENT_BATCH_SIZE": 10, "JOB_LEASE_SECONDS": 6}
    for name in ("w1", "w2"):
        workers(name, **short_lease).wait_until_ready()

    with table_locked(Person):
        job_id = submit(api_client, phone_job(known=20, unknown=0))
        wait_for(a_backend_waits_on_a_lock, timeout=30, message="the job's first batch to wait on the table")
        holder = Job.objects.get(job_id=job_id).lease_owner
        watch_until = time.monotonic() + 3 * 6
        while time.monotonic() < watch_until:
            # The sweep runs as often as it likes: a held lease is never taken over.
            assert stale_jobs_requeue() == 0
            assert Job.objects.filter(job_id=job_id, lease_owner=holder, lease_expires_at__gt=Now()).exists()
            time.sleep(0.5)

    wait_for(lambda: job_status(job_id) == "Enrichment Completed", timeout=60, message="the job to complete")
    job = Job.objects.get(job_id=job_id)
    assert job.attempts == 1
    assert_every_row_once_and_charged_once(job_id, user=alice, known=20, unknown=0, balance_before=Decimal("1000"))


def test_a_worker_whose_lease_was_taken_over_stops_without_writing(api_client, alice_funded_for_500_rows,
                                                                   datacore_people, workers):
    first = workers("w1", ENRICHMENT_BATCH_SIZE=2)
    job_id = submit(api_client, phone_job())
    wait_for(lambda: rows_saved(job_id) >= 20, timeout=60, interval=0.01, message="the job to be part-way")

    # As when its lease ran out while it was cut off and another worker claimed the job.
    Job.objects.filter(job_id=job_id).update(lease_owner="another-worker",
                                             lease_expires_at=timezone.now() + timedelta(minutes=10))
    taken_over = Job.objects.values("status", "rows_processed", "updated_at", "stage_log").get(job_id=job_id)
    rows_at_takeover = rows_saved(job_id)

    wait_for(lambda: "lost its lease" in first.log(), timeout=30, message="the first worker to stop")
    assert rows_saved(job_id) == rows_at_takeover < 500
    job = Job.objects.get(job_id=job_id)
    assert Job.objects.values("status", "rows_processed", "updated_at", "stage_log").get(job_id=job_id) == taken_over
    assert (job.lease_owner, job.failure_reason) == ("another-worker", "")
