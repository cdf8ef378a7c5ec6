"""PostgreSQL ends every session (a failover, a restart, `pg_terminate_backend`): gunicorn's workers answer
their next requests as before, never with a 500, and a Celery worker reconnects and carries on with its job,
every row saved once and charged once."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from enrichment.models import Job, JobRow
from tests.live_service import WebServer
from tests.worker import (
    assert_every_row_once_and_charged_once,
    other_backends,
    phone_job,
    terminate_other_backends,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def web(tmp_path):
    server = WebServer(tmp_path)
    yield server
    server.stop()


def test_no_request_is_a_500_after_the_database_ended_every_session(web, api_client):
    headers = {"Authorization": f"Bearer {api_client.token.plaintext}"}
    statuses = []

    def requests_at_once(count: int = 8) -> None:
        # At once, so that both gunicorn workers take some of them.
        with ThreadPoolExecutor(count) as pool:
            statuses.extend(pool.map(lambda _: httpx.get(f"{web.url}/api/v1/account/", headers=headers,
                                                         timeout=10).status_code, range(count)))

    def both_workers_connected(*, besides: frozenset = frozenset()) -> bool:
        requests_at_once()
        return len(other_backends() - besides) >= 2

    wait_for(both_workers_connected, timeout=30, message="both gunicorn workers to hold a connection")
    killed = terminate_other_backends()
    assert len(killed) >= 2
    statuses.clear()

    # Until each worker has opened a new session: each has answered at least one request since the kill.
    wait_for(lambda: both_workers_connected(besides=frozenset(killed)), timeout=30,
             message="both gunicorn workers to reconnect")
    assert statuses and set(statuses) == {200}


def test_a_worker_whose_database_sessions_are_ended_mid_job_reconnects_and_completes_it(
        api_client, alice, alice_funded_for_500_rows, datacore_people, workers):
    workers("w1", ENRICHMENT_BATCH_SIZE=2)
    job_id = api_client.post("/api/v1/enrichment/submit/", phone_job(), format="json").json()["job_id"]

    # Three times, each once the worker has saved more rows (so it had reconnected since the last time).
    for rows in (50, 150, 250):
        wait_for(lambda rows=rows: JobRow.objects.filter(job_id=job_id).count() >= rows, timeout=60, interval=0.01,
                 message=f"{rows} rows saved")
        assert terminate_other_backends(), "the worker had no session to end"

    wait_for(lambda: Job.objects.get(job_id=job_id).status in ("Enrichment Completed", "Failure"), timeout=60,
             interval=0.2, message="the job to end")
    job = Job.objects.get(job_id=job_id)
    assert (job.failure_reason, job.attempts) == ("", 1)
    assert_every_row_once_and_charged_once(job_id, user=alice, balance_before=alice_funded_for_500_rows)
