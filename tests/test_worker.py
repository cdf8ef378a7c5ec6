"""The pipeline on real Celery worker processes: a job submitted over HTTP completes; a worker
killed with SIGKILL mid-job is replaced and the job completes with every row delivered and
charged exactly once."""

from decimal import Decimal

import pytest

from enrichment.models import Job, JobRow
from tests.factories import make_company, make_person
from tests.worker import Worker, wait_for
from wallet.models import LedgerEntry
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

SUBMIT = "/api/v1/enrichment/submit/"


@pytest.fixture
def workers(tmp_path):
    started = []

    def start(name, **env):
        worker = Worker(name, tmp_path, **env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


FIRST_NAMES = ["Aaron", "Beatrice", "Caleb", "Delia", "Edgar", "Fiona", "Gideon", "Harriet", "Ivan", "Juno",
               "Kieran", "Lorna", "Magnus", "Nadia", "Oscar", "Petra", "Quentin", "Rosalind", "Silas", "Tamsin",
               "Ulric", "Vera", "Wendell", "Ximena", "Yusuf", "Zelda", "Anselm", "Brigid", "Cormac", "Dagny",
               "Ewan", "Freya", "Gareth", "Hedda", "Ignatius", "Jolene", "Kasimir", "Leonie", "Milo", "Nerys",
               "Orrin", "Philippa", "Rufus", "Sabine", "Thaddeus", "Ursula", "Valentin", "Winifred", "Xavier", "Yvette"]


@pytest.fixture
def datacore_people(db):
    company = make_company("Acme Corp", "acme.com")
    for index, first in enumerate(FIRST_NAMES):
        make_person(company, first, "Tester", contact_email=f"{first.lower()}.tester@acme.com",
                    contact_mobile_phone=f"+1512555{index:04d}")
    return company


def job_status(job_id) -> str:
    return Job.objects.get(job_id=job_id).status


def test_a_submitted_job_is_completed_by_a_real_worker(api_client, alice, datacore_people, workers):
    workers("w1")
    response = api_client.post(SUBMIT, {
        "type": "contact", "level": "standard", "fields_to_enrich": ["contact_email", "job_title"],
        "data": [{"first_name": "Beatrice", "last_name": "Tester", "company_name": "Acme Corp"},
                 {"first_name": "Nobody", "last_name": "Here", "company_name": "Acme Corp"}]}, format="json")
    job_id = response.json()["job_id"]

    wait_for(lambda: job_status(job_id) == "Enrichment Completed", timeout=60, message="job completion")
    rows = api_client.get(f"/api/v1/enrichment/results/{job_id}/").json()["results"]
    assert [row["contact_email"] for row in rows] == ["beatrice.tester@acme.com", ""]
    assert wallet_balance(user=alice) == Decimal("998")
    assert ledger_sum(user=alice) == wallet_balance(user=alice)


def test_a_job_survives_its_worker_being_killed(api_client, alice, datacore_people, workers):
    from pricing.services import plan_assign
    from wallet.services import wallet_topup

    plan_assign(username=alice.username, enrichment_limit=500)
    wallet_topup(user=alice, amount=Decimal("2000"))
    # Small batches so there is a "middle of the job" to kill in; short timeouts so the
    # redelivery and the lease expiry happen within the test.
    fast_recovery = {"ENRICHMENT_BATCH_SIZE": 2, "JOB_LEASE_SECONDS": 3, "CELERY_VISIBILITY_TIMEOUT": 4,
                     "CELERY_UNACKED_RESTORE_INTERVAL": 1, "CELERY_UNACKED_RESTORE_THROTTLE": 1}
    data = [{"first_name": FIRST_NAMES[i % 50], "last_name": "Tester", "company_name": "Acme Corp"} for i in range(400)]
    data += [{"first_name": "Nobody", "last_name": f"Else{i}", "company_name": "Acme Corp"} for i in range(100)]
    first = workers("w1", **fast_recovery)
    job_id = api_client.post(SUBMIT, {"type": "contact", "level": "standard",
                                      "fields_to_enrich": ["contact_mobile_phone"], "data": data},
                             format="json").json()["job_id"]
    assert wallet_balance(user=alice) == Decimal("500")

    wait_for(lambda: 0 < JobRow.objects.filter(job_id=job_id).count() < 300, timeout=60, interval=0.01,
             message="the job to be part-way")
    first.kill()
    killed_at = JobRow.objects.filter(job_id=job_id).count()
    assert killed_at < 500
    assert job_status(job_id) != "Enrichment Completed"

    workers("w2", **fast_recovery)
    wait_for(lambda: job_status(job_id) == "Enrichment Completed", timeout=120, interval=0.2,
             message="the second worker to finish the job")

    job = Job.objects.get(job_id=job_id)
    assert JobRow.objects.filter(job=job).count() == 500
    assert job.attempts == 2
    deductions = LedgerEntry.objects.filter(job=job, kind="deduction")
    assert [entry.amount for entry in deductions] == [Decimal("-2500")]
    refunds = LedgerEntry.objects.filter(job=job, kind="refund")
    assert refunds.count() == 100  # the 100 unknown people, once each
    assert wallet_balance(user=alice) == Decimal("1000")  # 3000 - 2500 + 100 unknown rows × 5
    assert ledger_sum(user=alice) == wallet_balance(user=alice)
