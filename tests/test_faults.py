"""Faults injected into real processes, at points chosen by a seed: a worker SIGKILLed at a random batch
boundary, PostgreSQL sessions ended at random moments, Redis killed and restarted under a running job and a
submit. Whatever happens, every row is saved once, the job is charged once, and the wallet equals its ledger.

Leases are short here (the defaults' recovery time is measured in test_worker.py) so that each scenario
recovers in seconds."""

import random
import time
from decimal import Decimal

import httpx
import pytest

from enrichment.models import Job, JobRow
from tests.live_service import WebServer
from tests.own_redis import OwnRedis
from tests.worker import assert_every_row_once_and_charged_once, phone_job, terminate_other_backends, wait_for
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

SUBMIT = "/api/v1/enrichment/submit/"
QUICK_RECOVERY = {"ENRICHMENT_BATCH_SIZE": 10, "JOB_LEASE_SECONDS": 4, "JOB_LEASE_RENEW_SECONDS": 1,
                  "JOB_SWEEP_SECONDS": 1, "JOB_STALE_QUEUED_SECONDS": 1, "JOB_MAX_ATTEMPTS": 10}
KNOWN, UNKNOWN = 80, 20  # a 100-row phone job: ten batches


def rows_saved(job_id) -> int:
    return JobRow.objects.filter(job__job_id=job_id).count()


def job_status(job_id) -> str:
    return Job.objects.get(job_id=job_id).status


def submit(client, body) -> str:
    response = client.post(SUBMIT, body, format="json")
    assert response.status_code == 200, response.content
    return response.json()["job_id"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_worker_sigkilled_at_a_random_batch_boundary_loses_and_doubles_nothing(
        seed, api_client, alice, alice_funded_for_500_rows, datacore_people, workers):
    kill_after = random.Random(seed).randrange(10, 90, 10)
    first = workers("w1", **QUICK_RECOVERY)
    job_id = submit(api_client, phone_job(known=KNOWN, unknown=UNKNOWN))
    wait_for(lambda: rows_saved(job_id) >= kill_after, timeout=60, interval=0.005, message=f"{kill_after} rows")
    first.kill()
    workers("w2", beat=True, **QUICK_RECOVERY)

    wait_for(lambda: job_status(job_id) == "Enrichment Completed", timeout=90, message="another worker to finish")
    assert Job.objects.get(job_id=job_id).attempts == 2  # the killed delivery, then the one that finished
    assert_every_row_once_and_charged_once(job_id, user=alice, known=KNOWN, unknown=UNKNOWN,
                                           balance_before=alice_funded_for_500_rows)


@pytest.mark.parametrize("seed", [1, 2])
def test_database_sessions_ended_at_random_moments_lose_and_double_nothing(
        seed, api_client, alice, alice_funded_for_500_rows, datacore_people, workers):
    moments = sorted(random.Random(seed).sample(range(10, 90), 3))
    workers("w1", beat=True, **QUICK_RECOVERY).wait_until_ready()
    job_id = submit(api_client, phone_job(known=KNOWN, unknown=UNKNOWN))
    for moment in moments:
        wait_for(lambda moment=moment: rows_saved(job_id) >= moment or job_status(job_id) == "Enrichment Completed",
                 timeout=60, interval=0.005, message=f"{moment} rows")
        terminate_other_backends()

    wait_for(lambda: job_status(job_id) == "Enrichment Completed", timeout=90, message="the job to complete")
    assert_every_row_once_and_charged_once(job_id, user=alice, known=KNOWN, unknown=UNKNOWN,
                                           balance_before=alice_funded_for_500_rows)


def test_redis_killed_and_restarted_under_a_job_and_a_submit_loses_and_doubles_nothing(
        tmp_path, api_client, alice, alice_funded_for_500_rows, datacore_people, workers):
    redis_server = OwnRedis(tmp_path)
    on_own_redis = {"REDIS_URL": redis_server.url, "CELERY_BROKER_URL": redis_server.url,
                    "BIGQUERY_EMULATOR_HOST": "", "FIRESTORE_EMULATOR_HOST": "", **QUICK_RECOVERY}
    web = WebServer(tmp_path, **on_own_redis)
    headers = {"Authorization": f"Bearer {api_client.token.plaintext}"}
    try:
        workers("w1", beat=True, **on_own_redis).wait_until_ready()
        running = httpx.post(f"{web.url}{SUBMIT}", json=phone_job(known=KNOWN, unknown=UNKNOWN), headers=headers,
                             timeout=30).json()["job_id"]
        wait_for(lambda: rows_saved(running) >= 20, timeout=60, interval=0.005, message="a part of the job")
        redis_server.stop()
        during_outage = httpx.post(f"{web.url}{SUBMIT}", json=phone_job(known=10, unknown=0), headers=headers,
                                   timeout=30)
        time.sleep(2)
        redis_server.start()
        wait_for(lambda: {job_status(running), job_status(during_outage.json()["job_id"])} == {
            "Enrichment Completed"}, timeout=120, interval=0.2, message="both jobs to complete")
    finally:
        web.stop()
        redis_server.stop()

    assert during_outage.status_code == 200
    charged = {job.job_id: job for job in Job.objects.all()}
    assert len(charged) == 2
    for job in charged.values():
        assert JobRow.objects.filter(job=job).count() == job.record_count
        assert job.ledger_entries.filter(kind="deduction").count() == 1
    # The second job's ten people were paid for by the first: it is refunded in full as already paid.
    assert wallet_balance(user=alice) == alice_funded_for_500_rows - 5 * 50 == ledger_sum(user=alice)
    assert wallet_balance(user=alice) == Decimal("2750")
