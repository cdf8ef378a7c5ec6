import json
import os
from decimal import Decimal

import pytest
import redis as redis_lib
from django.conf import settings
from django.core.cache import cache
from rest_framework.test import APIClient

from ecore.celery import app as celery_app
from ecore.process_cache import process_caches_clear
from pricing.selectors import PRICING_CACHE_KEY
from pricing.services import plan_assign
from sources.sql import lookup_statement_timeout_enable
from tests.factories import TESTER_FIRST_NAMES, make_company, make_person
from tokens.models import ApiToken
from tokens.services import api_token_create
from wallet.services import wallet_topup

# Tests enqueue onto their own queue, so a developer's running worker never takes their tasks.
TEST_QUEUE = os.environ.get("ECORE_TEST_QUEUE", "ecore-test")
# As in the web and worker processes.
lookup_statement_timeout_enable()


@pytest.fixture(autouse=True)
def _isolated_queue_and_caches():
    celery_app.conf.task_default_queue = TEST_QUEUE
    _caches_forget()
    yield
    _caches_forget()


def _caches_forget() -> None:
    # A test's prices were rolled back with its transaction, without a save to drop the caches.
    cache.delete(PRICING_CACHE_KEY)
    process_caches_clear()


@pytest.fixture
def fresh_cache():
    """An empty cache before and after: provider verdicts, MX statuses and pattern lookups start unknown."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _bigquery_off_unless_a_test_turns_it_on(settings):
    """CI exports BIGQUERY_EMULATOR_HOST for the emulator tests; no other test may depend on it."""
    settings.BIGQUERY_EMULATOR_HOST = ""
    settings.BIGQUERY_ENABLED = False


@pytest.fixture
def redis_client():
    client = redis_lib.Redis.from_url(settings.CELERY_BROKER_URL)
    yield client
    client.close()


@pytest.fixture
def queued_job_ids(redis_client):
    """Job ids of the pipeline tasks waiting on the test queue (the real broker)."""
    redis_client.delete(TEST_QUEUE)

    def read() -> list[str]:
        ids = []
        for raw in redis_client.lrange(TEST_QUEUE, 0, -1):
            message = json.loads(raw)
            if message["headers"]["task"] == "enrichment.tasks.run_enrichment_job":
                ids.append(message["headers"]["argsrepr"].strip("(),'\""))
        return ids

    yield read
    redis_client.delete(TEST_QUEUE)


@pytest.fixture
def default_prices(db):
    """The migration's prices; transactional tests truncate tables, data migrations included."""
    from pricing.defaults import create_missing_default_prices
    from pricing.models import Price

    create_missing_default_prices(Price)


@pytest.fixture
def make_user(django_user_model, default_prices):
    def make(username: str, *, credits: Decimal | int | str = 0, is_active: bool = True):
        user = django_user_model.objects.create_user(username=username, is_active=is_active)
        if Decimal(credits) > 0:
            wallet_topup(user=user, amount=Decimal(credits), note="test funding")
        return user

    return make


@pytest.fixture
def make_client():
    def make(user, *, kind: str = ApiToken.Kind.LIVE, scheme: str = "Bearer", **token_options) -> APIClient:
        issued = api_token_create(user=user, kind=kind, **token_options)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"{scheme} {issued.plaintext}")
        client.token = issued
        return client

    return make


@pytest.fixture
def alice(make_user):
    return make_user("alice", credits=1000)


@pytest.fixture
def bob(make_user):
    return make_user("bob", credits=1000)


@pytest.fixture
def api_client(make_client, alice) -> APIClient:
    return make_client(alice)


@pytest.fixture
def bq(settings):
    """The BigQuery emulator's client on a dataset of this test's own (the test skips without the emulator)."""
    import uuid

    from sources import bigquery
    from tests.emulators import bigquery_emulator_host

    settings.BIGQUERY_EMULATOR_HOST = bigquery_emulator_host()
    settings.BIGQUERY_DATASET = f"ecore_test_{uuid.uuid4().hex[:8]}"
    client = bigquery.bigquery_client()
    yield client
    client.delete_dataset(f"{settings.BIGQUERY_PROJECT}.{settings.BIGQUERY_DATASET}", delete_contents=True,
                          not_found_ok=True)


@pytest.fixture
def datacore_people(db):
    """Fifty people at Acme Corp (acme.com), each with an email and a mobile phone."""
    company = make_company("Acme Corp", "acme.com")
    for index, first in enumerate(TESTER_FIRST_NAMES):
        make_person(company, first, "Tester", contact_email=f"{first.lower()}.tester@acme.com",
                    contact_mobile_phone=f"+1512555{index:04d}")
    return company


@pytest.fixture
def workers(tmp_path):
    """Starts real Celery workers (`workers(name, beat=False, **env)`); all are stopped after the test."""
    from tests.worker import Worker  # here: tests.worker imports this module's TEST_QUEUE

    started = []

    def start(name, **options):
        worker = Worker(name, tmp_path, **options)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def alice_funded_for_500_rows(alice) -> Decimal:
    """alice on a plan of 500 rows per job with 3,000 credits (a 500-row phone job costs 2,500); her balance."""
    plan_assign(username=alice.username, enrichment_limit=500)
    wallet_topup(user=alice, amount=Decimal("2000"))
    return Decimal("3000")


@pytest.fixture
def finished_job(api_client, alice):
    """A 3-row contact job run through the pipeline as the worker runs it (Jane found with a phone, Robert
    found without one, the third unknown), with a webhook delivery that failed: what the admin shows."""
    from enrichment.models import Job, WebhookDelivery
    from enrichment.tasks import run_enrichment_job
    from tests.factories import make_company, make_person

    company = make_company("Acme Corp", "https://www.acme.com")
    make_person(company, "Jane", "Doe", contact_email="jane.doe@acme.com", contact_mobile_phone="+15125550111")
    make_person(company, "Robert", "Smith", contact_email="rsmith@acme.com", job_title="CTO", contact_mobile_phone="")
    response = api_client.post("/api/v1/enrichment/submit/", {
        "type": "contact", "level": "standard", "fields_to_enrich": ["contact_email", "job_title", "contact_mobile_phone"],
        "data": [{"first_name": "Jane", "last_name": "Doe", "company_name": "Acme Corp"},
                 {"first_name": "Robert", "last_name": "Smith", "company_website": "acme.com"},
                 {"contact_email": "nobody@nowhere.example"}]}, format="json")
    assert response.status_code == 200, response.json()
    run_enrichment_job(response.json()["job_id"])
    job = Job.objects.get(pk=response.json()["job_id"])
    WebhookDelivery.objects.create(job=job, event="Enrichment Completed", url="https://hooks.example.com/ecore",
                                   payload={}, attempts=3, status=WebhookDelivery.Status.FAILED,
                                   last_status_code=500, last_error="HTTP 500")
    return job


@pytest.fixture(scope="module")
def service(django_db_setup, django_db_blocker, tmp_path_factory):
    """The real service for the module's client tests: gunicorn and a Celery worker on the test database,
    on PostgreSQL only (no cloud emulators)."""
    from tests.live_service import LiveService

    with django_db_blocker.unblock():
        running = LiveService(tmp_path_factory.mktemp("service"), BIGQUERY_EMULATOR_HOST="",
                              FIRESTORE_EMULATOR_HOST="")
    yield running
    running.stop()


@pytest.fixture
def acme_officers(db):
    """Beatrice (CFO), Caleb (CTO) and Delia (COO) Tester at Acme Corp, each with an email and a mobile."""
    company = make_company("Acme Corp", "acme.com")
    for first, title in (("Beatrice", "CFO"), ("Caleb", "CTO"), ("Delia", "COO")):
        make_person(company, first, "Tester", contact_email=f"{first.lower()}.tester@acme.com", job_title=title,
                    contact_mobile_phone="+1 512 555 0100")
    return company
