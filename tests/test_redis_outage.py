"""Redis (cache, broker, rate limiter) down: the service degrades and never charges without an answer.

The web server and the worker run against a Redis of the test's own, killed and restarted mid-test.
"""

from decimal import Decimal

import httpx
import pytest

from enrichment.models import Job
from enrichment.tasks import run_enrichment_job
from tests.factories import make_company, make_person
from tests.live_service import WebServer
from tests.own_redis import OwnRedis
from tests.worker import Worker, wait_for
from wallet.selectors import ledger_sum, wallet_balance

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

NO_CLOUD = {"BIGQUERY_EMULATOR_HOST": "", "FIRESTORE_EMULATOR_HOST": ""}
SUBMIT = "/api/v1/enrichment/submit/"
PHONE = "/api/v1/external/phone/enrichment/"


@pytest.fixture
def own_redis(tmp_path):
    server = OwnRedis(tmp_path)
    yield server
    server.stop()


@pytest.fixture
def on_own_redis(own_redis):
    return {"REDIS_URL": own_redis.url, "CELERY_BROKER_URL": own_redis.url, **NO_CLOUD}


@pytest.fixture
def acme(db):
    company = make_company("Acme Corp", "acme.com")
    for index, first in enumerate(("Beatrice", "Caleb", "Delia", "Edgar", "Fiona", "Gideon")):
        make_person(company, first, "Tester", contact_email=f"{first.lower()}.tester@acme.com",
                    contact_mobile_phone=f"+1 512 555 01{index:02d}")
    return company


def people(*firsts):
    return [{"first_name": first, "last_name": "Tester", "company_name": "Acme Corp"} for first in firsts]


def submit(url, token, data, **headers):
    return httpx.post(f"{url}{SUBMIT}", json={"type": "contact", "level": "standard",
                                              "fields_to_enrich": ["contact_email"], "data": data},
                      headers={"Authorization": f"Bearer {token}", **headers}, timeout=30)


def test_submits_while_redis_is_down_answer_with_their_job_and_charge_once(
        tmp_path, own_redis, on_own_redis, api_client, alice, acme):
    web = WebServer(tmp_path, **on_own_redis)
    token = api_client.token.plaintext
    try:
        assert submit(web.url, token, people("Beatrice")).status_code == 200  # prices now cached
        own_redis.stop()
        answers = [submit(web.url, token, people("Caleb", "Delia"), **{"Idempotency-Key": "outage-1"})
                   for _ in range(2)] + [submit(web.url, token, people("Edgar"))]
    finally:
        web.stop()

    assert [answer.status_code for answer in answers] == [200, 200, 200], [a.text for a in answers]
    job_ids = [answer.json()["job_id"] for answer in answers]
    assert job_ids[0] == job_ids[1]  # the key still deduplicates: it is kept in PostgreSQL
    assert Job.objects.count() == 3
    assert wallet_balance(user=alice) == Decimal("1000") - 2 * (1 + 2 + 1) == ledger_sum(user=alice)
    for job in Job.objects.all():  # the sweep enqueues them once the broker is back; here the task runs directly
        run_enrichment_job(str(job.job_id))
    assert set(Job.objects.values_list("status", flat=True)) == {"Enrichment Completed"}


def test_a_job_running_when_redis_dies_completes_and_charges_each_row_once(
        tmp_path, own_redis, on_own_redis, api_client, alice):
    from pricing.services import plan_assign

    plan_assign(username="alice", enrichment_limit=500)
    # One employer each: every batch asks the cache about domains it has not seen.
    for index in range(120):
        make_person(make_company(f"Firm {index}", f"firm{index}.com"), "Pat", f"Tester{index}",
                    contact_email=f"pat{index}@firm{index}.com")
    web = WebServer(tmp_path, **on_own_redis)
    worker = Worker("outage", tmp_path, ENRICHMENT_BATCH_SIZE=5, EMAIL_DNS_NAMESERVERS="127.0.0.1:9",
                    **on_own_redis)
    try:
        data = [{"first_name": "Pat", "last_name": f"Tester{index}", "company_name": f"Firm {index}"}
                for index in range(120)]
        job_id = submit(web.url, api_client.token.plaintext, data).json()["job_id"]
        wait_for(lambda: Job.objects.get(job_id=job_id).rows_processed >= 5, timeout=60, message="a first batch")
        own_redis.stop()
        wait_for(lambda: Job.objects.get(job_id=job_id).status in ("Enrichment Completed", "Failure"), timeout=90,
                 message="the job's end")
    finally:
        worker.stop()
        web.stop()

    job = Job.objects.get(job_id=job_id)
    assert job.status == "Enrichment Completed", job.failure_reason
    assert job.rows.count() == 120
    assert wallet_balance(user=alice) == Decimal("1000") - 2 * 120 == ledger_sum(user=alice)


def test_lookups_while_redis_is_down_are_answered_and_limited_per_process(
        tmp_path, own_redis, on_own_redis, make_user, make_client, acme):
    from tokens.models import ApiToken

    user = make_user("looker", credits=100)
    issued = make_client(user).token
    ApiToken.objects.filter(pk=issued.token.pk).update(rate_limit_per_second=2)
    web = WebServer(tmp_path, workers=1, **on_own_redis)
    headers = {"Authorization": f"Bearer {issued.plaintext}"}
    try:
        own_redis.stop()
        answers = [httpx.post(f"{web.url}{PHONE}", json={"first_name": "Beatrice", "last_name": "Tester",
                                                        "company_name": "Acme Corp"}, headers=headers, timeout=30)
                   for _ in range(4)]
    finally:
        web.stop()

    statuses = [answer.status_code for answer in answers]
    assert statuses.count(200) >= 2 and set(statuses) <= {200, 429}, [a.text for a in answers]
    assert 429 in statuses  # four at once against two a second, even without Redis
    assert answers[0].json()["status"] == "success"
    # Beatrice is paid for once; the repeats answer free, as already paid for.
    assert wallet_balance(user=user) == Decimal("95") == ledger_sum(user=user)
